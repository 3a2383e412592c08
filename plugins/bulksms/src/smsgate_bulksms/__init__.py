"""smsgate provider for the BulkSMS EAPI (``send_sms`` 2.0 and 1.x), also run by resellers on
their own hosts and ports.

DSN: ``bulksms://USERNAME:PASSWORD@default`` (``https://bulksms.vsms.net``), or a reseller's host:
``bulksms://USERNAME:PASSWORD@www.sms.studentmessenger.co.uk:5567?tls=false``. The hooks here are
thin: requests are built in :mod:`.request`, replies read in :mod:`.reply`, codes live in
:mod:`.codes`, scheduling in :mod:`.schedule`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from smsgate import hookimpl
from smsgate.models import (
    BalanceQuery,
    Call,
    Classification,
    DeliveryReport,
    Failure,
    HttpRequest,
    HttpResponse,
    Operation,
    Quote,
    Send,
    StatusQuery,
    Verdict,
)
from smsgate.spec import Capabilities, Endpoint, ProviderSpec
from smsgate_bulksms import codes, reply, request, schedule
from smsgate_bulksms.settings import BulkSmsSettings

__all__ = ["CAPABILITIES", "BulkSmsSettings", "codes"]

#: ``send_batch`` takes 30,000 messages in one copy of its documentation and 50,000 in another:
#: the smaller is used.
MAX_PERSONALISED = 30_000
#: The documentation advises at most 5,000 recipients per request (across groups) to avoid
#: timeouts; the same bound is used for msisdn lists.
MAX_RECIPIENTS = 5_000
#: How long the gateway is trusted to recognise a repeated ``stop_dup_id``: the documentation
#: says only "recently (within the past few hours)", so one hour, the least that wording
#: allows. The core resends under the key only inside this window; later it settles unknown.
DEDUP_WINDOW = 3600.0

CAPABILITIES = Capabilities(
    max_recipients=MAX_RECIPIENTS,
    max_parts=request.MAX_PARTS,
    scheduling=True,
    dedup="stop_dup_id",
    dedup_window=DEDUP_WINDOW,
    test_mode="test_always_succeed",
    unicode=True,
    flash=True,
    max_connections=1,
    operations=frozenset({"send", "status", "balance", "quote", "personalised"}),
    max_personalised=MAX_PERSONALISED,
    delivery_reports=True,
    calls=frozenset({"send_to_groups"}),
)


@hookimpl
def provider_spec() -> ProviderSpec:
    return ProviderSpec(
        name="bulksms",
        settings=BulkSmsSettings,
        default_host="bulksms.vsms.net",
        default_port=None,
        tls=True,
        credentials=("username", "password"),
        capabilities=CAPABILITIES,
        description="BulkSMS EAPI send_sms 2.0/1.x (bulksms.vsms.net and resellers on their own hosts)",
        emulator="smsgate_bulksms.emulator:BulkSmsEmulator",
        docs="https://www.bulksms.com/developer/eapi/submission/send_sms/",
    )


@hookimpl
def build_request(operation: Operation, settings: BulkSmsSettings, endpoint: Endpoint) -> HttpRequest | None:
    return request.build(operation, settings, endpoint)


@hookimpl
def parse_response(operation: Operation, response: HttpResponse, settings: BulkSmsSettings) -> Any:
    return reply.guarded(lambda: _parse(operation, response, settings), response)


def _parse(operation: Operation, response: HttpResponse, settings: BulkSmsSettings) -> Any:
    if isinstance(operation, Send):
        return reply.parse_send(operation.batch, response)
    if isinstance(operation, Quote):
        return reply.parse_quote(operation.batch, response)
    if isinstance(operation, StatusQuery):
        return reply.parse_report(operation.message_ids[0], response, settings)
    if isinstance(operation, BalanceQuery):
        return reply.parse_credits(response)
    if isinstance(operation, Call) and operation.name == "send_to_groups":
        return reply.parse_submission(response)
    return None


@hookimpl
def classify_error(failure: Failure, settings: BulkSmsSettings) -> Classification | None:
    status = failure.http_status
    if status is not None and status != 200:
        if status >= 500 or status == 429:
            return None  # the core's rules: any 5xx is ambiguous, 429 throttled
        # "Any HTTP status code other than 200 should be considered transient" (seed 000): not
        # an EAPI answer, so the gateway may have taken the request. Ambiguous: the core resends
        # it under the same stop_dup_id (inside the window) and the gateway replays its reply.
        retry_after = getattr(failure.error, "retry_after", None)
        return Classification(Verdict.AMBIGUOUS, retry_after, f"HTTP {status}: not an EAPI reply")
    code = failure.code or ""
    entry = codes.CODES.get(code)
    if entry is not None and entry.verdict is None:
        return None  # a success code: not a failure
    if entry is None or entry.verdict is None:
        if not code.isdigit():
            return None  # a transport failure or an unreadable reply: the core's rules
        # "All other errors should be considered fatal" (seed 000), undocumented codes too.
        return Classification(Verdict.FATAL, reason=f"BulkSMS {code}: undocumented code", final=True)
    # A repeated stop_dup_id gets the original reply replayed, so a fatal answer is the truth
    # even after a lost reply: final, rejected rather than unknown.
    final = entry.verdict is Verdict.FATAL
    return Classification(entry.verdict, reason=f"BulkSMS {code}: {entry.meaning}", final=final)


@hookimpl
def schedule_format(when: datetime, settings: BulkSmsSettings) -> Mapping[str, str]:
    return schedule.schedule_fields(when, settings)


@hookimpl
def parse_delivery_report(request: HttpRequest, settings: BulkSmsSettings) -> tuple[DeliveryReport, ...]:
    return reply.guarded_push(request, settings)
