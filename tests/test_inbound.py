"""The receiver (issue 17) over real loopback HTTP: every plugin's delivery-report and incoming
formats, from their documented examples, into the store through ``smsgate serve``'s server;
bad input refused with its status and nothing stored; opt-outs honoured by the next send."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

import smsgate
from smsgate import serve
from smsgate.inbound import MemoryInboundStore, SqliteInboundStore
from smsgate.models import DeliveryReport
from smsgate.store import CampaignRecord, Row, RowRef, SendRecord, open_store
from smsgate.suppression import DEFAULT_KEYWORDS, Keywords

TOKEN = "s3cret-token"

DSNS = {
    "bulk": "bulksms://user:pw@default",
    "octo": "octopush://shop%40example.com:key@default",
    "smsc": "smsc://login:password@default?callback_check=true",
    "serwer": "serwersms://user:pw@default",
    "route": "routesms://user:pw@sms.example.com:8080?tls=false",
}


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


class Harness:
    def __init__(self, store: Any, **options: Any) -> None:
        self.store = store
        self.gateways = {name: smsgate.connect(dsn) for name, dsn in DSNS.items()}
        self.reports: list[tuple[DeliveryReport, str]] = []
        self.messages: list[Any] = []
        self.fail = False

        def on_report(report: DeliveryReport, gateway: smsgate.Gateway) -> None:
            if self.fail:
                raise RuntimeError("app hook down")
            self.reports.append((report, gateway.name))

        def on_inbound(message: Any, gateway: smsgate.Gateway) -> None:
            self.messages.append(message)

        routes = [
            serve.Route("bulk", self.gateways["bulk"], token=TOKEN),
            serve.Route("octo", self.gateways["octo"], basic=("octopush", "pa:ss")),
            serve.Route("smsc", self.gateways["smsc"]),
            serve.Route("serwer", self.gateways["serwer"], allow=("127.0.0.0/8",)),
            serve.Route("route", self.gateways["route"], allow=("192.0.2.0/24",)),
            serve.Route("open", self.gateways["route"]),
        ]
        max_body = options.pop("max_body", 4096)
        self.receiver = serve.Receiver(
            routes, store, on_delivery_report=[on_report], on_inbound=[on_inbound], max_body=max_body
        )
        self.server = serve.start(self.receiver, timeout=options.pop("timeout", 2), max_body=max_body, **options)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            reply = conn.getresponse()
            return reply.status, reply.read()
        finally:
            conn.close()

    def form(self, path: str, fields: dict[str, str], **headers: str) -> int:
        body = urlencode(fields).encode()
        hdrs = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        return self.request("POST", path, body, hdrs)[0]

    def json(self, path: str, document: Any, **headers: str) -> int:
        hdrs = {"Content-Type": "application/json", **headers}
        return self.request("POST", path, json.dumps(document).encode(), hdrs)[0]

    def close(self) -> None:
        self.server.stop()
        for gateway in self.gateways.values():
            gateway.close()


BASIC = "Basic " + base64.b64encode(b"octopush:pa:ss").decode()


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[Any, SqliteInboundStore]]:
    store = open_store(tmp_path / "smsgate.db")
    inbound = SqliteInboundStore(store=store)
    yield store, inbound
    inbound.close()
    store.close()


@pytest.fixture
def harness(sqlite: tuple[Any, SqliteInboundStore]) -> Iterator[Harness]:
    h = Harness(sqlite[1])
    yield h
    h.close()


def _campaign(store: Any, name: str, gateway: str, provider: str, ids: dict[str, str]) -> None:
    store.save_campaign(CampaignRecord(name, gateway, provider, "t", "src.csv", "d", len(ids)))
    store.add_rows(Row(name, i, number, "d") for i, number in enumerate(ids, start=1))
    refs = [RowRef(name, i, number) for i, number in enumerate(ids, start=1)]
    outcomes = tuple({"recipient": n, "status": "accepted", "message_id": mid} for n, mid in ids.items())
    record = SendRecord(provider, f"{name}-k", "d", tuple(ids), "sending", time.time())
    store.begin(record, refs)
    store.settle(SendRecord(provider, f"{name}-k", "d", tuple(ids), "done", record.started_at, outcomes), refs)


# -- every plugin's documented formats, into the store ---------------------------------------


def test_delivery_reports_of_every_plugin_reach_the_store_and_campaign_counts(
    harness: Harness, sqlite: tuple[Any, SqliteInboundStore]
) -> None:
    store, inbound = sqlite
    _campaign(store, "c-bulk", "bulk", "bulksms", {"+447700900001": "4712345678", "+447700900002": "4712345679"})
    _campaign(store, "c-octo", "octo", "octopush", {"+33600000000": "sms_5fa275dbf21dc"})
    # BulkSMS: a GET with msisdn, batch_id, status (11 delivered; 51 failed)
    q = urlencode({"msisdn": "447700900001", "batch_id": "4712345678", "status": "11"})
    assert harness.request("GET", f"/bulk/{TOKEN}/dlr?{q}")[0] == 200
    q = urlencode({"msisdn": "447700900002", "batch_id": "4712345679", "status": "51"})
    assert harness.request("GET", f"/bulk/{TOKEN}?{q}")[0] == 200
    # Octopush: the acknowledge-receipt JSON POST
    doc = {
        "channel": "sms",
        "message_id": "sms_5fa275dbf21dc",
        "number": "+33600000000",
        "status": "DELIVERED",
        "delivery_date": "2021-01-01 12:00:00",
    }
    assert harness.json("/octo/dlr", doc, Authorization=BASIC) == 200
    # SMSC: the status callback with its sha1 (callback_check=true)
    fields = {"id": "17", "phone": "79991234567", "status": "1", "err": "0"}
    fields["sha1"] = _sha1("17:79991234567:1:password")
    assert harness.form("/smsc/dlr", fields) == 200
    # SerwerSMS: the seed's dlr_url placeholders
    q = urlencode({"smsid": "a1b2c3", "stan": "delivered", "data": "2026-01-01 10:00:00"})
    assert harness.request("GET", f"/serwer/dlr?{q}")[0] == 200
    # RouteSMS: the DLR push form (on the route without an allow-list)
    fields = {
        "sSender": "Shop",
        "sMobileNo": "2348055494143",
        "sStatus": "DELIVRD",
        "sMessageId": "8d9b7c1a-0b5f-4b8e",
        "dtSubmit": "2026-01-01 10:00:00",
        "dtDone": "2026-01-01 10:00:05",
        "iCostPerSms": "1",
        "iCharge": "1",
        "iMCCMNC": "62130",
        "iErrCode": "000",
    }
    assert harness.form("/open/dlr", fields) == 200

    events = inbound.reports()
    assert {(e.gateway, e.message_id, e.status) for e in events} == {
        ("bulk", "4712345678", "delivered"),
        ("bulk", "4712345679", "failed"),
        ("octo", "sms_5fa275dbf21dc", "delivered"),
        ("smsc", "17", "delivered"),
        ("serwer", "a1b2c3", "delivered"),
        ("open", "8d9b7c1a-0b5f-4b8e", "delivered"),
    }
    assert all(e.handled for e in events)
    assert store.counts("c-bulk") == {"delivered": 1, "undelivered": 1}
    assert store.counts("c-octo") == {"delivered": 1}
    assert len(harness.reports) == 6


def test_incoming_messages_of_every_plugin_that_pushes_them(
    harness: Harness, sqlite: tuple[Any, SqliteInboundStore]
) -> None:
    _, inbound = sqlite
    # BulkSMS: GET with msisdn (ours), sender, message, dca, msg_id; 16bit is UTF-16BE hex
    q = urlencode(
        {"msisdn": "447700900000", "sender": "447700900123", "message": "Hello", "dca": "7bit", "msg_id": "9"}
    )
    assert harness.request("GET", f"/bulk/{TOKEN}/inbound?{q}")[0] == 200
    hexed = "Привет".encode("utf-16-be").hex()
    q = urlencode(
        {"msisdn": "447700900000", "sender": "447700900124", "message": hexed, "dca": "16bit", "msg_id": "10"}
    )
    assert harness.request("GET", f"/bulk/{TOKEN}?{q}")[0] == 200
    # Octopush: the MO callback
    doc = {
        "message_id": "sms_mo_1",
        "number": "+33600000001",
        "text": "Oui merci",
        "sim_card_number": "+33700000000",
        "reception_date": "2021-01-01 12:00:00",
    }
    assert harness.json("/octo/inbound", doc, Authorization=BASIC) == 200
    # SMSC: the client handler, windows-1251 form, with its sha1
    fields = {"id": "77", "phone": "79991234567", "mes": "Спасибо", "to": "79000000000", "sent": "1767225600"}
    fields["sha1"] = _sha1("77:79991234567:Спасибо:password")
    body = urlencode(fields, encoding="cp1251").encode()
    status, _ = harness.request("POST", "/smsc", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    # SerwerSMS: the pull's item names, pushed
    q = urlencode({"id": "55", "phone": "48500600700", "text": "Dziękuję", "recived": "2026-01-01 10:00:00"})
    assert harness.request("GET", f"/serwer/inbound?{q}")[0] == 200

    got = {(m.gateway, m.sender, m.text, m.recipient) for m in inbound.inbound()}
    assert got == {
        ("bulk", "+447700900123", "Hello", "+447700900000"),
        ("bulk", "+447700900124", "Привет", "+447700900000"),
        ("octo", "+33600000001", "Oui merci", "+33700000000"),
        ("smsc", "+79991234567", "Спасибо", "+79000000000"),
        ("serwer", "+48500600700", "Dziękuję", None),
    }
    assert all(m.received_at is not None for m in inbound.inbound() if m.gateway in ("octo", "smsc", "serwer"))
    assert len(harness.messages) == 5
    assert inbound.suppressions() == []


def test_routesms_pushes_no_incoming_messages(harness: Harness) -> None:
    q = urlencode({"sender": "2348055494143", "message": "hi"})
    assert harness.request("GET", f"/open/inbound?{q}")[0] == 400


# -- opt-outs -------------------------------------------------------------------------------------


def test_a_stop_reply_through_the_server_prevents_the_next_send(
    harness: Harness, sqlite: tuple[Any, SqliteInboundStore]
) -> None:
    from smsgate_bulksms.emulator import BulkSmsEmulator

    _, inbound = sqlite
    q = urlencode({"msisdn": "447700900000", "sender": "447700900555", "message": "Stop.", "msg_id": "501"})
    assert harness.request("GET", f"/bulk/{TOKEN}/inbound?{q}")[0] == 200
    doc = {"message_id": "sms_9", "number": "+33600000009", "text": "STOP", "stop_date": "2021-01-01 12:00:00"}
    assert harness.json("/octo", doc, Authorization=BASIC) == 200  # Octopush's own STOP callback
    assert {s.number for s in inbound.suppressions()} == {"+447700900555", "+33600000009"}

    with BulkSmsEmulator() as emulator, smsgate.connect(emulator.dsn()) as gateway:
        gateway.suppressed = inbound.suppressed
        result = gateway.send(smsgate.Message(["+447700900555", "+447700900556"], "Sale today"))
        by = {o.recipient: o for o in result.outcomes}
        assert by["+447700900555"].status is smsgate.Status.REJECTED
        assert by["+447700900555"].code == "suppressed"
        assert by["+447700900556"].status is smsgate.Status.ACCEPTED
        only = gateway.send(smsgate.Message("0044 7700 900555", "Again"))
        assert only.requests == 0 and only.outcomes[0].code == "suppressed"

    # START takes the number off the list again
    q = urlencode({"msisdn": "447700900000", "sender": "447700900555", "message": "START", "msg_id": "502"})
    assert harness.request("GET", f"/bulk/{TOKEN}/inbound?{q}")[0] == 200
    assert {s.number for s in inbound.suppressions()} == {"+33600000009"}


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", "stop"),
        ("stop.", "stop"),
        ("  Stop please", "stop"),
        ("STOP au 36180", "stop au"),
        ("Arrêt", "arret"),
        ("СТОП", "стоп"),
        ("стоп!", "стоп"),
        ("STOPP", "stopp"),
        ("unsubscribe", "unsubscribe"),
        ("stopped at the shop", None),
        ("Where is my stop?", None),
        ("", None),
    ],
)
def test_opt_out_keywords(text: str, keyword: str | None) -> None:
    assert DEFAULT_KEYWORDS.opt_out(text) == keyword


def test_keywords_are_configurable_per_language() -> None:
    russian = Keywords(("ru",), extra_out=("хватит",))
    assert russian.opt_out("СТОП") == "стоп"
    assert russian.opt_out("ARRET") is None
    assert russian.opt_out("Хватит") == "хватит"


# -- bad input: the right status, nothing stored -------------------------------------------------


def _nothing_stored(inbound: SqliteInboundStore, harness: Harness) -> None:
    assert inbound.reports() == [] and inbound.inbound() == [] and inbound.suppressions() == []
    assert harness.reports == [] and harness.messages == []


def test_unauthenticated_requests_are_refused(harness: Harness, sqlite: tuple[Any, SqliteInboundStore]) -> None:
    _, inbound = sqlite
    q = urlencode({"msisdn": "447700900001", "batch_id": "1", "status": "11"})
    assert harness.request("GET", f"/bulk/dlr?{q}")[0] == 404  # no token
    assert harness.request("GET", f"/bulk/wrong-token/dlr?{q}")[0] == 404
    assert harness.request("GET", f"/nobody/dlr?{q}")[0] == 404
    doc = {"message_id": "m", "number": "+33600000000", "status": "DELIVERED"}
    assert harness.json("/octo/dlr", doc) == 401
    wrong = "Basic " + base64.b64encode(b"octopush:nope").decode()
    assert harness.json("/octo/dlr", doc, Authorization=wrong) == 401
    assert harness.json("/octo/dlr", doc, Authorization="Basic %%%") == 401
    fields = {"sMessageId": "x", "sStatus": "DELIVRD", "sMobileNo": "2348055494143"}
    assert harness.form("/route/dlr", fields) == 403  # not from 192.0.2.0/24
    assert harness.request("PUT", f"/bulk/{TOKEN}/dlr?{q}")[0] == 405
    _nothing_stored(inbound, harness)


def test_forged_signature_is_refused(harness: Harness, sqlite: tuple[Any, SqliteInboundStore]) -> None:
    _, inbound = sqlite
    fields = {"id": "77", "phone": "79991234567", "mes": "STOP", "sha1": _sha1("77:79991234567:STOP:guess")}
    assert harness.form("/smsc/inbound", fields) == 403
    del fields["sha1"]
    assert harness.form("/smsc", fields) == 403
    # a status callback with a wrong sha1: refused by the plugin's own check (400 today)
    fields = {"id": "17", "phone": "79991234567", "status": "1", "sha1": "0" * 40}
    assert harness.form("/smsc/dlr", fields) in (400, 403)
    _nothing_stored(inbound, harness)


def _raw(harness: Harness, head: bytes, body: bytes) -> bytes:
    """Send ``head`` and as much of ``body`` as the server takes; the reply's first bytes."""
    with socket.create_connection((harness.server.host, harness.server.port), timeout=10) as sock:
        sock.sendall(head)
        with contextlib.suppress(OSError):  # the server answered and closed before reading it all
            sock.sendall(body)
        try:
            return sock.recv(1024)
        except OSError:
            return b""


