"""Golden requests: exact method, URL, headers and JSON body per reference 2.1-2.7."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from serwersms_support import at_default, body

from smsgate import idempotency, plan
from smsgate.errors import ConfigurationError, MessageTooLongError, ValidationError
from smsgate.gateway import Gateway
from smsgate.models import BalanceQuery, Batch, Call, HttpRequest, Message, Reconcile, Send, StatusQuery
from smsgate_serwersms.request import first_request, unique_id
from smsgate_serwersms.settings import sender_problem

URL = "https://api2.serwersms.pl/messages/send_sms.json"
CREDS = {"system": "client_smsgate", "username": "user", "password": "pa55word"}
Offline = Callable[..., Gateway]


def uid(key: str, recipient: str) -> str:
    return idempotency.alnum_key(idempotency.sub_key(key, recipient), 32)


def one(gateway: Gateway, message: Message) -> HttpRequest:
    (request,) = gateway.preview(message, redact=False)
    return request


def test_send_with_password_in_the_body(offline: Offline) -> None:
    request = one(offline(), Message("+48500600700", "Hello", key="order-1"))
    assert request.method == "POST"
    assert request.url == URL
    assert request.header("Content-Type") == "application/json; charset=utf-8"
    assert request.header("Authorization") is None
    assert body(request) == {
        "phone": "+48500600700",
        "text": "Hello",
        "details": True,
        "unique_id": uid("order-1", "+48500600700"),
        **CREDS,
    }


def test_send_with_token_as_bearer_header(offline: Offline) -> None:
    request = one(offline(dsn=at_default(":t0ken-abc")), Message("+48500600700", "Hello", key="k"))
    assert request.header("Authorization") == "Bearer t0ken-abc"
    document = body(request)
    assert "username" not in document and "password" not in document
    assert document["system"] == "client_smsgate"


def test_forced_token_scheme_does_not_send_the_username(offline: Offline) -> None:
    request = one(offline("auth=token", at_default("me:t0ken")), Message("+48500600700", "Hi"))
    assert request.header("Authorization") == "Bearer t0ken"
    assert "username" not in body(request)


def test_several_recipients_are_arrays_in_order(offline: Offline) -> None:
    to = ["+48500600702", "+48500600700", "+48500600701"]
    document = body(one(offline(), Message(to, "Hi", key="k2")))
    assert document["phone"] == to
    assert document["unique_id"] == [uid("k2", r) for r in to]
    assert len(set(document["unique_id"])) == 3


def test_every_send_parameter(offline: Offline) -> None:
    options = (
        "sender=INFORMACJA&test=true&speed=true&wap_push=https://example.com/w"
        "&dlr_url=https://example.com/dlr?smsid=%23SMSID%23%26stan=%23STAN%23%26data=%23DATA%23%26przyczyna=%23PRZYCZYNA%23"
        "&group_id=12,34&contact_id=56&system=client_python"
    )
    when = datetime(2030, 7, 1, 10, 0, tzinfo=timezone.utc)
    message = Message("+48500600700", "Zażółć gęślą jaźń", flash=True, send_at=when, key="all")
    assert body(one(offline(options), message)) == {
        "phone": "+48500600700",
        "text": "Zażółć gęślą jaźń",
        "sender": "INFORMACJA",
        "details": True,
        "flash": True,
        "test": True,
        "utf": True,
        "speed": 1,
        "wap_push": "https://example.com/w",
        "date": "2030-07-01 12:00:00",
        "unique_id": uid("all", "+48500600700"),
        "group_id": ["12", "34"],
        "contact_id": "56",
        "dlr_url": "https://example.com/dlr?smsid=#SMSID#&stan=#STAN#&data=#DATA#&przyczyna=#PRZYCZYNA#",
        "system": "client_python",
        "username": "user",
        "password": "pa55word",
    }


def test_vcard(offline: Offline) -> None:
    card = "BEGIN:VCARD\nVERSION:2.1\nN:Kowalski;Jan\nTEL:+48500600700\nEND:VCARD"
    assert body(one(offline("vcard=true"), Message("+48500600700", card)))["vcard"] is True
    with pytest.raises(ValidationError, match="vCard"):
        offline("vcard=true").preview(Message("+48500600700", "not a card"))


def test_message_sender_overrides_and_empty_sender_forces_eco(offline: Offline) -> None:
    gateway = offline("sender=INFORMACJA")
    assert body(one(gateway, Message("+48500600700", "Hi", sender="2waySMS")))["sender"] == "2waySMS"
    assert "sender" not in body(one(gateway, Message("+48500600700", "Hi", sender="")))


@pytest.mark.parametrize(
    ("sender", "rule"),
    [
        ("12345", "4 or 9 digits"),
        ("ABCDEFGHIJKL", "at most 11 characters"),
        (" Shop", "not a sender name"),
        ("!invalid", "not a sender name"),  # the audit's example: names are alphanumeric
        ("Shop!", "not a sender name"),
        ("Sklep+", "not a sender name"),
        ("Łódź", "not a sender name"),  # ASCII letters only
        ("A  B", "not a sender name"),
        ("Shop\n", "control characters"),
        ("Sh\x00p", "control characters"),
        ("   ", "blank"),
    ],
)
def test_bad_senders_are_refused_naming_the_rule(offline: Offline, sender: str, rule: str) -> None:
    """Message.sender is refused before anything is sent (by the plugin, or by the core for
    blanks and control characters), and so is the DSN's sender option."""
    with pytest.raises(ValidationError, match="sender") as caught:
        offline().preview(Message("+48500600700", "Hi", sender=sender))
    assert caught.value.field == "sender"
    problem = sender_problem(sender)
    assert problem is not None and rule in problem
    with pytest.raises(ValidationError, match=re.escape(rule)):
        offline(f"sender={quote(sender, safe='')}")


