"""The only code that does network I/O: HTTP/1.1 over urllib3 connections, kept alive per origin.

Keep-alive, separate connect and read timeouts, TLS verified by default (urllib3's own
``HTTPSConnection``), and a cap on concurrent connections per origin (a caller waits for a free
connection rather than opening one more). There are no retries or redirects here: the core
decides on resends. The connection is opened before the request is written, so a failure is
known to be before (``written=False``: connect, TLS) or after (``written=True``: the gateway
may have the request); failures become :class:`~smsgate.errors.TransportError`.

urllib3 opens the connections (sockets, TLS, certificate checks); this module writes each request
in one ``sendall`` and reads the reply with the standard library's ``http.client.HTTPResponse``,
the parser urllib3 itself wraps. A gateway needs one origin, one request shape and no proxy:
urllib3's request and response layers (header dictionaries, decoders, retry bookkeeping) cost
more per request than smsgate spends planning the message. The pool is :class:`_Origin`.

Requests are checked before anything is written: a header name must be a token, no value may hold
CR, LF or NUL, the target no space, control or non-ASCII character (:func:`_payload`); a bad one is
a ``TransportError`` of kind ``invalid_request``, ``written=False``, naming the rule (never the
value: it may be a secret), which the core settles as refused without a resend.

Replies are bounded: at most ``max_reply_bytes`` on the wire and after decompression (1 MiB by
default; ``gzip`` and ``deflate`` are decoded, within the cap), and within ``attempt_timeout``
seconds from the start of the attempt to the reply's last byte (default ``connect_timeout +
read_timeout``), however slowly the gateway trickles it: a watchdog thread shuts the attempt's
socket down at the deadline. Either limit raises a ``TransportError`` (kind ``reply_too_large``
or ``deadline``, ``written=True``) and the connection is closed, never returned half-read.

Secrets: urllib3 logs request URLs (RouteSMS puts the password in the query), and so does this
module at DEBUG. Every ``urllib3*`` and ``smsgate*`` logger carries
:data:`smsgate.redaction.FILTER`; the transport re-attaches it before each request to loggers
created since (a filter on a parent logger does not see its children's records).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import os
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Sequence
from email.errors import MultipartInvariantViolationDefect, StartBoundaryNotFoundDefect
from http.client import HTTPException, HTTPResponse
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from urllib3 import exceptions as x
from urllib3.connection import HTTPConnection, HTTPSConnection

from smsgate.errors import TransportError
from smsgate.models import HttpRequest, HttpResponse
from smsgate.redaction import Redactor, guard_loggers

log = logging.getLogger("smsgate.transport")

_USER_AGENT = "smsgate/0.1 (+urllib3)"
_CHUNK = 16384  # bytes per read of a reply of unknown length
DEFAULT_MAX_REPLY_BYTES = 1 << 20
_ORIGINS = 8  # origins kept per transport: the endpoint and its backup hosts


def _connect_failure(exc: BaseException) -> str:
    """The kind of a failure to open a connection (nothing was written)."""
    if isinstance(exc, x.NewConnectionError):  # a refused or unreachable port, a failed DNS lookup
        return "connect"
    if isinstance(exc, (x.ConnectTimeoutError, TimeoutError)):  # NewConnectionError subclasses it
        return "connect_timeout"
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError, x.SSLError)):
        return "tls"
    return "connect"


def _exchange_failure(exc: BaseException) -> str:
    """The kind of a failure once the request started going out (it may have been taken)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, (OSError, HTTPException, zlib.error)):  # a cut connection, a garbled reply
        return "reset"
    return "network"


# -- the request's bytes -----------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a method or header name (RFC 9110 5.6.2)
_BAD_VALUE = re.compile(r"[\r\n\x00]")  # would end the header or the head early: injection
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")  # a space, a control or a non-ASCII character
_BODY_EXPECTED = frozenset({"POST", "PUT", "PATCH"})  # an empty body is sent as Content-Length: 0


