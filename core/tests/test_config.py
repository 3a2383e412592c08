"""DSNs, options, settings and redaction."""

from __future__ import annotations

import logging

import pytest
from core_kit import dsn_for

from smsgate import ConfigurationError, Message, ValidationError, connect
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.config import Dsn, Redactor, dsn_from_env
from smsgate.errors import GatewayError
from smsgate.plugins import Registry
from smsgate.spec import Endpoint, Secret


def test_dsn_parses_and_hides_the_secret() -> None:
    dsn = Dsn.parse("OCTOPUSH://me%40shop.fr:p%40ss%2Fw0rd@default:8443?type=premium&tls=0")
    assert (dsn.scheme, dsn.user, dsn.host, dsn.port) == ("octopush", "me@shop.fr", "default", 8443)
    assert dsn.password == Secret("p@ss/w0rd")
    assert dict(dsn.options) == {"type": "premium", "tls": "0"}
    for text in (str(dsn), repr(dsn)):
        assert "p@ss" not in text and "p%40ss" not in text and "***" in text


@pytest.mark.parametrize(
    ("text", "match"),
    [("nonsense", "scheme://"), ("x://a:b@host:99999", "port"), ("x://a:b@/path", "host"), ("x://h?a=1&a=2", "twice")],
)
def test_bad_dsns_are_named(text: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Dsn.parse(text)


def test_options_are_validated_by_name(emulator: OutboxEmulator, registry: Registry) -> None:
    with pytest.raises(ValidationError, match="option colour: unknown option"):
        connect(dsn_for(emulator, options="colour=red"), registry=registry)
    with pytest.raises(ValidationError, match="option attempts: invalid value 'many'"):
        connect(dsn_for(emulator, options="attempts=many"), registry=registry)
    with pytest.raises(ValidationError, match="option test: invalid value 'perhaps'"):
        connect(dsn_for(emulator, options="test=perhaps"), registry=registry)
    with connect(dsn_for(emulator, options="test=yes&read_timeout=2.5"), registry=registry) as gateway:
        assert gateway.settings.test is True and gateway.options.read_timeout == 2.5


def test_default_host_and_plain_http(registry: Registry) -> None:
    with connect("outbox://u:p@default", registry=registry) as gateway:
        assert gateway.endpoint == Endpoint("127.0.0.1", 8025, True), "TLS unless the DSN says otherwise"
    with connect("outbox://u:p@default?tls=false", registry=registry) as gateway:
        assert gateway.endpoint.base_url == "http://127.0.0.1:8025"
    with connect("outbox://u:p@sms.example.com:9000?tls=true", registry=registry) as gateway:
        assert gateway.endpoint.base_url == "https://sms.example.com:9000"


def test_dsn_from_environment(monkeypatch: pytest.MonkeyPatch, registry: Registry) -> None:
    monkeypatch.delenv("SMSGATE_DSN", raising=False)
    with pytest.raises(ConfigurationError, match="SMSGATE_DSN"):
        dsn_from_env()
    monkeypatch.setenv("SMSGATE_DSN", "outbox://u:p@default")
    with connect(registry=registry) as gateway:
        assert gateway.name == "outbox"


def test_redactor_covers_encoded_forms() -> None:
    redact = Redactor(["p@ss wörd&1"])
    for form in ("p@ss wörd&1", "p%40ss%20w%C3%B6rd%261", "p%40ss+w%C3%B6rd%261", "p@ss w\\u00f6rd&1"):
        assert redact(f"x={form};") == "x=***;"
    assert redact.bytes("pw=p@ss wörd&1".encode("latin-1")) == b"pw=***"


def test_secret_absent_from_errors_and_logs(
    emulator: OutboxEmulator, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret, dsn = emulator.password, dsn_for(emulator)
    emulator.password = "something-else"
    with connect(dsn, registry=registry) as gateway:
        logging.getLogger("smsgate").debug("leak? %s", secret)
        result = gateway.send(Message("+48500600700", f"my password is {secret}"))
        with pytest.raises(GatewayError) as info:
            gateway.balance()
    assert not result.ok
    texts = [caplog.text, repr(result), str(result.error), str(info.value), repr(info.value.args)]
    assert all(secret not in t for t in texts)
    with pytest.raises(ValidationError) as bad:
        connect(dsn + "&attempts=x", registry=registry)
    assert secret not in str(bad.value)