@pytest.mark.parametrize("sender", ["1234", "500600700", "Shop 24", "2waySMS", "Sklep.pl", "Auto-Moto", "INFORMACJA"])
def test_good_senders(offline: Offline, sender: str) -> None:
    assert body(one(offline(), Message("+48500600700", "Hi", sender=sender)))["sender"] == sender


def test_unicode_without_sender_is_refused_before_sending(offline: Offline) -> None:
    with pytest.raises(ValidationError, match="set a sender") as info:
        offline().preview(Message("+48500600700", "Zażółć"))
    assert info.value.field == "text"


def test_utf_false_leaves_unicode_to_the_gateway(offline: Offline) -> None:
    document = body(one(offline("utf=false"), Message("+48500600700", "Zażółć")))
    assert "utf" not in document and "sender" not in document


def test_utf_true_needs_a_sender_and_counts_ucs2_parts(offline: Offline) -> None:
    with pytest.raises(ValidationError, match="FULL"):
        offline("utf=true").preview(Message("+48500600700", "Hi"))
    gateway = offline("utf=true&sender=INFORMACJA")
    assert body(one(gateway, Message("+48500600700", "x" * 402)))["utf"] is True  # 6 parts of 67
    with pytest.raises(MessageTooLongError):
        gateway.preview(Message("+48500600700", "x" * 403))


def test_gsm_text_does_not_set_utf(offline: Offline) -> None:
    assert "utf" not in body(one(offline("sender=INFORMACJA"), Message("+48500600700", "Price: 5€ [ok]")))


def test_speed_is_full_only(offline: Offline) -> None:
    with pytest.raises(ValidationError, match="speed"):
        offline("speed=true").preview(Message("+48500600700", "Hi"))


def test_batches_of_200_with_groups_on_the_first_only(offline: Offline) -> None:
    to = [f"+4850060{n:04d}" for n in range(450)]
    requests = offline("group_id=7").preview(Message(to, "Hi", key="bulk"), redact=False)
    documents = [body(r) for r in requests]
    assert [len(d["phone"]) for d in documents] == [200, 200, 50]
    assert [d.get("group_id") for d in documents] == ["7", None, None]
    assert [p for d in documents for p in d["phone"]] == to
    (single,) = offline("batch_size=500").preview(Message(to, "Hi"), redact=False)
    assert len(body(single)["phone"]) == 450


def test_first_request_rule() -> None:
    def batch(index: int, resume: bool = False) -> Batch:
        return Batch(Message("+48500600700", "x"), (), "k", index=index, resume=resume)

    assert first_request(batch(0))
    assert not first_request(batch(1)) and not first_request(batch(12))
    assert not first_request(batch(0, resume=True)), "groups are never resent after reconciliation"


def _personalised(gateway: Gateway, messages: list[Message]) -> HttpRequest:
    now = datetime.now(timezone.utc)
    _, batches = plan.plan_personalised(messages, gateway.hooks, gateway.settings, gateway.options, now)
    (batch,) = batches
    result: HttpRequest = gateway.hooks.build_request(Send(batch), gateway.settings, gateway.endpoint)
    return result


