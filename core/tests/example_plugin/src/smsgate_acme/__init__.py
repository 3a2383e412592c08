"""smsgate provider for the Acme JSON gateway: the handler table, the spec and the hook wiring.

DSN: ``acme://:TOKEN@default?sender=Shop`` (a token only: Bearer authentication). Wire format:
``POST /v2/messages`` with ``{"to": [...], "text": ..., "from": ...}`` and an ``Idempotency-Key``
header (the gateway takes a repeated key once, for 24 hours); the reply lists each recipient as
``queued`` (with an id) or ``rejected`` (with a code); errors are ``{"error": {"code", "message"}}``
with 4xx/5xx, and 429 carries ``Retry-After``. This module is the wiring only: requests are built
in :mod:`.request`, replies read in :mod:`.reply`, codes in :mod:`.codes`, scheduling in
:mod:`.schedule`, delivery reports in :mod:`.dlr`.
"""

from __future__ import annotations

from smsgate.handlers import Handlers, provides
from smsgate.spec import Capabilities, ProviderSpec
from smsgate_acme import reply, request
from smsgate_acme.codes import classify_error as classify_error
from smsgate_acme.dlr import parse_delivery_report as parse_delivery_report
from smsgate_acme.schedule import schedule_format as schedule_format
from smsgate_acme.settings import AcmeSettings

__all__ = ["SMSGATE_HOOKS", "SPEC", "build_request", "parse_response"]

#: The hook-spec version this plugin is written against (``smsgate.hookspecs.HOOKSPEC_VERSION``).
SMSGATE_HOOKS = 1

# The handler table: every build_* function of request.py and parse_* function of reply.py,
# filed under the operation type its first parameter is annotated with (build_send(operation:
# Send, ...)). Its operations are the ones the plugin supports.
handlers = Handlers.collect(request, reply)

build_request = handlers.build_request  # the Handlers table answers both hooks
parse_response = handlers.parse_response

SPEC = ProviderSpec(
    name="acme",
    settings=AcmeSettings,
    default_host="api.acme.example",
    credentials=(None, "token"),  # no user; the DSN's password is the token
    capabilities=Capabilities(
        max_recipients=50,
        max_parts=6,
        scheduling=True,
        dedup="Idempotency-Key",
        dedup_window=24 * 3600.0,
        operations=handlers.operations,
        delivery_reports=True,
    ),
    description="Acme JSON gateway (Bearer token, Idempotency-Key)",
    emulator="smsgate_acme.emulator:AcmeEmulator",
)

# The spec's hook. The other hooks are plain functions marked beside them (codes.py,
# schedule.py, dlr.py) and imported above: this module lists every hook the plugin has.
provider_spec = provides(SPEC)
