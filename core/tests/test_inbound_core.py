"""Issue 17 in the core alone: the parse_inbound hook, the inbound stores, the suppression check
and the receiver as a WSGI app (the plugins' formats over real HTTP: tests/test_inbound.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from smsgate import serve, suppression
from smsgate.errors import MalformedResponseError
from smsgate.gateway import Gateway
from smsgate.inbound import (
    MemoryInboundStore,
    SqliteInboundStore,
    delivery_state,
    number_key,
)
from smsgate.models import DeliveryReport, DeliveryStatus, HttpRequest, Message, SendResult, Status
from smsgate.store import open_store


def test_hook_parse_inbound(gateway: Gateway) -> None:
    body = b'[{"from":"+48500600700","to":"+48100200300","text":"STOP","id":"mo1","at":"1700000000"}]'
    (message,) = gateway.parse_inbound(HttpRequest("POST", "http://me/in", body=body)) or ()
    assert (message.sender, message.recipient, message.text, message.message_id) == (
        "+48500600700",
        "+48100200300",
        "STOP",
        "mo1",
    )
    assert message.received_at is not None
    # a delivery report is not an incoming message: None, and the report parser reads it
    report = b'{"id":"ob1","to":"+48500600700","state":"delivered"}'
    assert gateway.parse_inbound(HttpRequest("POST", "http://me/in", body=report)) is None
    with pytest.raises(MalformedResponseError):
        gateway.parse_inbound(HttpRequest("POST", "http://me/in", body=b'{"from":"+1","text":"x","at":"soon"}'))


def test_numbers_are_compared_by_their_digits() -> None:
    assert number_key("+48 500-600-700") == number_key("0048500600700") == number_key("48500600700")


def test_delivery_states_of_campaign_rows() -> None:
    def state(status: DeliveryStatus) -> str | None:
        return delivery_state(DeliveryReport("1", status))

    assert state(DeliveryStatus.DELIVERED) == "delivered"
    assert state(DeliveryStatus.FAILED) == state(DeliveryStatus.REJECTED) == "undelivered"
    assert state(DeliveryStatus.EXPIRED) == "expired"
    assert state(DeliveryStatus.PENDING) is None and state(DeliveryStatus.UNKNOWN) is None


# The stores' own tests (kept once, handled once, suppression list, campaign rows, concurrent
# writers) are the inbound store suite, run on every store: test_inbound_store.py.


def test_filter_and_merge() -> None:
    def on_list(numbers: Any) -> set[str]:
        return {n for n in numbers if n.endswith("700")}

    message = Message(["+48500600700", "+48500600701"], "Hi", key="k")
    kept, refused = suppression.filter(message, on_list)
    assert kept is not None and kept.to == ("+48500600701",)
    assert [(o.recipient, o.status, o.code) for o in refused] == [("+48500600700", Status.REJECTED, "suppressed")]
    sent = SendResult("outbox", "k", (), None, 1)
    merged = suppression.merge(message, sent, refused, provider="outbox")
    assert [o.recipient for o in merged.outcomes] == ["+48500600700"]
    alone, refused = suppression.filter(Message("500600700", "Hi"), on_list, "PL")
    assert alone is None and refused[0].recipient == "500600700"
    nobody = Message("+48500600701", "Hi")
    assert suppression.filter(nobody, on_list) == (nobody, ())


def test_gateway_send_skips_suppressed_numbers(gateway: Gateway) -> None:
    store = MemoryInboundStore()
    store.suppress(["+48500600700"])
    gateway.suppressed = store.suppressed
    result = gateway.send(Message(["+48500600700", "+48500600701"], "Hi"))
    first = result.outcomes[0]
    assert (first.recipient, first.status.value, first.code) == ("+48500600700", "rejected", "suppressed")
    assert result.outcomes[1].status is Status.ACCEPTED
    only = gateway.send(Message("+48500600700", "Hi"))
    assert only.requests == 0 and not only.ok


def test_too_deep() -> None:
    assert not serve.too_deep(b'{"a":[1,2,{"b":3}]}', 3)
    assert serve.too_deep(b"[" * 40, 32)
    assert not serve.too_deep(b'"' + b"[" * 40 + b'"', 32)  # inside a string


def _call(app: serve.Receiver, path: str, body: bytes = b"", **environ: Any) -> tuple[str, bytes]:
    seen: list[str] = []
    env = {
        "REQUEST_METHOD": "POST" if body else "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
        "REMOTE_ADDR": "127.0.0.1",
        **environ,
    }
    out = b"".join(app(env, lambda status, headers: seen.append(status)))
    return seen[0], out


def test_the_receiver_as_a_wsgi_app(gateway: Gateway) -> None:
    store = MemoryInboundStore()
    got: list[Any] = []
    app = serve.Receiver(
        [serve.Route("ob", gateway, token="t0k")],
        store,
        on_delivery_report=[lambda r, g: got.append(r)],
        on_inbound=[lambda m, g: got.append(m)],
        max_body=200,
    )
    mo = json.dumps({"from": "+48500600700", "text": "stop", "id": "1"}).encode()
    assert _call(app, "/ob/t0k", mo)[0] == "200 OK"
    dlr = json.dumps({"id": "ob1", "to": "+48500600700", "state": "delivered"}).encode()
    assert _call(app, "/ob/t0k/dlr", dlr)[0] == "200 OK"
    assert _call(app, "/ob/t0k/inbound", dlr)[0].startswith("400")
    assert _call(app, "/ob/nope/dlr", dlr)[0].startswith("404")
    assert _call(app, "/ob/t0k/dlr", b"x" * 300)[0].startswith("413")
    assert _call(app, "/ob/t0k/dlr", b"[" * 100)[0].startswith("400")
    assert _call(app, "/ob/t0k/dlr", b"{", CONTENT_LENGTH="abc")[0].startswith("400")
    assert _call(app, "/ob/t0k/dlr", b"", REQUEST_METHOD="DELETE")[0].startswith("405")
    assert [type(x).__name__ for x in got] == ["InboundMessage", "DeliveryReport"]
    assert [s.number for s in store.suppressions()] == ["+48500600700"]


def test_webhook_app_with_a_store_dedupes_across_restarts_and_refuses_big_bodies(
    gateway: Gateway, tmp_path: Path
) -> None:
    from smsgate.webhook import delivery_reports_app

    body = json.dumps({"id": "ob1", "to": "+48500600700", "state": "delivered"}).encode()
    got: list[DeliveryReport] = []
    for _ in range(2):  # two "processes" on one store file
        store = open_store(tmp_path / "s.db")
        inbound = SqliteInboundStore(store=store)
        app = delivery_reports_app(gateway, got.append, store=inbound, name="ob")
        seen: list[str] = []

        def start(status: str, headers: Any, seen: list[str] = seen) -> None:
            seen.append(status)

        env = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
        app(env, start)
        big = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(2 << 20), "wsgi.input": io.BytesIO(b"")}
        app(big, start)
        assert seen == ["200 OK", "413 Content Too Large"]
        inbound.close()
        store.close()
    assert [r.message_id for r in got] == ["ob1"]
