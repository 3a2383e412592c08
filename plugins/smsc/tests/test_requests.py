"""Golden requests: the exact method, URL and body SMSC receives (reference section 4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import attrs
import pytest

from smsgate import plan
from smsgate.errors import ConfigurationError, ValidationError
from smsgate.gateway import Gateway, connect
from smsgate.idempotency import int_key
from smsgate.models import BalanceQuery, Call, HttpRequest, Message, Quote, Reconcile, Send, StatusQuery
from smsgate.plugins import Registry
from smsgate.testing import Connector

FORM = "application/x-www-form-urlencoded; charset=utf-8"


@pytest.fixture
def open_(registry: Registry) -> Iterator[Connector]:
    """``open_("option=value")``: a gateway to ``smsc://shop:pa55word@default`` with those options."""
    with Connector(registry, "smsc://shop:pa55word@default") as connector:
        yield connector


def preview(registry: Registry, dsn: str, message: Message) -> HttpRequest:
    """The one request ``message`` makes through a gateway to another DSN."""
    with Connector(registry, dsn) as connector:
        return only(connector(), message)


def fields(request: HttpRequest, encoding: str = "utf-8") -> list[tuple[str, str]]:
    return parse_qsl(request.body.decode("ascii"), keep_blank_values=True, encoding=encoding)


def only(gateway: Gateway, message: Message) -> HttpRequest:
    (request,) = gateway.preview(message, redact=False)
    return request


def test_send_golden(open_: Connector) -> None:
    request = only(open_(), Message(["+48500600700", "+48500600701"], "Zażółć gęślą jaźń € [ok]", key="order-1"))
    assert request.method == "POST"
    assert request.url == "https://smscentre.com/sys/send.php"
    assert request.header("Content-Type") == FORM
    assert fields(request) == [
        ("login", "shop"),
        ("psw", "pa55word"),
        ("fmt", "3"),
        ("charset", "utf-8"),
        ("phones", "+48500600700,+48500600701"),
        ("mes", "Zażółć gęślą jaźń € [ok]"),
        ("id", "1015059584"),  # int_key(batch.dedup_key), regenerated when id moved off batch.key
        ("cost", "3"),
        ("err", "1"),
        ("op", "1"),
    ]
    assert request.body.startswith(
        b"login=shop&psw=pa55word&fmt=3&charset=utf-8&phones=%2B48500600700%2C%2B48500600701&mes=Za%C5%BC"
    )


def test_id_is_the_key_as_a_32_bit_integer_and_stable(open_: Connector) -> None:
    gateway = open_()
    first = dict(fields(only(gateway, Message("+48500600700", "hi", key="k-1"))))["id"]
    again = dict(fields(only(gateway, Message("+48500600700", "hi", key="k-1"))))["id"]
    other = dict(fields(only(gateway, Message("+48500600700", "hi", key="k-2"))))["id"]
    assert first == again != other
    assert 1 <= int(first) <= 2147483647


def test_api_key_replaces_login_and_password(registry: Registry) -> None:
    for dsn in ("smsc://:K3Y-abc@default", "smsc://:K3Y-abc@default?auth=apikey"):
        got = fields(preview(registry, dsn, Message("+48500600700", "hi")))
        assert got[:3] == [("apikey", "K3Y-abc"), ("fmt", "3"), ("charset", "utf-8")]
        assert "login" not in dict(got) and "psw" not in dict(got)


def test_auth_choice_is_checked(registry: Registry) -> None:
    with pytest.raises(ValidationError, match="no login"):
        connect("smsc://shop:K3Y@default?auth=apikey", registry=registry)
    with pytest.raises(ValidationError, match="needs a login"):
        connect("smsc://:pw@default?auth=password", registry=registry)
    with pytest.raises(ValidationError, match="auth"):
        connect("smsc://shop:pw@default?auth=token", registry=registry)


