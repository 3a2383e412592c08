"""smsgate provider for Octopush: the legacy ``octopush-dm.com`` API (the default) and the JSON
API at ``api.octopush.com/v1/public`` (``api=v1``), one DSN scheme for both.

DSN: ``octopush://LOGIN%40example.com:API_KEY@default?api=legacy&type=premium&sender=Shop``.
The hooks here are wiring only: the build handlers of each API in :mod:`.request`, the parse
handlers in :mod:`.reply`, registered below for the API they serve (``when=``); codes in
:mod:`.codes`, scheduling in :mod:`.schedule`, delivery-report callbacks in :mod:`.dlr`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from smsgate import hookimpl
from smsgate.handlers import Handlers
from smsgate.models import BalanceQuery, Classification, DeliveryReport, Failure, HttpRequest, Send
from smsgate.spec import Capabilities, ProviderSpec
from smsgate_octopush import codes, dlr, reply, request, schedule
from smsgate_octopush.settings import OctopushSettings

__all__ = ["OctopushSettings"]
__version__ = "0.1.0"


#: Seconds Octopush is trusted to recognise a repeated ``request_id``. The JSON API documents
#: 24 hours; the legacy API documents none (error 120 names no window). One spec serves both, so
#: the legacy API's conservative guess rules: 300 s, which covers every resend the core makes
#: within one send (its retry time and read timeouts) and assumes nothing longer.
DEDUP_WINDOW = 300.0


def _legacy(settings: OctopushSettings) -> bool:
    return settings.api == "legacy"


def _v1(settings: OctopushSettings) -> bool:
    return settings.api == "v1"


handlers = Handlers()
handlers.build(Send, when=_legacy)(request.build_legacy_send)
handlers.build(Send, when=_v1)(request.build_v1_send)
handlers.parse(Send, when=_legacy)(reply.parse_legacy_send)
handlers.parse(Send, when=_v1)(reply.parse_v1_send)
handlers.build(BalanceQuery, when=_legacy)(request.build_legacy_balance)
handlers.build(BalanceQuery, when=_v1)(request.build_v1_balance)
handlers.parse(BalanceQuery, when=_legacy)(reply.parse_legacy_balance)
handlers.parse(BalanceQuery, when=_v1)(reply.parse_v1_balance)

build_request = handlers.build_request
parse_response = handlers.parse_response


@hookimpl
def provider_spec() -> ProviderSpec:
    return ProviderSpec(
        name="octopush",
        settings=OctopushSettings,
        default_host=request.LEGACY_HOST,
        tls=True,
        credentials=("login", "api_key"),
        capabilities=Capabilities(
            max_recipients=request.V1_MAX_RECIPIENTS,
            max_parts=19,
            scheduling=True,
            dedup="request_id",
            dedup_window=DEDUP_WINDOW,
            test_mode="simulation",
            unicode=True,
            flash=False,
            max_connections=4,
            operations=handlers.operations,
            delivery_reports=True,
        ),
        description="Octopush (France): legacy octopush-dm.com API or the api.octopush.com JSON API (api=v1)",
        emulator="smsgate_octopush.emulator:OctopushEmulator",
        docs="https://www.octopush.com/api-sms-documentation/",
    )


@hookimpl
def classify_error(failure: Failure, settings: OctopushSettings) -> Classification | None:
    return codes.classify(settings.api, failure)


@hookimpl
def schedule_format(when: datetime, settings: OctopushSettings) -> Mapping[str, str]:
    return schedule.fields(when, settings)


@hookimpl
def parse_delivery_report(request: HttpRequest, settings: OctopushSettings) -> tuple[DeliveryReport, ...]:
    return dlr.parse(request, settings)


@hookimpl
def parse_inbound(request: HttpRequest, settings: OctopushSettings) -> object:
    """Incoming messages (MO) pushed by the gateway: :mod:`.inbound` (``None``: not one)."""
    from smsgate_octopush import inbound

    return inbound.parse(request)