def test_oversized_bodies_get_413_and_are_never_parsed(
    harness: Harness, sqlite: tuple[Any, SqliteInboundStore]
) -> None:
    _, inbound = sqlite
    body = json.dumps({"message_id": "m1", "number": "+33600000000", "status": "DELIVERED", "pad": "x" * 5000})
    head = (
        f"POST /octo/dlr HTTP/1.1\r\nHost: x\r\nAuthorization: {BASIC}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    assert _raw(harness, head, body.encode()).startswith(b"HTTP/1.1 413")
    # chunked, without a Content-Length
    head = (
        f"POST /octo/dlr HTTP/1.1\r\nHost: x\r\nAuthorization: {BASIC}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"y" * 3000
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    assert _raw(harness, head, chunks).startswith(b"HTTP/1.1 413")
    # the receiver's own limit, below the server's (a WSGI mount behind another server)
    harness.receiver.max_body = 100
    doc = {"message_id": "m3", "number": "+33600000000", "status": "DELIVERED", "pad": "z" * 200}
    assert harness.json("/octo/dlr", doc, Authorization=BASIC) == 413
    _nothing_stored(inbound, harness)


def test_malformed_and_deeply_nested_get_400(harness: Harness, sqlite: tuple[Any, SqliteInboundStore]) -> None:
    _, inbound = sqlite
    assert harness.request("GET", f"/bulk/{TOKEN}/dlr?status=eleven")[0] == 400
    assert harness.request("POST", "/octo/dlr", b"{not json", {"Authorization": BASIC})[0] == 400
    nested = b"[" * 1000 + b"]" * 1000
    assert harness.request("POST", "/octo/dlr", nested, {"Authorization": BASIC})[0] == 400
    nested_obj = b'{"a":' * 500 + b"1" + b"}" * 500
    assert harness.request("POST", "/serwer/dlr", nested_obj, {"Content-Type": "application/json"})[0] == 400
    assert harness.request("GET", "/serwer/dlr?" + "a=b&" * 3000)[0] == 414
    _nothing_stored(inbound, harness)


def test_a_replayed_report_is_stored_and_handled_once(harness: Harness, sqlite: tuple[Any, SqliteInboundStore]) -> None:
    _, inbound = sqlite
    q = urlencode({"msisdn": "447700900001", "batch_id": "4712345678", "status": "11"})
    for _ in range(3):
        assert harness.request("GET", f"/bulk/{TOKEN}/dlr?{q}")[0] == 200
    assert len(inbound.reports()) == 1
    assert len(harness.reports) == 1


def test_duplicates_are_recognised_across_restarts(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    first = SqliteInboundStore(store=store)
    h = Harness(first)
    q = urlencode({"msisdn": "447700900001", "batch_id": "4712345678", "status": "11"})
    mo = urlencode({"msisdn": "447700900000", "sender": "447700900123", "message": "Hi", "msg_id": "9"})
    try:
        assert h.request("GET", f"/bulk/{TOKEN}/dlr?{q}")[0] == 200
        assert h.request("GET", f"/bulk/{TOKEN}/inbound?{mo}")[0] == 200
    finally:
        h.close()
        first.close()
    second = SqliteInboundStore(store=store)
    h = Harness(second)
    try:
        assert h.request("GET", f"/bulk/{TOKEN}/dlr?{q}")[0] == 200
        assert h.request("GET", f"/bulk/{TOKEN}/inbound?{mo}")[0] == 200
        assert h.reports == [] and h.messages == []  # already handled before the restart
        assert len(second.reports()) == 1 and len(second.inbound()) == 1
    finally:
        h.close()
        second.close()
        store.close()


def test_a_failing_handler_answers_500_and_the_resend_is_processed(
    harness: Harness, sqlite: tuple[Any, SqliteInboundStore]
) -> None:
    _, inbound = sqlite
    q = urlencode({"msisdn": "447700900001", "batch_id": "4712345678", "status": "11"})
    harness.fail = True
    assert harness.request("GET", f"/bulk/{TOKEN}/dlr?{q}")[0] == 500
    assert [e.handled for e in inbound.reports()] == [False]  # kept, not lost
    harness.fail = False
    assert harness.request("GET", f"/bulk/{TOKEN}/dlr?{q}")[0] == 200
    assert [e.handled for e in inbound.reports()] == [True]
    assert len(harness.reports) == 1


def test_a_failing_store_answers_500(harness: Harness) -> None:
    class Broken(MemoryInboundStore):
        def record_report(self, gateway: str, provider: str, report: DeliveryReport, *, handled: bool = False) -> bool:
            raise OSError("disk full")

    harness.receiver.store = Broken()
    q = urlencode({"msisdn": "447700900001", "batch_id": "4712345678", "status": "11"})
    assert harness.request("GET", f"/bulk/{TOKEN}/dlr?{q}")[0] == 500


def test_slow_clients_time_out(harness: Harness, sqlite: tuple[Any, SqliteInboundStore]) -> None:
    _, inbound = sqlite
    sock = socket.create_connection((harness.server.host, harness.server.port), timeout=10)
    q = urlencode({"msisdn": "447700900001", "batch_id": "1", "status": "11"})
    started = time.monotonic()
    sock.sendall(f"GET /bulk/{TOKEN}/dlr?{q} HTTP/1.1\r\nHost: x\r\n".encode())  # never finishes
    try:
        data = sock.recv(1024)
    except OSError:
        data = b""
    assert data == b""  # closed by the server
    assert time.monotonic() - started < 9
    sock.close()
    # a slow body (headers complete, body never sent)
    sock = socket.create_connection((harness.server.host, harness.server.port), timeout=10)
    sock.sendall(
        b"POST /octo/dlr HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nAuthorization: " + BASIC.encode() + b"\r\n\r\n{"
    )
    try:
        data = sock.recv(1024)
    except OSError:
        data = b""
    assert b"200" not in data
    sock.close()
    _nothing_stored(inbound, harness)
    assert harness.request("GET", "/healthz")[0] == 200  # the server is still answering


def test_health(harness: Harness) -> None:
    assert harness.request("GET", "/healthz") == (200, b"OK\n")


# -- mounted elsewhere: WSGI and ASGI ------------------------------------------------------------


def test_the_asgi_adapter() -> None:
    store = MemoryInboundStore()
    with smsgate.connect(DSNS["bulk"]) as gateway:
        app = serve.asgi(serve.Receiver([serve.Route("bulk", gateway)], store), max_body=1024)

        async def call(path: str, query: str = "", body: bytes = b"", headers: Any = ()) -> tuple[int, bytes]:
            sent: list[dict[str, Any]] = []
            events = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict[str, Any]:
                return events.pop(0) if events else {"type": "http.disconnect"}

            async def send(event: dict[str, Any]) -> None:
                sent.append(event)

            scope = {
                "type": "http",
                "method": "POST" if body else "GET",
                "path": path,
                "query_string": query.encode(),
                "headers": list(headers),
                "client": ("127.0.0.1", 5000),
            }
            await app(scope, receive, send)
            return sent[0]["status"], sent[1]["body"]

        q = urlencode({"msisdn": "447700900001", "batch_id": "4712345678", "status": "11"})
        assert asyncio.run(call("/bulk/dlr", q)) == (200, b"OK\n")
        assert asyncio.run(call("/bulk/dlr", "status=x"))[0] == 400
        assert asyncio.run(call("/bulk/dlr", "", b"x" * 2000))[0] == 413
        assert asyncio.run(call("/bulk/dlr", "", b"", [(b"content-length", b"99999")]))[0] == 413
        assert [r.message_id for r in store.reports()] == ["4712345678"]


def test_the_wsgi_app_with_a_script_name() -> None:
    import io

    store = MemoryInboundStore()
    with smsgate.connect(DSNS["bulk"]) as gateway:
        app = serve.Receiver([serve.Route("bulk", gateway, token=TOKEN)], store)
        seen: list[str] = []
        environ = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "/sms",
            "PATH_INFO": f"/bulk/{TOKEN}/dlr",
            "QUERY_STRING": "msisdn=447700900001&batch_id=5&status=11",
            "wsgi.input": io.BytesIO(),
            "REMOTE_ADDR": "127.0.0.1",
        }
        body = app(environ, lambda status, headers: seen.append(status))
        assert seen == ["200 OK"] and body == [b"OK\n"]
        assert len(store.reports()) == 1


# -- the CLI ----------------------------------------------------------------------------------------


def test_cli_suppress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from smsgate.cli import main

    db = str(tmp_path / "s.db")
    listing = tmp_path / "optouts.csv"
    listing.write_text("number,reason\n+48500600700,x\n0048 500 600 701\n# comment\n\n", encoding="utf-8")
    assert main(["suppress", "add", "+447700900001", "--store", db]) == 0
    assert main(["suppress", "import", str(listing), "--store", db]) == 0
    assert main(["suppress", "remove", "447700900001", "--store", db]) == 0
    capsys.readouterr()
    assert main(["suppress", "list", "--json", "--store", db]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [s["number"] for s in shown] == ["+48500600700", "+48500600701"]


def test_cli_serve_runs_the_server(tmp_path: Path) -> None:
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "s.db"
    command = [
        sys.executable,
        "-m",
        "smsgate",
        "serve",
        "--gateway",
        f"bulk={DSNS['bulk']}",
        "--token",
        "bulk=env:TOK",
        "--port",
        str(port),
        "--store",
        str(db),
    ]
    import os

    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "TOK": TOKEN}
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert "listening" in lines[-1], lines
        assert "/bulk/<token>/dlr" in lines[0] and TOKEN not in "".join(lines)
        q = urlencode({"msisdn": "447700900000", "sender": "447700900123", "message": "STOP", "msg_id": "1"})
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", f"/bulk/{TOKEN}?{q}")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    store = open_store(db)
    inbound = SqliteInboundStore(store=store)
    assert [s.number for s in inbound.suppressions()] == ["+447700900123"]
    inbound.close()
    store.close()


def test_many_concurrent_reports_are_each_stored_once(harness: Harness, sqlite: tuple[Any, SqliteInboundStore]) -> None:
    _, inbound = sqlite
    errors: list[int] = []

    def client(start: int) -> None:
        for i in range(start, start + 50):
            q = urlencode({"msisdn": "447700900001", "batch_id": str(1000 + i % 100), "status": "11"})
            status = harness.request("GET", f"/bulk/{TOKEN}/dlr?{q}")[0]
            if status != 200:
                errors.append(status)

    threads = [threading.Thread(target=client, args=(n * 50,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(inbound.reports()) == 100


def test_a_stop_reply_through_the_server_prevents_the_next_campaigns_send(
    harness: Harness, sqlite: tuple[Any, SqliteInboundStore], tmp_path: Path
) -> None:
    from smsgate.campaign import Campaign
    from smsgate_bulksms.emulator import BulkSmsEmulator

    store, inbound = sqlite
    q = urlencode({"msisdn": "447700900000", "sender": "447700900555", "message": "STOP", "msg_id": "601"})
    assert harness.request("GET", f"/bulk/{TOKEN}/inbound?{q}")[0] == 200
    source = tmp_path / "people.csv"
    source.write_text("phone,name\n+447700900555,Ann\n+447700900556,Bob\n", encoding="utf-8")
    with BulkSmsEmulator() as emulator, smsgate.connect(emulator.dsn()) as gateway:
        gateway.suppressed = inbound.suppressed
        Campaign(gateway, store, "spring", source, "Spring sale").run()
    rows = {r.recipient: r for r in store.rows("spring")}
    assert (rows["+447700900555"].state, rows["+447700900555"].code) == ("rejected", "suppressed")
    assert rows["+447700900556"].state == "accepted"


def test_the_allow_list_behind_a_trusted_proxy(sqlite: tuple[Any, SqliteInboundStore]) -> None:
    _, inbound = sqlite
    h = Harness(inbound, trusted_proxy="127.0.0.1")
    try:
        fields = {"sMessageId": "x1", "sStatus": "DELIVRD", "sMobileNo": "2348055494143"}
        assert h.form("/route/dlr", fields, **{"X-Forwarded-For": "192.0.2.7"}) == 200
        assert h.form("/route/dlr", fields, **{"X-Forwarded-For": "198.51.100.1"}) == 403
        assert h.form("/route/dlr", fields) == 403
    finally:
        h.close()
    assert [e.message_id for e in inbound.reports()] == ["x1"]


def test_metrics_count_what_the_receiver_stored(harness: Harness) -> None:
    from smsgate.telemetry import METRICS

    METRICS.reset()
    q = urlencode({"msisdn": "447700900001", "batch_id": "4712345999", "status": "11"})
    for _ in range(2):  # a resend is stored once
        assert harness.request("GET", f"/bulk/{TOKEN}/dlr?{q}")[0] == 200
    status, body = harness.request("GET", "/metrics")
    assert status == 200
    assert 'smsgate_delivery_reports_total{gateway="bulk",status="delivered"} 1' in body.decode()
    assert "447700900001" not in body.decode(), "no numbers in metrics"


def test_metrics_can_require_a_token(harness: Harness) -> None:
    harness.receiver.metrics_token = "s3cret-metrics"
    assert harness.request("GET", "/metrics")[0] == 401
    ok = harness.request("GET", "/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert ok[0] == 200