@pytest.mark.parametrize(
    ("dsn", "field"),
    [
        ("smsc://shop@default", "password"),
        ("smsc://shop:@default", "password"),
        ("smsc://shop:%20%20@default", "password"),
        ("smsc://:%20@default", "password"),
        ("smsc://%20%20:pw@default", "login"),
    ],
)
def test_missing_or_blank_credentials_refused_at_connect(registry: Registry, dsn: str, field: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^\\[smsc\\] {field}: "):
        connect(dsn, registry=registry)


def test_blank_sender_is_refused_naming_the_rule(open_: Connector, registry: Registry) -> None:
    with pytest.raises(ValidationError, match=r"sender.*must not be blank"):
        connect("smsc://shop:pw@default?sender=%20%20", registry=registry)
    gateway = open_()
    plan_, _ = gateway.prepare(Message("+48500600700", "x"))
    batch = attrs.evolve(plan_.batches[0], message=Message("+48500600700", "x", sender=" "))
    with pytest.raises(ValidationError, match="must not be blank") as caught:
        gateway.hooks.build_request(Send(batch), plan_.settings, gateway.endpoint)
    assert caught.value.field == "sender"


def test_id_binds_the_key_to_the_content(open_: Connector) -> None:
    """The same key for other numbers or another text is another ``id``: SMSC never takes it for
    the first message (error 9), nor a lookup for it."""
    gateway = open_()
    ids = [
        dict(fields(only(gateway, m)))["id"]
        for m in (
            Message("+48500600700", "hi", key="k"),
            Message("+48500600700", "hi", key="k"),
            Message("+48500600701", "hi", key="k"),
            Message("+48500600700", "hi!", key="k"),
        )
    ]
    assert ids[0] == ids[1] and len(set(ids)) == 3


def test_every_send_option(registry: Registry) -> None:
    dsn = "smsc://shop:pw@smsc.kz?sender=Shop&translit=2&tinyurl=true&valid=01:30&maxsms=3&groups=12,7&autocorrect=true"
    message = Message(["+77011234567"], "Привет http://example.com", flash=True, sender="Sklep")
    got = fields(preview(registry, dsn, message))
    assert got[4:] == [
        ("phones", "77011234567,G12,G7"),
        ("mes", "Привет http://example.com"),
        ("sender", "Sklep"),
        ("translit", "2"),
        ("flash", "1"),
        ("tinyurl", "1"),
        ("valid", "01:30"),
        ("maxsms", "3"),
        ("id", dict(got)["id"]),
        ("cost", "3"),
        ("err", "1"),
        ("op", "1"),
    ]


def test_brand_host_and_plain_http(registry: Registry) -> None:
    ua = preview(registry, "smsc://a:b@smsc.ua?tls=false", Message("+380501234567", "x"))
    assert ua.url == "http://smsc.ua/sys/send.php"
    ru = preview(registry, "smsc://a:b@smsc.ru:8443", Message("+79161234567", "x"))
    assert ru.url == "https://smsc.ru:8443/sys/send.php"


@pytest.mark.parametrize(
    ("kind", "flag"),
    [
        ("push", ("push", "1")),
        ("ping", ("ping", "1")),
        ("hlr", ("hlr", "1")),
        ("bin", ("bin", "1")),
        ("call", ("call", "1")),
        ("viber", ("viber", "1")),
        ("soc", ("soc", "1")),
    ],
)
def test_message_types_add_their_flag(open_: Connector, kind: str, flag: tuple[str, str]) -> None:
    got = fields(only(open_(), Message("+48500600700", "hi", options={"message_type": kind})))
    assert flag in got and ("flash", "1") not in got


def test_binary_as_hex(open_: Connector) -> None:
    got = fields(only(open_(), Message("+48500600700", "0605040B84", options={"message_type": "bin_hex"})))
    assert ("bin", "2") in got
    with pytest.raises(ValidationError, match="hex"):
        open_().preview(Message("+48500600700", "not hex", options={"message_type": "bin_hex"}))


def test_sender_switched_off_and_message_sender_wins(open_: Connector) -> None:
    assert ("sender", "") in fields(only(open_("sender=Shop"), Message("+48500600700", "x", sender="")))
    assert ("sender", ".") in fields(only(open_(), Message("+48500600700", "x", options={"sender": "."})))
    assert ("sender", "48500600700") in fields(only(open_(), Message("+48500600700", "x", sender="48500600700")))


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (Message("+48500600700", "x", sender="TwelveLetter"), "sender"),
        (Message("+48500600700", "x", sender="Zażółć"), "sender"),
        (Message("+48500600700", "x", sender="1234567890123456"), "sender"),
        (Message("+48500600700", "x", options={"sender": " "}), "sender"),
        (Message("+48500600700", "x", options={"sender": "   "}), "sender"),
        (Message("+48500600700", "x" * 1001), "text"),
        (Message("+48500600700", "x" * 400, options={"maxsms": 2}), "text"),
        (Message("+48500600700", "x", flash=True, options={"message_type": "ping"}), "flash"),
        (Message("+48500600700", "Zażółć", options={"charset": "windows-1251"}), "text"),
        (Message("+48500600700", "x", options={"translit": 3}), "translit"),
        (Message("+48500600700", "x", options={"valid": "25:00"}), "valid"),
        (Message("+48500600700", "x", options={"valid": "1h"}), "valid"),
        (Message("+48500600700", "x", options={"maxsms": 0}), "maxsms"),
        (Message("+48500600700", "x", options={"groups": "G1"}), "groups"),
        (Message("+48500600700", "x", options={"tz": 2}), "tz"),
        (Message("+48500600700", "x", options={"send_window": "21-9"}), "send_window"),
        (Message("+48500600700", "x", options={"send_window": "9:00-21:00"}), "send_window"),
        (Message("+48500600700", "x", options={"nonsense": 1}), "nonsense"),
    ],
)
def test_forbidden_combinations_refused_before_sending(open_: Connector, message: Message, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        open_().preview(message)


def test_send_window_with_tz(open_: Connector) -> None:
    got = fields(only(open_(), Message("+48500600700", "x", options={"send_window": "9-21", "tz": -2})))
    assert ("time", "9-21") in got and ("tz", "-2") in got
    when = datetime.now(timezone.utc) + timedelta(days=1)
    with pytest.raises(ValidationError, match="send_window"):
        open_().preview(Message("+48500600700", "x", send_at=when, options={"send_window": "9-21"}))


def test_scheduled_send_carries_time(open_: Connector) -> None:
    when = datetime(2031, 5, 4, 12, 30, tzinfo=timezone.utc)
    got = fields(only(open_(), Message("+48500600700", "x", send_at=when)))
    assert ("time", f"0{int(when.timestamp())}") in got
    got = fields(only(open_("time_format=moscow"), Message("+48500600700", "x", send_at=when)))
    assert ("time", "04.05.31 15:30") in got and ("tz", "0") in got


def test_windows_1251_and_koi8_r(open_: Connector) -> None:
    for charset, codec in (("windows-1251", "cp1251"), ("koi8-r", "koi8_r")):
        request = only(open_(f"charset={charset}"), Message("+79161234567", "Привет"))
        # the header names the charset as SMSC and IANA do (windows-1251), not as Python's codec (cp1251)
        assert request.header("Content-Type") == f"application/x-www-form-urlencoded; charset={charset}"
        assert ("charset", charset) in fields(request, codec)
        assert ("mes", "Привет") in fields(request, codec)
        assert "Привет".encode(codec) not in request.body  # URL-encoded bytes of that charset


def test_personalised_send_uses_list(open_: Connector) -> None:
    gateway = open_()
    messages = [Message("+48500600700", "Hi Ann"), Message("+48500600701", "Hi Bob")]
    _, batches = plan.plan_personalised(
        messages, gateway.hooks, gateway.settings, gateway.options, datetime.now(timezone.utc)
    )
    request = gateway.hooks.build_request(Send(batches[0]), gateway.settings, gateway.endpoint)
    got = dict(fields(request))
    assert got["list"] == "+48500600700:Hi Ann\n+48500600701:Hi Bob"
    assert "phones" not in got and "mes" not in got
    bad = [Message("+48500600700", "line\nbreak"), Message("+48500600701", "Hi Bob")]
    _, batches = plan.plan_personalised(
        bad, gateway.hooks, gateway.settings, gateway.options, datetime.now(timezone.utc)
    )
    with pytest.raises(ValidationError, match="line breaks"):
        gateway.hooks.build_request(Send(batches[0]), gateway.settings, gateway.endpoint)


def test_test_mode_is_cost_1(open_: Connector) -> None:
    got = dict(fields(only(open_("test=true"), Message("+48500600700", "x"))))
    assert got["cost"] == "1"


def test_quote(open_: Connector) -> None:
    gateway = open_()
    plan_, _ = gateway.prepare(Message("+48500600700", "price me", sender="Shop"))
    request = gateway.hooks.build_request(Quote(plan_.batches[0]), plan_.settings, gateway.endpoint)
    assert request.url == "https://smscentre.com/sys/send.php"
    assert fields(request)[4:] == [("phones", "+48500600700"), ("mes", "price me"), ("sender", "Shop"), ("cost", "1")]


def test_reconcile_looks_every_number_up_under_the_batch_id(open_: Connector) -> None:
    gateway = open_()
    plan_, _ = gateway.prepare(Message(["+48500600700", "+48500600701"], "x", key="r"))
    batch = plan_.batches[0]
    request = gateway.hooks.build_request(Reconcile(batch), plan_.settings, gateway.endpoint)
    ident = str(int_key(batch.dedup_key))
    assert request.url == "https://smscentre.com/sys/status.php"
    assert fields(request) == [
        ("login", "shop"),
        ("psw", "pa55word"),
        ("fmt", "3"),
        ("charset", "utf-8"),
        ("phone", "48500600700,48500600701"),
        ("id", f"{ident},{ident}"),
    ]
    single, _ = gateway.prepare(Message("+48500600700", "x", key="s"))
    request = gateway.hooks.build_request(Reconcile(single.batches[0]), single.settings, gateway.endpoint)
    assert fields(request)[4:] == [("phone", "48500600700"), ("id", str(int_key(single.batches[0].dedup_key)))]


def test_status_balance_and_calls(open_: Connector) -> None:
    gateway = open_()
    build = gateway.hooks.build_request
    request = build(StatusQuery(("77", "78"), "+48500600700"), gateway.settings, gateway.endpoint)
    assert request.url.endswith("/sys/status.php")
    assert fields(request)[4:] == [("phone", "48500600700,48500600700"), ("id", "77,78")]
    assert fields(build(StatusQuery("77", "+48500600700"), gateway.settings, gateway.endpoint))[4:] == [
        ("phone", "48500600700"),
        ("id", "77"),
    ]
    request = build(BalanceQuery(), gateway.settings, gateway.endpoint)
    assert request.url == "https://smscentre.com/sys/balance.php"
    assert fields(request)[4:] == [("cur", "1")]
    request = build(Call("tasks", {"cnt": 5, "after_id": "10"}), gateway.settings, gateway.endpoint)
    assert request.url == "https://smscentre.com/sys/downloads.php"
    assert fields(request)[4:] == [("get_list", "1"), ("cnt", "5"), ("after_id", "10")]
    assert fields(build(Call("download", {"id": 3}), gateway.settings, gateway.endpoint))[4:] == [
        ("get_file", "1"),
        ("id", "3"),
    ]
    for key in ("name", "task_name"):
        assert fields(build(Call("download", {key: "May"}), gateway.settings, gateway.endpoint))[4:] == [
            ("get_file", "1"),
            ("name", "May"),
        ]


@pytest.mark.parametrize(
    ("operation", "field"),
    [
        (StatusQuery("77"), "recipient"),
        (StatusQuery("x7", "+48500600700"), "message_id"),
        (Call("download", {}), "call.download"),
        (Call("download", {"id": 1, "name": "n"}), "call.download"),
        (Call("download", {"name": "n", "task_name": "n"}), "call.download"),
        (Call("download", {"id": "-1"}), "call.id"),
        (Call("tasks", {"cnt": True}), "call.cnt"),
        (Call("tasks", {"page": 2}), "call.page"),
        (Call("jobs", {}), "call"),
    ],
)
def test_bad_lookups_refused(open_: Connector, operation: Any, field: str) -> None:
    gateway = open_()
    with pytest.raises(ValidationError, match=field):
        gateway.hooks.build_request(operation, gateway.settings, gateway.endpoint)


def test_unknown_call_refused_by_the_gateway(open_: Connector) -> None:
    with pytest.raises(ValidationError, match="known: download, tasks"):
        open_().call("jobs")


def test_dsn_takes_no_unknown_option(registry: Registry) -> None:
    with pytest.raises((ValidationError, ConfigurationError), match="colour"):
        connect("smsc://a:b@default?colour=red", registry=registry)
