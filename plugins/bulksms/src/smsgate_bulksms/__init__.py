"""smsgate provider for the BulkSMS EAPI (``send_sms`` 2.0 and 1.x), also run by resellers on
their own hosts and ports.

DSN: ``bulksms://USERNAME:PASSWORD@default`` (``https://bulksms.vsms.net``), or a reseller's host:
``bulksms://USERNAME:PASSWORD@www.sms.studentmessenger.co.uk:5567?tls=false``. The hooks here are
thin: requests are built in :mod:`.request`, replies read in :mod:`.reply` (one handler per
operation, in the handler table of :mod:`.request`), codes live in :mod:`.codes`, scheduling in
:mod:`.schedule`, delivery-report callbacks in :mod:`.dlr`.
"""

from __future__ import annotations

from smsgate import hookimpl
from smsgate.models import Classification, Failure, HttpRequest, Verdict
from smsgate.spec import Capabilities, ProviderSpec
from smsgate_bulksms import codes, dlr, reply, request, schedule  # noqa: F401 (reply registers its handlers)
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

#: The build handlers of :mod:`.request` and the parse handlers :mod:`.reply` registers.
handlers = request.handlers
build_request = handlers.build_request
parse_response = handlers.parse_response

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
    # personalised texts are a Send variant (send_batch), declared here
    operations=handlers.operations | {"personalised"},
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
    entry = codes.TABLE.find(failure.code)
    if entry is None or entry.verdict is None:
        return None  # a success code, a transport failure or an unreadable reply: the core's rules
    # Undocumented codes are fatal too; every fatal answer is final (codes.py says why).
    meaning = entry.meaning if entry.code in codes.TABLE else "undocumented code"
    return Classification(entry.verdict, reason=f"BulkSMS {entry.code}: {meaning}", final=entry.final)


schedule_format = hookimpl(schedule.schedule_fields)
parse_delivery_report = hookimpl(dlr.parse)


@hookimpl
def parse_inbound(request: HttpRequest, settings: BulkSmsSettings) -> object:
    """Incoming messages (MO) pushed by the gateway: :mod:`.inbound` (``None``: not one)."""
    from smsgate_bulksms import inbound

    return inbound.parse(request)
