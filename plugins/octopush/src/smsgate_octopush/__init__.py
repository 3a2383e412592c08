"""smsgate provider for Octopush: the legacy ``octopush-dm.com`` API (the default) and the JSON
API at ``api.octopush.com/v1/public`` (``api=v1``), one DSN scheme for both.

DSN: ``octopush://LOGIN%40example.com:API_KEY@default?api=legacy&type=premium&sender=Shop``.
This module is the wiring only: the handler table below (the requests of each API built in
:mod:`.request`, replies read in :mod:`.reply`, each registered for the API it serves with
``when=``), codes in :mod:`.codes`, scheduling in :mod:`.schedule`, delivery-report callbacks in
:mod:`.dlr`, incoming messages in :mod:`.inbound`.
"""

from __future__ import annotations

from smsgate.handlers import Handlers, provides
from smsgate.models import BalanceQuery, Send
from smsgate.spec import Capabilities, ProviderSpec
from smsgate_octopush import reply, request
from smsgate_octopush.codes import classify_error as classify_error
from smsgate_octopush.dlr import parse_delivery_report as parse_delivery_report
from smsgate_octopush.inbound import parse_inbound as parse_inbound
from smsgate_octopush.schedule import schedule_format as schedule_format
from smsgate_octopush.settings import OctopushSettings

__all__ = ["SPEC", "OctopushSettings"]
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

SPEC = ProviderSpec(
    name="octopush",
    settings=OctopushSettings,
    default_host=request.LEGACY_HOST,
    credentials=("login", "api_key"),
    capabilities=Capabilities(
        max_recipients=request.V1_MAX_RECIPIENTS,
        max_parts=19,
        scheduling=True,
        dedup="request_id",
        dedup_window=DEDUP_WINDOW,
        test_mode="simulation",
        operations=handlers.operations,
        delivery_reports=True,
        inbound=frozenset({"push"}),  # MO and STOP callbacks; no pull API
    ),
    description="Octopush (France): legacy octopush-dm.com API or the api.octopush.com JSON API (api=v1)",
    emulator="smsgate_octopush.emulator:OctopushEmulator",
    docs="https://www.octopush.com/api-sms-documentation/",
)

provider_spec = provides(SPEC)
