"""The receiver: one WSGI (and ASGI) application for every gateway's callbacks.

Delivery reports and incoming messages (MO) of each configured gateway arrive at::

    /<name>[/<token>]/dlr        delivery reports   (parse_delivery_report)
    /<name>[/<token>]/inbound    incoming messages  (parse_inbound)
    /<name>[/<token>]            either: an incoming message if the provider reads one, else a report
    /healthz                     200 when the receiver is up
    /metrics                     the process's metrics and, read at each scrape, the campaign
                                 store's and the circuits' (Prometheus text format;
                                 ``metrics_token``: ``Authorization: Bearer <token>`` required)
    /dashboard                   the dashboard page (:mod:`smsgate.dashboard`; same token as
                                 /metrics, as the header or, from a browser, ``?token=<token>``)

``<name>`` is the gateway's configured name, ``<token>`` its secret path token when one is set.
For each request, in this order: unknown gateway or token 404; a method other than GET/POST 405;
an address outside the gateway's allow-list 403; missing or wrong HTTP Basic credentials 401;
a query over the limit 414; a body over the limit 413 (never read, never truncated and parsed);
JSON nested deeper than the limit 400; a callback the provider cannot read 400; a signature
that does not match (``CallbackRejectedError``) 403. What is left is stored
(:class:`~smsgate.inbound.InboundStore`): the report (once; campaign rows get their delivery
state) or the message (once; a STOP keyword puts its sender on the suppression list), then the
app's callbacks and app plugins' hooks (``on_delivery_report``, ``on_inbound``) run, then it is
marked handled and the answer is ``200`` (:func:`smsgate.inbound.take_report`, ``take_inbound``). A failure on the way
(store, callback) answers ``500`` and the gateway's resend is processed again; a resend of what
was already handled is answered ``200`` and nothing else happens.

Serve it with :func:`run` (waitress, ``pip install smsgate[serve]``), or mount
:class:`Receiver` (WSGI) or :func:`asgi` (ASGI) in Django, Flask or FastAPI.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import ipaddress
import logging
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from smsgate import telemetry
from smsgate.errors import MalformedResponseError, SmsgateError
from smsgate.gateway import Gateway
from smsgate.inbound import (
    CallbackRejectedError,
    InboundMessage,
    InboundStore,
    take_inbound,
    take_report,
)
from smsgate.models import DeliveryReport, HttpRequest
from smsgate.suppression import DEFAULT_KEYWORDS, Keywords

if TYPE_CHECKING:
    from smsgate.store import Store

log = logging.getLogger("smsgate.serve")

StartResponse = Callable[..., Any]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ReportHook = Callable[[DeliveryReport, Gateway], None]
InboundHook = Callable[[InboundMessage, Gateway], None]

#: Default limits: callbacks are small (a few hundred bytes).
MAX_BODY = 64 * 1024
MAX_QUERY = 8 * 1024
MAX_DEPTH = 32
KINDS = ("dlr", "inbound")


def _networks(values: Iterable[str | Network]) -> tuple[Network, ...]:
    return tuple(
        v
        if isinstance(v, (ipaddress.IPv4Network, ipaddress.IPv6Network))
        else ipaddress.ip_network(v.strip(), strict=False)
        for v in values
    )


@attrs.frozen
class Route:
    """One gateway behind the receiver: its URL name, the gateway, and who may call it
    (``token``: the secret path segment; ``basic``: ``(user, password)``; ``allow``: address
    ranges, e.g. ``("203.0.113.0/24",)``)."""

    name: str
    gateway: Gateway = attrs.field(eq=False)
    token: str | None = attrs.field(default=None, repr=False)
    basic: tuple[str, str] | None = attrs.field(default=None, repr=False)
    allow: tuple[Network, ...] = attrs.field(default=(), converter=_networks)


class _Refused(Exception):
    def __init__(self, status: str, text: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(text)
        self.status, self.text, self.headers = status, text, list(headers)


def too_deep(body: bytes, limit: int) -> bool:
    """True when ``body`` opens more than ``limit`` JSON arrays/objects inside each other."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for b in body:
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:
                escaped = True
            elif b == 0x22:
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif b in (0x5D, 0x7D):
            depth -= 1
    return False


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


