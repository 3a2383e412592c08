"""Every documented BulkSMS EAPI code, in one table (the core's :class:`~smsgate.codes.CodeTable`).

A code is either a reply to a request (``send_sms``, ``send_batch``, ``quote_sms``,
``get_credits``, ``get_report``: ``verdict`` says what it means for a resend, ``None`` for
success) or a delivery status (a ``get_report`` row or an HTTP push ``status``: ``delivery``), and
the codes 0, 22-28 and 40 are both. Resend rules from the send_sms documentation: resend on 40;
26 and 28 "could also" be retried and may clear after several attempts; everything else is
fatal, undocumented codes too, and final: a repeated ``stop_dup_id`` gets the original reply
replayed, so a fatal answer is the truth even after a lost reply. A reply with any HTTP status
but 200 is no EAPI answer: ambiguous (``classify_error``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from smsgate import hookimpl
from smsgate.codes import Code, CodeTable
from smsgate.errors import AuthenticationError, GatewayError, InsufficientCreditError
from smsgate.models import Classification, DeliveryStatus, Failure, Verdict

if TYPE_CHECKING:
    from smsgate_bulksms.settings import BulkSmsSettings

FATAL, RETRY = Verdict.FATAL, Verdict.RETRY
PENDING, DELIVERED, FAILED = DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED
EXPIRED, REJECTED, UNKNOWN = DeliveryStatus.EXPIRED, DeliveryStatus.REJECTED, DeliveryStatus.UNKNOWN


def _fatal(
    code: str, meaning: str, delivery: DeliveryStatus | None = REJECTED, error: type[GatewayError] = GatewayError
) -> Code:
    return Code(code, meaning, FATAL, final=True, error=error, delivery=delivery)


def _state(code: str, meaning: str, delivery: DeliveryStatus) -> Code:
    return Code(code, meaning, None, delivery=delivery)


def _undocumented(code: str) -> Code | None:
    """ "All other errors should be considered fatal" (seed 000); a code that is no number is
    no EAPI answer (a transport failure, an unreadable reply): the core's rules."""
    return Code(code, f"unknown code {code}", FATAL, final=True) if code.isdigit() else None


TABLE = CodeTable(
    # replies to requests (and, where the status table repeats them, delivery states)
    Code("0", "In progress", None, delivery=PENDING),
    Code("1", "Scheduled", None),
    _fatal("22", "Internal fatal error"),
    _fatal("23", "Authentication failure", error=AuthenticationError),
    _fatal("24", "Data validation failed"),
    _fatal("25", "You do not have sufficient credits", error=InsufficientCreditError),
    Code("26", "Upstream credits not available", RETRY, delivery=REJECTED),
    _fatal("27", "You have exceeded your daily quota"),
    Code("28", "Upstream quota exceeded", RETRY, delivery=REJECTED),
    Code("40", "Temporarily unavailable", RETRY, delivery=PENDING),
    _fatal("201", "Maximum batch size exceeded", None),
    Code("1000", "Success (v1 quote_sms and get_report)", None),
    _fatal("1001", "Message not found (v1 get_report)", None),
    # delivery states only (get_report rows and HTTP push)
    _state("10", "Delivered upstream", PENDING),
    _state("11", "Delivered to mobile", DELIVERED),
    _state("12", "Delivered upstream unacknowledged (assume in progress)", PENDING),
    _state("29", "Message sending cancelled", FAILED),
    _state("30", "Test complete (v1 test messages only)", DELIVERED),
    _state("31", "Unroutable", REJECTED),
    _state("32", "Blocked (probably a recipient complaint)", REJECTED),
    _state("33", "Failed: censored", REJECTED),
    _state("50", "Delivery failed - generic failure", FAILED),
    _state("51", "Delivery to phone failed", FAILED),
    _state("52", "Delivery to network failed", FAILED),
    _state("53", "Message expired", EXPIRED),
    _state("54", "Failed on remote network", FAILED),
    _state("55", "Failed: remotely blocked", FAILED),
    _state("56", "Failed: remotely censored", FAILED),
    _state("57", "Failed due to fault on handset (e.g. SIM full)", FAILED),
    _state("60", "Transient upstream failure (transient)", PENDING),
    _state("61", "Upstream status update (transient)", PENDING),
    _state("62", "Upstream cancel failed (transient)", PENDING),
    _state("63", "Queued for retry after temporary failure (transient)", PENDING),
    _state("64", "Queued for retry after temporary failure delivering, due to fault on handset (transient)", PENDING),
    _state("70", "Unknown upstream status", UNKNOWN),
    fallback=_undocumented,
)
#: The table by code (each entry with its meaning, verdict and delivery state).
CODES: Mapping[str, Code] = TABLE
#: Every failure code and its verdict, as the contract suite reads it.
VERDICTS: Mapping[str, Verdict] = TABLE.verdicts
#: Every delivery status code and its normalised state.
DELIVERY: Mapping[str, DeliveryStatus] = {c.code: c.delivery for c in TABLE.values() if c.delivery is not None}
#: Codes that answer a request successfully: accepted (0), scheduled (1), v1 quote/report (1000).
SUCCESS = frozenset({"0", "1", "1000"})

#: The documented meaning of a code (``"unknown code N"`` for an undocumented one).
meaning = TABLE.meaning
#: The normalised delivery state of a status code; ``UNKNOWN`` for an undocumented one.
delivery_status = TABLE.delivery


def classify(failure: Failure, settings: BulkSmsSettings) -> Classification | None:
    """The ``classify_error`` hook: the table's verdict, or ``None`` for the core's rules."""
    status = failure.http_status
    if status is not None and status != 200:
        if status >= 500 or status == 429:
            return None  # the core's rules: any 5xx is ambiguous, 429 throttled
        # "Any HTTP status code other than 200 should be considered transient" (seed 000): not
        # an EAPI answer, so the gateway may have taken the request. Ambiguous: the core resends
        # it under the same stop_dup_id (inside the window) and the gateway replays its reply.
        retry_after = getattr(failure.error, "retry_after", None)
        return Classification(Verdict.AMBIGUOUS, retry_after, f"HTTP {status}: not an EAPI reply")
    entry = TABLE.find(failure.code)
    if entry is None or entry.verdict is None:
        return None  # a success code, a transport failure or an unreadable reply: the core's rules
    # Undocumented codes are fatal too; every fatal answer is final (the module docstring says why).
    meaning = entry.meaning if entry.code in TABLE else "undocumented code"
    return Classification(entry.verdict, reason=f"BulkSMS {entry.code}: {meaning}", final=entry.final)


#: The ``classify_error`` hook: this module's :func:`classify`.
classify_error = hookimpl(classify)
