"""smsgate provider for the Acme JSON gateway: the spec and the hook wiring.

DSN: ``acme://:TOKEN@default?sender=Shop`` (a token only: Bearer authentication). Wire format:
``POST /v2/messages`` with ``{"to": [...], "text": ..., "from": ...}`` and an ``Idempotency-Key``
header (the gateway takes a repeated key once, for 24 hours); the reply lists each recipient as
``queued`` (with an id) or ``rejected`` (with a code); errors are ``{"error": {"code", "message"}}``
with 4xx/5xx, and 429 carries ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from smsgate import hookimpl
from smsgate.models import Classification, DeliveryReport, Failure, HttpRequest
from smsgate.spec import Capabilities, ProviderSpec
from smsgate_acme import dlr, reply, schedule
from smsgate_acme.codes import TABLE
from smsgate_acme.request import handlers
from smsgate_acme.settings import AcmeSettings

__all__ = ["SMSGATE_HOOKS", "build_request", "parse_response", "reply"]  # reply: registers the parsers

#: The hook-spec version this plugin is written against (``smsgate.hookspecs.HOOKSPEC_VERSION``).
SMSGATE_HOOKS = 1

build_request = handlers.build_request  # the Handlers table answers both hooks
parse_response = handlers.parse_response


@hookimpl
def provider_spec() -> ProviderSpec:
    return ProviderSpec(
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


@hookimpl
def classify_error(failure: Failure, settings: AcmeSettings) -> Classification | None:
    # CodeTable.classify passes the error's retry_after on; None lets the core's rules answer.
    return TABLE.classify(failure)


@hookimpl
def schedule_format(when: datetime, settings: AcmeSettings) -> Mapping[str, str]:
    return schedule.format(when)


@hookimpl
def parse_delivery_report(request: HttpRequest, settings: AcmeSettings) -> tuple[DeliveryReport, ...]:
    return dlr.parse(request)
