"""smsgate provider for the RouteSMS / Route Mobile ``bulksms/bulksms`` GET API (17xx codes).

The same API runs on account-specific hosts and ports, RouteSMS's own and many white labels',
often on plain HTTP, so the DSN names the host:
``routesms://USER:PASSWORD@smsplus.routesms.com:8080?sender=Shop&tls=false`` (TLS unless the DSN
says ``tls=false``: plain HTTP only where asked for).
The hooks are thin: the handler table (requests built in :mod:`.request`, replies read in
:mod:`.reply`), codes in :mod:`.codes`, scheduling in :mod:`.schedule`, delivery reports in
:mod:`.dlr`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from smsgate import hookimpl
from smsgate.models import Classification, Failure, Verdict
from smsgate.spec import Capabilities, ProviderSpec
from smsgate_routesms import codes, dlr, reply, request, schedule  # noqa: F401 (reply registers its handlers)
from smsgate_routesms.settings import RoutesmsSettings

__all__ = ["RoutesmsSettings", "codes"]
__version__ = "0.1.0"

NAME = "routesms"

#: The build handlers of :mod:`.request` and the parse handlers :mod:`.reply` registers.
handlers = request.handlers
build_request = handlers.build_request
parse_response = handlers.parse_response


@hookimpl
def provider_spec() -> ProviderSpec:
    return ProviderSpec(
        name=NAME,
        settings=RoutesmsSettings,
        default_host="",
        credentials=("username", "password"),
        capabilities=Capabilities(
            max_recipients=request.MAX_RECIPIENTS,
            max_parts=request.MAX_PARTS,
            scheduling=True,
            dedup=None,
            test_mode=None,
            unicode=True,
            flash=True,
            max_connections=4,
            operations=handlers.operations,
            delivery_reports=True,
        ),
        description="RouteSMS / Route Mobile bulksms/bulksms GET API (17xx codes) and its white labels",
        emulator="smsgate_routesms.emulator:RoutesmsEmulator",
    )


@hookimpl
def classify_error(failure: Failure, settings: RoutesmsSettings) -> Classification | None:
    """The gateway's codes only. 5xx replies, transport failures and unreadable replies are left
    to the core (ambiguous once written: the gateway has no de-duplication and no lookup, so the
    outcome settles ``unknown``). 1709, the one code the seed allows to resend, is ``retry`` only
    under a non-5xx status: a 5xx may come from a front end after the gateway took the request."""
    entry = codes.TABLE.find(failure.code)
    if entry is None or entry.verdict is None:
        return None
    status = failure.http_status
    if entry.verdict is Verdict.RETRY and status is not None and status >= 500:
        return None
    # 1715 ("do NOT re-submit the same message again") is final: never resent
    return Classification(entry.verdict, reason=f"routesms {entry.code}: {entry.meaning}", final=entry.final)


@hookimpl
def schedule_format(when: datetime, settings: RoutesmsSettings) -> Mapping[str, str]:
    return schedule.schedule_fields(when, settings.timezone)


parse_delivery_report = hookimpl(dlr.parse)
