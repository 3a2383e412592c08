"""Pulling incoming messages (``get_inbox``) from the emulator over loopback HTTP, and the reply
parser: the documented example, odd rows, and garbage (always ``MalformedResponseError``)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smsgate
from smsgate.errors import GatewayError, MalformedResponseError, ValidationError
from smsgate.gateway import Gateway
from smsgate.inbound import MemoryInboundStore, pull
from smsgate.models import HttpResponse, Inbox, InboxQuery
from smsgate.suppression import DEFAULT_KEYWORDS
from smsgate_bulksms import inbound
from smsgate_bulksms.emulator import BulkSmsEmulator

SETTINGS = smsgate.connect("bulksms://john:abcd1234@default?timezone=Africa/Johannesburg").settings
#: The documentation's example reply (get_inbox 1.0; the account's zone was GMT+2).
DOCUMENTED = (
    "0|records to follow|3\n"
    "19|4412312345|Hi there|2004-01-20 16:06:40|44771234567|0\n"
    "20|4412312346|Hello\\nagain|2004-01-20 16:07:35|44771234568|0\n"
    "21|4412312399|Aloha|2004-01-20 16:08:00|44771234568|0\n"
)


def _parse(body: str | bytes, since: str | None = None) -> Inbox:
    data = body.encode("latin-1") if isinstance(body, str) else body
    return inbound.parse_fetch(InboxQuery(since), HttpResponse(200, data), SETTINGS)


def test_the_documented_reply() -> None:
    inbox = _parse(DOCUMENTED)
    assert [(m.message_id, m.sender, m.text) for m in inbox.messages] == [
        ("19", "+4412312345", "Hi there"),
        ("20", "+4412312346", "Hello\nagain"),
        ("21", "+4412312399", "Aloha"),
    ]
    first = inbox.messages[0]
    assert first.recipient == "+44771234567" and first.raw["referring_batch_id"] == "0"
    assert first.received_at is not None and first.received_at.isoformat() == "2004-01-20T16:06:40+02:00"
    assert (inbox.cursor, inbox.more) == ("21", False)


def test_version_1_1_rows_and_their_encoding() -> None:
    reply = "0|Results to follow\n7|447700900123|a|b|2024-01-01 10:00:00|447700900000|0|7bit\n"
    reply += "8|447700900124|041F0440|2024-01-01 10:00:01|447700900000|123|16bit\n"
    inbox = _parse(reply, "5")
    assert [m.text for m in inbox.messages] == ["a|b", "Пр"]  # a pipe in the text is kept
    assert inbox.cursor == "8"
    assert _parse("0|Results to follow\n", "8").cursor == "8"  # nothing new: the cursor stays


def test_errors_and_unreadable_replies() -> None:
    for body in (
        "",
        "hello",
        "0|records to follow|1\nnot a row",
        "0|x\n19|447|t|yesterday|44|0\n",
        "0|x\nx|447|t|2024-01-01 10:00:00|44|0",
    ):
        try:
            _parse(body)
        except MalformedResponseError:
            continue
        raise AssertionError(f"{body!r} was read")
    with pytest.raises(GatewayError) as caught:
        _parse("23|invalid credentials|")
    error = caught.value
    assert error.code == "23"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_is_unreadable_never_a_crash(body: bytes) -> None:
    try:
        inbox = _parse(body)
    except (MalformedResponseError, GatewayError):
        return  # unreadable, or an error code line
    assert all(m.message_id and m.message_id.isdigit() for m in inbox.messages)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789|-: abc\\", max_size=40), min_size=1, max_size=5))
def test_rows_that_are_almost_right_are_unreadable(rows: list[str]) -> None:
    with contextlib.suppress(MalformedResponseError):
        _parse("0|records to follow|1\n" + "\n".join(rows))


def test_a_cursor_that_is_not_an_id_is_refused(gateway: Gateway) -> None:
    with pytest.raises(ValidationError) as caught:
        gateway.fetch_inbound("yesterday")
    error = caught.value
    assert "message id" in str(error)


def test_pull_from_the_emulator(emulator: BulkSmsEmulator, gateway: Gateway) -> None:
    store = MemoryInboundStore()
    emulator.receive("+447700900123", "Hello\nthere")
    emulator.receive("+447700900124", "stop")
    pulled = pull(gateway, store, "bulk", DEFAULT_KEYWORDS)
    assert [(m.sender, m.text, new) for m, new in pulled] == [
        ("+447700900123", "Hello\nthere", True),
        ("+447700900124", "stop", True),
    ]
    assert store.cursor("bulk") == "20" and len(store.inbound()) == 2
    assert pull(gateway, store, "bulk", DEFAULT_KEYWORDS) == []  # the cursor moved on: nothing again
    store.save_cursor("bulk", "0")  # even from the start again, nothing is stored twice
    assert [new for _, new in pull(gateway, store, "bulk", DEFAULT_KEYWORDS)] == [False, False]
    assert len(store.inbound()) == 2
    assert [s.number for s in store.suppressions()] == ["+447700900124"]  # STOP by pull
    last = emulator.requests[-1]
    assert last.path == inbound.GET_INBOX and last.params()["last_retrieved_id"] == "0"


def test_pull_pages_through_a_full_inbox(emulator: BulkSmsEmulator, gateway: Gateway) -> None:
    for n in range(inbound.MAX_ROWS + 5):
        emulator.receive(f"+4477009{n:05d}", f"reply {n}")
    store = MemoryInboundStore()
    pulled = pull(gateway, store, "bulk", DEFAULT_KEYWORDS)
    assert len(pulled) == inbound.MAX_ROWS + 5 and len(emulator.requests) == 2
    assert store.cursor("bulk") == str(19 + inbound.MAX_ROWS + 4)
