"""smsgate provider for the SerwerSMS.pl HTTPS API v2.

DSN: ``serwersms://USERNAME:PASSWORD@default`` (credentials in the JSON body) or
``serwersms://:API_TOKEN@default`` (``Authorization: Bearer``); options in the README.
The hooks are thin: requests are built in :mod:`.request`, replies read in :mod:`.reply`,
codes live in :mod:`.codes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from smsgate import hookimpl
from smsgate.models import (
    Classification,
    DeliveryReport,
    Failure,
    HttpRequest,
    HttpResponse,
    Operation,
)
from smsgate.spec import Capabilities, Endpoint, ProviderSpec
from smsgate_serwersms import codes, reply, reports, request
from smsgate_serwersms.dates import format_local
from smsgate_serwersms.settings import SerwerSmsSettings

__all__ = ["SerwerSmsSettings", "codes"]

NAME = "serwersms"
DEFAULT_HOST = "api2.serwersms.pl"
#: At most 100,000 numbers per request (10,000 personalised); 50-200 recommended (seed 001).
MAX_RECIPIENTS = 100_000
BATCH_SIZE = 200
MAX_PERSONALISED = 10_000
#: Seconds the gateway may still be processing a send after we stopped waiting for its reply
#: (*unverified*: the README explains the choice). The core looks a lost send up only this long
#: after it was written, so that a lookup cannot miss a request still on its way in.
LOOKUP_DELAY = 60.0


@hookimpl
def provider_spec() -> ProviderSpec:
    return ProviderSpec(
        name=NAME,
        settings=SerwerSmsSettings,
        default_host=DEFAULT_HOST,
        tls=True,
        credentials=("username", "password"),
        capabilities=Capabilities(
            max_recipients=MAX_RECIPIENTS,
            batch_size=BATCH_SIZE,
            max_parts=request.MAX_PARTS,
            scheduling=True,
            dedup=None,
            lookup_delay=LOOKUP_DELAY,
            test_mode="test",
            unicode=True,
            flash=True,
            max_connections=4,
            operations=frozenset({"send", "status", "balance", "reconcile", "personalised"}),
            max_personalised=MAX_PERSONALISED,
            delivery_reports=True,
            calls=request.CALLS,
        ),
        description="SerwerSMS.pl HTTPS API v2 (JSON; API token or username/password)",
        emulator="smsgate_serwersms.emulator:SerwerSmsEmulator",
        docs="https://dev.serwersms.pl/en/https-api-v2/introduction",
    )


@hookimpl
def build_request(operation: Operation, settings: SerwerSmsSettings, endpoint: Endpoint) -> HttpRequest | None:
    return request.build(operation, settings, endpoint)


@hookimpl
def parse_response(operation: Operation, response: HttpResponse, settings: SerwerSmsSettings) -> Any:
    return reply.parse(operation, response, settings)


@hookimpl
def classify_error(failure: Failure, settings: SerwerSmsSettings) -> Classification | None:
    """The code table (every documented code is fatal); everything else (5xx, 429, 4xx
    refusals, transport failures, unreadable replies) is left to the core's rules."""
    verdict = codes.verdict_of(failure.code)
    if verdict is None:
        return None
    return Classification(
        verdict,
        getattr(failure.error, "retry_after", None),
        f"serwersms {failure.code}: {codes.describe(failure.code)}",
    )


@hookimpl
def schedule_format(when: datetime, settings: SerwerSmsSettings) -> Mapping[str, str]:
    return {"date": format_local(when, settings.time_zone)}


@hookimpl
def parse_delivery_report(request: HttpRequest, settings: SerwerSmsSettings) -> tuple[DeliveryReport, ...]:
    return reports.from_callback(request, settings.time_zone)
