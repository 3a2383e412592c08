"""The loopback HTTP server every provider plugin extends with its gateway's behaviour.

Gateway emulators power the plugin tests, ``smsgate emulate NAME``, ``smsgate demo`` and the
benchmarks. A plugin subclasses :class:`Emulator`, sets :attr:`Emulator.name`, overrides
:meth:`Emulator.handle` (and :meth:`Emulator.dsn` when the default does not fit) and guards its own
state with :attr:`Emulator.lock`, because ``handle`` runs on many threads at once::

    class AcmeEmulator(Emulator):
        name = "acme"

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sent: dict[str, str] = {}

        def handle(self, request: EmulatorRequest) -> EmulatorReply:
            if request.method == "POST" and request.path == "/v1/send":
                with self.lock:
                    msg_id = f"m{len(self.sent) + 1}"
                    self.sent[msg_id] = request.params().get("to", "")
                return EmulatorReply.json({"id": msg_id, "status": "queued"})
            return super().handle(request)  # 404

    with AcmeEmulator() as emu:  # 127.0.0.1, a free port
        emu.inject(Fault.RESET_BEFORE_REPLY)  # the next send is accepted but never answered
        ...  # point a client at emu.dsn(), then look at emu.sent and emu.requests

The server speaks HTTP/1.1 with keep-alive, serves at most ``max_connections`` connections at
once (further ones wait; idle keep-alive connections are closed while others wait), refuses bodies
over ``max_body`` with 413, logs nothing, and turns an exception in ``handle`` into a 500.
"""

from __future__ import annotations

import contextlib
import enum
import io
import ipaddress
import json as _json
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit

import attrs

__all__ = ["Emulator", "EmulatorReply", "EmulatorRequest", "Fault", "FaultRule"]

_E = TypeVar("_E", bound="Emulator")
_POLL = 0.05  # seconds between checks of the stop flag and of waiting connections
_IDLE_TIMEOUT = 30.0  # an idle keep-alive connection is closed after this long
_FORM = "application/x-www-form-urlencoded"


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
    def text(cls, text: str, status: int = 200, *, encoding: str = "utf-8") -> EmulatorReply:
        return cls(status, text.encode(encoding), f"text/plain; charset={encoding}")

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> EmulatorReply:
        body = _json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, body, "application/json")


class Fault(enum.Enum):
    """A misbehaviour to inject; see :meth:`Emulator.inject`."""

    RESET_BEFORE_REPLY = "reset"  # run the handler, then reset the connection without a reply
    DROP = "drop"  # reset the connection without running the handler
    TIMEOUT_AFTER_ACCEPT = "timeout"  # run the handler, stay silent for `delay` (30 s), close
    SERVER_ERROR = "5xx"  # reply `status` (503) without running the handler
    THROTTLE = "429"  # reply 429 + Retry-After: `retry_after` without running the handler
    MALFORMED = "malformed"  # run the handler, reply 200 with a garbage body
    TRUNCATED = "truncated"  # run the handler, send half of the declared body, close
    SLOW = "slow"  # wait `delay` (0.5 s), then run the handler and reply normally
    PROCESSED_THEN_ERROR = "processed-5xx"  # run the handler, then reply `status` (502): a proxy lost the reply


@attrs.frozen
class FaultRule:
    """A queued fault: applies to the next ``times`` requests whose path starts with ``path``."""

    fault: Fault
    times: int = 1
    path: str | None = None
    status: int = 503
    retry_after: float = 1.0
    delay: float | None = None


class _TooLarge(Exception):
    pass


