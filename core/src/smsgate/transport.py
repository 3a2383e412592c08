"""The only code that does network I/O: one urllib3 ``PoolManager`` per gateway.

Keep-alive, separate connect and read timeouts, TLS verified by default, and a cap on
concurrent connections (``block=True``: a caller waits for a free connection rather than
opening one more). urllib3's own retries and redirects are off: the core decides on resends.
Failures become :class:`~smsgate.errors.TransportError` with ``written`` telling whether the
request may have reached the gateway.

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
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import urllib3
from urllib3 import exceptions as x
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from smsgate.errors import TransportError
from smsgate.models import HttpRequest, HttpResponse
from smsgate.redaction import Redactor, guard_loggers

log = logging.getLogger("smsgate.transport")

_USER_AGENT = "smsgate/0.1 (+urllib3)"
_CHUNK = 16384  # bytes per read; urllib3 < 2.6 may inflate one compressed chunk ~1000 times
DEFAULT_MAX_REPLY_BYTES = 1 << 20


def _classify(exc: BaseException) -> tuple[str, bool]:
    """``(kind, written)`` for a urllib3 failure.

    Order matters: in urllib3 2.x ``NewConnectionError`` (a refused or unreachable port, a
    failed DNS lookup) subclasses ``ConnectTimeoutError``.
    """
    if isinstance(exc, x.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, x.NewConnectionError):
        return ("connect", False)
    if isinstance(exc, x.ConnectTimeoutError):
        return ("connect_timeout", False)
    if isinstance(exc, x.SSLError):
        return ("tls", False)
    if isinstance(exc, x.EmptyPoolError):
        return ("pool", False)
    if isinstance(exc, x.ReadTimeoutError):
        return ("timeout", True)
    if isinstance(exc, (x.ProtocolError, x.IncompleteRead, x.DecodeError)):
        return ("reset", True)
    return ("network", True)


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
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Attempt]] = []
        self._thread: threading.Thread | None = None
        self._until = math.inf  # the deadline the thread sleeps until

    def watch(self, attempt: _Attempt) -> None:
        with self._cond:
            heap = self._heap
            while heap and heap[0][2].done:  # attempts over before their deadline: memory stays flat
                heapq.heappop(heap)
            heapq.heappush(heap, (attempt.deadline, next(self._seq), attempt))
            if self._thread is None or not self._thread.is_alive():  # first use, or after fork
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
_current = threading.local()


def _bind(conn: Any) -> None:
    attempt: _Attempt | None = getattr(_current, "attempt", None)
    if attempt is not None:
        attempt.bind(getattr(conn, "sock", None))


class _DeadlineMixin:
    """Hands the connection's socket to the calling thread's current attempt: when a request
    starts on a kept-alive connection, and when a new connection connects."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _bind(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _bind(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _Connection(_DeadlineMixin, HTTPConnection):
    pass


class _TlsConnection(_DeadlineMixin, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TlsPool(HTTPSConnectionPool):
    ConnectionCls = _TlsConnection


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
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.attempt_timeout = attempt_timeout if attempt_timeout is not None else connect_timeout + read_timeout
        self.max_reply_bytes = max_reply_bytes
        self.max_connections = max(1, max_connections)
        self.backup_hosts = tuple(backup_hosts)
        self.provider = provider
        self.redactor = redactor
        self.pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=self.max_connections,
            block=True,
            timeout=self.timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            headers={"User-Agent": _USER_AGENT},
        )
        self.pool.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}
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

    def _send(self, url: str, request: HttpRequest) -> HttpResponse:
        """One attempt under the deadline: open, read the bounded reply, release."""
        attempt = _Attempt(time.monotonic() + self.attempt_timeout)
        _WATCHDOG.watch(attempt)
        _current.attempt = attempt
        try:
            reply = self.pool.request(
                request.method,
                url,
                body=request.body or None,
                headers=dict(request.headers),
                redirect=False,
                preload_content=False,
            )
        except BaseException as exc:
            attempt.finish()
            if isinstance(exc, (x.HTTPError, OSError)):
                raise self._error(url, exc, attempt) from None
            raise
        finally:
            _current.attempt = None
        try:
            body = self._read(reply, url, attempt)
        except BaseException:
            attempt.finish()
            reply.close()  # closes the connection: never pool a half-read one
            reply.release_conn()  # gives the (closed) slot back to the bounded pool
            raise
        attempt.finish()
        reply.release_conn()
        return HttpResponse(reply.status, body, tuple(reply.headers.items()))

    def _read(self, reply: urllib3.BaseHTTPResponse, url: str, attempt: _Attempt) -> bytes:
        """The whole (decoded) body, or ``TransportError`` past the size cap or the deadline."""
        declared = reply.headers.get("Content-Length", "")
        plain = reply.headers.get("Content-Encoding", "identity").strip().lower() in ("", "identity")
        if plain and declared.isdigit() and int(declared) > self.max_reply_bytes:
            raise self._too_large(url)
        chunks: list[bytes] = []
        size = 0
        whole = int(declared) if plain and declared.isdigit() else -1  # no read past a complete body
        try:
            while size != whole and (chunk := reply.read(_CHUNK)):
                size += len(chunk)
                if size > self.max_reply_bytes:
                    raise self._too_large(url)
                chunks.append(chunk)
        except (x.HTTPError, OSError) as exc:
            raise self._error(url, exc, attempt) from None
        if attempt.expired:  # a read-until-close body cut short by the watchdog looks complete
            raise self._deadline(url, written=True)
        return b"".join(chunks)

    def _error(self, url: str, exc: BaseException, attempt: _Attempt) -> TransportError:
        if attempt.expired:
            return self._deadline(url, written=not attempt.early)
        kind, written = _classify(exc)
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
        self.pool.clear()
