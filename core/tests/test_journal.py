"""The journal keeps "never twice" across process restarts."""

from __future__ import annotations

import json
from pathlib import Path

from core_kit import dsn_for

from smsgate import Journal, Message, Status, connect, hookimpl
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.emulator import Fault
from smsgate.models import Failure
from smsgate.plugins import Registry

A = "+48500600700"


def test_a_settled_key_is_not_sent_again(tmp_path: Path, emulator: OutboxEmulator, registry: Registry) -> None:
    path = tmp_path / "journal.jsonl"
    with connect(dsn_for(emulator), registry=registry, journal=Journal(path)) as gateway:
        first = gateway.send(Message(A, "once", key="order-1"))
    with connect(dsn_for(emulator), registry=registry, journal=Journal(path)) as gateway:  # a new process
        again = gateway.send(Message(A, "once", key="order-1"))
    assert first.ok and again.outcomes == first.outcomes and again.requests == 0
    assert len(emulator.messages) == 1
    assert emulator.password not in path.read_text()


def test_an_interrupted_send_is_not_repeated_without_dedup(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry
) -> None:
    path = tmp_path / "journal.jsonl"
    record = {"state": "sending", "provider": "nodedup", "key": "order-2", "recipients": [A]}
    path.write_text(json.dumps(record) + "\n" + '{"state": "do')  # the crash cut the next line short
    with connect(dsn_for(emulator, "nodedup"), registry=registry, journal=Journal(path)) as gateway:
        result = gateway.send(Message(A, "maybe", key="order-2"))
    assert result.outcomes[0].status is Status.UNKNOWN and "interrupted" in (result.outcomes[0].reason or "")
    assert emulator.requests == []


def test_an_interrupted_send_is_resent_under_its_key_with_dedup(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry
) -> None:
    path = tmp_path / "journal.jsonl"
    with connect(dsn_for(emulator), registry=registry) as gateway:
        gateway.send(Message(A, "before the crash", key="order-3"))  # reached the gateway, not the journal
    path.write_text(json.dumps({"state": "sending", "provider": "outbox", "key": "order-3", "recipients": [A]}) + "\n")
    with connect(dsn_for(emulator), registry=registry, journal=Journal(path)) as gateway:
        result = gateway.send(Message(A, "before the crash", key="order-3"))
    assert result.ok and len(emulator.messages) == 1, "the gateway replayed the first reply"
    assert Journal(path).recorded("outbox", "order-3") is not None


class _Seen:
    """An app plugin recording how the core framed each failure."""

    def __init__(self) -> None:
        self.failures: list[tuple[int, bool]] = []

    @hookimpl(tryfirst=True)
    def classify_error(self, failure: Failure) -> None:
        self.failures.append((failure.attempt, failure.after_ambiguous))


def test_a_resumed_send_is_framed_as_after_an_ambiguous_attempt(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry
) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({"state": "sending", "provider": "outbox", "key": "order-4", "recipients": [A]}) + "\n")
    seen = _Seen()
    registry.add_extension(seen)
    emulator.inject(Fault.SERVER_ERROR, status=503)
    with connect(dsn_for(emulator), registry=registry, journal=Journal(path), sleep=lambda _: None) as gateway:
        result = gateway.send(Message(A, "resumed", key="order-4"))
    assert result.ok
    assert seen.failures == [(1, True)], "a duplicate answer now means the first send got through"
