"""The transport over real loopback HTTP: failure kinds, reply bounds, secrets in urllib3's logs."""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import logging
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from urllib.parse import quote, quote_plus

import pytest

from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.errors import TransportError
from smsgate.models import HttpRequest
from smsgate.redaction import Redactor
from smsgate.transport import Transport

Handler = Callable[[socket.socket, bytes], None]


class TinyServer:
    """A loopback socket server: reads each request's head and body, then calls ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)  # so that the accept loop notices the stop flag
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TinyServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def url(self, path: str = "/send") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self.connections += 1
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    if not (data := conn.recv(65536)):
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next((int(v) for k, v in _headers(head) if k == "content-length"), 0)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                self.handler(conn, head + b"\r\n\r\n" + body)


def _headers(head: bytes) -> Iterator[tuple[str, str]]:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            yield key.strip().lower(), value.strip()


def _reply(conn: socket.socket, body: bytes = b"ok", extra: str = "") -> None:
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body)


def _reset(conn: socket.socket, _: bytes) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@pytest.fixture
def transport() -> Iterator[Transport]:
    t = Transport(connect_timeout=1.0, read_timeout=1.0, max_connections=1, provider="test")
    yield t
    t.close()


# -- failure kinds -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_connection_is_connect_not_connect_timeout(transport: Transport) -> None:
    with pytest.raises(TransportError) as info:
        transport.send(HttpRequest("GET", f"http://127.0.0.1:{_free_port()}/x"))
    assert (info.value.kind, info.value.written) == ("connect", False)


def test_connect_timeout_is_connect_timeout() -> None:
    """A listener whose accept queue is full drops SYNs: a real connect timeout on loopback."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):  # fill the accept queue (never accepted)
            filler = socket.socket()
            filler.settimeout(0.2)
            try:
                filler.connect(("127.0.0.1", port))
            except OSError:
                filler.close()
                break
            fillers.append(filler)
        else:
            pytest.skip("this kernel does not drop connections to a full accept queue")
        t = Transport(connect_timeout=0.3, read_timeout=1.0)
        with pytest.raises(TransportError) as info:
            t.send(HttpRequest("GET", f"http://127.0.0.1:{port}/x"))
        t.close()
        assert (info.value.kind, info.value.written) == ("connect_timeout", False)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# -- reply bounds ------------------------------------------------------------------------------


def _trickle(head: bytes, body: bytes, every: float = 0.05) -> Handler:
    def handler(conn: socket.socket, _: bytes) -> None:
        conn.sendall(head)
        for i in range(len(body)):
            conn.sendall(body[i : i + 1])
            time.sleep(every)

    return handler


@pytest.mark.parametrize(
    ("head", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n", b"x" * 400),  # declared length
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"x" * 400),  # read until close
        (b"", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 400),  # the status line and headers trickle
    ],
    ids=["body", "until-close", "headers"],
)
def test_a_trickled_reply_ends_at_the_attempt_deadline(head: bytes, body: bytes) -> None:
    transport = Transport(connect_timeout=1.0, read_timeout=1.0, attempt_timeout=0.6)
    with TinyServer(_trickle(head, body)) as server:
        started = time.monotonic()
        with pytest.raises(TransportError) as info:
            transport.send(HttpRequest("POST", server.url(), body=b"to=1"))
        elapsed = time.monotonic() - started
    transport.close()
    assert (info.value.kind, info.value.written) == ("deadline", True)
    assert "attempt_timeout" in str(info.value) and 0.5 < elapsed < 2.0


def test_attempt_timeout_defaults_to_connect_plus_read() -> None:
    assert Transport(connect_timeout=2.0, read_timeout=3.0).attempt_timeout == 5.0


