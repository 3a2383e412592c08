"""Golden requests: exact method, URL and form fields, as the EAPI documentation and its
clients send them (form POST, ISO-8859-1 values)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import parse_qsl, quote

import attrs
import pytest

from smsgate import plan
from smsgate.errors import ConfigurationError, MessageTooLongError, SmsgateError, ValidationError
from smsgate.gateway import Gateway
from smsgate.idempotency import int_key
from smsgate.models import BalanceQuery, Batch, Call, HttpRequest, Message, Quote, Send, StatusQuery
from smsgate.text import ucs2_hex

Offline = Callable[..., Gateway]
FORM = ("Content-Type", "application/x-www-form-urlencoded; charset=ISO-8859-1")


def fields(request: HttpRequest) -> list[tuple[str, str]]:
    return parse_qsl(request.body.decode("ascii"), keep_blank_values=True, encoding="iso-8859-1", errors="strict")


def send(gateway: Gateway, message: Message) -> HttpRequest:
    (request,) = gateway.preview(message, redact=False)
    return request


def dup(value: str) -> tuple[str, str]:
    """A ``stop_dup_id`` field: the batch's ``dedup_key`` (key + content digest) as an integer,
    regenerated when ``stop_dup_id`` moved from ``batch.key`` to ``batch.dedup_key``."""
    return ("stop_dup_id", value)


def test_single_send_is_a_form_post_to_send_sms_2_0(offline: Offline) -> None:
    request = send(offline(), Message("+4712345678", "hello", key="order-1"))
    assert request.method == "POST"
    assert request.url == "https://bulksms.vsms.net/eapi/submission/send_sms/2/2.0"
    assert request.headers == (FORM,)
    assert fields(request) == [
        ("username", "john"),
        ("password", "abcd1234"),
        ("message", "hello"),
        ("msisdn", "4712345678"),
        dup("364878950"),
    ]
    assert request.body == b"username=john&password=abcd1234&message=hello&msisdn=4712345678&stop_dup_id=364878950"


def test_stop_dup_id_is_the_same_on_every_build_and_in_range(offline: Offline) -> None:
    gateway = offline()
    first = fields(send(gateway, Message("+4712345678", "hello", key="k")))
    again = fields(send(gateway, Message("+4712345678", "hello", key="k")))
    other = fields(send(gateway, Message("+4712345678", "hello", key="k2")))
    value = dict(first)["stop_dup_id"]
    assert value == dict(again)["stop_dup_id"] != dict(other)["stop_dup_id"]
    assert 1 <= int(value) <= 2_147_483_647


def test_reseller_host_and_port_over_plain_http(offline: Offline) -> None:
    gateway = offline("tls=false", dsn="bulksms://john:abcd1234@www.sms.studentmessenger.co.uk:5567")
    request = send(gateway, Message(["+44123123456", "+44123123457"], "Hi Mom & Dad", key="k"))
    assert request.url == "http://www.sms.studentmessenger.co.uk:5567/eapi/submission/send_sms/2/2.0"
    assert ("msisdn", "44123123456,44123123457") in fields(request)
    assert b"message=Hi+Mom+%26+Dad&" in request.body


@pytest.mark.parametrize(
    ("version", "path"),
    [
        ("current", "/eapi/submission/send_sms/1/current"),
        ("1.x", "/eapi/submission/send_sms/1/1.x"),
        ("1.1", "/eapi/submission/send_sms/1/1.1"),
    ],
)
def test_send_sms_1_x_by_option(offline: Offline, version: str, path: str) -> None:
    request = send(offline(f"api_version={version}"), Message("+4712345678", "hello"))
    assert request.url == "https://bulksms.vsms.net" + path


def test_unknown_api_version_is_refused(offline: Offline) -> None:
    with pytest.raises(ValidationError, match="api_version"):
        offline("api_version=3.0")


def test_long_text_allows_concatenation_with_its_part_count(offline: Offline) -> None:
    request = send(offline(), Message("+4712345678", "x" * 200, key="k"))
    assert fields(request)[-2:] == [("allow_concat_text_sms", "1"), ("concat_text_sms_max_parts", "2")]
    request = send(offline(), Message("+4712345678", "x" * 700, key="k"))
    assert fields(request)[-1] == ("concat_text_sms_max_parts", "5")


def test_unicode_is_16bit_utf16be_hex(offline: Offline) -> None:
    text = "Zażółć gęślą jaźń € [ok]"
    got = dict(fields(send(offline(), Message("+48500600700", text))))
    assert got["dca"] == "16bit"
    assert got["message"] == text.encode("utf-16-be").hex() == ucs2_hex(text)
    assert got["message"].startswith("005a0061017c00f3")  # lowercase, 4 digits per unit, no BOM
    assert "allow_concat_text_sms" not in got


def test_long_unicode_is_concatenated_in_67_unit_parts(offline: Offline) -> None:
    got = dict(fields(send(offline(), Message("+48500600700", "ż" * 71))))
    assert (got["dca"], got["allow_concat_text_sms"], got["concat_text_sms_max_parts"]) == ("16bit", "1", "2")


def test_gsm_characters_latin1_lacks_use_the_documented_bytes(offline: Offline) -> None:
    request = send(offline(), Message("+4712345678", "ΔΦΓΛΩΠΨΣΘΞ"))
    assert b"message=%D0%DE%AC%C2%DB%BA%DD%CA%D4%B1&" in request.body
    assert "dca" not in dict(fields(request))


def test_other_gsm_characters_are_their_latin1_bytes(offline: Offline) -> None:
    # the rest of the official sample's table: identical to ISO-8859-1
    table = {
        "¡": "A1", "£": "A3", "¤": "A4", "¥": "A5", "§": "A7", "¿": "BF", "Ä": "C4", "Å": "C5", "Æ": "C6",
        "Ç": "C7", "É": "C9", "Ñ": "D1", "Ö": "D6", "Ø": "D8", "Ü": "DC", "ß": "DF", "à": "E0", "ä": "E4",
        "å": "E5", "æ": "E6", "è": "E8", "é": "E9", "ì": "EC", "ñ": "F1", "ò": "F2", "ö": "F6", "ø": "F8",
        "ù": "F9", "ü": "FC",
    }  # fmt: skip
    request = send(offline(), Message("+4712345678", "".join(table)))
    assert b"message=%" + "%".join(table.values()).encode() + b"&" in request.body
    request = send(offline(), Message("+4712345678", "a@b_c [1] {2} ~^|\\"))
    assert ("message", "a@b_c [1] {2} ~^|\\") in fields(request)


def test_euro_has_no_latin1_byte_so_the_text_goes_16bit(offline: Offline) -> None:
    got = dict(fields(send(offline(), Message("+4712345678", "Price: 5 €"))))
    assert got["dca"] == "16bit" and got["message"] == ucs2_hex("Price: 5 €")


def test_euro_fallback_counts_unicode_parts(offline: Offline) -> None:
    got = dict(fields(send(offline(), Message("+4712345678", "€" + "a" * 100))))
    assert got["concat_text_sms_max_parts"] == "2"  # 101 UCS-2 units, though 102 septets fit one SMS
    with pytest.raises(MessageTooLongError, match="8 parts"):
        send(offline(), Message("+4712345678", "€" + "a" * 1000))  # 7 GSM parts, 16 as UCS-2


def test_flash_is_msg_class_0(offline: Offline) -> None:
    got = fields(send(offline(), Message("+4712345678", "hello", flash=True)))
    assert ("msg_class", "0") in got
    with pytest.raises(ValidationError, match="msg_class=0"):
        send(offline("msg_class=2"), Message("+4712345678", "hello", flash=True))


def test_sender_sets_repliable_0_and_excludes_repliable(offline: Offline) -> None:
    got = fields(send(offline(), Message("+4712345678", "hello", sender="Shop")))
    assert got[4:6] == [("sender", "Shop"), ("repliable", "0")]
    with pytest.raises(ValidationError, match="repliable"):
        send(offline("repliable=true"), Message("+4712345678", "hello", sender="Shop"))
    with pytest.raises(ValidationError, match="repliable"):
        offline("repliable=1&sender=Shop")
    assert ("repliable", "1") in fields(send(offline("repliable=1"), Message("+4712345678", "hello")))


def test_stop_dup_id_binds_the_key_to_the_content(offline: Offline) -> None:
    """The same key for other recipients or another text is another stop_dup_id: the gateway
    would otherwise replay the first message's reply for a message it never took."""
    gateway = offline()
    same = [Message("+4712345678", "hello", key="k"), Message("+4712345678", "hello", key="k")]
    other = [Message("+4712345679", "hello", key="k"), Message("+4712345678", "hello!", key="k")]
    ids = [dict(fields(send(gateway, m)))["stop_dup_id"] for m in [*same, *other]]
    assert ids[0] == ids[1] and len(set(ids)) == 3
    (batch,) = gateway.prepare(same[0])[0].batches
    assert ids[0] == str(int_key(batch.dedup_key)) != str(int_key(batch.key))


