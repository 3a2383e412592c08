"""The emulator on the wire, as the official clients talk to it (JSON, legacy forms, both auths)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3

from smsgate_serwersms.emulator import SerwerSmsEmulator, php_form

CREDS = {"username": "smsgate", "password": "serwersms-emu-s3cret", "system": "client_python"}


def call(
    http: urllib3.PoolManager, emu: SerwerSmsEmulator, action: str, params: dict[str, Any], *, auth: bool = True
) -> tuple[int, Any]:
    body = {**CREDS, **params} if auth else params
    reply = http.request(
        "POST", f"{emu.base_url}/{action}.json", body=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    return reply.status, json.loads(reply.data)


def error_code(document: Any) -> int:
    return int(document["error"]["code"])


def test_documented_success_shape(http: urllib3.PoolManager, emulator: SerwerSmsEmulator) -> None:
    status, doc = call(http, emulator, "messages/send_sms", {"phone": "500600700", "text": "Test", "details": "true"})
    assert status == 200 and doc["success"] is True and (doc["queued"], doc["unsent"]) == (1, 0)
    (item,) = doc["items"]
    assert set(item) == {"id", "phone", "status", "queued", "parts", "text"}
    assert item["phone"] == "+48500600700" and item["status"] == "queued" and len(item["id"]) == 10
    _, plain = call(http, emulator, "messages/send_sms", {"phone": "500600701", "text": "Test"})
    assert plain == {"success": True, "queued": 1, "unsent": 0}  # no details, no items


def test_partial_success_and_repeated_numbers(http: urllib3.PoolManager, emulator: SerwerSmsEmulator) -> None:
    phones = ["+48500600700", "500600700", "45616", "+48500600500", "7799123", "+48 500 600 700"]
    _, doc = call(http, emulator, "messages/send_sms", {"phone": phones, "text": "T", "details": True})
    assert (doc["queued"], doc["unsent"]) == (2, 2)
    assert [(i["phone"], i["status"], i.get("error_code")) for i in doc["items"]] == [
        ("+48500600700", "queued", None),
        ("45616", "unsent", 3103),
        ("+48500600500", "queued", None),
        ("7799123", "unsent", 3103),
    ]
    assert all(i["id"] for i in doc["items"]) and doc["items"][1]["error_message"] == "Incorrect number"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"phone": "500600700"}, 3101),
        ({"phone": "500600700", "text": "  "}, 3101),
        ({"text": "Hi"}, 3104),
        ({"phone": [], "text": "Hi"}, 3104),
        ({"phone": ["500600700", "500600701"], "text": "Hi", "unique_id": "abc123"}, 1006),
        ({"phone": "500600700", "text": "Hi", "unique_id": "a!"}, 1006),
        ({"phone": ["500600700", "500600701"], "text": "Hi", "unique_id": ["abc", "abc"]}, 1006),
        ({"phone": "500600700", "text": "Hi", "sender": "UNAPPROVED"}, 3106),
        ({"phone": "500600700", "text": "Hi", "sender": "12345"}, 3106),
        ({"phone": "500600700", "text": "x" * 919}, 3102),
        ({"phone": "500600700", "text": "ż" * 403, "sender": "SMSGATE", "utf": True}, 3102),
        ({"phone": "500600700", "text": "Hi", "date": "tomorrow"}, 1006),
        ({"phone": "500600700", "text": "Hi", "group_id": "999"}, 1004),
    ],
)
def test_validation_errors(
    http: urllib3.PoolManager, emulator: SerwerSmsEmulator, params: dict[str, Any], code: int
) -> None:
    status, doc = call(http, emulator, "messages/send_sms", params)
    assert status == 200 and error_code(doc) == code
    assert set(doc["error"]) == {"code", "type", "message"}
    assert emulator.account.messages == {}


def test_authentication(http: urllib3.PoolManager, emulator: SerwerSmsEmulator) -> None:
    params = {"phone": "500600700", "text": "Hi"}
    _, doc = call(http, emulator, "messages/send_sms", params, auth=False)
    assert doc == {"error": {"code": 1001, "type": "InvalidUser", "message": "Incorrect login or password"}}
    _, doc = call(http, emulator, "messages/send_sms", {**params, "password": "wrong"})
    assert error_code(doc) == 1001
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {emulator.token}"}
    reply = http.request(
        "POST", f"{emulator.base_url}/messages/send_sms.json", body=json.dumps(params), headers=headers
    )
    assert json.loads(reply.data)["success"] is True


def test_unknown_action_and_method(http: urllib3.PoolManager, emulator: SerwerSmsEmulator) -> None:
    assert error_code(call(http, emulator, "messages/nothing", {})[1]) == 1000
    reply = http.request("GET", f"{emulator.base_url}/messages/send_sms.json")
    assert json.loads(reply.data)["error"]["code"] == 1000


def test_legacy_form_body(http: urllib3.PoolManager, emulator: SerwerSmsEmulator) -> None:
    """The 2014-2021 PHP client: http_build_query with PHP-style arrays."""
    fields = {**CREDS, "phone[0]": "500600700", "phone[1]": "500600701", "text": "Zażółć", "details": "1"}
    fields |= {"unique_id[0]": "abc1", "unique_id[1]": "abc2"}
    reply = http.request(
        "POST",
        f"{emulator.base_url}/messages/send_sms.json",
        body=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    doc = json.loads(reply.data)
    assert doc["queued"] == 2
    assert [i["text"] for i in doc["items"]] == ["Zazolc", "Zazolc"]  # ECO+ without utf: no diacritics
    assert set(emulator.account.by_unique_id) == {"abc1", "abc2"}


def test_php_form_parser() -> None:
    pairs = [("a", "1"), ("b[]", "x"), ("b[]", "y"), ("m[0][phone]", "1"), ("m[0][text]", "t"), ("m[1][phone]", "2")]
    assert php_form(pairs) == {"a": "1", "b": ["x", "y"], "m": [{"phone": "1", "text": "t"}, {"phone": "2"}]}


def test_personalised_in_both_client_forms(http: urllib3.PoolManager, emulator: SerwerSmsEmulator) -> None:
    messages = [{"phone": "500600700", "text": "First message"}, {"phone": "600700800", "text": "Second: a:b"}]
    _, doc = call(http, emulator, "messages/send_personalized", {"messages": messages, "details": True})
    assert [(i["phone"], i["text"]) for i in doc["items"]] == [
        ("+48500600700", "First message"),
        ("+48600700800", "Second: a:b"),
    ]
    python_form = "500600701:Hello]|[600700801:World"
    _, doc = call(
        http,
        emulator,
        "messages/send_personalized",
        {"messages": python_form, "details": True, "uniqe_id": ["u01", "u02"]},
    )
    assert [(i["phone"], i["text"]) for i in doc["items"]] == [("+48500600701", "Hello"), ("+48600700801", "World")]
    assert error_code(call(http, emulator, "messages/send_personalized", {"messages": []})[1]) == 3104


def test_test_mode_changes_no_state(http: urllib3.PoolManager, emulator: SerwerSmsEmulator) -> None:
    before = dict(emulator.account.limits)
    _, doc = call(
        http, emulator, "messages/send_sms", {"phone": "500600700", "text": "Hi", "test": "true", "details": True}
    )
    assert doc["success"] is True and doc["items"][0]["status"] == "queued"
    assert emulator.account.messages == {} and emulator.account.limits == before
    _, reports = call(http, emulator, "messages/reports", {"id": doc["items"][0]["id"]})
    assert reports["items"] == []


def test_utf_is_full_only(http: urllib3.PoolManager, emulator: SerwerSmsEmulator) -> None:
    _, eco = call(
        http, emulator, "messages/send_sms", {"phone": "500600700", "text": "Łódź", "utf": True, "details": True}
    )
    _, full = call(
        http,
        emulator,
        "messages/send_sms",
        {"phone": "500600700", "text": "Łódź", "utf": True, "sender": "SMSGATE", "details": True},
    )
    assert (eco["items"][0]["text"], full["items"][0]["text"]) == ("Lodz", "Łódź")
    types = sorted(m.type for m in emulator.account.messages.values())
    assert types == ["eco", "full"]


def test_reports_filters_and_paging(http: urllib3.PoolManager, emulator: SerwerSmsEmulator) -> None:
    phones = [f"50060070{n}" for n in range(5)]
    uids = [f"uid{n}" for n in range(5)]
    _, doc = call(
        http, emulator, "messages/send_sms", {"phone": phones, "text": "Hi", "unique_id": uids, "details": True}
    )
    ids = [i["id"] for i in doc["items"]]
    _, by_uid = call(http, emulator, "messages/reports", {"unique_id": ["uid1", "uid3"]})
    assert [i["id"] for i in by_uid["items"]] == [ids[1], ids[3]]
    assert by_uid["paging"] == {"page": 1, "count": 1}
    _, by_phone = call(http, emulator, "messages/reports", {"phone": "500600702"})
    assert [i["id"] for i in by_phone["items"]] == [ids[2]]
    _, page = call(http, emulator, "messages/reports", {"limit": 2, "page": 2})
    assert page["paging"] == {"page": 2, "count": 3} and [i["id"] for i in page["items"]] == ids[2:4]
    _, none = call(http, emulator, "messages/reports", {"status": "unsent"})
    assert none["items"] == []
    item = by_uid["items"][0]
    assert {"id", "phone", "status", "queued", "sent", "delivered", "sender", "type", "text", "flash", "utf"} <= set(
        item
    )
    assert {"parts", "cost", "method", "mnc", "country", "network", "attachments", "reason", "contact"} <= set(item)
    assert error_code(call(http, emulator, "messages/reports", {"id": [str(n) for n in range(501)]})[1]) == 1006


def test_scheduled_then_due(http: urllib3.PoolManager, emulator: SerwerSmsEmulator) -> None:
    _, doc = call(
        http,
        emulator,
        "messages/send_sms",
        {"phone": "500600700", "text": "Hi", "date": "2099-01-01 10:00:00", "details": True},
    )
    message_id = doc["items"][0]["id"]
    assert call(http, emulator, "messages/view", {"id": message_id})[1]["status"] == "saved"
    emulator.clock = lambda: 4_070_000_000.0  # 2098-12 < due; then after it
    assert call(http, emulator, "messages/view", {"id": message_id})[1]["status"] == "saved"
    emulator.clock = lambda: 4_080_000_000.0
    assert call(http, emulator, "messages/view", {"id": message_id})[1]["status"] == "delivered"
    assert error_code(call(http, emulator, "messages/view", {"id": "missing"})[1]) == 1004


def test_groups_and_contacts(http: urllib3.PoolManager) -> None:
    with SerwerSmsEmulator(groups={"12": ["500600710", "500600711"]}, contacts={"5": "500600712"}) as emu:
        _, doc = call(
            http,
            emu,
            "messages/send_sms",
            {"phone": "500600710", "text": "Hi", "group_id": "12", "contact_id": ["5"], "details": True},
        )
    assert [i["phone"] for i in doc["items"]] == ["+48500600710", "+48500600711", "+48500600712"]


def test_limits_and_error_view(http: urllib3.PoolManager) -> None:
    with SerwerSmsEmulator(eco=7, full=3) as emu:
        _, limits = call(http, emu, "account/limits", {})
        assert limits["items"][0] == {"type": "eco", "chars_limit": 918, "value": 7}
        call(http, emu, "messages/send_sms", {"phone": "500600700", "text": "x" * 170})
        assert call(http, emu, "account/limits", {})[1]["items"][0]["value"] == 5
        assert (
            error_code(call(http, emu, "messages/send_sms", {"phone": ["500600700"] * 1, "text": "x" * 918})[1]) == 3000
        )
        _, described = call(http, emu, "error/3103", {})
        assert described == {"error": {"code": 3103, "type": "SendError", "message": "Incorrect number"}}
        assert error_code(call(http, emu, "error/9999", {})[1]) == 2002


def test_error_status_knob(http: urllib3.PoolManager) -> None:
    with SerwerSmsEmulator(error_status=400) as emu:
        status, doc = call(http, emu, "messages/send_sms", {"phone": "500600700"})
    assert status == 400 and error_code(doc) == 3101


def test_dsn_carries_the_secret_and_an_approved_sender() -> None:
    with SerwerSmsEmulator() as emu:
        assert emu.dsn() == f"serwersms://smsgate:serwersms-emu-s3cret@127.0.0.1:{emu.port}?tls=false&sender=SMSGATE"
        assert emu.dsn("token").startswith("serwersms://:serwersms-emu-t0ken-s3cret@127.0.0.1:")


def test_process_after_models_a_slow_gateway(http: urllib3.PoolManager) -> None:
    """``process_after``: the reply comes at once, the messages become visible to lookups only
    once the emulator's clock has moved that far (a gateway still processing the request)."""
    now = [1_900_000_000.0]
    with SerwerSmsEmulator(process_after=60) as emu:
        emu.clock = lambda: now[0]
        uid = "slow0001"
        status, doc = call(http, emu, "messages/send_sms", {"phone": "500600700", "text": "T", "unique_id": uid})
        assert status == 200 and doc["queued"] == 1
        _, found = call(http, emu, "messages/reports", {"unique_id": uid})
        assert found["items"] == [] and emu.account.messages == {} and len(emu.processing) == 1
        now[0] += 59.9
        assert call(http, emu, "messages/reports", {"unique_id": uid})[1]["items"] == []
        now[0] += 0.1
        (item,) = call(http, emu, "messages/reports", {"unique_id": uid})[1]["items"]
        assert item["phone"] == "+48500600700" and emu.processing == []
    with pytest.raises(ValueError, match="process_after"):
        SerwerSmsEmulator(process_after=-1)


def test_absurdly_nested_bodies_are_invalid_data(http: urllib3.PoolManager, emulator: SerwerSmsEmulator) -> None:
    deep_json = ('{"phone":' + "[" * 5000 + "]" * 5000 + "}").encode()
    deep_form = urlencode({"username": "smsgate", "phone" + "[a]" * 5000: "1"}).encode()
    for body, ctype in ((deep_json, "application/json"), (deep_form, "application/x-www-form-urlencoded")):
        url = f"{emulator.base_url}/messages/send_sms.json"
        reply = http.request("POST", url, body=body, headers={"Content-Type": ctype})
        assert (reply.status, error_code(json.loads(reply.data))) == (200, 1006)
    assert emulator.errors == []
