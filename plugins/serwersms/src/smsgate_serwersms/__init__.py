"""smsgate provider for the SerwerSMS.pl HTTPS API v2.

DSN: ``serwersms://USERNAME:PASSWORD@default`` (credentials in the JSON body) or
``serwersms://:API_TOKEN@default`` (``Authorization: Bearer``); options in the README.
The hooks are wiring only: one build handler per operation in :mod:`.request`, one parse
handler in :mod:`.reply` (the table below), codes in :mod:`.codes`, ``date`` in :mod:`.schedule`,
the ``dlr_url`` push in :mod:`.dlr`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from smsgate import hookimpl
from smsgate.handlers import Handlers
from smsgate.models import (
    BalanceQuery,
    Call,
    Classification,
    DeliveryReport,
    Failure,
    HttpRequest,
    Reconcile,
    Send,
    StatusQuery,
)
from smsgate.spec import Capabilities, ProviderSpec
from smsgate_serwersms import codes, dlr, reply, request, schedule
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

handlers = Handlers()
handlers.build(Send)(request.build_send)
handlers.parse(Send)(reply.parse_send)
handlers.build(Reconcile)(request.build_reconcile)
handlers.parse(Reconcile)(reply.parse_reconcile)
handlers.build(StatusQuery)(request.build_status)
handlers.parse(StatusQuery)(reply.parse_status)
handlers.build(BalanceQuery)(request.build_balance)
handlers.parse(BalanceQuery)(reply.parse_balance)
handlers.build(Call)(request.build_call)
handlers.parse(Call)(reply.parse_call)

build_request = handlers.build_request
parse_response = handlers.parse_response


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
            operations=handlers.operations | {"personalised"},
            max_personalised=MAX_PERSONALISED,
            delivery_reports=True,
            calls=request.CALLS,
        ),
        description="SerwerSMS.pl HTTPS API v2 (JSON; API token or username/password)",
        emulator="smsgate_serwersms.emulator:SerwerSmsEmulator",
        docs="https://dev.serwersms.pl/en/https-api-v2/introduction",
    )


@hookimpl
def classify_error(failure: Failure, settings: SerwerSmsSettings) -> Classification | None:
    """The code table (every documented code is fatal; report reasons have their own verdict);
    everything else (5xx, 429, 4xx refusals, transport failures, unreadable replies) is left to
    the core's rules."""
    return codes.CODES.classify(failure)


@hookimpl
def schedule_format(when: datetime, settings: SerwerSmsSettings) -> Mapping[str, str]:
    return schedule.fields(when, settings)


@hookimpl
def parse_delivery_report(request: HttpRequest, settings: SerwerSmsSettings) -> tuple[DeliveryReport, ...]:
    return dlr.parse(request, settings)


@hookimpl
def parse_inbound(request: HttpRequest, settings: SerwerSmsSettings) -> object:
    """Incoming messages (MO) pushed by the gateway: :mod:`.inbound` (``None``: not one)."""
    from smsgate_serwersms import inbound

    return inbound.parse(request, settings.timezone)
