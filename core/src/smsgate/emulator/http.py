"""The emulator's HTTP plumbing: request and reply values, the bounded threaded server and the
request handler that applies faults and latency: a reply is held until its request's arrival
plus ``latency ± jitter``, so the emulator's own work is inside that round trip, as a real
gateway's is. Plugins use :class:`EmulatorRequest` and :class:`EmulatorReply`; the rest is
private to :mod:`smsgate.emulator`.
"""

from __future__ import annotations

import contextlib
import io
import json as _json
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlsplit

import attrs

from smsgate.emulator.faults import Fault

if TYPE_CHECKING:
    from smsgate.emulator.base import Emulator

__all__ = ["EmulatorReply", "EmulatorRequest"]

POLL = 0.05  # seconds between checks of the stop flag and of waiting connections
_IDLE_TIMEOUT = 30.0  # an idle keep-alive connection is closed after this long
_FORM = "application/x-www-form-urlencoded"
_Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def _header_pairs(headers: _Headers) -> tuple[tuple[str, str], ...]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(k), str(v)) for k, v in items)


@attrs.frozen
class EmulatorRequest:
    """One request as the emulator received it; ``path`` is raw and without the query."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first header called ``name`` (case-insensitive)."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), default)

    def query_value(self, name: str, default: str | None = None) -> str | None:
        """The query parameter ``name``; the last one wins when it is repeated."""
        return dict(self.query).get(name, default)

    def form(self, encoding: str = "utf-8") -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded``; the last value wins."""
        text = self.body.decode(encoding, errors="replace")
        return dict(parse_qsl(text, keep_blank_values=True, encoding=encoding, errors="replace"))

    def params(self, encoding: str = "utf-8") -> dict[str, str]:
        """Query parameters merged with the form body (form wins).

        The body counts as a form when its Content-Type says so or when there is none.
        """
        merged = dict(self.query)
        content_type = (self.header("Content-Type") or _FORM).split(";")[0].strip().lower()
        if self.body and content_type == _FORM:
            merged.update(self.form(encoding))
        return merged

    def json(self) -> Any:
        """The body parsed as JSON; raises :class:`ValueError` when it is not."""
        return _json.loads(self.body)


