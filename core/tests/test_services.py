"""The tests' service check: a service that does not answer skips (naming it), or fails on CI."""

from __future__ import annotations

import socket

import pytest

from smsgate.testing import services


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_service_is_skipped_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("SMSGATE_TEST_REDIS", f"redis://127.0.0.1:{_closed_port()}/0")
    with pytest.raises(pytest.skip.Exception, match=r"Redis unreachable at 127\.0\.0\.1:\d+ \(SMSGATE_TEST_REDIS\)"):
        services.require("redis")


def test_an_unreachable_service_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    port = _closed_port()
    monkeypatch.setenv("SMSGATE_TEST_RABBITMQ", f"amqp://guest:guest@127.0.0.1:{port}//")
    with pytest.raises(pytest.fail.Exception, match=r"RabbitMQ unreachable .* CI requires it"):
        services.require("rabbitmq")


def test_addresses_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMSGATE_TEST_POSTGRES", raising=False)
    assert services.url("postgres") == "postgresql://postgres@127.0.0.1:5432/test"
    monkeypatch.setenv("SMSGATE_TEST_POSTGRES", "postgresql://u:secret@db.example:6543/x")
    assert services.where("postgres") == "db.example:6543"  # no credentials in messages
