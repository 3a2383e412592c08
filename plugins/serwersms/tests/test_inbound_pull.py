"""Pulling incoming messages (``messages/recived``) from the emulator over loopback HTTP, and the
reply parser: the documented example, paging cursors, and garbage (``MalformedResponseError``)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smsgate
from smsgate.errors import GatewayError, MalformedResponseError, ValidationError
from smsgate.gateway import Gateway
from smsgate.inbound import MemoryInboundStore, pull
from smsgate.models import HttpResponse, Inbox, InboxQuery
from smsgate.suppression import DEFAULT_KEYWORDS
from smsgate.testing import FakeClock
from smsgate.testing.strategies import json_bodies, json_values
from smsgate_serwersms import inbound
from smsgate_serwersms.emulator import SerwerSmsEmulator

SETTINGS = smsgate.connect("serwersms://user:pw@default").settings
#: dev.serwersms.pl/en/https-api-v2/incomming-messages, "Return response" (the first three items).
DOCUMENTED = {
    "items": [
        {
            "id": 2477793,
            "type": "eco",
            "phone": "+48500600700",
            "recived": "2014-10-21 11:18:03",
            "message_id": "eba39e4fe1",
            "blacklist": False,
            "text": "Przyjade o 16",
        },
        {"id": 303023, "type": "nd", "phone": "+48500600700", "recived": "2014-10-21 12:37:43", "text": "SerwerSMS.pl"},
        {"id": 2204974, "type": "ndi", "phone": "+48500600700", "recived": "2014-10-21 16:47:36", "text": "Dziękuję"},
    ]
}


def _parse(document: Any, since: str | None = None, status: int = 200) -> Inbox:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return inbound.parse_fetch(InboxQuery(since), HttpResponse(status, body), SETTINGS)


def test_the_documented_reply() -> None:
    inbox = _parse(DOCUMENTED)
    assert [(m.message_id, m.text) for m in inbox.messages] == [
        ("2477793", "Przyjade o 16"),
        ("303023", "SerwerSMS.pl"),
        ("2204974", "Dziękuję"),
    ]
    first = inbox.messages[0]
    assert first.sender == "+48500600700" and first.raw["message_id"] == "eba39e4fe1"  # the reply's original
    assert first.received_at is not None and first.received_at.isoformat() == "2014-10-21T09:18:03+00:00"
    assert (inbox.cursor, inbox.more) == ("2014-10-21 16:47:36", False)


def test_cursors_follow_the_time_and_the_page() -> None:
    page = {"paging": {"page": 1, "count": 3}, "items": DOCUMENTED["items"]}
    assert _parse(page, "2014-10-21 09:00:00").cursor == "2014-10-21 16:47:36"
    same_second = {"paging": {"page": 2, "count": 3}, "items": [DOCUMENTED["items"][2]]}
    stuck = _parse(same_second, "2014-10-21 16:47:36#2")
    assert (stuck.cursor, stuck.more) == ("2014-10-21 16:47:36#3", True)
    assert _parse({"items": []}, "2014-10-21 16:47:36").cursor == "2014-10-21 16:47:36"
    request = inbound.build_fetch(
        InboxQuery("2014-10-21 16:47:36#3"), SETTINGS, smsgate.connect("serwersms://user:pw@default").endpoint
    )
    sent = json.loads(request.body)
    assert (sent["date_from"], sent["page"], sent["order"]) == ("2014-10-21 16:47:36", 3, "asc")
    assert "read" not in sent and "type" not in sent  # nothing marked read; every category


def test_errors_and_unreadable_replies() -> None:
    for body in (b"", b"[]", b"{", b'{"items": 5}', b'{"items": [{"text": "no phone"}]}', b'{"items": ["x"]}'):
        try:
            _parse(body)
        except MalformedResponseError:
            continue
        raise AssertionError(f"{body!r} was read")
    with pytest.raises(GatewayError) as caught:
        _parse({"error": {"code": 1001, "type": "Authorization", "message": "Niepoprawny login"}})
    error = caught.value
    assert error.code == "1001"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | json_bodies())
def test_garbage_is_unreadable_never_a_crash(body: bytes) -> None:
    with contextlib.suppress(MalformedResponseError, GatewayError):
        _parse(body)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.dictionaries(st.sampled_from(["id", "phone", "recived", "text", "type"]), json_values()), max_size=4)
)
def test_items_that_are_almost_right_never_crash(items: list[dict[str, Any]]) -> None:
    with contextlib.suppress(MalformedResponseError):
        _parse({"items": items})


def test_a_cursor_that_is_not_a_time_is_refused(gateway: Gateway) -> None:
    with pytest.raises(ValidationError) as caught:
        gateway.fetch_inbound("yesterday")
    error = caught.value
    assert "YYYY-MM-DD" in str(error)


def test_pull_from_the_emulator(emulator: SerwerSmsEmulator, gateway: Gateway, clock: FakeClock) -> None:
    store = MemoryInboundStore()
    emulator.receive("+48500600700", "Przyjadę o 16")
    emulator.receive("+48500600701", "STOP")
    pulled = pull(gateway, store, "serwer", DEFAULT_KEYWORDS)
    assert [(m.sender, m.text, new) for m, new in pulled] == [
        ("+48500600700", "Przyjadę o 16", True),
        ("+48500600701", "STOP", True),
    ]
    first = store.cursor("serwer")
    assert [new for _, new in pull(gateway, store, "serwer", DEFAULT_KEYWORDS)] == [False, False]  # same second
    clock.sleep(60)
    emulator.receive("+48500600702", "Dziękuję")
    again = pull(gateway, store, "serwer", DEFAULT_KEYWORDS)  # from the last second seen: overlap, once
    assert [(m.text, new) for m, new in again] == [("Przyjadę o 16", False), ("STOP", False), ("Dziękuję", True)]
    assert store.cursor("serwer") != first and len(store.inbound()) == 3
    assert [s.number for s in store.suppressions()] == ["+48500600701"]
    assert all(not m[4] for m in emulator.inbox)  # a pull marks nothing read at the gateway


def test_pull_pages_through_one_busy_second(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    for n in range(inbound.PAGE * 2 + 3):  # all in one second: the cursor moves by page
        emulator.receive(f"+48500{n:06d}", f"reply {n}")
    store = MemoryInboundStore()
    pulled = pull(gateway, store, "serwer", DEFAULT_KEYWORDS)
    assert sum(new for _, new in pulled) == inbound.PAGE * 2 + 3 and len(store.inbound()) == inbound.PAGE * 2 + 3
