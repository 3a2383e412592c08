"""Delivery-report callbacks as a plain WSGI application, for any web framework.

::

    from smsgate.webhook import delivery_reports_app

    def store(report: smsgate.DeliveryReport) -> None: ...

    app = delivery_reports_app(gateway, store)      # mount it at the URL the gateway calls

Every gateway's push (GET query, form POST or JSON POST) goes through the provider's
``parse_delivery_report`` hook; each report is handed to ``on_report``. The reply is ``200 OK``
with a short body (BulkSMS wants at least one character; RouteSMS accepts 200 or 202); an
unreadable callback gets ``400`` so the gateway's own retry schedule applies, a body over 1 MiB
``413`` (never truncated and parsed). A report whose ``(message_id, recipient, status)`` was
already handed over is not handed over again: gateways resend reports, and duplicates are
expected. A report counts as handed over only once ``on_report`` returned: when it raises, the
reply is ``500`` and the gateway's resend is processed again.

Without ``store`` the duplicates are remembered in memory (the last ``remember``); with an
:class:`~smsgate.inbound.InboundStore` they are recognised from the store, across restarts, and
every report is kept there. For authentication, incoming messages, opt-outs and several gateways
behind one server, use :mod:`smsgate.serve` (``smsgate serve``).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from smsgate.errors import SmsgateError
from smsgate.gateway import Gateway
from smsgate.inbound import InboundStore
from smsgate.models import DeliveryReport, HttpRequest

log = logging.getLogger("smsgate.webhook")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_MAX_BODY = 1 << 20


class BodyTooLargeError(SmsgateError):
    """A callback body over the limit: answered 413, never read."""


def request_from_environ(environ: dict[str, Any], max_body: int = _MAX_BODY) -> HttpRequest:
    """The incoming WSGI request as an ``HttpRequest`` (method, URL with query, headers, body);
    raises :class:`BodyTooLargeError` for a body over ``max_body`` bytes."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_body:
        raise BodyTooLargeError(f"callback body of {length} bytes is over the limit of {max_body}")
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    headers = [(k[5:].replace("_", "-").title(), str(v)) for k, v in environ.items() if k.startswith("HTTP_")]
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", str(environ["CONTENT_TYPE"])))
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
    query = environ.get("QUERY_STRING", "")
    scheme, path = environ.get("wsgi.url_scheme", "http"), environ.get("PATH_INFO", "/")
    url = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
    return HttpRequest(str(environ.get("REQUEST_METHOD", "GET")), url, tuple(headers), body)


def delivery_reports_app(
    gateway: Gateway,
    on_report: Callable[[DeliveryReport], None],
    *,
    remember: int = 10_000,
    store: InboundStore | None = None,
    name: str | None = None,
) -> WsgiApp:
    """A WSGI app that reads ``gateway``'s delivery-report callbacks and hands each new report
    to ``on_report``: resent duplicates are dropped by remembering the last ``remember``, or,
    with ``store``, from the store (kept there under ``name``, default the provider's name)."""
    if store is not None:
        return _stored_app(gateway, on_report, store, name or gateway.name)
    seen: OrderedDict[tuple[str, str | None, str], None] = OrderedDict()
    lock = threading.Lock()

    def ident(report: DeliveryReport) -> tuple[str, str | None, str]:
        return (report.message_id, report.recipient, report.status.value)

    def fresh(report: DeliveryReport) -> bool:
        with lock:
            return ident(report) not in seen

    def handed_over(report: DeliveryReport) -> None:
        with lock:
            seen[ident(report)] = None
            if len(seen) > remember:
                seen.popitem(last=False)

    def handle(reports: Iterable[DeliveryReport]) -> None:
        for report in reports:
            if fresh(report):
                on_report(report)
                handed_over(report)

    return _app(gateway, handle)


def _stored_app(
    gateway: Gateway, on_report: Callable[[DeliveryReport], None], store: InboundStore, name: str
) -> WsgiApp:
    from smsgate.inbound import take_report

    def handle(reports: Iterable[DeliveryReport]) -> None:
        for report in reports:
            take_report(store, name, gateway.name, report, (on_report,))

    return _app(gateway, handle)


def _app(gateway: Gateway, handle: Callable[[Iterable[DeliveryReport]], None]) -> WsgiApp:
    """The WSGI side: 413 over the limit, 400 unreadable, 500 (resend) when ``handle`` fails."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            reports = gateway.parse_delivery_report(request_from_environ(environ))
        except BodyTooLargeError:
            start_response("413 Content Too Large", [("Content-Type", "text/plain")])
            return [b"body too large\n"]
        except SmsgateError as error:
            log.warning("smsgate: unreadable %s delivery report: %s", gateway.name, error)
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"unreadable delivery report\n"]
        try:
            handle(reports)
        except Exception:
            log.exception("smsgate: a %s delivery report was not processed; asking for a resend", gateway.name)
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"delivery report not processed; please resend\n"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"OK\n"]

    return app