def _payload(method: str, target: str, host: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    """The whole request, head and body, as urllib3 would frame it: ``Host``,
    ``Accept-Encoding: identity``, the framing, the plugin's headers, then smsgate's
    ``User-Agent``; a header the plugin sets itself is not added. A ``ValueError`` names what is
    malformed, and nothing is written (values are never quoted: they may be secrets)."""
    if _TOKEN.fullmatch(method) is None:
        raise ValueError(f"HTTP method {method!r} is not a token (RFC 9110)")
    if (bad := _BAD_TARGET.search(target)) is not None:
        raise ValueError(f"the request target holds a space, control or non-ASCII character at {bad.start()}")
    names = set()
    lines = []
    for name, value in headers:
        if _TOKEN.fullmatch(name) is None:
            raise ValueError(f"header name {name!r} is not a token (RFC 9110)")
        if _BAD_VALUE.search(value) is not None:
            raise ValueError(f"the value of header {name} holds CR, LF or NUL")
        names.add(name.lower())
        lines.append(f"{name}: {value}\r\n")
    chunked = False
    framing = ""
    if "content-length" not in names:
        if "transfer-encoding" in names:
            chunked = True
        elif body or method in _BODY_EXPECTED:
            framing = f"Content-Length: {len(body)}\r\n"
    head = "".join(
        (
            f"{method} {target} HTTP/1.1\r\n",
            "" if "host" in names else f"Host: {host}\r\n",
            "" if "accept-encoding" in names else "Accept-Encoding: identity\r\n",
            framing,
            *lines,
            "" if "user-agent" in names else f"User-Agent: {_USER_AGENT}\r\n",
            "\r\n",
        )
    )
    try:
        data = head.encode("latin-1")
    except UnicodeEncodeError:  # names, method and target are ASCII by now: a value is not
        name = next(n for n, v in headers if max(v, default="") > "\xff")
        raise ValueError(f"the value of header {name} is not Latin-1 (encode it, e.g. RFC 8187)") from None
    if chunked:
        return data + (b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n")
    return data + body


def _host_header(scheme: str, host: str, port: int | None) -> str:
    """``Host`` as http.client writes it: IDNA, IPv6 in brackets, the port unless the default."""
    try:
        name = host.encode("ascii").decode()
    except UnicodeEncodeError:
        name = host.encode("idna").decode()
    if ":" in name:
        name = f"[{name.partition('%')[0]}]"
    default = 443 if scheme == "https" else 80
    return name if port is None or port == default else f"{name}:{port}"


# -- the reply ---------------------------------------------------------------------------------

_IGNORED_DEFECTS = (StartBoundaryNotFoundDefect, MultipartInvariantViolationDefect)  # as urllib3


def _header_trouble(reply: HTTPResponse) -> str | None:
    """What went wrong parsing the reply's headers, as urllib3's ``assert_header_parsing``."""
    msg = reply.msg
    defects = [d for d in msg.defects if not isinstance(d, _IGNORED_DEFECTS)]
    unparsed = None if msg.is_multipart() else msg.get_payload()
    if defects or unparsed:
        return f"{defects!r}, unparsed data: {unparsed!r}"
    return None


class _TooLarge(Exception):
    """A reply past ``max_reply_bytes``."""


def _wire_cap(cap: int) -> int:
    """The most bytes a body inflating to ``cap`` may take compressed (stored blocks and
    headers make an incompressible body a little larger)."""
    return cap + (cap >> 10) + 1024


def _inflate(data: bytes, codings: str, cap: int) -> bytes:
    """``data`` decoded by its ``Content-Encoding`` (codings undone last first): ``gzip`` and
    ``deflate``, at most ``cap`` bytes (:class:`_TooLarge`); an unknown coding leaves the body
    as it is, as urllib3 does."""
    steps = [c.strip() for c in reversed(codings.lower().split(",")) if c.strip() not in ("", "identity")]
    for i, coding in enumerate(steps):
        bound = cap if i == len(steps) - 1 else _wire_cap(cap)  # a step between is still compressed
        if coding in ("gzip", "x-gzip"):
            data = _unzip(data, 16 + zlib.MAX_WBITS, bound, members=True)
        elif coding == "deflate":  # zlib-wrapped as the RFC says, or raw as some servers send it
            try:
                data = _unzip(data, zlib.MAX_WBITS, bound, members=False)
            except zlib.error:
                data = _unzip(data, -zlib.MAX_WBITS, bound, members=False)
        else:
            return data
    return data


def _unzip(data: bytes, wbits: int, cap: int, *, members: bool) -> bytes:
    """One zlib stream (or, for gzip, every member in turn), inflated to at most ``cap`` bytes;
    garbage after a complete gzip member is ignored, as urllib3 does."""
    out: list[bytes] = []
    size = 0
    first = True
    while True:
        unzip = zlib.decompressobj(wbits)
        try:
            chunk = unzip.decompress(data, cap + 1 - size)  # the bound: a bomb stops at cap + 1
        except zlib.error:
            if first:
                raise
            break
        size += len(chunk)
        if size > cap:
            raise _TooLarge
        out.append(chunk)
        data, first = unzip.unused_data, False
        if not (members and unzip.eof and data):
            break
    return b"".join(out)


# -- the per-attempt deadline ------------------------------------------------------------------


class _Attempt:
    """One attempt's deadline and the socket it uses (bound once the request starts)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.early = False  # expired before the request was written
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._done = False

    def bind(self, sock: Any) -> None:
        """Watch ``sock`` (a connection's socket, TLS or not); cut it now if already late."""
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            if self._done:
                return
            self._sock = sock
            if self.expired:
                self.early = True
                _shutdown(sock)

    def expire(self) -> None:
        """Called by the watchdog: cut the socket so a blocked read returns at once."""
        with self._lock:
            if self._done:
                return
            self.expired = True
            if self._sock is not None:
                _shutdown(self._sock)

    def finish(self) -> None:
        """The attempt is over; from now on its socket is left alone (it may be pooled)."""
        with self._lock:
            self._done = True
            self._sock = None

    @property
    def done(self) -> bool:
        return self._done


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the raw socket, under TLS too


class _Watchdog:
    """One daemon thread that expires attempts whose deadline has passed."""

    def __init__(self) -> None:
        self._seq = itertools.count()
        self.reset()

    def reset(self) -> None:
        """A fresh lock, queue and thread (also in a forked child: the parent's do not carry over)."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Attempt]] = []
        self._thread: threading.Thread | None = None
        self._until = math.inf  # the deadline the thread sleeps until

    def watch(self, attempt: _Attempt) -> None:
        with self._lock:  # the condition's lock: notify() below is the only slow call, and rare
            heap = self._heap
            while heap and heap[0][2].done:  # attempts over before their deadline: memory stays flat
                heapq.heappop(heap)
            heapq.heappush(heap, (attempt.deadline, next(self._seq), attempt))
            if self._thread is None:  # first use, or after fork (reset)
                self._thread = threading.Thread(target=self._run, name="smsgate-deadlines", daemon=True)
                self._thread.start()
            if attempt.deadline < self._until:  # wake the thread only when it would sleep past this one
                self._cond.notify()

    def _next(self) -> _Attempt:
        with self._cond:
            while True:
                if not self._heap:
                    self._until = math.inf
                    self._cond.wait()
                    continue
                self._until = self._heap[0][0]
                wait = self._until - time.monotonic()
                if wait <= 0:
                    self._until = math.inf  # awake: the next watch() need not notify
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(wait)

    def _run(self) -> None:
        while True:
            self._next().expire()


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WATCHDOG.reset)


class _Origin:
    """Kept-alive connections to one ``scheme://host:port``: at most ``size`` in use at once (a
    caller waits for a free one), the idle ones reused newest first."""

    def __init__(self, scheme: str, host: str, port: int | None, size: int, connect_timeout: float) -> None:
        self._tls = scheme == "https"
        self._address = (host, port, connect_timeout)
        self.host = _host_header(scheme, host, port)
        self._size = size
        self._busy = 0
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)  # waited on only when all are busy
        self._idle: list[HTTPConnection] = []
        self.closed = False

    def take(self) -> HTTPConnection:
        with self._lock:
            while self._busy >= self._size:
                self._freed.wait()
            self._busy += 1
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            return self._new()
        if not conn.is_connected:  # the gateway closed it while it was idle: connect again
            conn.close()
        return conn

    def _new(self) -> HTTPConnection:
        host, port, timeout = self._address
        if self._tls:
            return HTTPSConnection(host, port, timeout=timeout, cert_reqs="CERT_REQUIRED")
        return HTTPConnection(host, port, timeout=timeout)

    def give(self, conn: HTTPConnection, *, reuse: bool) -> None:
        """Hand a connection back; one whose reply was not read to the end is closed."""
        if not reuse or self.closed:
            conn.close()
        with self._lock:
            if reuse and not self.closed:
                self._idle.append(conn)
            self._busy -= 1
            if self._busy == self._size - 1:  # it was full: someone may be waiting
                self._freed.notify()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _split(url: str) -> tuple[str, str]:
    """``(origin, target)``: ``http://host:port`` and ``/path?query`` (no fragment)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if found != -1 and found < end:
            end = found
    target = rest[end:].partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    return f"{scheme.lower()}://{rest[:end]}", target


# -- the transport -----------------------------------------------------------------------------


class Transport:
    """Sends ``HttpRequest`` values; one instance per gateway.

    ``max_reply_bytes`` caps a reply after decompression; ``attempt_timeout`` (default
    ``connect_timeout + read_timeout``) caps one attempt end to end. ``redactor`` holds the
    gateway's secrets, kept alive (and so scrubbed from every log record) while the transport is.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 4,
        backup_hosts: Sequence[str] = (),
        provider: str | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        attempt_timeout: float | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        if max_reply_bytes < 1:
            raise ValueError("max_reply_bytes must be >= 1")
        if attempt_timeout is not None and not attempt_timeout > 0:
            raise ValueError("attempt_timeout must be > 0")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.attempt_timeout = attempt_timeout if attempt_timeout is not None else connect_timeout + read_timeout
        self.max_reply_bytes = max_reply_bytes
        self.max_connections = max(1, max_connections)
        self.backup_hosts = tuple(backup_hosts)
        self.provider = provider
        self.redactor = redactor
        self._origins: dict[str, _Origin] = {}
        self._origins_lock = threading.Lock()
        guard_loggers()

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; on a refused connection try each backup host in turn."""
        guard_loggers()
        try:
            return self._send(request.url, request)
        except TransportError as error:
            if error.written or not self.backup_hosts or error.kind == "invalid_request":
                raise
            last = error
        for host in self.backup_hosts:
            parts = urlsplit(request.url)
            url = urlunsplit(parts._replace(netloc=host))
            log.info("smsgate: %s refused the connection, trying backup host %s", parts.hostname, host)
            try:
                return self._send(url, request)
            except TransportError as error:
                if error.written:
                    raise
                last = error
        raise last

    def _origin(self, origin: str) -> _Origin:
        """The connections to ``origin``, made on first use (at most a few origins are kept)."""
        with self._origins_lock:
            found = self._origins.get(origin)
            if found is None:
                if len(self._origins) >= _ORIGINS:  # the oldest goes (a backup host no longer used)
                    self._origins.pop(next(iter(self._origins))).close()
                parts = urlsplit(origin)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise ValueError(f"not an http(s) URL: {origin!r}")
                found = _Origin(parts.scheme, parts.hostname, parts.port, self.max_connections, self.connect_timeout)
                self._origins[origin] = found
            return found

    def _send(self, url: str, request: HttpRequest) -> HttpResponse:
        """One attempt under the deadline: connect, write, read the bounded reply, release."""
        origin, target = _split(url)
        pool = self._origins.get(origin) or self._origin(origin)
        try:
            payload = _payload(request.method, target, pool.host, request.headers, request.body)
        except ValueError as exc:  # a plugin built it: resending it cannot help
            raise TransportError(
                f"malformed request, not sent: {exc}", kind="invalid_request", written=False, provider=self.provider
            ) from None
        attempt = _Attempt(time.monotonic() + self.attempt_timeout)
        _WATCHDOG.watch(attempt)
        conn = pool.take()
        reuse = False
        try:
            sock = self._connect(conn, url, attempt)
            log.debug("smsgate: %s %s", request.method, url)
            try:
                sock.sendall(payload)
                sock.settimeout(self.read_timeout)
                reply = HTTPResponse(sock, method=request.method)
                try:
                    reply.begin()
                    body = self._read(reply, url)
                finally:
                    reply.close()
            except (HTTPException, OSError, zlib.error) as exc:
                raise self._error(url, exc, attempt, written=True) from None
            if attempt.expired:  # a read-until-close body cut short by the watchdog looks complete
                raise self._deadline(url, written=True)
            reuse = not reply.will_close
            return HttpResponse(reply.status, body, tuple(reply.getheaders()))
        finally:
            attempt.finish()
            pool.give(conn, reuse=reuse)

    def _connect(self, conn: HTTPConnection, url: str, attempt: _Attempt) -> socket.socket:
        """Open ``conn`` unless it is kept alive, and watch its socket; nothing is written yet."""
        sock = conn.sock
        if sock is None:
            conn.timeout = self.connect_timeout
            try:
                conn.connect()
            except (x.HTTPError, OSError, ValueError) as exc:
                raise self._error(url, exc, attempt, written=False) from None
            sock = conn.sock
        else:
            sock.settimeout(self.connect_timeout)  # also bounds writing the request, as in urllib3's pool
        attempt.bind(sock)  # cut at once if the deadline has already passed
        return sock

    def _read(self, reply: HTTPResponse, url: str) -> bytes:
        """The whole (decoded) body, or ``TransportError`` past the size cap."""
        trouble = _header_trouble(reply)
        if trouble is not None:
            log.warning("smsgate: failed to parse headers of the reply from %s: %s", url, trouble)
        cap = self.max_reply_bytes
        codings = reply.getheader("Content-Encoding")
        wire = _wire_cap(cap) if codings else cap
        length = reply.length  # declared and not chunked (http.client ignores it under chunked framing)
        if length is not None and length > wire:
            raise self._too_large(url)
        body = reply.read() if length is not None else self._read_bounded(reply, url, wire)
        if codings:
            try:
                body = _inflate(body, codings, cap)
            except _TooLarge:
                raise self._too_large(url) from None
        return body

    def _read_bounded(self, reply: HTTPResponse, url: str, cap: int) -> bytes:
        """A body of unknown length (chunked, or until the gateway closes), cut at ``cap``."""
        chunks: list[bytes] = []
        size = 0
        while chunk := reply.read(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise self._too_large(url)
            chunks.append(chunk)
        return b"".join(chunks)

    def _error(self, url: str, exc: BaseException, attempt: _Attempt, *, written: bool) -> TransportError:
        if attempt.expired:
            return self._deadline(url, written=written and not attempt.early)
        kind = _exchange_failure(exc) if written else _connect_failure(exc)
        return TransportError(
            f"{kind} error talking to {urlsplit(url).hostname}: {type(exc).__name__}",
            kind=kind,
            written=written,
            provider=self.provider,
        )

    def _deadline(self, url: str, *, written: bool) -> TransportError:
        return TransportError(
            f"no complete reply from {urlsplit(url).hostname} within the attempt deadline "
            f"({self.attempt_timeout:g} s, attempt_timeout); the gateway may have the request",
            kind="deadline",
            written=written,
            provider=self.provider,
        )

    def _too_large(self, url: str) -> TransportError:
        return TransportError(
            f"the reply from {urlsplit(url).hostname} exceeds {self.max_reply_bytes} bytes "
            "(max_reply_bytes); the gateway may have the request",
            kind="reply_too_large",
            written=True,
            provider=self.provider,
        )

    def close(self) -> None:
        with self._origins_lock:
            for origin in self._origins.values():
                origin.close()
            self._origins.clear()
