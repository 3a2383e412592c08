"""smsgate provider for the SMSC.ru / smscentre.com HTTP API (brands smsc.ru, smscentre.com, smsc.ua, smsc.kz).

DSN: ``smsc://LOGIN:PASSWORD@default`` (login + ``psw``) or ``smsc://:APIKEY@default`` (``apikey``);
``default`` is smscentre.com, any other host (``smsc.ru``, ``smsc.ua``, ``smsc.kz``) replaces it.
The hooks below only delegate: requests in :mod:`.request`, replies in :mod:`.reply`, codes in
:mod:`.codes`, scheduling in :mod:`.schedule`, callbacks in :mod:`.callback`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from smsgate import hookimpl
from smsgate.models import Classification, DeliveryReport, Failure, HttpRequest, HttpResponse, Operation
from smsgate.spec import Capabilities, Endpoint, ProviderSpec

from . import callback, codes, reply, request, schedule
from .settings import SmscSettings

__all__ = ["SPEC", "SmscSettings", "codes"]
__version__ = "0.1.0"

#: Seconds SMSC is trusted to recognise a resend: error 9 refuses an identical request within a
#: minute (whether a repeated ``id`` alone is de-duplicated is unverified), so the core resends
#: under the same ``id`` only within 60 s of the first attempt; later it looks the batch up.
DEDUP_WINDOW = 60.0

SPEC = ProviderSpec(
    name="smsc",
    settings=SmscSettings,
    default_host="smscentre.com",
    credentials=("login", "password"),
    tls=True,
    capabilities=Capabilities(
        max_recipients=1000,
        max_parts=15,
        scheduling=True,
        dedup="id",
        dedup_window=DEDUP_WINDOW,
        test_mode="test",
        unicode=True,
        flash=True,
        max_connections=4,
        operations=frozenset({"send", "status", "balance", "quote", "reconcile", "personalised"}),
        max_personalised=100,
        delivery_reports=True,
        calls=request.CALLS,
    ),
    description="SMSC.ru / smscentre.com HTTP API (also smsc.ua, smsc.kz)",
    emulator="smsgate_smsc.emulator:SmscEmulator",
    backup_hosts=("www2.smscentre.com",),
    docs="https://smscentre.com/api/http/",
)


@hookimpl
def provider_spec() -> ProviderSpec:
    return SPEC


@hookimpl
def build_request(operation: Operation, settings: SmscSettings, endpoint: Endpoint) -> HttpRequest | None:
    return request.build(operation, settings, endpoint)


@hookimpl
def parse_response(operation: Operation, response: HttpResponse, settings: SmscSettings) -> Any:
    return reply.parse(operation, response, settings)


@hookimpl
def classify_error(failure: Failure, settings: SmscSettings) -> Classification | None:
    return codes.classify(failure, test_mode=settings.test)


@hookimpl
def schedule_format(when: datetime, settings: SmscSettings) -> Mapping[str, str]:
    return schedule.fields(when, settings)


@hookimpl
def parse_delivery_report(request: HttpRequest, settings: SmscSettings) -> tuple[DeliveryReport, ...]:
    return callback.guarded(request, settings)