class Receiver:
    """The receiver as a WSGI application (``Receiver(routes, store)(environ, start_response)``).

    ``on_delivery_report`` and ``on_inbound`` are the app's callbacks, called with the
    normalised value and its :class:`Gateway` after it is stored and before it is acknowledged
    (a callback that raises makes the answer 500: the gateway resends, the callback runs again).
    ``keywords`` are the opt-out/opt-in words (:class:`smsgate.suppression.Keywords`).
    ``campaign_store`` (a :class:`smsgate.store.Store`) gives the ``/dashboard`` page its
    campaigns and ``/metrics`` its store series (:func:`smsgate.telemetry.scrape`, for the
    ``metrics_campaigns`` most recently updated campaigns); without it the page shows the
    gateways only.
    """

    def __init__(
        self,
        routes: Iterable[Route],
        store: InboundStore,
        *,
        on_delivery_report: Sequence[ReportHook] = (),
        on_inbound: Sequence[InboundHook] = (),
        keywords: Keywords = DEFAULT_KEYWORDS,
        max_body: int = MAX_BODY,
        max_query: int = MAX_QUERY,
        max_depth: int = MAX_DEPTH,
        metrics_token: str | None = None,
        metrics_campaigns: int = telemetry.CAMPAIGNS,
        campaign_store: Store | None = None,
    ) -> None:
        self.routes = {r.name: r for r in routes}
        self.metrics_token = metrics_token
        self.metrics_campaigns = metrics_campaigns
        self.campaign_store = campaign_store
        self.store = store
        self.on_delivery_report = list(on_delivery_report)
        self.on_inbound = list(on_inbound)
        self.keywords = keywords
        self.max_body = max_body
        self.max_query = max_query
        self.max_depth = max_depth

    # -- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            if str(environ.get("PATH_INFO") or "/").rstrip("/") == "/dashboard":
                page = self._dashboard(environ).encode()
                start_response("200 OK", [*_PAGE_HEADERS, ("Content-Length", str(len(page)))])
                return [] if str(environ.get("REQUEST_METHOD", "GET")).upper() == "HEAD" else [page]
            status, text = self.handle(environ)
            headers: list[tuple[str, str]] = []
        except _Refused as refused:
            status, text, headers = refused.status, refused.text, refused.headers
        body = (text + "\n").encode()
        start_response(
            status,
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *headers],
        )
        return [body]

    def _route(self, environ: dict[str, Any]) -> tuple[Route, str]:
        parts = [p for p in str(environ.get("PATH_INFO") or "/").split("/") if p]
        route = self.routes.get(parts[0]) if parts else None
        if route is None:
            raise _Refused("404 Not Found", "not found")
        rest = parts[1:]
        if route.token is not None:
            if not rest or not _same(rest[0], route.token):
                raise _Refused("404 Not Found", "not found")
            rest = rest[1:]
        if len(rest) > 1 or (rest and rest[0] not in KINDS):
            raise _Refused("404 Not Found", "not found")
        return route, rest[0] if rest else "auto"

    def _authorise(self, route: Route, environ: dict[str, Any]) -> None:
        if route.allow:
            try:
                address = ipaddress.ip_address(str(environ.get("REMOTE_ADDR", "")).strip())
            except ValueError:
                raise _Refused("403 Forbidden", "forbidden") from None
            if not any(address in network for network in route.allow):
                log.warning("smsgate: %s callback from %s refused (not in the allow-list)", route.name, address)
                raise _Refused("403 Forbidden", "forbidden")
        if route.basic is not None:
            challenge = [("WWW-Authenticate", f'Basic realm="smsgate {route.name}", charset="UTF-8"')]
            scheme, _, value = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
            if scheme.lower() != "basic":
                raise _Refused("401 Unauthorized", "unauthorised", challenge)
            try:
                user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, ValueError):
                raise _Refused("401 Unauthorized", "unauthorised", challenge) from None
            ok_user = _same(user, route.basic[0])
            ok_password = _same(password, route.basic[1])
            if not (sep and ok_user and ok_password):
                raise _Refused("401 Unauthorized", "unauthorised", challenge)

    def _read(self, environ: dict[str, Any]) -> bytes:
        query = str(environ.get("QUERY_STRING", ""))
        if len(query) > self.max_query:
            raise _Refused("414 URI Too Long", "query too long")
        raw_length = str(environ.get("CONTENT_LENGTH") or "").strip()
        stream = environ["wsgi.input"]
        if raw_length:
            if not raw_length.isdigit():
                raise _Refused("400 Bad Request", "bad Content-Length")
            length = int(raw_length)
            if length > self.max_body:
                raise _Refused("413 Content Too Large", "body too large")
            body = stream.read(length) if length else b""
            if len(body) != length:
                raise _Refused("400 Bad Request", "body shorter than its Content-Length")
            return bytes(body)
        if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower() or environ.get("wsgi.input_terminated"):
            body = stream.read(self.max_body + 1)
            if len(body) > self.max_body:
                raise _Refused("413 Content Too Large", "body too large")
            return bytes(body)
        return b""

    def handle(self, environ: dict[str, Any]) -> tuple[str, str]:
        """One callback: ``(status line, text)``; refusals raise internally and are answered."""
        path = str(environ.get("PATH_INFO") or "/")
        if path.rstrip("/") == "/healthz":
            return "200 OK", "OK"
        if path.rstrip("/") == "/metrics":
            return self._metrics(environ)
        route, kind = self._route(environ)
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if method not in ("GET", "POST"):
            raise _Refused("405 Method Not Allowed", "method not allowed", [("Allow", "GET, POST")])
        self._authorise(route, environ)
        body = self._read(environ)
        if too_deep(body, self.max_depth):
            raise _Refused("400 Bad Request", "nested too deeply")
        request = _request(environ, body)
        gateway = route.gateway
        try:
            messages = gateway.parse_inbound(request) if kind in ("inbound", "auto") else None
            if messages is None and kind == "inbound":
                raise MalformedResponseError(f"not a {gateway.name} incoming message", provider=gateway.name)
            reports = gateway.parse_delivery_report(request) if messages is None else ()
        except CallbackRejectedError as error:
            log.warning("smsgate: %s callback refused: %s", route.name, error)
            raise _Refused("403 Forbidden", "signature mismatch") from None
        except SmsgateError as error:
            log.warning("smsgate: unreadable %s callback: %s", route.name, error)
            raise _Refused("400 Bad Request", "unreadable callback") from None
        try:
            for message in messages or ():
                self._inbound(route, attrs.evolve(message, gateway=route.name))
            for report in reports:
                self._report(route, report)
        except Exception:
            log.exception("smsgate: %s callback not processed; asking for a resend", route.name)
            raise _Refused("500 Internal Server Error", "not processed; please resend") from None
        return "200 OK", "OK"

    def _metrics(self, environ: dict[str, Any]) -> tuple[str, str]:
        if self.metrics_token is not None:
            given = str(environ.get("HTTP_AUTHORIZATION", ""))
            if not _same(given, f"Bearer {self.metrics_token}"):
                raise _Refused("401 Unauthorized", "metrics need a token", [("WWW-Authenticate", "Bearer")])
        scraped = telemetry.scrape(self.campaign_store, campaigns=self.metrics_campaigns)
        parts = (telemetry.METRICS.prometheus().rstrip("\n"), scraped.rstrip("\n"))
        return "200 OK", "\n".join(p for p in parts if p)

    def _dashboard(self, environ: dict[str, Any]) -> str:
        from smsgate import dashboard

        if str(environ.get("REQUEST_METHOD", "GET")).upper() not in ("GET", "HEAD"):
            raise _Refused("405 Method Not Allowed", "method not allowed", [("Allow", "GET, HEAD")])
        if self.metrics_token is not None:
            header = str(environ.get("HTTP_AUTHORIZATION", ""))
            query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", ""))[: self.max_query]).get("token", [])
            ok_header = _same(header, f"Bearer {self.metrics_token}")
            ok_query = bool(query) and _same(query[-1], self.metrics_token)
            if not (ok_header or ok_query):
                raise _Refused("401 Unauthorized", "the dashboard needs a token", [("WWW-Authenticate", "Bearer")])
        try:
            return dashboard.page(self.campaign_store)
        except Exception:
            log.exception("smsgate: the dashboard could not be rendered")
            raise _Refused("500 Internal Server Error", "dashboard unavailable") from None

    def _report(self, route: Route, report: DeliveryReport) -> None:
        gateway = route.gateway
        hooks = [_bound(h, gateway) for h in self.on_delivery_report]
        if gateway.hooks.listens("on_delivery_report"):  # app plugins (hookspecs.on_delivery_report)
            hooks.append(_bound(gateway.hooks.on_delivery_report, route.name))
        if not take_report(self.store, route.name, gateway.name, report, hooks):
            return  # a resend of a report already handled
        labels = {"gateway": route.name, "status": report.status.value}
        telemetry.METRICS.add("smsgate.delivery_reports", 1, labels, "Delivery reports received (once each)")

    def _inbound(self, route: Route, message: InboundMessage) -> None:
        gateway = route.gateway
        hooks = [_bound(h, gateway) for h in self.on_inbound]
        if gateway.hooks.listens("on_inbound"):  # app plugins (hookspecs.on_inbound)
            hooks.append(_bound(gateway.hooks.on_inbound, route.name))
        if take_inbound(self.store, message, self.keywords, hooks):
            telemetry.METRICS.add(
                "smsgate.inbound", 1, {"gateway": route.name}, "Incoming messages received (once each)"
            )