def test_send_to_groups_stop_dup_id_binds_the_key_to_the_content(offline: Offline) -> None:
    gateway = offline()

    def dup_id(**params: object) -> str:
        call = Call("send_to_groups", {"groups": [12], "text": "Meeting at 5", "key": "g", **params})
        return dict(fields(gateway.hooks.build_request(call, gateway.settings, gateway.endpoint)))["stop_dup_id"]

    assert dup_id() == dup_id()
    assert len({dup_id(), dup_id(text="Meeting at 6"), dup_id(groups=[13]), dup_id(sender="Club")}) == 4


@pytest.mark.parametrize(
    ("sender", "rule"),
    [
        (" ", "blank"),
        ("   ", "blank"),
        ("\x00", "control"),
        ("\n", "control"),
        ("Shop\nX", "control"),
        ("A\tB", "control"),
    ],
)
def test_blank_and_control_character_senders_are_refused(offline: Offline, sender: str, rule: str) -> None:
    gateway = offline()
    (batch,) = gateway.prepare(Message("+4712345678", "hello"))[0].batches
    bad = attrs.evolve(batch, message=Message("+4712345678", "hello", sender=sender))  # past the core's checks
    with pytest.raises(ValidationError, match=rule) as caught:
        gateway.hooks.build_request(Send(bad), gateway.settings, gateway.endpoint)
    assert caught.value.field == "sender"
    with pytest.raises(ValidationError, match=f"sender.*{rule}"):
        offline("sender=" + quote(sender))