def test_personalised_sends_messages_array(offline: Offline) -> None:
    gateway = offline("sender=INFORMACJA")
    messages = [Message("+48500600700", "First message", key="a"), Message("+48500600701", "Drugi: zażółć", key="b")]
    request = _personalised(gateway, messages)
    assert request.url == "https://api2.serwersms.pl/messages/send_personalized.json"
    document = body(request)
    assert document["messages"] == [
        {"phone": "+48500600700", "text": "First message"},
        {"phone": "+48500600701", "text": "Drugi: zażółć"},
    ]
    assert document["sender"] == "INFORMACJA" and document["utf"] is True and document["details"] is True
    assert document["unique_id"] == [uid("a", "+48500600700"), uid("b", "+48500600701")]
    assert "phone" not in document and "text" not in document


@pytest.mark.parametrize("option", ["dlr_url=https://x.pl/?id=%23SMSID%23", "group_id=1", "contact_id=2", "vcard=true"])
def test_personalised_refuses_parameters_it_does_not_have(offline: Offline, option: str) -> None:
    gateway = offline(option)
    with pytest.raises(ValidationError, match="personalised"):
        _personalised(gateway, [Message("+48500600700", "One"), Message("+48500600701", "Two")])


def test_reconcile_asks_reports_by_unique_id(offline: Offline) -> None:
    gateway = offline()
    batch = gateway.prepare(Message(["+48500600700", "+48500600701"], "Hi", key="lost"))[0].batches[0]
    request = gateway.hooks.build_request(Reconcile(batch), gateway.settings, gateway.endpoint)
    assert request.url == "https://api2.serwersms.pl/messages/reports.json"
    assert body(request) == {
        "unique_id": [uid("lost", "+48500600700"), uid("lost", "+48500600701")],
        "page": 1,
        "limit": 2,
        **CREDS,
    }


def test_status_query(offline: Offline) -> None:
    gateway = offline()
    request = gateway.hooks.build_request(
        StatusQuery(("aca3944055",), "+48500600700"), gateway.settings, gateway.endpoint
    )
    assert request.url == "https://api2.serwersms.pl/messages/reports.json"
    assert body(request) == {"id": "aca3944055", "page": 1, "limit": 1, "phone": "+48500600700", **CREDS}
    with pytest.raises(ValidationError, match="500"):
        gateway.hooks.build_request(
            StatusQuery(tuple(f"{n:010x}" for n in range(501))), gateway.settings, gateway.endpoint
        )


def test_balance_and_calls(offline: Offline) -> None:
    gateway = offline()
    build = gateway.hooks.build_request
    limits = build(BalanceQuery(), gateway.settings, gateway.endpoint)
    assert (limits.url, body(limits)) == ("https://api2.serwersms.pl/account/limits.json", CREDS)
    error = build(Call("error", {"code": 3103}), gateway.settings, gateway.endpoint)
    assert error.url == "https://api2.serwersms.pl/error/3103.json"
    view = build(Call("view", {"id": "aca3944055"}), gateway.settings, gateway.endpoint)
    assert (view.url, body(view)) == ("https://api2.serwersms.pl/messages/view.json", {"id": "aca3944055", **CREDS})
    delete = build(Call("delete", {"unique_id": "abc123"}), gateway.settings, gateway.endpoint)
    assert delete.url.endswith("/messages/delete.json") and body(delete)["unique_id"] == "abc123"
    with pytest.raises(ValidationError):
        build(Call("view", {"nope": 1}), gateway.settings, gateway.endpoint)
    with pytest.raises(ValidationError):
        build(Call("error", {"code": "x"}), gateway.settings, gateway.endpoint)


def test_unique_id_is_alphanumeric_within_limits() -> None:
    value = unique_id("any key / with + odd chars")
    assert re.fullmatch(r"[A-Za-z0-9]{3,50}", value)
    assert value == unique_id("any key / with + odd chars") != unique_id("another")


@pytest.mark.parametrize(
    ("options", "credentials", "needle"),
    [
        ("dlr_url=https://x.pl/?stan=%23STAN%23", "u:p", "#SMSID#"),
        ("dlr_url=https://x.pl/?id=%23SMSID%23%26x=%23FOO%23", "u:p", "#FOO#"),
        ("dlr_url=ftp://x.pl/%23SMSID%23", "u:p", "http"),
        ("wap_push=not-a-url", "u:p", "wap_push"),
        ("time_zone=Mars/Olympus", "u:p", "time zone"),
        ("group_id=a-b", "u:p", "group_id"),
        ("auth=both", "u:p", "auth"),
        ("sender=12345", "u:p", "sender"),
        ("colour=red", "u:p", "colour"),
    ],
)
def test_settings_are_validated_at_connect(offline: Offline, options: str, credentials: str, needle: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(needle)):
        offline(options, at_default(credentials))


