"""smsgate provider for the RouteSMS / Route Mobile ``bulksms/bulksms`` GET API (17xx codes).

The same API runs on account-specific hosts and ports, RouteSMS's own and many white labels',
often on plain HTTP, so the DSN names the host:
``routesms://USER:PASSWORD@smsplus.routesms.com:8080?sender=Shop&tls=false`` (TLS unless the DSN
says ``tls=false``: plain HTTP only where asked for).
The hooks are thin: requests in :mod:`.request`, replies in :mod:`.reply`, codes in
:mod:`.codes`, scheduling in :mod:`.schedule`, delivery reports in :mod:`.dlr`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from smsgate import hookimpl
from smsgate.models import (
    BalanceQuery,
    Classification,
    DeliveryReport,
    Failure,
    HttpRequest,
    HttpResponse,
    Operation,
    Send,
    Verdict,
)
from smsgate.spec import Capabilities, Endpoint, ProviderSpec
from smsgate_routesms import codes, dlr, reply, schedule
from smsgate_routesms.request import MAX_PARTS, MAX_RECIPIENTS, balance_request, send_request
from smsgate_routesms.settings import RoutesmsSettings

__all__ = ["RoutesmsSettings", "codes"]
__version__ = "0.1.0"

NAME = "routesms"


@hookimpl
def provider_spec() -> ProviderSpec:
    return ProviderSpec(
        name=NAME,
        settings=RoutesmsSettings,
        default_host="",
        credentials=("username", "password"),
        capabilities=Capabilities(
            max_recipients=MAX_RECIPIENTS,
            max_parts=MAX_PARTS,
            scheduling=True,
            dedup=None,
            test_mode=None,
            unicode=True,
            flash=True,
            max_connections=4,
            operations=frozenset({"send", "balance"}),
            delivery_reports=True,
        ),
        description="RouteSMS / Route Mobile bulksms/bulksms GET API (17xx codes) and its white labels",
        emulator="smsgate_routesms.emulator:RoutesmsEmulator",
    )


@hookimpl
def build_request(operation: Operation, settings: RoutesmsSettings, endpoint: Endpoint) -> HttpRequest | None:
    if isinstance(operation, Send):
        return send_request(operation.batch, settings, endpoint)
    if isinstance(operation, BalanceQuery):
        return balance_request(settings, endpoint)
    return None


@hookimpl
def parse_response(operation: Operation, response: HttpResponse, settings: RoutesmsSettings) -> Any:
    return reply.parse(operation, response)


@hookimpl
def classify_error(failure: Failure, settings: RoutesmsSettings) -> Classification | None:
    """The gateway's codes only. 5xx replies, transport failures and unreadable replies are left
    to the core (ambiguous once written: the gateway has no de-duplication and no lookup, so the
    outcome settles ``unknown``). 1709, the one code the seed allows to resend, is ``retry`` only
    under a non-5xx status: a 5xx may come from a front end after the gateway took the request."""
    code = failure.code
    entry = codes.lookup(code) if code is not None else None
    if entry is None or entry.verdict is None:
        return None
    reason = f"routesms {code}: {entry.meaning}"
    if entry.verdict is Verdict.AMBIGUOUS:  # 1715: "do NOT re-submit the same message again"
        return Classification(Verdict.AMBIGUOUS, reason=reason, final=True)
    status = failure.http_status
    if entry.verdict is Verdict.RETRY and status is not None and status >= 500:
        return None
    return Classification(entry.verdict, reason=reason)


@hookimpl
def schedule_format(when: datetime, settings: RoutesmsSettings) -> Mapping[str, str]:
    return schedule.schedule_fields(when, settings.timezone)


@hookimpl
def parse_delivery_report(request: HttpRequest, settings: RoutesmsSettings) -> tuple[DeliveryReport, ...]:
    return dlr.parse_report(request)
