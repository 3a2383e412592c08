"""smsgate provider for Octopush: the legacy ``octopush-dm.com`` API (the default) and the JSON
API at ``api.octopush.com/v1/public`` (``api=v1``), one DSN scheme for both.

DSN: ``octopush://LOGIN%40example.com:API_KEY@default?api=legacy&type=premium&sender=Shop``.
The hooks here only dispatch: requests in :mod:`.legacy` and :mod:`.v1`, replies in
:mod:`.legacy_reply` and :mod:`.v1`, codes in :mod:`.codes`, rules in :mod:`.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from smsgate import hookimpl
from smsgate.errors import MalformedResponseError, SmsgateError
from smsgate.models import (
    BalanceQuery,
    Classification,
    DeliveryReport,
    Failure,
    HttpRequest,
    HttpResponse,
    Operation,
    Send,
)
from smsgate.spec import Capabilities, Endpoint, ProviderSpec
from smsgate_octopush import codes, dlr, legacy, legacy_reply, schedule, v1, wire
from smsgate_octopush.settings import OctopushSettings

__all__ = ["OctopushSettings"]
__version__ = "0.1.0"


#: Seconds Octopush is trusted to recognise a repeated ``request_id``. The JSON API documents
#: 24 hours; the legacy API documents none (error 120 names no window). One spec serves both, so
#: the legacy API's conservative guess rules: 300 s, which covers every resend the core makes
#: within one send (its retry time and read timeouts) and assumes nothing longer.
DEDUP_WINDOW = 300.0


@hookimpl
def provider_spec() -> ProviderSpec:
    return ProviderSpec(
        name="octopush",
        settings=OctopushSettings,
        default_host=wire.LEGACY_HOST,
        tls=True,
        credentials=("login", "api_key"),
        capabilities=Capabilities(
            max_recipients=v1.MAX_RECIPIENTS,
            max_parts=19,
            scheduling=True,
            dedup="request_id",
            dedup_window=DEDUP_WINDOW,
            test_mode="simulation",
            unicode=True,
            flash=False,
            max_connections=4,
            operations=frozenset({"send", "balance"}),
            delivery_reports=True,
        ),
        description="Octopush (France): legacy octopush-dm.com API or the api.octopush.com JSON API (api=v1)",
        emulator="smsgate_octopush.emulator:OctopushEmulator",
        docs="https://www.octopush.com/api-sms-documentation/",
    )


@hookimpl
def build_request(operation: Operation, settings: OctopushSettings, endpoint: Endpoint) -> HttpRequest | None:
    endpoint = wire.endpoint_for(endpoint, settings.api)
    if isinstance(operation, Send):
        if settings.api == "v1":
            return v1.send_request(operation.batch, settings, endpoint)
        return legacy.send_request(operation.batch, settings, endpoint)
    if isinstance(operation, BalanceQuery):
        if settings.api == "v1":
            return v1.balance_request(settings, endpoint)
        return legacy.credit_request(settings, endpoint)
    return None


@hookimpl
def parse_response(operation: Operation, response: HttpResponse, settings: OctopushSettings) -> Any:
    try:
        return _parse(operation, response, settings)
    except SmsgateError:
        raise
    except Exception as exc:  # a reply nobody foresaw: unreadable, never a crash
        raise wire.malformed(f"unreadable Octopush reply: {type(exc).__name__}", response) from None


def _parse(operation: Operation, response: HttpResponse, settings: OctopushSettings) -> Any:
    if isinstance(operation, Send):
        if settings.api == "v1":
            return v1.send_receipt(response, operation.batch)
        return legacy_reply.send_receipt(response, operation.batch)
    if isinstance(operation, BalanceQuery):
        return v1.balance(response) if settings.api == "v1" else legacy_reply.credit(response)
    return None


@hookimpl
def classify_error(failure: Failure, settings: OctopushSettings) -> Classification | None:
    return codes.classify(settings.api, failure)


@hookimpl
def schedule_format(when: datetime, settings: OctopushSettings) -> Mapping[str, str]:
    return schedule.v1_fields(when) if settings.api == "v1" else schedule.legacy_fields(when)


@hookimpl
def parse_delivery_report(request: HttpRequest, settings: OctopushSettings) -> tuple[DeliveryReport, ...]:
    try:
        return dlr.parse(request)
    except SmsgateError:
        raise
    except Exception as exc:  # a callback nobody foresaw: unreadable, never a crash
        raise MalformedResponseError(
            f"unreadable Octopush delivery report: {type(exc).__name__}",
            provider="octopush",
            body=request.body.decode("utf-8", "replace"),
        ) from None