@pytest.mark.parametrize(
    ("user", "secret", "field"),
    [
        ("", "", "username"),
        ("", "pw", "username"),
        ("%20", "pw", "username"),
        ("john", "", "password"),
        ("john", "%20%20", "password"),
    ],
)
def test_empty_credentials_are_refused_at_connect(offline: Offline, user: str, secret: str, field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        offline(dsn=f"bulksms://{user}:{secret}@default")


def test_sender_rules(offline: Offline) -> None:
    with pytest.raises(ValidationError, match="11 characters"):
        send(offline(), Message("+4712345678", "hello", sender="TwelveLetter"))
    assert ("sender", "+447700900123") in fields(send(offline(), Message("+4712345678", "x", sender="+447700900123")))
    with pytest.raises(ValidationError, match="ISO-8859-1"):
        send(offline(), Message("+4712345678", "hello", sender="Żabka"))


def test_every_send_option_in_order(offline: Offline) -> None:
    options = (
        "routing_group=2&want_report=0&source_id=inv-7&strip_dup_recipients=1&dest_group_id=12,34"
        "&test_always_succeed=1&msg_class=1"
    )
    got = fields(send(offline(f"{options}"), Message("+4712345678", "hello", key="k")))
    assert got == [
        ("username", "john"),
        ("password", "abcd1234"),
        ("message", "hello"),
        ("msisdn", "4712345678"),
        ("dest_group_id", "12,34"),
        ("msg_class", "1"),
        ("want_report", "0"),
        ("routing_group", "2"),
        ("source_id", "inv-7"),
        ("strip_dup_recipients", "1"),
        dup("1304616917"),
        ("test_always_succeed", "1"),
    ]
    assert ("test_always_fail", "1") in fields(send(offline("test_always_fail=1"), Message("+4712345678", "x")))


def test_options_are_validated(offline: Offline) -> None:
    for bad, match in [
        ("msg_class=5", "msg_class"),
        ("routing_group=0", "routing_group"),
        ("dest_group_id=12,abc", "dest_group_id"),
        ("test_always_succeed=1&test_always_fail=1", "cannot both"),
        ("timezone=Mars/Olympus", "timezone"),
        ("report_fields=body,colour", "colour"),
        ("report_port=70000", "report_port"),
        ("want_report=maybe", "want_report"),
        ("colour=blue", "unknown option"),
    ]:
        with pytest.raises(ValidationError, match=match):
            offline(f"{bad}")
    with pytest.raises(SmsgateError, match="ISO-8859-1"):
        offline(dsn="bulksms://Łukasz:abcd1234@default")


def test_per_message_options_override_the_dsn(offline: Offline) -> None:
    gateway = offline("routing_group=1")
    got = fields(send(gateway, Message("+4712345678", "hello", options={"routing_group": 3, "source_id": "a1"})))
    assert ("routing_group", "3") in got and ("source_id", "a1") in got
    with pytest.raises(ValidationError, match="msg_class"):
        send(gateway, Message("+4712345678", "hello", options={"msg_class": 9}))


def test_schedule_is_send_time_in_the_account_zone(offline: Offline) -> None:
    when = datetime(2031, 7, 1, 12, 0, tzinfo=timezone.utc)
    got = fields(send(offline("scheduling_description=July"), Message("+4712345678", "hi", send_at=when)))
    assert ("send_time", "2031-07-01 13:00:00") in got  # BST
    assert got.index(("scheduling_description", "July")) == got.index(("send_time", "2031-07-01 13:00:00")) + 1
    got = fields(send(offline("schedule_field=send_time_unixtime"), Message("+4712345678", "hi", send_at=when)))
    assert ("send_time_unixtime", str(int(when.timestamp()))) in got


def test_quote_is_send_sms_without_stop_dup_id_or_test_switch(offline: Offline) -> None:
    gateway = offline("routing_group=2&test_always_succeed=1")
    batch = gateway.prepare(Message("+4712345678", "hello", key="k"))[0].batches[0]
    request = gateway.hooks.build_request(Quote(batch), gateway.settings, gateway.endpoint)
    assert request.url == "https://bulksms.vsms.net/eapi/submission/quote_sms/2/2.0"
    assert fields(request) == [
        ("username", "john"),
        ("password", "abcd1234"),
        ("message", "hello"),
        ("msisdn", "4712345678"),
        ("routing_group", "2"),
    ]
    v1 = offline("api_version=1.1")
    assert v1.hooks.build_request(Quote(batch), v1.settings, v1.endpoint).url.endswith("/quote_sms/1/1.1")


def test_get_report_2_0(offline: Offline) -> None:
    gateway = offline("report_fields=completed_time,source_id")
    request = gateway.hooks.build_request(StatusQuery(("123445566",), "+1212121"), gateway.settings, gateway.endpoint)
    assert (request.method, request.url) == ("POST", "https://bulksms.vsms.net/eapi/status_reports/get_report/2/2.0")
    assert fields(request) == [
        ("username", "john"),
        ("password", "abcd1234"),
        ("batch_id", "123445566"),
        ("msisdn", "1212121"),
        ("optional_fields", "completed_time,source_id"),
    ]
    same = gateway.hooks.build_request(StatusQuery(("5", "5")), gateway.settings, gateway.endpoint)
    assert ("batch_id", "5") in fields(same)
    with pytest.raises(ValidationError, match="one numeric batch id"):
        gateway.hooks.build_request(StatusQuery(("5", "6")), gateway.settings, gateway.endpoint)


def test_get_report_1_0_on_port_7512(offline: Offline) -> None:
    gateway = offline("tls=false&api_version=current", dsn="bulksms://john:abcd1234@bulksms.vsms.net:5567")
    request = gateway.hooks.build_request(StatusQuery(("99",)), gateway.settings, gateway.endpoint)
    assert request.url == "http://bulksms.vsms.net:7512/eapi/1.0/get_report.mc"
    assert fields(request) == [("username", "john"), ("password", "abcd1234"), ("msg_id", "99")]
    # get_report 1.0 [B11]: "msisdn: supply if querying the status of a single recipient"
    one = gateway.hooks.build_request(StatusQuery(("99",), "+447700900001"), gateway.settings, gateway.endpoint)
    assert fields(one) == [("username", "john"), ("password", "abcd1234"), ("msg_id", "99"), ("msisdn", "447700900001")]
    moved = offline("tls=false&api_version=1.1&report_port=8001", dsn="bulksms://john:abcd1234@127.0.0.1:8000")
    assert moved.hooks.build_request(StatusQuery(("99",)), moved.settings, moved.endpoint).url.startswith(
        "http://127.0.0.1:8001/"
    )


def test_get_credits(offline: Offline) -> None:
    gateway = offline()
    request = gateway.hooks.build_request(BalanceQuery(), gateway.settings, gateway.endpoint)
    assert request.url == "https://bulksms.vsms.net/eapi/user/get_credits/1/1.1"
    assert fields(request) == [("username", "john"), ("password", "abcd1234")]


def personalised(gateway: Gateway, messages: list[Message]) -> list[Batch]:
    _, batches = plan.plan_personalised(
        messages, gateway.hooks, gateway.settings, gateway.options, datetime.now(timezone.utc)
    )
    return batches


def test_personalised_texts_go_through_send_batch_csv(offline: Offline) -> None:
    gateway = offline("routing_group=2")
    messages = [
        Message("+111111111", "Hi there", key="a"),
        Message("+333333333", 'Hello again. Here is some "quoted text".\nThis text follows a newline', key="b"),
    ]
    (batch,) = personalised(gateway, messages)
    request = gateway.hooks.build_request(Send(batch), gateway.settings, gateway.endpoint)
    assert request.url == "https://bulksms.vsms.net/eapi/submission/send_batch/1/1.0"
    got = fields(request)
    assert got[:2] == [("username", "john"), ("password", "abcd1234")]
    assert got[2] == (
        "batch_data",
        'msisdn,message\n"111111111","Hi there"\n'
        '"333333333","Hello again. Here is some \\"quoted text\\".\\\nThis text follows a newline"',
    )
    assert got[3:] == [("routing_group", "2"), dup("1539937307")]
    # the documentation's own example, percent-encoded
    assert b"%22333333333%22%2C%22Hello+again.+Here+is+some+%5C%22quoted+text%5C%22.%5C%0AThis+text" in request.body


def test_send_batch_gives_unicode_lines_their_own_dca(offline: Offline) -> None:
    gateway = offline()
    messages = [Message("+111111111", "Δ ok", key="a"), Message("+333333333", "Cześć " + "ż" * 70, key="b")]
    (batch,) = personalised(gateway, messages)
    got = dict(fields(gateway.hooks.build_request(Send(batch), gateway.settings, gateway.endpoint)))
    hexed = ucs2_hex("Cześć " + "ż" * 70)
    assert got["batch_data"] == f'msisdn,message,dca\n"111111111","\xd0 ok","7bit"\n"333333333","{hexed}","16bit"'
    assert (got["allow_concat_text_sms"], got["concat_text_sms_max_parts"]) == ("1", "2")
    with pytest.raises(ValidationError, match="dest_group_id"):
        gateway.hooks.build_request(Send(batch), offline("dest_group_id=5").settings, gateway.endpoint)


def test_send_to_groups_call(offline: Offline) -> None:
    gateway = offline()
    call = Call("send_to_groups", {"groups": [12, 34], "text": "Meeting at 5", "key": "grp-1", "sender": "Club"})
    request = gateway.hooks.build_request(call, gateway.settings, gateway.endpoint)
    assert request.url.endswith("/eapi/submission/send_sms/2/2.0")
    assert fields(request) == [
        ("username", "john"),
        ("password", "abcd1234"),
        ("message", "Meeting at 5"),
        ("dest_group_id", "12,34"),
        ("sender", "Club"),
        ("repliable", "0"),
        dup("551776702"),
    ]
    bad: list[tuple[dict[str, object], str]] = [
        ({"groups": [1], "text": "x"}, "key"),
        ({"groups": ["a"], "text": "x", "key": "k"}, "group"),
        ({"groups": [1], "text": "x", "key": "k", "colour": 1}, "colour"),
    ]
    for params, match in bad:
        with pytest.raises(ValidationError, match=match):
            gateway.hooks.build_request(Call("send_to_groups", params), gateway.settings, gateway.endpoint)
    assert gateway.hooks.build_request(
        Call("send_to_groups", {"groups": "7", "text": "x", "key": "k"}), gateway.settings, gateway.endpoint
    )


def test_routing_group_is_cost_route_on_send_sms_1_x(offline: Offline) -> None:
    # routing_group is "previously known as cost_route, which still works as an alias" [B7]; the
    # v1-era parameter list [B16] has cost_route only: send_sms 1.x (and its quote) get that name.
    v1 = offline("api_version=current&routing_group=2")
    got = fields(send(v1, Message("+4712345678", "hello", key="k")))
    assert ("cost_route", "2") in got and "routing_group" not in dict(got)
    batch = v1.prepare(Message("+4712345678", "hello"))[0].batches[0]
    quoted = v1.hooks.build_request(Quote(batch), v1.settings, v1.endpoint)
    assert quoted.url.endswith("/quote_sms/1/current") and ("cost_route", "2") in fields(quoted)
    # send_sms 2.0 and send_batch (documented with routing_group) keep the current name
    assert ("routing_group", "2") in fields(send(offline("routing_group=2"), Message("+4712345678", "x")))
    messages = [Message("+111111111", "one", key="a"), Message("+333333333", "two", key="b")]
    (personal,) = personalised(v1, messages)
    assert ("routing_group", "2") in fields(v1.hooks.build_request(Send(personal), v1.settings, v1.endpoint))