def _bound(hook: Callable[[Any, Any], None], second: Any) -> Callable[[Any], None]:
    """``hook`` with its second argument (the gateway, or its name) given."""
    return lambda value: hook(value, second)


_PAGE_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
)


def _request(environ: dict[str, Any], body: bytes) -> HttpRequest:
    headers = [(k[5:].replace("_", "-").title(), str(v)) for k, v in environ.items() if k.startswith("HTTP_")]
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", str(environ["CONTENT_TYPE"])))
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
    query = str(environ.get("QUERY_STRING", ""))
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "/"))
    url = f"{environ.get('wsgi.url_scheme', 'http')}://{host}{path}" + (f"?{query}" if query else "")
    return HttpRequest(str(environ.get("REQUEST_METHOD", "GET")), url, tuple(headers), body)


# -- ASGI ----------------------------------------------------------------------------------------


def asgi(
    app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]], *, max_body: int = MAX_BODY, timeout: float = 10.0
) -> Callable[..., Any]:
    """An ASGI application running the WSGI ``app`` (a :class:`Receiver`) in a worker thread.

    The body is read with a limit (over it: 413 without reading on) and a deadline (a client
    slower than ``timeout`` seconds: 408). Mount it in FastAPI/Starlette with
    ``app.mount("/sms", smsgate.serve.asgi(receiver))``.
    """

    async def respond(send: Callable[..., Any], status: int, text: str) -> None:
        body = (text + "\n").encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def read_body(receive: Callable[..., Any]) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await receive()
            if event["type"] == "http.disconnect":
                raise ConnectionError("client went away")
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > max_body:
                return None
            chunks.append(chunk)
            if not event.get("more_body"):
                return b"".join(chunks)

    async def application(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body:
            await respond(send, 413, "body too large")
            return
        try:
            body = await asyncio.wait_for(read_body(receive), timeout)
        except asyncio.TimeoutError:
            await respond(send, 408, "request timeout")
            return
        except ConnectionError:
            return
        if body is None:
            await respond(send, 413, "body too large")
            return
        environ = _environ(scope, headers, body)
        captured: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, response_headers

        def call() -> bytes:
            return b"".join(app(environ, start_response))

        payload = await asyncio.get_running_loop().run_in_executor(None, call)
        status = int(str(captured["status"]).split(" ", 1)[0])
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in captured["headers"]],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return application