class _Server(ThreadingHTTPServer):
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
                while not self.slots.acquire(timeout=_POLL):
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


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    @property
    def _srv(self) -> _Server:
        return cast(_Server, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return f"smsgate-emulator/{self._srv.emulator.name}"

    def handle(self) -> None:
        self.close_connection = True
        first = True
        while self._await_request(first):
            first = False
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
            sock.settimeout(_POLL)
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

    def _dispatch(self) -> None:
        srv = self._srv
        emu = srv.emulator
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
        rule = emu._take_fault(request.path)
        fault = rule.fault if rule is not None else None
        if rule is None:
            self._send(emu._call(request))
        elif fault is Fault.DROP:
            self._reset()
        elif fault is Fault.SERVER_ERROR:
            self._send(EmulatorReply.text(f"emulated server error {rule.status}", rule.status))
        elif fault is Fault.THROTTLE:
            seconds = float(rule.retry_after)
            after = f"{seconds:.0f}" if seconds.is_integer() else str(seconds)
            reply = EmulatorReply.text("emulated throttling", 429)
            self._send(attrs.evolve(reply, headers=(("Retry-After", after),)))
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
                self._send(EmulatorReply.text(f"emulated bad gateway {status} after processing", status))
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


class Emulator:
    """Base gateway emulator: a quiet, bounded HTTP/1.1 server on a loopback address."""

    name: ClassVar[str] = "base"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_connections: int = 64,
        max_body: int = 4 << 20,
    ) -> None:
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"emulators bind to loopback only, not {host!r}")
        if max_connections < 1 or max_body < 0 or not 0 <= port <= 65535:
            raise ValueError("max_connections must be >= 1, max_body >= 0, port in 0..65535")
        self._host = "127.0.0.1" if host == "localhost" else host
        self._port = port
        self.max_connections = max_connections
        self.max_body = max_body
        self.lock = threading.RLock()  # guards subclasses' state; handle() runs on many threads
        self.clock: Callable[[], float] = time.time  # subclasses read time through this
        self.requests: list[EmulatorRequest] = []  # every request received, in order
        self.errors: list[BaseException] = []  # exceptions raised by handle()
        self.connections = 0  # connections accepted so far
        self._mutex = threading.Lock()  # our own log and fault queue
        self._faults: list[FaultRule] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- what subclasses override ------------------------------------------------------------

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        """Answer one request; runs on many threads at once. The base knows no route."""
        return EmulatorReply.text(f"no route for {request.method} {request.path}", 404)

    def dsn(self) -> str:
        """The DSN that reaches this emulator."""
        return f"{self.name}://user:secret@{self._netloc()}?tls=false"

    # -- faults and the request log ---------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        *,
        times: int = 1,
        path: str | None = None,
        status: int = 503,
        retry_after: float = 1.0,
        delay: float | None = None,
    ) -> None:
        """Queue a fault for the next ``times`` requests under ``path``; applied in FIFO order."""
        if times < 1:
            raise ValueError("times must be >= 1")
        rule = FaultRule(fault, times, path, status, retry_after, delay)
        with self._mutex:
            self._faults.append(rule)

    def clear_faults(self) -> None:
        with self._mutex:
            self._faults.clear()

    def pending_faults(self) -> tuple[FaultRule, ...]:
        """The queued rules, each with the number of times it still applies."""
        with self._mutex:
            return tuple(self._faults)

    def reset_log(self) -> None:
        """Forget the recorded requests and errors."""
        with self._mutex:
            self.requests.clear()
            self.errors.clear()

    def _take_fault(self, path: str) -> FaultRule | None:
        with self._mutex:
            for i, rule in enumerate(self._faults):
                if rule.path is None or path.startswith(rule.path):
                    if rule.times > 1:
                        self._faults[i] = attrs.evolve(rule, times=rule.times - 1)
                    else:
                        del self._faults[i]
                    return rule
        return None

    def _log(self, item: EmulatorRequest | BaseException | None) -> None:
        with self._mutex:
            if isinstance(item, EmulatorRequest):
                self.requests.append(item)
            elif item is not None:
                self.errors.append(item)
            else:
                self.connections += 1

    def _call(self, request: EmulatorRequest) -> EmulatorReply:
        try:
            reply = self.handle(request)
            if not isinstance(reply, EmulatorReply):
                raise TypeError(f"handle() returned {type(reply).__name__}, not EmulatorReply")
            return reply
        except Exception as exc:
            self._log(exc)
            return EmulatorReply.text(f"emulator error: {type(exc).__name__}: {exc}"[:200], 500)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self: _E) -> _E:  # a TypeVar, not typing.Self (3.11+)
        """Bind and serve on a daemon thread; a no-op when already running."""
        with self._mutex:
            if self._server is not None:
                return self
            cls = _Server6 if ":" in self._host else _Server
            server = cls((self._host, self._port), self, self.max_connections)
            self._server, self._port = server, server.server_address[1]
            self._thread = threading.Thread(target=server.serve_forever, args=(_POLL,), daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and wake held ones; idempotent."""
        with self._mutex:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        if thread is not None:
            thread.join()
        server.server_close()
        with server.active_lock:
            active = list(server.active)
        for sock in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self: _E) -> _E:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- where it listens ---------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The bound port; before :meth:`start` with port 0 there is none yet."""
        if self._port == 0:
            raise RuntimeError("the emulator picks its port in start()")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._netloc()}"

    def _netloc(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"
