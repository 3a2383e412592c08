"""The emulator speaks the gateway's protocol: raw HTTP over loopback, no smsgate client involved."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import quote, urlencode

import pytest

from smsgate_routesms.emulator import NOT_WHITE_LISTED, RoutesmsEmulator

PASSWORD = "routesms-emu-s3cret"
GOOD = {
    "username": "smsgate",
    "password": PASSWORD,
    "type": "0",
    "dlr": "1",
    "destination": "2348055494143,2348134496448",
    "source": "Shop",
    "message": "Hello",
}

Start = Callable[..., RoutesmsEmulator]


def call(emulator: RoutesmsEmulator, path: str, params: dict[str, str], method: str = "GET") -> tuple[int, str]:
    query = urlencode(params, quote_via=quote)
    if method == "GET":
        request = urllib.request.Request(f"{emulator.base_url}{path}?{query}")
    else:
        request = urllib.request.Request(f"{emulator.base_url}{path}", data=query.encode(), method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=5) as reply:
        return reply.status, reply.read().decode("utf-8")


def send(emulator: RoutesmsEmulator, method: str = "GET", **changes: str) -> str:
    params = {**GOOD, **changes}
    return call(emulator, "/bulksms/bulksms", {k: v for k, v in params.items() if v is not None}, method)[1]


def ids(reply: str) -> list[str]:
    return [item.split("|")[2] for item in reply.split(",")]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_accepts_get_and_post(emulator: RoutesmsEmulator, method: str) -> None:
    reply = send(emulator, method)
    first, second = reply.split(",")
    assert first.startswith("1701|2348055494143|") and second.startswith("1701|2348134496448|")
    assert [m.id for m in emulator.messages] == ids(reply)
    assert emulator.credit == Decimal(10_000 - 2)


@pytest.mark.parametrize("missing", ["username", "password", "type", "dlr", "destination", "source", "message"])
def test_missing_or_blank_parameter_is_a_bare_1702(emulator: RoutesmsEmulator, missing: str) -> None:
    params = {k: v for k, v in GOOD.items() if k != missing}
    assert call(emulator, "/bulksms/bulksms", params)[1] == "1702"
    assert send(emulator, **{missing: " "}) == "1702"
    assert emulator.messages == []


def test_wrong_credentials_are_a_bare_1703(emulator: RoutesmsEmulator) -> None:
    assert send(emulator, password="nope") == "1703"
    assert send(emulator, username="other") == "1703"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"type": "3"}, "1704"),
        ({"type": "4"}, "1704"),
        ({"type": "x"}, "1704"),
        ({"dlr": "2"}, "1708"),
        ({"type": "2", "message": "00480065006"}, "1705"),
        ({"type": "2", "message": "Hello"}, "1705"),
        ({"source": "WayTooLongSender"}, "1707"),
        ({"source": "1234567890123456789"}, "1707"),
    ],
)
def test_invalid_message_parameters_are_answered_per_destination(
    emulator: RoutesmsEmulator, change: dict[str, str], code: str
) -> None:
    assert send(emulator, **change) == f"{code}|2348055494143,{code}|2348134496448"
    assert emulator.messages == []


def test_invalid_destinations_get_1706_and_the_rest_go(emulator: RoutesmsEmulator) -> None:
    reply = send(emulator, destination="23405,+2348055494143,12ab5678")
    bad, ok, worse = reply.split(",")
    assert (bad, worse) == ("1706|23405", "1706|12ab5678")
    assert ok.startswith("1701|2348055494143|")


def test_unicode_hex_either_case_is_decoded(emulator: RoutesmsEmulator) -> None:
    send(emulator, type="2", message="005A0061017C00F3", destination="2348055494143")
    send(emulator, type="6", message="005a0061017c00f3", destination="2348055494143")
    assert [(m.text, m.type) for m in emulator.messages] == [("Zażó", 2), ("Zażó", 6)]


def test_utf8_text_is_read_as_utf8(emulator: RoutesmsEmulator) -> None:
    send(emulator, type="5", message="Café €", destination="2348055494143")
    assert emulator.messages[0].text == "Café €"


def test_colon_variant_and_codes_are_configurable(start_emulator: Start) -> None:
    emulator = start_emulator(id_separator=":", dnd_code="1032", dnd=["+2348134496448"])
    first, second = send(emulator).split(",")
    assert first.startswith("1701|2348055494143:") and len(first.split(":")[1]) == 36
    assert second == "1032|2348134496448"
    assert send(start_emulator(dnd=["2348134496448"])).split(",")[1] == "1732|2348134496448"


def test_invalid_numbers_as_na_come_first(start_emulator: Start) -> None:
    emulator = start_emulator(id_separator=":", invalid=["919411082815"], invalid_as_na=True)
    reply = send(emulator, destination="919045929210,919411082815,12ab")
    first, second, third = reply.split(",")
    assert (first, second) == ("1706|NA", "1706|NA") and third.startswith("1701|919045929210:")
    plain = start_emulator(invalid=["919411082815"])
    assert send(plain, destination="919411082815,919045929210").split(",")[0] == "1706|919411082815"


@pytest.mark.parametrize("credit_code", ["1725", "1025"])
def test_credit_running_out_answers_the_credit_code_then_stops(start_emulator: Start, credit_code: str) -> None:
    emulator = start_emulator(credit=1, credit_code=credit_code)
    reply = send(emulator, destination="2348055494143,2345678990,2348134496448")
    ok, short = reply.split(",")
    assert ok.startswith("1701|2348055494143|") and short == f"{credit_code}|2345678990"
    assert emulator.credit == 0 and len(emulator.messages) == 1


def test_credit_is_charged_per_part(start_emulator: Start) -> None:
    emulator = start_emulator(credit=10)
    send(emulator, message="x" * 161, destination="2348055494143")
    send(emulator, type="2", message="0041" * 71, destination="2348055494143")
    assert [m.parts for m in emulator.messages] == [2, 2] and emulator.credit == 6


def test_not_white_listed(start_emulator: Start) -> None:
    emulator = start_emulator(whitelist=["2348055494143"])
    assert send(emulator) == NOT_WHITE_LISTED
    assert send(emulator, destination="2348055494143").startswith("1701|")


def test_duplicate_window(start_emulator: Start) -> None:
    emulator = start_emulator(duplicate_window=60)
    now = [1_000_000.0]
    emulator.clock = lambda: now[0]
    assert send(emulator, destination="2348055494143").startswith("1701|")
    assert send(emulator, destination="2348055494143") == "1041|2348055494143"
    now[0] += 61
    assert send(emulator, destination="2348055494143").startswith("1701|")


def test_queued_replies(emulator: RoutesmsEmulator) -> None:
    emulator.queue_reply("1715", process=True)
    emulator.queue_reply("1709")
    assert send(emulator) == "1715"
    assert len(emulator.messages) == 2, "1715: taken, but the answer says timeout"
    assert send(emulator) == "1709"
    assert len(emulator.messages) == 2, "1709: nothing taken"
    assert send(emulator).startswith("1701|")


def test_schedulemsg(emulator: RoutesmsEmulator) -> None:
    emulator.clock = lambda: 1_700_000_000.0  # 2023-11-14
    schedule = {"date": "03/03/2030", "time": "03:45 am", "gmt": "GMT +1:30"}
    _, reply = call(emulator, "/bulksms/schedulemsg", {**GOOD, **schedule})
    assert reply.count("1701|") == 2
    assert {m.send_at.isoformat() if m.send_at else None for m in emulator.messages} == {"2030-03-03T02:15:00+00:00"}
    assert call(emulator, "/bulksms/schedulemsg", GOOD)[1] == "1702", "date, time and gmt are required"
    assert call(emulator, "/bulksms/schedulemsg", {**GOOD, **schedule, "gmt": "+05:45"})[1] == "1702"


def test_checkcredits(start_emulator: Start) -> None:
    emulator = start_emulator(credit="23.3")
    assert call(emulator, "/CreditCheck/checkcredits", {"username": "smsgate", "password": PASSWORD}) == (
        200,
        "Balance:23.3",
    )
    assert (
        call(emulator, "/CreditCheck/checkcredits", {"username": "smsgate", "password": "x"})[1] == "PERMISSION DENIED"
    )


def test_unknown_paths_are_404(emulator: RoutesmsEmulator) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        call(emulator, "/bulksms/bulksubmit", GOOD)
    assert caught.value.code == 404


def test_concurrent_sends_keep_count(start_emulator: Start) -> None:
    emulator = start_emulator(credit=40)
    threads = [threading.Thread(target=send, args=(emulator,)) for _ in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(emulator.messages) == 40 and emulator.credit == 0
    assert len({m.id for m in emulator.messages}) == 40


def test_dsn_names_the_emulator() -> None:
    emulator = RoutesmsEmulator(password="p@ss/word", sender="+4812345").start()
    try:
        assert (
            emulator.dsn() == f"routesms://smsgate:p%40ss%2Fword@127.0.0.1:{emulator.port}?tls=false&sender=%2B4812345"
        )
    finally:
        emulator.stop()
    with pytest.raises(ValueError, match="id_separator"):
        RoutesmsEmulator(id_separator=";")  # type: ignore[arg-type]
