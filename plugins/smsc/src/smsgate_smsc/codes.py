"""Every documented SMSC code, in one place (reference section 4.5 and 4.7).

- :data:`ERRORS`: the request error codes 1-9 (``error_code``) with their meaning and verdict. Used by
  ``classify_error``, by the reply parser (per-number rejections) and walked by the tests.
- :data:`STATUSES`: message statuses (status.php, per-number ``status``) -> normalised delivery state.
- :data:`DELIVERY_ERRORS`: the ``err`` delivery error codes (200 is virtual sending in test mode).
- :data:`TASK_STATUSES`: deferred task states of downloads.php.

Code 9 means two things. On a first attempt it is throttling (an identical request within a minute,
or too many concurrent requests). On a resend after an ambiguous failure it means the first request
reached SMSC: the outcome is settled as unknown and reconciled through status.php, never resent.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from smsgate.models import Call, Classification, DeliveryStatus, Failure, Send, Verdict


@attrs.frozen
class Code:
    meaning: str
    verdict: Verdict


ERRORS: Mapping[str, Code] = {
    "1": Code("error in parameters", Verdict.FATAL),
    "2": Code("invalid login or password, or the IP address is not in the allowed list", Verdict.FATAL),
    "3": Code("insufficient funds on the client's account", Verdict.FATAL),
    "4": Code("IP address temporarily blocked because of frequent request errors", Verdict.THROTTLED),
    "5": Code("invalid date format", Verdict.FATAL),
    "6": Code(
        "message prohibited (by text or sender name; also mass or advertising sends without a contract)",
        Verdict.FATAL,
    ),
    "7": Code("invalid phone number format", Verdict.FATAL),
    "8": Code("message to this number cannot be delivered", Verdict.FATAL),
    "9": Code("identical request repeated within a minute, or too many concurrent requests", Verdict.THROTTLED),
}

#: Where status.php, balance.php and downloads.php give a code another meaning.
ENDPOINT_MEANINGS: Mapping[tuple[str, str], str] = {
    ("status", "5"): "error deleting the message",
    ("status", "9"): (
        "more than five requests for one message, or more than one mass request, within a minute; "
        "or five or more concurrent requests"
    ),
    ("balance", "9"): "more than ten balance requests within a minute, or too many concurrent requests",
    ("downloads", "9"): "more than three identical task requests within a minute",
}

#: Seconds to wait after code 9 on anything but a send: the per-minute limits of status.php,
#: balance.php, cost requests and downloads.php (three identical requests a minute).
LIMIT_WAIT = 20.0


@attrs.frozen
class MessageStatus:
    meaning: str
    state: DeliveryStatus


STATUSES: Mapping[int, MessageStatus] = {
    -3: MessageStatus("message not found", DeliveryStatus.UNKNOWN),
    -2: MessageStatus("stopped", DeliveryStatus.FAILED),
    -1: MessageStatus("waiting to be sent", DeliveryStatus.PENDING),
    0: MessageStatus("transferred to the operator", DeliveryStatus.PENDING),
    1: MessageStatus("delivered", DeliveryStatus.DELIVERED),
    2: MessageStatus("read", DeliveryStatus.DELIVERED),
    3: MessageStatus("expired", DeliveryStatus.EXPIRED),
    4: MessageStatus("link clicked (delivered)", DeliveryStatus.DELIVERED),
    20: MessageStatus("impossible to deliver", DeliveryStatus.FAILED),
    22: MessageStatus("invalid number", DeliveryStatus.REJECTED),
    23: MessageStatus("prohibited", DeliveryStatus.REJECTED),
    24: MessageStatus("insufficient funds", DeliveryStatus.REJECTED),
    25: MessageStatus("unavailable number", DeliveryStatus.FAILED),
}

#: Statuses SMSC gives a number it refused at submission: the send did not take.
REFUSED_STATUSES = frozenset({22, 23, 24})
#: Statuses that mean a number of a send is not on its way (per-number ``status`` with ``op=1``).
FAILED_STATUSES = frozenset(s for s, m in STATUSES.items() if m.state.final and m.state is not DeliveryStatus.DELIVERED)

VIRTUAL_SENDING = 200

DELIVERY_ERRORS: Mapping[int, str] = {
    0: "no error",
    1: "subscriber does not exist",
    6: "subscriber offline",
    11: "service not connected",
    12: "handset error",
    13: "subscriber blocked",
    21: "no support for the service",
    VIRTUAL_SENDING: "virtual sending (test mode): nothing was sent",
    219: "SIM card replaced",
    220: "operator queue overflow",
}

TASK_STATUSES: Mapping[int, str] = {
    0: "pending",
    1: "in progress",
    2: "completed",
    3: "canceled",
    4: "execution error",
}

#: The contract's view of the table: code -> verdict for a first send attempt.
VERDICTS: Mapping[str, Verdict] = {code: entry.verdict for code, entry in ERRORS.items()}


def meaning(code: str, endpoint: str = "send") -> str:
    """The documented meaning of error ``code`` on ``endpoint`` (``send status balance downloads``)."""
    special = ENDPOINT_MEANINGS.get((endpoint, code))
    if special is not None:
        return special
    entry = ERRORS.get(code)
    return entry.meaning if entry is not None else f"error {code}"


def status_meaning(status: int) -> str:
    entry = STATUSES.get(status)
    return entry.meaning if entry is not None else f"status {status}"


def delivery_error_meaning(err: int) -> str:
    return DELIVERY_ERRORS.get(err, f"delivery error {err}")


def classify(failure: Failure) -> Classification | None:
    """The verdict for an SMSC error code, or ``None`` for anything else (the core decides)."""
    code = failure.code or ""
    entry = ERRORS.get(code)
    if entry is None:
        return None
    operation = failure.operation
    reason = f"SMSC error {code}: {entry.meaning}"
    if code == "9":
        if isinstance(operation, Send) and failure.after_ambiguous:
            return Classification(
                Verdict.AMBIGUOUS, reason="the first request reached SMSC (error 9 on the resend)", final=True
            )
        if isinstance(operation, Send):
            # Short backoff only: a resend of the same request stays refused for a minute, so a
            # duplicate key is settled (retryable) rather than slipping through after the window.
            return Classification(Verdict.THROTTLED, reason=reason)
        label = "downloads" if isinstance(operation, Call) else "request"
        return Classification(Verdict.THROTTLED, LIMIT_WAIT, f"SMSC error 9: {meaning(code, label)}")
    return Classification(entry.verdict, getattr(failure.error, "retry_after", None), reason)
