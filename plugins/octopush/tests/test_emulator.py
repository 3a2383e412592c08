"""The emulator on its own, spoken to as the gateways' own clients speak (plain urllib3 over
loopback): the seed's GET example, Symfony's form POST, Uptime Kuma's query-string POST, every
documented error in HTTP 200, and the JSON API."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
import urllib3

from smsgate_octopush.emulator import OctopushEmulator
from smsgate_octopush.schedule import legacy_timestamp

LOGIN, KEY = "smsgate@example.com", "octopush-emu-s3cret"
AUTH = {"user_login": LOGIN, "api_key": KEY}
V1 = {"api-login": LOGIN, "api-key": KEY, "Content-Type": "application/json"}


def legacy(http: urllib3.PoolManager, emu: OctopushEmulator, path: str = "/api/sms/json", **fields: str) -> Any:
    reply = http.request(
        "POST",
        emu.base_url + path,
        body=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 200  # the legacy API answers 200, errors included
    return json.loads(reply.data)


def v1(http: urllib3.PoolManager, emu: OctopushEmulator, body: Any, headers: dict[str, str] = V1) -> tuple[int, Any]:
    reply = http.request("POST", emu.base_url + "/v1/public/sms-campaign/send", body=json.dumps(body), headers=headers)
    return reply.status, json.loads(reply.data)


SEND = {
    **AUTH,
    "sms_text": "un exemple de texte",
    "sms_recipients": "+48500600700",
    "sms_type": "WWW",
    "sms_sender": "Octopush",
}


def test_seed_curl_example_as_get(http: urllib3.PoolManager, emulator: OctopushEmulator) -> None:
    when = int(datetime(2031, 2, 20, 13, 40, tzinfo=timezone.utc).timestamp())
    query = urlencode(
        {
            **SEND,
            "sms_recipients": "0033601010101",
            "sms_type": "FR",
            "sms_text": "x STOP au XXXXX",
            "sms_mode": "2",
            "sending_date": str(when),
        }
    )
    reply = http.request("GET", f"{emulator.base_url}/api/sms/json?{query}")
    doc = json.loads(reply.data)
    assert list(doc) == [
        "error_code",
        "cost",
        "balance",
        "ticket",
        "sending_date",
        "number_of_sendings",
        "currency_code",
        "failures",
        "successs",
    ]
    assert (doc["error_code"], doc["number_of_sendings"], doc["currency_code"], doc["failures"]) == ("000", 1, "€", [])
    assert doc["successs"] == {"recipient": 33601010101, "country_code": "FR", "cost": 0.055, "sms_needed": 1}
    assert doc["sending_date"] == when and emulator.messages[0].send_at == when


def test_symfony_form_post_and_uptime_kuma_query_post(http: urllib3.PoolManager, emulator: OctopushEmulator) -> None:
    assert legacy(http, emulator, **SEND)["error_code"] == "000"
    reply = http.request(
        "POST",
        f"{emulator.base_url}/api/sms/json?{urlencode({**SEND, 'transactional': '1'})}",
        body=b"{}",
        headers={"Content-Type": "application/json"},
    )
    assert json.loads(reply.data)["error_code"] == "000"
    assert len(emulator.messages) == 2 and len({m.ticket for m in emulator.messages}) == 2


def test_sending_time_is_accepted_too(http: urllib3.PoolManager, emulator: OctopushEmulator) -> None:
    when = datetime(2031, 7, 1, 12, 0, tzinfo=timezone.utc)
    legacy(http, emulator, **SEND, sms_mode="2", sending_time=str(legacy_timestamp(when)))
    assert emulator.messages[0].send_at == when.timestamp()


def test_official_php_client_defers_with_sending_time_alone(
    http: urllib3.PoolManager, emulator: OctopushEmulator
) -> None:
    """The official PHP client (Api/Client.php) sends no sms_mode, only a future sending_time."""
    when = int(datetime(2031, 7, 1, 12, 0, tzinfo=timezone.utc).timestamp())
    doc = legacy(http, emulator, **SEND, request_mode="real", sending_time=str(when))
    assert doc["error_code"] == "000" and doc["sending_date"] == when
    assert emulator.messages[0].send_at == when


def test_several_recipients_give_a_successs_list(http: urllib3.PoolManager, emulator: OctopushEmulator) -> None:
    doc = legacy(http, emulator, **{**SEND, "sms_recipients": "+48500600700,+99912345678,+48500600701"})
    assert [s["recipient"] for s in doc["successs"]] == [48500600700, 48500600701]
    assert doc["failures"] == [{"recipient": "+99912345678", "error_code": "150"}]


def _signed(keys: str, fields: dict[str, str]) -> str:
    names = {"T": "sms_text", "R": "sms_recipients", "Y": "sms_type", "S": "sms_sender", "Q": "request_id"}
    return hashlib.sha1("".join(fields[names[k]] for k in keys if names.get(k) in fields).encode()).hexdigest()


ERRORS = [
    ({}, "100"),
    ({**SEND, "user_login": ""}, "108"),
    ({**SEND, "api_key": ""}, "109"),
    ({**SEND, "api_key": "nope"}, "101"),
    ({**SEND, "sms_text": ""}, "107"),
    ({k: v for k, v in SEND.items() if k != "sms_recipients"}, "110"),
    ({**SEND, "sms_recipients": " , "}, "103"),
    ({**SEND, "sms_type": "PREMIUM"}, "112"),
    ({**SEND, "sms_sender": "Bad Sender!"}, "106"),
    ({**SEND, "sms_text": "€" * 230}, "102"),
    ({**SEND, "request_keys": "TR"}, "123"),
    ({**SEND, "request_keys": "TR", "request_sha1": "0" * 40}, "124"),
    ({**SEND, "recipients_first_names": "Ann,Bob"}, "115"),
    ({**SEND, "sms_type": "FR", "sms_recipients": "+33601010101", "sms_text": "Promo"}, "121"),
    ({**SEND, "sms_recipients": "+99912345678"}, "117"),
]


@pytest.mark.parametrize(("fields", "code"), ERRORS)
def test_legacy_errors_in_http_200(
    http: urllib3.PoolManager, emulator: OctopushEmulator, fields: dict[str, str], code: str
) -> None:
    assert legacy(http, emulator, **fields) == {"error_code": code}
    assert emulator.messages == []


def test_signature_accepted_when_right(http: urllib3.PoolManager, emulator: OctopushEmulator) -> None:
    fields = {**SEND, "request_id": "abc123", "request_keys": "TRYSDQ"}
    assert legacy(http, emulator, **fields, request_sha1=_signed("TRYSDQ", fields))["error_code"] == "000"


def test_low_cost_ignores_the_sender_and_122_is_a_knob(http: urllib3.PoolManager) -> None:
    with OctopushEmulator(require_no_pub=True) as emu:
        fields = {**SEND, "sms_type": "XXX", "sms_sender": "!!", "sms_recipients": "+33601010101"}
        assert legacy(http, emu, **fields) == {"error_code": "122"}
        assert legacy(http, emu, **{**fields, "sms_text": "Promo no PUB=STOP"})["error_code"] == "000"
        assert emu.messages[0].sender is None


def test_request_id_reuse_is_120_and_simulation_keeps_nothing(
    http: urllib3.PoolManager, emulator: OctopushEmulator
) -> None:
    assert legacy(http, emulator, **SEND, request_id="r1", request_mode="simu")["error_code"] == "000"
    assert emulator.messages == []
    assert legacy(http, emulator, **SEND, request_id="r1")["error_code"] == "000"
    assert legacy(http, emulator, **SEND, request_id="r1") == {"error_code": "120"}
    assert len(emulator.messages) == 1


def test_credit_runs_out(http: urllib3.PoolManager) -> None:
    with OctopushEmulator(credit="0.08") as emu:
        assert legacy(http, emu, **SEND)["balance"] == pytest.approx(0.005)
        assert legacy(http, emu, **SEND) == {"error_code": "104"}
        assert legacy(http, emu, "/api/credit/json", **AUTH) == {"error_code": "000", "credit": "0.005"}


def test_xml_endpoints(http: urllib3.PoolManager, emulator: OctopushEmulator) -> None:
    reply = http.request("POST", emulator.base_url + "/api/sms", fields=SEND, encode_multipart=False)
    root = ET.fromstring(reply.data)
    assert root.tag == "octopush" and root.findtext("error_code") == "000"
    assert root.findtext("successs/success/country_code") == "PL"
    credit = ET.fromstring(
        http.request("POST", emulator.base_url + "/api/credit", fields=AUTH, encode_multipart=False).data
    )
    assert credit.findtext("credit") == "99.925"


# -- JSON API -----------------------------------------------------------------------------------

BODY = {
    "recipients": [{"phone_number": "+33600000000", "param1": "John"}],
    "text": "Hello {param1}. STOP au XXXXX",
    "type": "sms_premium",
    "purpose": "wholesale",
    "sender": "SMS",
    "with_replies": False,
}


def test_v1_documented_example(http: urllib3.PoolManager, emulator: OctopushEmulator) -> None:
    status, doc = v1(http, emulator, {**BODY, "send_at": "2031-10-03T07:42:39-07:00"})
    assert status == 200 and set(doc) == {
        "sms_ticket",
        "number_of_contacts",
        "total_cost",
        "number_of_sms_needed",
        "residual_credit",
    }
    assert doc["sms_ticket"].startswith("sms_") and doc["number_of_contacts"] == 1
    assert emulator.messages[0].send_at == datetime(2031, 10, 3, 14, 42, 39, tzinfo=timezone.utc).timestamp()
    assert dict(emulator.messages[0].fields) == {"param1": "John"}


def test_v1_send_at_as_the_php_clients_readme_writes_it(http: urllib3.PoolManager, emulator: OctopushEmulator) -> None:
    v1(http, emulator, {**BODY, "send_at": "2031-01-01T00:01:00+0100"})  # DATE_ISO8601
    assert emulator.messages[0].send_at == datetime(2030, 12, 31, 23, 1, tzinfo=timezone.utc).timestamp()


def test_v1_naive_send_at_is_paris_time(http: urllib3.PoolManager, emulator: OctopushEmulator) -> None:
    v1(http, emulator, {**BODY, "send_at": "2031-07-01 12:00:00"})
    assert emulator.messages[0].send_at == datetime(2031, 7, 1, 10, 0, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (BODY, {"Content-Type": "application/json"}, 401),
        (BODY, {**V1, "api-key": "wrong"}, 401),
        ({**BODY, "type": "sms_gold"}, V1, 400),
        ({**BODY, "recipients": []}, V1, 400),
        ({**BODY, "recipients": [{"phone_number": "+33600000000"}] * 501}, V1, 400),
        ({**BODY, "text": "x" * 1225}, V1, 400),
        ({**BODY, "sender": "Far too long sender"}, V1, 400),
        ({**BODY, "send_at": "tomorrow"}, V1, 400),
        ({**BODY, "with_replies": "yes"}, V1, 400),
        ([1, 2], V1, 400),
    ],
)
def test_v1_errors_are_non_2xx_json(
    http: urllib3.PoolManager, emulator: OctopushEmulator, body: Any, headers: dict[str, str], status: int
) -> None:
    got, doc = v1(http, emulator, body, headers)
    assert got == status and doc["code"] == status and doc["message"]
    assert emulator.messages == []


def test_v1_simulation_validates_little(http: urllib3.PoolManager, emulator: OctopushEmulator) -> None:
    status, doc = v1(
        http, emulator, {"recipients": [{"phone_number": "+33600000000"}], "text": "hi", "simulation_mode": True}
    )
    assert status == 200 and doc["sms_ticket"] and emulator.messages == []


def test_v1_balance_and_routes(http: urllib3.PoolManager, emulator: OctopushEmulator) -> None:
    url = emulator.base_url + "/v1/public/wallet/check-balance"
    doc = json.loads(http.request("GET", url + "?product_name=euro", headers=V1).data)
    assert doc == {"amount": 100.0, "unit": "euro"}
    assert http.request("GET", url + "?product_name=gold", headers=V1).status == 400
    assert http.request("GET", url + "?product_name=euro").status == 401
    assert http.request("GET", emulator.base_url + "/v1/public/sms-campaign/send", headers=V1).status == 405
    assert http.request("GET", emulator.base_url + "/nowhere").status == 404


def test_dsn_names_the_api(emulator: OctopushEmulator) -> None:
    assert emulator.dsn().startswith("octopush://smsgate%40example.com:octopush-emu-s3cret@127.0.0.1:")
    assert emulator.dsn().endswith("?tls=false") and emulator.dsn("v1").endswith("?tls=false&api=v1")
