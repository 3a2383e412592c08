"""DSNs, options, settings and redaction."""

from __future__ import annotations

import logging

import attrs
import pytest
from core_kit import dsn_for

from smsgate import ConfigurationError, Message, ValidationError, connect
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.config import Dsn, GatewayOptions, OptionError, Redactor, dsn_from_env
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
    with pytest.raises(ValidationError, match="option attempts: must be an integer >= 1, got 'many'"):
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


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("read_timeout=0", "option read_timeout: must be a number > 0, got '0'"),
        ("read_timeout=-5", "option read_timeout: must be a number > 0, got '-5'"),
        ("read_timeout=nan", "option read_timeout: must be a number > 0, got 'nan'"),
        ("connect_timeout=abc", "option connect_timeout: must be a number > 0, got 'abc'"),
        ("attempt_timeout=0", "option attempt_timeout: must be a number > 0, got '0'"),
        ("max_reply_bytes=0", "option max_reply_bytes: must be an integer >= 1, got '0'"),
        ("max_parts=-1", "option max_parts: must be an integer >= 1, got '-1'"),
        ("attempts=0", "option attempts: must be an integer >= 1, got '0'"),
        ("batch_size=0", "option batch_size: must be an integer >= 1, got '0'"),
        ("max_connections=0", "option max_connections: must be an integer >= 1, got '0'"),
        ("concurrency=-2", "option concurrency: must be an integer >= 1, got '-2'"),
        ("backoff=-1", "option backoff: must be a number >= 0, got '-1'"),
        ("max_retry_time=inf", "option max_retry_time: must be a number >= 0, got 'inf'"),
        ("default_region=Mars", "option default_region: must be a known region code"),
        ("backup_hosts=a.example,b.example:99999", "option backup_hosts: must be a comma-separated list"),
    ],
)
def test_core_options_break_named_rules(
    emulator: OutboxEmulator, registry: Registry, options: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        connect(dsn_for(emulator, options=options), registry=registry)
    assert isinstance(info.value, (OptionError, ValidationError, ValueError))
    assert message in str(info.value) and emulator.password not in str(info.value)


def test_every_core_option_has_a_rule() -> None:
    unchecked = {f.name for f in attrs.fields(GatewayOptions) if "rule" not in f.metadata}
    assert unchecked == {"tls", "backup"}, "booleans are checked by the converter; every other option needs a rule"
    with pytest.raises(ConfigurationError, match="read_timeout: must be a number > 0, got -1"):
        GatewayOptions(read_timeout=-1)


def test_reply_bounds_are_options(emulator: OutboxEmulator, registry: Registry) -> None:
    with connect(dsn_for(emulator), registry=registry) as gateway:
        assert gateway.options.max_reply_bytes == 1 << 20 and gateway.options.attempt_timeout is None
    options = "max_reply_bytes=4096&attempt_timeout=2.5"
    with connect(dsn_for(emulator, options=options), registry=registry) as gateway:
        assert (gateway.options.max_reply_bytes, gateway.options.attempt_timeout) == (4096, 2.5)


@pytest.mark.parametrize(
    ("options", "hint"),
    [("read_timout=3", "did you mean 'read_timeout'?"), ("tset=1", "did you mean 'test'?"), ("colour=red", "")],
)
def test_unknown_options_suggest_a_close_name(
    emulator: OutboxEmulator, registry: Registry, options: str, hint: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        connect(dsn_for(emulator, options=options), registry=registry)
    assert "unknown option" in str(info.value) and hint in str(info.value)
    assert hint or "did you mean" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [("x://u:pw-s3cret@[::1", "IPv6"), ("x://u:pw-s3cret@::1]/", "IPv6"), ("x://u:pw-s3cret@h:0x1", "port")],
)
def test_malformed_dsns_are_configuration_errors(text: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        Dsn.parse(text)
    assert "pw-s3cret" not in str(info.value)


def test_option_errors_never_echo_the_secret(registry: Registry) -> None:
    for options in ("read_timeout=0", "attempts=x", "read_timout=1", "max_parts=hunter"):
        with pytest.raises(ConfigurationError) as info:
            connect(f"outbox://u:hunter%C3%A42@127.0.0.1:9?tls=0&{options}", registry=registry)
        assert (
            "hunter\u00e42" not in str(info.value)
            and "hunter%C3%A42" not in str(info.value)
            and "\\u00e4" not in str(info.value)
        )


def test_plain_http_to_a_remote_host_warns_once(registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="smsgate.config")
    for _ in range(2):
        connect("outbox://u:p@sms.example.net:8025?tls=false", registry=registry).close()
    for host in ("127.0.0.1", "localhost", "[::1]", "127.3.4.5"):
        connect(f"outbox://u:p@{host}:8025?tls=false", registry=registry).close()
    connect("outbox://u:p@sms.example.org:8025", registry=registry).close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "smsgate.config"]
    assert len(warnings) == 1 and "http://sms.example.net:8025" in warnings[0] and "without TLS" in warnings[0]
    assert "p@" not in warnings[0]
