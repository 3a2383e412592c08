"""The only code that does network I/O: urllib3 connections, kept alive per origin.

Keep-alive, separate connect and read timeouts, TLS verified by default (urllib3's own
``HTTPSConnection``), and a cap on concurrent connections per origin (a caller waits for a free
connection rather than opening one more). There are no retries or redirects here: the core
decides on resends. The connection is opened before the request is written, so a failure is
known to be before (``written=False``: connect, TLS) or after (``written=True``: the gateway
may have the request); failures become :class:`~smsgate.errors.TransportError`.

The connections are urllib3's; the pool is this module's (:class:`_Origin`, a dozen lines): a
gateway needs one origin, one request shape and no proxy, and a ``PoolManager`` spends more on
each request (URL parsing, pool keys, retries bookkeeping) than smsgate spends planning it.

Replies are bounded: read in chunks, at most ``max_reply_bytes`` after decompression (1 MiB by
default), and within ``attempt_timeout`` seconds from the start of the attempt to the reply's last
byte (default ``connect_timeout + read_timeout``), however slowly the gateway trickles it: a
watchdog thread shuts the attempt's socket down at the deadline. Either limit raises a
``TransportError`` (kind ``reply_too_large`` or ``deadline``, ``written=True``) and the
connection is closed, never returned half-read to the pool.

Secrets: urllib3 logs request URLs (RouteSMS puts the password in the query). Every ``urllib3*``
and ``smsgate*`` logger carries :data:`smsgate.redaction.FILTER`; the transport re-attaches it
before each request to loggers created since (a filter on a parent logger does not see its
children's records).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import os
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import urllib3
from urllib3 import exceptions as x
from urllib3.connection import HTTPConnection, HTTPSConnection

from smsgate.errors import TransportError
from smsgate.models import HttpRequest, HttpResponse
from smsgate.redaction import Redactor, guard_loggers

log = logging.getLogger("smsgate.transport")

_USER_AGENT = "smsgate/0.1 (+urllib3)"
_CHUNK = 16384  # bytes per read; urllib3 < 2.6 may inflate one compressed chunk ~1000 times
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
    if isinstance(exc, (TimeoutError, x.ReadTimeoutError)):
        return "timeout"
    if isinstance(exc, (OSError, HTTPException, x.ProtocolError, x.IncompleteRead, x.DecodeError)):
        return "reset"
    return "network"


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
            if error.written or not self.backup_hosts:
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
        attempt = _Attempt(time.monotonic() + self.attempt_timeout)
        _WATCHDOG.watch(attempt)
        conn = pool.take()
        reuse = False
        try:
            self._connect(conn, url, attempt)
            headers = dict(request.headers)
            if not any(k.lower() == "user-agent" for k in headers):  # a plugin may send its own
                headers["User-Agent"] = _USER_AGENT
            log.debug("smsgate: %s %s", request.method, url)
            try:
                conn.request(request.method, target, body=request.body or None, headers=headers, preload_content=False)
                conn.timeout = self.read_timeout
                reply = conn.getresponse()
            except (x.HTTPError, HTTPException, OSError) as exc:
                raise self._error(url, exc, attempt, written=True) from None
            body = self._read(reply, url, attempt)
            reuse = True
            return HttpResponse(reply.status, body, tuple(reply.headers.iteritems()))
        finally:
            attempt.finish()
            pool.give(conn, reuse=reuse)

    def _connect(self, conn: HTTPConnection, url: str, attempt: _Attempt) -> None:
        """Open ``conn`` unless it is kept alive, and watch its socket; nothing is written yet."""
        conn.timeout = self.connect_timeout  # also bounds writing the request, as in urllib3's pool
        if conn.sock is None:
            try:
                conn.connect()
            except (x.HTTPError, OSError, ValueError) as exc:
                raise self._error(url, exc, attempt, written=False) from None
        attempt.bind(conn.sock)  # cut at once if the deadline has already passed

    def _read(self, reply: urllib3.BaseHTTPResponse, url: str, attempt: _Attempt) -> bytes:
        """The whole (decoded) body, or ``TransportError`` past the size cap or the deadline."""
        declared = reply.headers.get("Content-Length", "")
        plain = reply.headers.get("Content-Encoding", "identity").strip().lower() in ("", "identity")
        known = plain and declared.isdigit() and "Transfer-Encoding" not in reply.headers  # a length that holds
        if known and int(declared) > self.max_reply_bytes:
            raise self._too_large(url)
        try:
            if known:  # within the cap: one read
                body: bytes = reply.read()
            else:
                body = self._read_bounded(reply, url)
        except (x.HTTPError, HTTPException, OSError) as exc:
            raise self._error(url, exc, attempt, written=True) from None
        if attempt.expired:  # a read-until-close body cut short by the watchdog looks complete
            raise self._deadline(url, written=True)
        return body

    def _read_bounded(self, reply: urllib3.BaseHTTPResponse, url: str) -> bytes:
        """A body of unknown or compressed length, read in chunks and cut at the cap."""
        chunks: list[bytes] = []
        size = 0
        while chunk := reply.read(_CHUNK):
            size += len(chunk)
            if size > self.max_reply_bytes:
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