def _big(conn: socket.socket, _: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n")
    with contextlib.suppress(OSError):
        for _chunk in range(800):
            conn.sendall(b"\0" * 65536)


def _chunks(extra: bytes) -> Handler:
    """50 MiB in chunks, with ``extra`` header lines."""

    def handler(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + extra + b"Transfer-Encoding: chunked\r\n\r\n")
        with contextlib.suppress(OSError):
            for _chunk in range(800):
                conn.sendall(b"10000\r\n" + b"\0" * 65536 + b"\r\n")
            conn.sendall(b"0\r\n\r\n")

    return handler


_chunked = _chunks(b"")
_chunked_claiming_a_length = _chunks(b"Content-Length: 4\r\n")  # the chunks decide the size (RFC 9112 6.3)


def _gzip_bomb(conn: socket.socket, _: bytes) -> None:
    """50 MiB of zeros in about 50 KiB of gzip."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip container
    zeros = bytes(1 << 20)
    bomb = b"".join(packer.compress(zeros) for _ in range(50)) + packer.flush()
    _reply(conn, bomb, "Content-Encoding: gzip\r\n")


@pytest.mark.parametrize(
    "handler",
    [_big, _chunked, _chunked_claiming_a_length, _gzip_bomb],
    ids=["declared", "chunked", "chunked-with-a-length", "gzip"],
)
def test_a_huge_reply_is_cut_at_max_reply_bytes(handler: Handler) -> None:
    transport = Transport(connect_timeout=1.0, read_timeout=2.0, max_connections=1, max_reply_bytes=1 << 20)
    with TinyServer(handler) as server:
        with pytest.raises(TransportError) as info:
            transport.send(HttpRequest("GET", server.url()))
        assert (info.value.kind, info.value.written) == ("reply_too_large", True)
        assert "max_reply_bytes" in str(info.value)
        server.handler = lambda conn, _: _reply(conn, b"fine")
        reply = transport.send(HttpRequest("GET", server.url()))  # the one pool slot was given back
    transport.close()
    assert reply.body == b"fine" and server.connections == 2, "the half-read connection was not reused"


def test_a_small_gzip_reply_is_decoded() -> None:
    with TinyServer(lambda conn, _: _reply(conn, gzip.compress(b"hello"), "Content-Encoding: gzip\r\n")) as server:
        transport = Transport(max_reply_bytes=5)
        assert transport.send(HttpRequest("GET", server.url())).body == b"hello"
        transport.close()


def test_keep_alive_survives_the_deadline_of_an_earlier_attempt(emulator: OutboxEmulator) -> None:
    """A finished attempt's deadline must not cut the pooled connection it used."""
    transport = Transport(connect_timeout=0.2, read_timeout=0.2, attempt_timeout=0.3, max_connections=1)
    url = f"{emulator.base_url}/v1/balance"
    headers = (("Authorization", f"Bearer {emulator.password}"),)
    first = transport.send(HttpRequest("GET", url, headers))
    time.sleep(0.5)
    second = transport.send(HttpRequest("GET", url, headers))
    transport.close()
    assert first.status == second.status and emulator.connections == 1


def test_transport_rejects_bad_bounds() -> None:
    with pytest.raises(ValueError, match="max_reply_bytes"):
        Transport(max_reply_bytes=0)
    with pytest.raises(ValueError, match="attempt_timeout"):
        Transport(attempt_timeout=-1)


# -- secrets in urllib3's own log lines ----------------------------------------------------------

SECRET = "Pä55 wörd/+1"
USER = "acme"


def _spellings(secret: str) -> list[str]:
    out = [secret]
    for encoding in ("utf-8", "latin-1"):
        data = secret.encode(encoding)
        out += [quote(data, safe=""), quote_plus(data), quote(data), data.hex(), data.hex().upper()]
        out += [quote(data, safe="").lower(), base64.b64encode(data).decode()]
    return out


@pytest.fixture
def root_log() -> Iterator[io.StringIO]:
    """What ``logging.basicConfig(level=DEBUG)`` would print: a handler on the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old)


def _bad_headers(conn: socket.socket, _: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nno colon here\r\n\r\nok")


@pytest.mark.parametrize("handler", [_reset, _bad_headers], ids=["reset", "bad-headers"])
def test_no_secret_reaches_the_log_lines_of_a_request(root_log: io.StringIO, handler: Handler) -> None:
    redactor = Redactor([SECRET], users=[USER])
    transport = Transport(read_timeout=1.0, provider="routesms", redactor=redactor)
    with TinyServer(handler) as server:
        request = HttpRequest.get(server.url(), [("username", USER), ("password", SECRET)], encoding="latin-1")
        with contextlib.suppress(TransportError):
            transport.send(request)
    transport.close()
    text = root_log.getvalue()
    assert "/send?username=acme" in text, "no log line names the URL: the test proves nothing"
    if handler is _bad_headers:
        assert "Failed to parse headers" in text
    assert not [s for s in _spellings(SECRET) if s in text], text


def test_a_urllib3_logger_created_later_is_guarded(root_log: io.StringIO, emulator: OutboxEmulator) -> None:
    redactor = Redactor([SECRET])
    transport = Transport(redactor=redactor)
    late = logging.getLogger("urllib3.contrib.smsgate_test_late")
    transport.send(HttpRequest("GET", f"{emulator.base_url}/v1/balance"))
    late.warning("GET %s", "/send?password=" + quote_plus(SECRET.encode("latin-1")))
    transport.close()
    text = root_log.getvalue()
    assert "password=***" in text and not [s for s in _spellings(SECRET) if s in text]
