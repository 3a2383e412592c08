"""The transport over real loopback HTTP: failure kinds, reply bounds, secrets in urllib3's logs."""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import logging
import re
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.errors import TransportError
from smsgate.models import HttpRequest
from smsgate.redaction import Redactor
from smsgate.transport import Transport, _payload

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


# -- the request's bytes -----------------------------------------------------------------------

_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_names = st.text(_TOKEN_CHARS, min_size=1, max_size=20)
_own = st.sampled_from(["Host", "user-agent", "Accept-Encoding", "USER-AGENT"])  # a plugin may set smsgate's own
_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)
_values = _values.map(str.strip)  # a value's outer spaces are not part of it (RFC 9110 5.5)


def _parse(data: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """A request line, headers and body, read back as a server does (Content-Length framing)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, "no end of the head"
    line, *fields = head.decode("latin-1").split("\r\n")
    headers = [(k, v.strip()) for k, _, v in (f.partition(":") for f in fields)]
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    assert len(body) == length, "the body is not framed by its Content-Length"
    return line, headers, body


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    path=st.text("abcXYZ019-._~%/=&", max_size=30),
    headers=st.lists(st.tuples(_own | _names, _values), max_size=6, unique_by=lambda h: h[0].lower()),
    body=st.binary(max_size=50),
)
def test_a_request_is_written_as_a_server_reads_it(
    method: str, path: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    plugin = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")]
    line, sent, sent_body = _parse(_payload(method, "/" + path, "gw.example:8443", plugin, body))
    assert line == f"{method} /{path} HTTP/1.1"
    assert sent_body == body
    names = [k.lower() for k, _ in plugin]
    for own, value in (("host", "gw.example:8443"), ("accept-encoding", "identity"), ("user-agent", None)):
        found = [v for k, v in sent if k.lower() == own]
        assert len(found) == 1, f"{own} sent {len(found)} times"
        if own in names:  # the plugin's own, never smsgate's
            assert found[0] == next(v for k, v in plugin if k.lower() == own)
        elif value is not None:
            assert found[0] == value
    assert [(k, v) for k, v in sent if k in dict(plugin)] == [(k, v) for k, v in plugin if k in dict(plugin)]
    framed = [v for k, v in sent if k.lower() == "content-length"]
    assert framed == ([str(len(body))] if body or method in ("POST", "PUT") else [])


@settings(max_examples=200, deadline=None)
@given(
    name=_names,
    before=_values,
    bad=st.sampled_from(["\r", "\n", "\r\n", "\x00", "\r\nX-Injected: 1"]),
    after=_values,
)
def test_a_header_value_cannot_end_the_header(name: str, before: str, bad: str, after: str) -> None:
    with pytest.raises(ValueError, match=f"header {re.escape(name)}") as info:
        _payload("POST", "/", "h", [(name, before + bad + after)], b"")
    value = before + bad + after
    assert value not in str(info.value) and repr(value)[1:-1] not in str(info.value), "the value (a secret?) is quoted"


@pytest.mark.parametrize(
    ("method", "target", "headers", "rule"),
    [
        ("POST", "/send", [("Bad Name", "x")], "header name 'Bad Name' is not a token"),
        ("POST", "/send", [("X-Key:", "x")], "is not a token"),
        ("POST", "/send", [("Authorization", "Bearer sécret€")], "header Authorization is not Latin-1"),
        ("POST", "/send?to=1 2", [], "the request target holds a space"),
        ("POST", "/send?p=ü", [], "non-ASCII character at 8"),
        ("GET\r\nX", "/", [], "HTTP method"),
    ],
    ids=["space-in-name", "colon-in-name", "not-latin-1", "space-in-target", "non-ascii-target", "method"],
)
def test_a_malformed_request_is_refused_before_anything_is_written(
    method: str, target: str, headers: list[tuple[str, str]], rule: str
) -> None:
    transport = Transport(connect_timeout=1.0, read_timeout=1.0, backup_hosts=["127.0.0.1:9"])
    with TinyServer(lambda conn, _: _reply(conn)) as server:
        with pytest.raises(TransportError, match=re.escape(rule)) as info:
            transport.send(HttpRequest(method, server.url(target), tuple(headers)))
        time.sleep(0.1)
        assert server.connections == 0, "a connection was opened for a request that cannot go out"
    transport.close()
    assert (info.value.kind, info.value.written) == ("invalid_request", False)
    assert "sécret" not in str(info.value)


def test_a_plugin_chosen_transfer_encoding_frames_the_body_in_chunks() -> None:
    data = _payload("POST", "/", "h", [("Transfer-Encoding", "chunked")], b"hello")
    assert b"Content-Length" not in data and data.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1:80/x", "127.0.0.1"),
        ("https://GW.Example/x", "gw.example"),
        ("https://gw.example:443/x", "gw.example"),
        ("https://gw.example:8443/x", "gw.example:8443"),
        ("http://[::1]:8080/x", "[::1]:8080"),
        ("http://bücher.example/x", "xn--bcher-kva.example"),
    ],
)
def test_the_host_header_names_the_origin(url: str, host: str) -> None:
    transport = Transport()
    pool = transport._origin(url.rsplit("/", 1)[0])
    transport.close()
    assert pool.host == host


def test_a_reply_that_closes_the_connection_is_not_reused() -> None:
    with TinyServer(lambda conn, _: _reply(conn, b"bye", "Connection: close\r\n")) as server:
        transport = Transport(max_connections=1)
        replies = [transport.send(HttpRequest("GET", server.url())).body for _ in range(3)]
        transport.close()
    assert replies == [b"bye"] * 3 and server.connections == 3


def test_a_kept_alive_connection_carries_every_request() -> None:
    with TinyServer(lambda conn, _: _reply(conn, b"ok")) as server:
        transport = Transport(max_connections=1)
        replies = [transport.send(HttpRequest("POST", server.url(), body=b"%d" % i)).body for i in range(5)]
        transport.close()
    assert replies == [b"ok"] * 5 and server.connections == 1


def test_a_reply_without_a_body_is_empty() -> None:
    def no_content(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    with TinyServer(no_content) as server:
        transport = Transport(max_connections=1)
        first, second = (transport.send(HttpRequest("GET", server.url())) for _ in range(2))
        transport.close()
    assert (first.status, first.body, second.status) == (204, b"", 204) and server.connections == 1


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


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "body", "expected"),
    [
        ("gzip", gzip.compress(b"hello"), b"hello"),
        ("x-gzip", gzip.compress(b"hello"), b"hello"),
        ("gzip", gzip.compress(b"hel") + gzip.compress(b"lo"), b"hello"),  # two members
        ("gzip", gzip.compress(b"hello") + b"trailing junk", b"hello"),  # as urllib3: junk ignored
        ("deflate", zlib.compress(b"hello"), b"hello"),  # zlib-wrapped, as RFC 9110 says
        ("deflate", _raw_deflate(b"hello"), b"hello"),  # raw, as some servers send it
        ("gzip, deflate", zlib.compress(gzip.compress(b"hello")), b"hello"),  # undone last first
        ("identity", b"hello", b"hello"),
        ("br", b"\x0b\x02\x80hello\x03", b"\x0b\x02\x80hello\x03"),  # unknown here: left as it is
    ],
    ids=["gzip", "x-gzip", "gzip-members", "gzip-junk", "deflate-zlib", "deflate-raw", "both", "identity", "br"],
)
def test_a_small_compressed_reply_is_decoded(coding: str, body: bytes, expected: bytes) -> None:
    with TinyServer(lambda conn, _: _reply(conn, body, f"Content-Encoding: {coding}\r\n")) as server:
        transport = Transport(max_reply_bytes=5)
        assert transport.send(HttpRequest("GET", server.url())).body == expected
        transport.close()


def test_a_garbled_compressed_reply_is_a_reset_after_writing() -> None:
    with TinyServer(lambda conn, _: _reply(conn, b"not gzip at all", "Content-Encoding: gzip\r\n")) as server:
        transport = Transport()
        with pytest.raises(TransportError) as info:
            transport.send(HttpRequest("GET", server.url()))
        transport.close()
    assert (info.value.kind, info.value.written) == ("reset", True)


class TlsServer(TinyServer):
    """TinyServer behind TLS, with a certificate for 127.0.0.1 from a throwaway CA (trustme)."""

    def __init__(self, handler: Handler, context: ssl.SSLContext) -> None:
        super().__init__(handler)
        self.context = context

    def url(self, path: str = "/send") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def _client(self, conn: socket.socket) -> None:
        try:
            wrapped = self.context.wrap_socket(conn, server_side=True)
        except OSError:  # the client refused the certificate
            conn.close()
            return
        super()._client(wrapped)


def test_tls_is_verified_and_kept_alive(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with TlsServer(lambda conn, _: _reply(conn, b"secure"), context) as server:
        untrusted = Transport(connect_timeout=2.0, read_timeout=2.0)
        with pytest.raises(TransportError) as info:
            untrusted.send(HttpRequest("GET", server.url()))
        untrusted.close()
        assert (info.value.kind, info.value.written) == ("tls", False)
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # OpenSSL's default store, as a user would set it
        trusted = Transport(connect_timeout=2.0, read_timeout=2.0)
        replies = [trusted.send(HttpRequest("POST", server.url(), body=b"x")).body for _ in range(3)]
        trusted.close()
    assert replies == [b"secure"] * 3 and server.connections == 2, "not verified, or not kept alive"


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
        assert "failed to parse headers" in text
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
