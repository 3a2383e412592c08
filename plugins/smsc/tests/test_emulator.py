"""The emulator itself over raw HTTP (urllib3 on loopback): formats, charsets, limits, and the
round trip of what the plugin encodes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import hypothesis
import hypothesis.strategies as st
import pytest
import urllib3

from smsgate.emulator import EmulatorRequest
from smsgate.gateway import Gateway
from smsgate.models import Batch, Item, Message, Send
from smsgate.spec import Endpoint, Secret
from smsgate.testing import FakeClock
from smsgate.text import analyse
from smsgate_smsc import build_request as build
from smsgate_smsc import emulator_wire
from smsgate_smsc.emulator import SmscEmulator
from smsgate_smsc.settings import CODECS, Charset, SmscSettings

A, B = "48500600700", "48500600701"
AUTH = {"login": "smsgate", "psw": "smsc-emu-s3cret"}


def post(
    http: urllib3.PoolManager, emulator: SmscEmulator, path: str, charset: str = "utf-8", **fields: Any
) -> tuple[str, str]:
    body = urlencode({**AUTH, **{k: str(v) for k, v in fields.items()}}, encoding=charset)
    reply = http.request(
        "POST", f"{emulator.base_url}{path}", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert reply.status == 200
    return reply.data.decode(CODECS.get(charset, "cp1251")), reply.headers["Content-Type"]


def test_send_in_every_format(http: urllib3.PoolManager, emulator: SmscEmulator) -> None:
    text, ctype = post(http, emulator, "/sys/send.php", phones=A, mes="one", fmt=3, cost=3, id=11, charset="utf-8")
    assert json.loads(text) == {"id": 11, "cnt": 1, "cost": "1.40", "balance": "998.60"} and ctype.startswith(
        "application/json"
    )
    assert post(http, emulator, "/sys/send.php", phones=A, mes="two", fmt=1, cost=3, id=12)[0] == "12,1,1.40,997.20"
    assert post(http, emulator, "/sys/send.php", phones=A, mes="three", fmt=1, cost=2, id=13)[0] == "13,1,1.40"
    assert post(http, emulator, "/sys/send.php", phones=A, mes="four", fmt=1, id=14)[0] == "14,1"
    assert post(http, emulator, "/sys/send.php", phones=A, mes="five", id=15)[0] == "OK - 1 SMS, ID - 15"
    assert (
        post(http, emulator, "/sys/send.php", phones=A, mes="six", fmt=2, id=16)[0]
        == "<result><id>16</id><cnt>1</cnt></result>"
    )
    assert post(http, emulator, "/sys/send.php", phones=A, mes="seven", fmt=1, cost=1)[0] == "1.40,1"
    assert len(emulator.messages) == 6


def test_errors_in_every_format(http: urllib3.PoolManager, emulator: SmscEmulator) -> None:
    bad = {"psw": "wrong"}
    assert json.loads(post(http, emulator, "/sys/send.php", phones=A, mes="x", fmt=3, **bad)[0]) == {
        "error": "authorise error",
        "error_code": 2,
    }
    assert post(http, emulator, "/sys/send.php", phones=A, mes="x", fmt=1, id=5, **bad)[0] == "5,-2"
    assert post(http, emulator, "/sys/balance.php", fmt=1, **bad)[0] == "0,-2"
    assert post(http, emulator, "/sys/send.php", phones=A, mes="x", **bad)[0] == "ERROR = 2 (authorise error)"
    xml = post(http, emulator, "/sys/send.php", phones=A, mes="x", fmt=2, id=5, **bad)[0]
    assert xml == "<result><error>authorise error</error><error_code>2</error_code><id>5</id></result>"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"mes": "no phones"}, 1),
        ({"phones": A}, 1),
        ({"phones": A, "mes": "x" * 1001}, 1),
        ({"phones": A, "mes": "x", "cost": 7}, 1),
        ({"phones": A, "mes": "x", "id": 2**31}, 1),
        ({"phones": A, "mes": "x", "time": "31.02.26 10:00"}, 5),
        ({"phones": A, "mes": "x", "time": "tomorrow"}, 5),
        ({"phones": "12345", "mes": "x"}, 7),
        ({"phones": "4850060070a", "mes": "x"}, 7),
    ],
)
def test_documented_error_codes(
    http: urllib3.PoolManager, emulator: SmscEmulator, fields: dict[str, Any], code: int
) -> None:
    assert json.loads(post(http, emulator, "/sys/send.php", fmt=3, **fields)[0])["error_code"] == code
    assert emulator.messages == {}


def test_get_works_too(http: urllib3.PoolManager, emulator: SmscEmulator) -> None:
    query = urlencode({**AUTH, "phones": A, "mes": "by GET", "fmt": 3})
    reply = http.request("GET", f"{emulator.base_url}/sys/send.php?{query}")
    assert json.loads(reply.data)["cnt"] == 1
    assert http.request("GET", f"{emulator.base_url}/sys/nothing.php").status == 404


def test_default_charset_is_windows_1251(http: urllib3.PoolManager, emulator: SmscEmulator) -> None:
    _, ctype = post(http, emulator, "/sys/send.php", charset="windows-1251", phones=A, mes="Привет", fmt=3)
    assert "charset=windows-1251" in ctype
    assert next(iter(emulator.messages.values())).text == "Привет"
    body = urlencode({**AUTH, "phones": B, "mes": "Привет", "fmt": 3, "charset": "koi8-r"}, encoding="koi8_r")
    http.request(
        "POST",
        f"{emulator.base_url}/sys/send.php",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert {m.text for m in emulator.messages.values()} == {"Привет"}


def test_err_1_lists_only_bad_numbers_and_op_1_every_number(http: urllib3.PoolManager, emulator: SmscEmulator) -> None:
    emulator.invalid_numbers.add(B)
    doc = json.loads(post(http, emulator, "/sys/send.php", phones=f"{A},{B}", mes="x", fmt=3, err=1, id=1)[0])
    assert doc["phones"] == [{"phone": B, "mccmnc": "0", "cost": "0", "status": 22, "error": 7}]
    doc = json.loads(post(http, emulator, "/sys/send.php", phones=f"{A};{B}", mes="y", fmt=3, op=1, id=2)[0])
    assert [(p["phone"], p["status"], p["error"], p["cost"]) for p in doc["phones"]] == [
        (A, 0, 0, "1.40"),
        (B, 22, 7, "0"),
    ]
    assert doc["phones"][0]["mccmnc"] == "26001"


def test_identical_send_refused_for_a_minute(
    http: urllib3.PoolManager, emulator: SmscEmulator, clock: FakeClock
) -> None:
    fields: dict[str, Any] = {"phones": A, "mes": "twice?", "fmt": 3, "id": 9}
    assert "cnt" in json.loads(post(http, emulator, "/sys/send.php", **fields)[0])
    clock.advance(59)
    assert json.loads(post(http, emulator, "/sys/send.php", **fields)[0]) == {
        "error": "duplicate request, wait a minute",
        "error_code": 9,
        "id": 9,
    }
    assert "cnt" in json.loads(post(http, emulator, "/sys/send.php", **{**fields, "mes": "other"})[0])
    clock.advance(1)
    assert "cnt" in json.loads(post(http, emulator, "/sys/send.php", **fields)[0])
    assert len(emulator.messages) == 1  # the same (id, number) stored once, overwritten


def test_cost_requests_limited_to_five_a_minute(http: urllib3.PoolManager, emulator: SmscEmulator) -> None:
    replies = [
        json.loads(post(http, emulator, "/sys/send.php", phones=A, mes="price", fmt=3, cost=1)[0]) for _ in range(6)
    ]
    assert replies[:5] == [{"cost": "1.40", "cnt": 1}] * 5 and replies[5]["error_code"] == 9


def test_balance_formats_and_limit(http: urllib3.PoolManager, emulator: SmscEmulator) -> None:
    assert json.loads(post(http, emulator, "/sys/balance.php", fmt=3)[0]) == {"balance": "1000.00"}
    assert json.loads(post(http, emulator, "/sys/balance.php", fmt=3, cur=1)[0]) == {
        "balance": "1000.00",
        "currency": "RUB",
    }
    assert post(http, emulator, "/sys/balance.php", fmt=1)[0] == "1000.00"
    assert post(http, emulator, "/sys/balance.php", fmt=2)[0] == "<balance>1000.00</balance>"
    for _ in range(6):
        post(http, emulator, "/sys/balance.php")
    assert json.loads(post(http, emulator, "/sys/balance.php", fmt=3)[0])["error_code"] == 9


def test_status_formats(http: urllib3.PoolManager, emulator: SmscEmulator) -> None:
    post(http, emulator, "/sys/send.php", phones=f"{A},{B}", mes="x", fmt=3, id=77)
    single = json.loads(post(http, emulator, "/sys/status.php", fmt=3, id=77, phone=A)[0])
    assert set(single) == {"status", "last_date", "last_timestamp", "flag", "err"} and single["status"] == 1
    full = json.loads(post(http, emulator, "/sys/status.php", fmt=3, id=77, phone=B, all=1)[0])
    assert full["message"] == "x" and full["phone"] == B and full["cost"] == "1.40"
    listed = json.loads(post(http, emulator, "/sys/status.php", fmt=3, id="77,77,78", phone=f"{A},{B},{A}")[0])
    assert [(e["id"], e["phone"], e["status"]) for e in listed] == [(77, A, 1), (77, B, 1), (78, A, -3)]
    one_listed = json.loads(post(http, emulator, "/sys/status.php", fmt=3, id="77,", phone=f"{A},")[0])
    assert isinstance(one_listed, list) and one_listed[0]["id"] == 77
    line = post(http, emulator, "/sys/status.php", fmt=1, id=77, phone=B)[0]
    assert line.startswith("1,") and line.endswith(",0")
    assert post(http, emulator, "/sys/status.php", id=77, phone=B)[0].startswith("Status = 1, check_time = ")
    assert json.loads(post(http, emulator, "/sys/status.php", fmt=3, id="77,78", phone=A)[0])["error_code"] == 1


def test_one_mass_status_request_a_minute(http: urllib3.PoolManager, emulator: SmscEmulator, clock: FakeClock) -> None:
    post(http, emulator, "/sys/send.php", phones=f"{A},{B}", mes="x", fmt=3, id=77)
    assert isinstance(json.loads(post(http, emulator, "/sys/status.php", fmt=3, id="77,77", phone=f"{A},{B}")[0]), list)
    other = json.loads(post(http, emulator, "/sys/status.php", fmt=3, id="77,78", phone=f"{B},{A}")[0])
    assert other["error_code"] == 9  # any second mass request, not only an identical one
    clock.advance(60)
    assert isinstance(json.loads(post(http, emulator, "/sys/status.php", fmt=3, id="77,78", phone=f"{B},{A}")[0]), list)


def test_price_request_lists_bad_numbers(http: urllib3.PoolManager, emulator: SmscEmulator) -> None:
    emulator.invalid_numbers.add(B)
    doc = json.loads(post(http, emulator, "/sys/send.php", phones=f"{A},{B}", mes="x", fmt=3, cost=1, err=1)[0])
    assert doc == {
        "cost": "1.40",
        "cnt": 1,
        "phones": [{"phone": B, "mccmnc": "0", "cost": "0", "status": 22, "error": 7}],
    }
    assert emulator.messages == {}


def test_tasks_formats(http: urllib3.PoolManager, emulator: SmscEmulator) -> None:
    emulator.add_task("first")
    emulator.add_task("second", status=1)
    tasks = json.loads(post(http, emulator, "/sys/downloads.php", fmt=3, get_list=1)[0])
    assert [(t["id"], t["name"], t["status"]) for t in tasks] == [(1, "first", 2), (2, "second", 1)]
    assert json.loads(post(http, emulator, "/sys/downloads.php", fmt=3, get_list=1, after_id=1)[0])[0]["id"] == 2
    assert len(json.loads(post(http, emulator, "/sys/downloads.php", fmt=3, get_list=1, cnt=1)[0])) == 1
    assert post(http, emulator, "/sys/downloads.php", fmt=1, get_list=1)[0].splitlines()[1].startswith("2,second,1,")
    assert json.loads(post(http, emulator, "/sys/downloads.php", fmt=3, get_file=1, id=2)[0])["error_code"] == 1


def test_time_formats_read_by_the_emulator() -> None:
    now = 1_800_000_000.0
    assert emulator_wire.send_time("", 0, now) is None
    assert emulator_wire.send_time("+15", 0, now) == now + 900
    assert emulator_wire.send_time("01900000000", 0, now) == 1_900_000_000
    assert emulator_wire.send_time("0107261230", 0, now) == emulator_wire.send_time("01.07.26 12:30", 0, now)
    assert emulator_wire.send_time("01.07.26 12:30", -1, now) == emulator_wire.send_time("01.07.26 13:30", 0, now)
    local_hour = (int(now) // 3600 + 3) % 24  # Moscow hour of `now`
    assert emulator_wire.send_time(f"{local_hour}-{local_hour + 1}", 0, now) is None
    later = emulator_wire.send_time(f"{(local_hour + 2) % 24}-{(local_hour + 2) % 24 + 1}", 0, now)
    assert later is not None and now < later <= now + 2 * 3600
    for bad in ("5-3", "25:00", "+x", "01.07.2026 12:30", "soon"):
        with pytest.raises(ValueError):
            emulator_wire.send_time(bad, 0, now)


CHARSETS: dict[Charset, st.SearchStrategy[str]] = {
    "utf-8": st.text(max_size=40),
    "windows-1251": st.text("абвгдежзийклмнопрстуфхцчшщыэюяЁё ABCxyz09,:;&=+%€", max_size=40),
    "koi8-r": st.text("абвгдежзийклмнопрстуфхцчшщыэюя ABCxyz09,:;&=+%", max_size=40),
}


@hypothesis.settings(max_examples=150, deadline=None, database=None)
@hypothesis.given(st.sampled_from(sorted(CHARSETS)).flatmap(lambda c: st.tuples(st.just(c), CHARSETS[c])))
def test_what_the_plugin_encodes_the_emulator_decodes(case: tuple[Charset, str]) -> None:
    charset, text = case
    settings = SmscSettings(login="u", password=Secret("p&=+%x;"), charset=charset, sender="Shop")
    items = (Item("+48500600700", text, "k/1", analyse(text)),)
    request = build(
        Send(Batch(Message(items[0].recipient, text), items, "k")), settings, Endpoint("127.0.0.1", 1, False)
    )
    assert request is not None
    received = EmulatorRequest(request.method, "/sys/send.php", (), request.headers, request.body)
    values, codec = emulator_wire.params(received)
    assert codec == CODECS[charset]
    assert values["mes"] == text and values["sender"] == "Shop" and values["charset"] == charset
    assert values["psw"] == "p&=+%x;" and values["login"] == "u"


def test_unicode_cost_counts_parts(gateway: Gateway, emulator: SmscEmulator) -> None:
    result = gateway.send(Message("+48500600700", "ж" * 71))  # two UCS-2 parts
    assert result.outcomes[0].parts == 2 and emulator.balance == Decimal("997.20")