@pytest.mark.parametrize(
    ("options", "credentials", "field"),
    [
        ("", ":", "password"),  # serwersms://:@default
        ("", "user:", "password"),
        ("", "%20:%20", "password"),
        ("", "%20:pa55word", "username"),
        ("auth=password", ":t0ken", "username"),
    ],
)
def test_missing_credentials_fail_at_connect_naming_them(
    offline: Offline, options: str, credentials: str, field: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        offline(options, at_default(credentials))
    assert str(caught.value).startswith(f"[serwersms] {field}: ")


def test_per_message_options_are_validated(offline: Offline) -> None:
    gateway = offline()
    assert body(one(gateway, Message("+48500600700", "Hi", options={"test": "true"})))["test"] is True
    with pytest.raises(ValidationError, match=r"options\.speed"):
        gateway.preview(Message("+48500600700", "Hi", options={"speed": "maybe"}))


def test_reports_call_sends_every_documented_filter(offline: Offline) -> None:
    """Reference 2.6: id (string|array, at most 500), unique_id, phone (full format), date_from /
    date_to (queue time, YYYY-MM-DD HH:MM:SS), status, type, stat_id, show_contact, page, limit,
    order."""
    gateway = offline()
    params = {
        "id": ["aca3944055", "1c142d81c7"],
        "unique_id": "abc123",
        "phone": "0048 500 600 700",
        "date_from": datetime(2030, 1, 15, 9, 0, tzinfo=timezone.utc),
        "date_to": "2030-07-01 23:59:59",
        "status": "undelivered",
        "type": "full",
        "stat_id": "5309876",
        "show_contact": True,
        "page": 2,
        "limit": 50,
        "order": "desc",
    }
    request = gateway.hooks.build_request(Call("reports", params), gateway.settings, gateway.endpoint)
    assert request.url == "https://api2.serwersms.pl/messages/reports.json"
    assert body(request) == {
        "id": ["aca3944055", "1c142d81c7"],
        "unique_id": "abc123",
        "phone": "+48500600700",
        "date_from": "2030-01-15 10:00:00",
        "date_to": "2030-07-01 23:59:59",
        "status": "undelivered",
        "type": "full",
        "stat_id": 5309876,
        "show_contact": True,
        "page": 2,
        "limit": 50,
        "order": "desc",
        **CREDS,
    }
    bare = gateway.hooks.build_request(Call("reports", {}), gateway.settings, gateway.endpoint)
    assert body(bare) == CREDS


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"id": [f"{n:010x}" for n in range(501)]}, "id"),
        ({"id": []}, "id"),
        ({"status": "pendingx"}, "status"),
        ({"type": "sms"}, "type"),
        ({"order": "up"}, "order"),
        ({"page": 0}, "page"),
        ({"limit": "many"}, "limit"),
        ({"stat_id": True}, "stat_id"),
        ({"show_contact": "yes"}, "show_contact"),
        ({"date_from": datetime(2030, 1, 1)}, "date_from"),
        ({"date_to": "2030-01-01"}, "date_to"),
        ({"phone": "12ab"}, "to"),
        ({"sender": "X"}, "params"),
    ],
)
def test_reports_call_filters_are_validated(offline: Offline, params: dict[str, object], field: str) -> None:
    gateway = offline()
    with pytest.raises(ValidationError) as info:
        gateway.hooks.build_request(Call("reports", params), gateway.settings, gateway.endpoint)
    assert info.value.field == field


def test_status_query_sends_the_phone_in_full_format(offline: Offline) -> None:
    gateway = offline()
    for given, sent in (("0048 500-600-700", "+48500600700"), ("500 600 700", "500600700")):
        request = gateway.hooks.build_request(StatusQuery(("a1",), given), gateway.settings, gateway.endpoint)
        assert body(request)["phone"] == sent


def test_personalised_group_id_explains_itself(offline: Offline) -> None:
    with pytest.raises(ValidationError, match=r"Gateway\.send") as info:
        _personalised(offline("group_id=1"), [Message("+48500600700", "One"), Message("+48500600701", "Two")])
    assert info.value.field == "options.group_id"
