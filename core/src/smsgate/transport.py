"""The only code that does network I/O: one urllib3 ``PoolManager`` per gateway.

Keep-alive, separate connect and read timeouts, TLS verified by default, and a cap on
concurrent connections (``block=True``: a caller waits for a free connection rather than
opening one more). urllib3's own retries and redirects are off: the core decides on resends.
Failures become :class:`~smsgate.errors.TransportError` with ``written`` telling whether the
request may have reached the gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import urllib3
from urllib3 import exceptions as x

from smsgate.errors import TransportError
from smsgate.models import HttpRequest, HttpResponse

log = logging.getLogger("smsgate.transport")

_USER_AGENT = "smsgate/0.1 (+urllib3)"


def _classify(exc: BaseException) -> tuple[str, bool]:
    """``(kind, written)`` for a urllib3 failure."""
    if isinstance(exc, x.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, x.ConnectTimeoutError):
        return ("connect_timeout", False)
    if isinstance(exc, x.NewConnectionError):
        return ("connect", False)
    if isinstance(exc, x.SSLError):
        return ("tls", False)
    if isinstance(exc, x.EmptyPoolError):
        return ("pool", False)
    if isinstance(exc, x.ReadTimeoutError):
        return ("timeout", True)
    if isinstance(exc, (x.ProtocolError, x.IncompleteRead, x.DecodeError)):
        return ("reset", True)
    return ("network", True)


class Transport:
    """Sends ``HttpRequest`` values; one instance per gateway."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 4,
        backup_hosts: Sequence[str] = (),
        provider: str | None = None,
    ) -> None:
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.max_connections = max(1, max_connections)
        self.backup_hosts = tuple(backup_hosts)
        self.provider = provider
        self.pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=self.max_connections,
            block=True,
            timeout=self.timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            headers={"User-Agent": _USER_AGENT},
        )

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; on a refused connection try each backup host in turn."""
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
        try:
            reply = self.pool.request(
                request.method,
                url,
                body=request.body or None,
                headers=dict(request.headers),
                redirect=False,
            )
        except (x.HTTPError, OSError) as exc:
            kind, written = _classify(exc)
            raise TransportError(
                f"{kind} error talking to {urlsplit(url).hostname}: {type(exc).__name__}",
                kind=kind,
                written=written,
                provider=self.provider,
            ) from None
        return HttpResponse(reply.status, reply.data, tuple(reply.headers.items()))

    def close(self) -> None:
        self.pool.clear()