def _environ(scope: dict[str, Any], headers: dict[str, str], body: bytes) -> dict[str, Any]:
    import io

    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.get("method", "GET"),
        "SCRIPT_NAME": scope.get("root_path", ""),
        "PATH_INFO": scope.get("path", "/"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": str(client[0]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name != "content-length":
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


# -- waitress ------------------------------------------------------------------------------------


class Server:
    """A waitress server (:func:`create`): ``url``, ``port``; ``run()`` serves until ``stop()``."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.host = str(server.effective_host)
        self.port = int(server.effective_port)
        self.url = f"http://{self.host}:{self.port}"

    def run(self) -> None:
        """Serve until :meth:`stop` (or Ctrl-C)."""
        from waitress import wasyncore  # type: ignore[import-untyped]

        adj = self._server.adj
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=0.2, use_poll=adj.asyncore_use_poll, map=self._server._map, count=1)
        finally:
            self._close()

    def _close(self) -> None:
        for channel in list(self._server._map.values()):
            with contextlib.suppress(OSError):  # best effort on shutdown
                channel.close()
        self._server.task_dispatcher.shutdown(timeout=5)

    def request_stop(self) -> None:
        """Ask :meth:`run` to return (safe from a signal handler)."""
        self._stopping.set()

    def stop(self) -> None:
        """Stop serving (from another thread) and close every connection."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def create(
    app: Callable[..., Any],
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    threads: int = 4,
    timeout: int = 10,
    max_body: int = MAX_BODY,
    connection_limit: int = 100,
    trusted_proxy: str | None = None,
) -> Server:
    """A waitress server for ``app`` (not yet serving: call ``run()``, or use :func:`start`).

    Waitress reads each request completely before the app sees it, so a slow client holds no
    worker thread; ``timeout`` (seconds) closes a connection that sends nothing for that long,
    a body over ``max_body`` is answered 413 by waitress itself, headers over 16 KiB 431.
    Behind a reverse proxy, ``trusted_proxy`` (its address) makes the client address (for the
    allow-lists) come from its ``X-Forwarded-For``; otherwise forwarding headers are ignored.
    """
    try:
        from waitress.server import create_server  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - depends on the extra
        raise SmsgateError("smsgate serve needs waitress: pip install 'smsgate[serve]'") from None
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        channel_timeout=max(1, int(timeout)),
        cleanup_interval=max(1, int(timeout) // 2),
        max_request_body_size=max_body,
        max_request_header_size=16 * 1024,
        connection_limit=connection_limit,
        ident="smsgate",
        clear_untrusted_proxy_headers=True,
        expose_tracebacks=False,
        **({"trusted_proxy": trusted_proxy, "trusted_proxy_headers": "x-forwarded-for"} if trusted_proxy else {}),
    )
    return Server(server)


def start(app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0, **options: Any) -> Server:
    """:func:`create` and serve in a daemon thread (tests, embedding); ``stop()`` ends it."""
    server = create(app, host, port, **options)
    thread = threading.Thread(target=server.run, name="smsgate-serve", daemon=True)
    server._thread = thread
    thread.start()
    return server
