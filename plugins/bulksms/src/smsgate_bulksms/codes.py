"""Every documented BulkSMS EAPI code, in one table.

A code is either a reply to a request (``send_sms``, ``send_batch``, ``quote_sms``,
``get_credits``, ``get_report``: ``verdict`` says what it means for a resend, ``None`` for
success) or a delivery status (a ``get_report`` row or an HTTP push ``status``: ``delivery``), and
the codes 0, 22-28 and 40 are both. Resend rules from the send_sms documentation: resend on 40;
26 and 28 "could also" be retried and may clear after several attempts; everything else is
fatal. A reply with any HTTP status but 200 is no EAPI answer: ambiguous (``classify_error``).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from smsgate.models import DeliveryStatus, Verdict

FATAL, RETRY = Verdict.FATAL, Verdict.RETRY
PENDING, DELIVERED, FAILED = DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED
EXPIRED, REJECTED, UNKNOWN = DeliveryStatus.EXPIRED, DeliveryStatus.REJECTED, DeliveryStatus.UNKNOWN


@attrs.frozen
class Code:
    """One code: its documented meaning, its verdict as a reply, its state as a delivery status."""

    meaning: str
    verdict: Verdict | None = None
    delivery: DeliveryStatus | None = None


_ = Code
CODES: Mapping[str, Code] = {
    # replies to requests (and, where the status table repeats them, delivery states)
    "0": _("In progress", None, PENDING),
    "1": _("Scheduled"),
    "22": _("Internal fatal error", FATAL, REJECTED),
    "23": _("Authentication failure", FATAL, REJECTED),
    "24": _("Data validation failed", FATAL, REJECTED),
    "25": _("You do not have sufficient credits", FATAL, REJECTED),
    "26": _("Upstream credits not available", RETRY, REJECTED),
    "27": _("You have exceeded your daily quota", FATAL, REJECTED),
    "28": _("Upstream quota exceeded", RETRY, REJECTED),
    "40": _("Temporarily unavailable", RETRY, PENDING),
    "201": _("Maximum batch size exceeded", FATAL),
    "1000": _("Success (v1 quote_sms and get_report)"),
    "1001": _("Message not found (v1 get_report)", FATAL),
    # delivery states only (get_report rows and HTTP push)
    "10": _("Delivered upstream", None, PENDING),
    "11": _("Delivered to mobile", None, DELIVERED),
    "12": _("Delivered upstream unacknowledged (assume in progress)", None, PENDING),
    "29": _("Message sending cancelled", None, FAILED),
    "30": _("Test complete (v1 test messages only)", None, DELIVERED),
    "31": _("Unroutable", None, REJECTED),
    "32": _("Blocked (probably a recipient complaint)", None, REJECTED),
    "33": _("Failed: censored", None, REJECTED),
    "50": _("Delivery failed - generic failure", None, FAILED),
    "51": _("Delivery to phone failed", None, FAILED),
    "52": _("Delivery to network failed", None, FAILED),
    "53": _("Message expired", None, EXPIRED),
    "54": _("Failed on remote network", None, FAILED),
    "55": _("Failed: remotely blocked", None, FAILED),
    "56": _("Failed: remotely censored", None, FAILED),
    "57": _("Failed due to fault on handset (e.g. SIM full)", None, FAILED),
    "60": _("Transient upstream failure (transient)", None, PENDING),
    "61": _("Upstream status update (transient)", None, PENDING),
    "62": _("Upstream cancel failed (transient)", None, PENDING),
    "63": _("Queued for retry after temporary failure (transient)", None, PENDING),
    "64": _("Queued for retry after temporary failure delivering, due to fault on handset (transient)", None, PENDING),
    "70": _("Unknown upstream status", None, UNKNOWN),
}
del _

#: Codes that answer a request successfully: accepted (0), scheduled (1), v1 quote/report (1000).
SUCCESS = frozenset({"0", "1", "1000"})
#: Every failure code and its verdict, as the contract suite and ``classify_error`` read it.
VERDICTS: Mapping[str, Verdict] = {code: c.verdict for code, c in CODES.items() if c.verdict is not None}
#: Every delivery status code and its normalised state.
DELIVERY: Mapping[str, DeliveryStatus] = {code: c.delivery for code, c in CODES.items() if c.delivery is not None}


def meaning(code: str) -> str:
    """The documented meaning of ``code`` (``"unknown code N"`` for an undocumented one)."""
    entry = CODES.get(code)
    return entry.meaning if entry is not None else f"unknown code {code}"


def delivery_status(code: str) -> DeliveryStatus:
    """The normalised delivery state of a status code; ``UNKNOWN`` for an undocumented one."""
    return DELIVERY.get(code, UNKNOWN)