@attrs.frozen
class EmulatorReply:
    """What :meth:`Emulator.handle` answers; Content-Length is always computed."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def text(cls, text: str, status: int = 200, *, encoding: str = "utf-8", headers: _Headers = ()) -> EmulatorReply:
        """A ``text/plain`` reply; ``headers`` such as ``{"Retry-After": "7"}`` go out as given."""
        return cls(status, text.encode(encoding), f"text/plain; charset={encoding}", _header_pairs(headers))

    @classmethod
    def json(cls, obj: Any, status: int = 200, *, headers: _Headers = ()) -> EmulatorReply:
        """An ``application/json`` reply (UTF-8) with optional extra ``headers``."""
        body = _json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, body, "application/json", _header_pairs(headers))

    def with_headers(self, headers: _Headers = (), /, **more: str) -> EmulatorReply:
        """This reply with ``headers`` added (``reply.with_headers({"Retry-After": "7"})``;
        keyword names use ``_`` for ``-``: ``with_headers(Retry_After="7")``)."""
        extra = _header_pairs(headers) + tuple((k.replace("_", "-"), str(v)) for k, v in more.items())
        return attrs.evolve(self, headers=self.headers + extra)

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first header called ``name`` (case-insensitive)."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), default)


class _TooLarge(Exception):
    pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator, limit: int) -> None:
        self.emulator = emulator
        self.stopping = threading.Event()
        self.slots = threading.BoundedSemaphore(limit)
        self.waiting = 0  # connections accepted but waiting for a slot
        self.active: set[socket.socket] = set()
        self.active_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # skip HTTPServer's getfqdn(), which may hit DNS
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.waiting += 1
            try:
                while not self.slots.acquire(timeout=POLL):
                    if self.stopping.is_set():
                        self.shutdown_request(request)
                        return
            finally:
                self.waiting -= 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.active_lock:
            self.active.add(request)
        self.emulator._log(None)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.active_lock:
                self.active.discard(request)
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, OSError):  # broken connections are expected
            self.emulator._log(exc)


class Server6(Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    _waited = False
    _arrival = 0.0  # time.monotonic() when the current request's first byte was readable

    @property
    def _srv(self) -> Server:
        return cast(Server, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return f"smsgate-emulator/{self._srv.emulator.name}"

    def handle(self) -> None:
        self.close_connection = True
        first = True
        while self._await_request(first):
            first = False
            self._arrival = time.monotonic()  # its first byte is here: the latency counts from now
            self.handle_one_request()
            if self.close_connection:
                break

    def _await_request(self, first: bool) -> bool:
        """Wait for the next request; False to close (idle, stopping, or others need a slot)."""
        srv, sock = self._srv, self.connection
        deadline = time.monotonic() + _IDLE_TIMEOUT
        try:
            sock.settimeout(0.0)
            if cast(io.BufferedReader, self.rfile).peek(1):  # buffered, or readable now
                return True
            sock.settimeout(POLL)
            while not srv.stopping.is_set() and time.monotonic() < deadline:
                try:
                    sock.recv(1, socket.MSG_PEEK)  # data or end of stream: let the base read it
                    return True
                except TimeoutError:
                    if srv.waiting and not first:
                        return False
            return False
        except OSError:
            return False
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(None)

    def _latency(self) -> None:
        """Hold this request's reply until ``arrival + latency ± jitter``, once, sleeping (no
        CPU held): the emulator's own work on the request is inside the round trip, as a real
        gateway's is; work that takes longer than the latency delays the reply by no more."""
        if not self._waited:
            self._waited = True
            delay = self._srv.emulator._reply_delay()
            if delay > 0:
                due = self._arrival + delay
                wait = due - time.monotonic()
                if wait > 0:
                    self._srv.stopping.wait(wait)
                self._srv.emulator.lateness.record(time.monotonic() - due)

    def _dispatch(self) -> None:
        srv = self._srv
        emu = srv.emulator
        self._waited = False
        try:
            body = self._read_body(emu.max_body)
        except _TooLarge:
            self._send(EmulatorReply.text("request body too large", 413), close=True)
            self._drain()
            return
        except ValueError:
            self._send(EmulatorReply.text("bad request body", 400), close=True)
            return
        url = urlsplit(self.path)
        query = parse_qsl(url.query, keep_blank_values=True, encoding="utf-8", errors="replace")
        headers = tuple(self.headers.items())
        request = EmulatorRequest(self.command, url.path, tuple(query), headers, body)
        emu._log(request)
        rule = emu._faults.take(request.path)
        fault = rule.fault if rule is not None else None
        if rule is None:
            self._send(emu._call(request))
        elif fault is Fault.DROP:
            self._reset()
        elif fault is Fault.SERVER_ERROR:
            self._send(emu.error_reply("server_error", rule.status, None))
        elif fault is Fault.THROTTLE:
            self._send(emu.error_reply("throttled", 429, float(rule.retry_after)))
        elif fault is Fault.REPLY:
            assert rule.reply is not None
            self._send(rule.reply)
        else:
            if fault is Fault.SLOW:
                srv.stopping.wait(0.5 if rule.delay is None else rule.delay)
            reply = emu._call(request)
            if fault is Fault.RESET_BEFORE_REPLY:
                self._reset()
            elif fault is Fault.TIMEOUT_AFTER_ACCEPT:
                srv.stopping.wait(30.0 if rule.delay is None else rule.delay)
                self.close_connection = True
            elif fault is Fault.MALFORMED:
                self._send(attrs.evolve(reply, status=200, body=b"<html>\x00\xffoops"))
            elif fault is Fault.PROCESSED_THEN_ERROR:
                status = 502 if rule.status == 503 else rule.status  # 503 is the SERVER_ERROR default
                self._send(emu.error_reply("processed_then_error", status, None))
            elif fault is Fault.REPLY_AFTER_PROCESSING:
                assert rule.reply is not None
                self._send(rule.reply)
            elif fault is Fault.TRUNCATED:
                declared = max(len(reply.body), 2)
                self._send(attrs.evolve(reply, body=reply.body[: declared // 2]), declared)
                self.close_connection = True
            else:
                self._send(reply)

    do_HEAD = do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            raise _TooLarge
        body = self.rfile.read(length)
        if len(body) != length:
            raise ValueError("body shorter than Content-Length")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        body = bytearray()
        while size := int(self.rfile.readline(1024).split(b";", 1)[0], 16):
            if size < 0:
                raise ValueError("negative chunk size")
            if len(body) + size > limit:
                raise _TooLarge
            body += self.rfile.read(size)
            self.rfile.readline(1024)
        while self.rfile.readline(1024).strip():  # trailers
            pass
        return bytes(body)

    def _send(self, reply: EmulatorReply, length: int | None = None, close: bool = False) -> None:
        self._latency()
        data = reply.body
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for key, value in reply.headers:
            if key.lower() != "content-length":
                self.send_header(key, value)
        if reply.status >= 200 and reply.status not in (204, 304):
            self.send_header("Content-Length", str(len(data) if length is None else length))
        if close or self.close_connection:  # the client asked to close (or HTTP/1.0): say so
            self.send_header("Connection", "close")  # also sets self.close_connection
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), replying nothing."""
        self._latency()
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drops the makefile() reference so close() really closes
        self.connection.close()

    def _drain(self) -> None:
        """Lingering close: swallow what the client still sends so the reply is not reset away."""
        deadline, total = time.monotonic() + 2.0, 0
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            while time.monotonic() < deadline and total < 64 << 20:
                chunk = self.rfile.read1(65536)
                if not chunk:
                    break
                total += len(chunk)
