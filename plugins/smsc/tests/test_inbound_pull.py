"""Pulling incoming messages (``get.php?get_answers=1``) from the emulator over loopback HTTP,
the reply parser (both readings of the times, garbage always ``MalformedResponseError``), and
the handler-URL checksums (``md5``/``sha1``/``crc32``): a forged one is ``CallbackRejectedError``."""

from __future__ import annotations

import contextlib
import json
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smsgate
from smsgate.errors import GatewayError, MalformedResponseError
from smsgate.gateway import Gateway
from smsgate.inbound import CallbackRejectedError, MemoryInboundStore, pull
from smsgate.models import HttpRequest, HttpResponse, Inbox, InboxQuery
from smsgate.suppression import DEFAULT_KEYWORDS
from smsgate.testing import FakeClock
from smsgate.testing.strategies import json_bodies, json_values
from smsgate_smsc import dlr, inbound
from smsgate_smsc.emulator import SmscEmulator

CHECKING = smsgate.connect("smsc://login:password@default?callback_check=true")
SETTINGS = CHECKING.settings


def _parse(document: Any, since: str | None = None) -> Inbox:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return inbound.parse_fetch(InboxQuery(since), HttpResponse(200, body), SETTINGS)


def test_a_reply_in_both_readings() -> None:
    doc = [
        {
            "id": 7,
            "received": "21.10.2024 11:18:03",
            "phone": "79991234567",
            "message": "СТОП",
            "to": "79001234567",
            "sent": 1413879483,
        },
        {"id": 9, "received": 1413879500, "phone": "+79991234568", "mes": "Да", "to_phone": "79001234567"},
    ]
    inbox = _parse(doc, "5")
    assert [(m.message_id, m.sender, m.text, m.recipient) for m in inbox.messages] == [
        ("7", "+79991234567", "СТОП", "+79001234567"),
        ("9", "+79991234568", "Да", "+79001234567"),
    ]
    assert [m.received_at.isoformat() if m.received_at else None for m in inbox.messages] == [
        "2024-10-21T11:18:03+03:00",
        "2014-10-21T08:18:20+00:00",
    ]
    assert (inbox.cursor, inbox.more) == ("9", False)
    assert _parse([], "9").cursor == "9"


def test_errors_and_unreadable_replies() -> None:
    for body in (b"", b"{", b'"x"', b'[{"phone": "7999"}]', b'[{"id": "x", "phone": "7", "message": "m"}]', b"[1]"):
        with pytest.raises(MalformedResponseError):
            _parse(body)
    with pytest.raises(GatewayError, match="SMSC error 2"):
        _parse({"error": "authorise error", "error_code": 2})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | json_bodies())
def test_garbage_is_unreadable_never_a_crash(body: bytes) -> None:
    with contextlib.suppress(MalformedResponseError, GatewayError):
        _parse(body)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["id", "phone", "message", "received", "sent", "to"]), json_values())))
def test_entries_that_are_almost_right_never_crash(entries: list[dict[str, Any]]) -> None:
    with contextlib.suppress(MalformedResponseError):
        _parse(entries)


def test_pull_from_the_emulator(emulator: SmscEmulator, gateway: Gateway, clock: FakeClock) -> None:
    store = MemoryInboundStore()
    emulator.receive("+79991234567", "Привет")
    emulator.receive("+79991234568", "стоп")
    pulled = pull(gateway, store, "smsc", DEFAULT_KEYWORDS)
    assert [(m.sender, m.text, new) for m, new in pulled] == [
        ("+79991234567", "Привет", True),
        ("+79991234568", "стоп", True),
    ]
    assert store.cursor("smsc") == "1002"
    assert pull(gateway, store, "smsc", DEFAULT_KEYWORDS) == []
    sent = emulator.requests[-1].params()
    assert (sent["get_answers"], sent["after_id"], sent["fmt"]) == ("1", "1002", "3")
    clock.sleep(10)
    emulator.receive("+79991234569", "Спасибо")
    assert [(m.text, new) for m, new in pull(gateway, store, "smsc", DEFAULT_KEYWORDS)] == [("Спасибо", True)]
    assert [s.number for s in store.suppressions()] == ["+79991234568"]


# -- the handler URL's checksums --------------------------------------------------------------------


def _status(fields: dict[str, str]) -> HttpRequest:
    return HttpRequest.form("http://me/smsc?charset=utf-8", fields)


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "crc32"])
def test_a_checksum_of_any_algorithm_is_checked(algorithm: str) -> None:
    fields = {"id": "17", "phone": "79991234567", "status": "1"}
    good = dlr.signature(fields, "password", algorithm)
    (report,) = CHECKING.parse_delivery_report(_status({**fields, algorithm: good}))
    assert report.message_id == "17" and algorithm not in report.raw
    with pytest.raises(CallbackRejectedError, match=algorithm):
        CHECKING.parse_delivery_report(_status({**fields, algorithm: dlr.signature(fields, "guess", algorithm)}))
    forged = {**fields, "status": "20", algorithm: good}  # the status changed under the checksum
    with pytest.raises(CallbackRejectedError):
        CHECKING.parse_delivery_report(_status(forged))


def test_crc32_is_read_in_hex_too_and_a_missing_checksum_is_refused() -> None:
    fields = {"id": "17", "phone": "79991234567", "status": "1"}
    crc = zlib.crc32(b"17:79991234567:1:password")
    assert CHECKING.parse_delivery_report(_status({**fields, "crc32": f"{crc:08X}"}))
    with pytest.raises(CallbackRejectedError, match="without a checksum"):
        CHECKING.parse_delivery_report(_status(fields))
    mo = {
        "id": "5",
        "phone": "79991234567",
        "mes": "STOP",
        "md5": dlr.signature({"id": "5", "phone": "79991234567", "mes": "STOP"}, "password", "md5", "mes"),
    }
    (message,) = CHECKING.parse_inbound(_status(mo)) or ()
    assert message.text == "STOP" and "md5" not in message.raw
    with pytest.raises(CallbackRejectedError):
        CHECKING.parse_inbound(_status({**mo, "mes": "START"}))
