"""Every documented SMSC code, in one place (reference section 4.5 and 4.7).

- :data:`ERRORS`: the request error codes 1-9 (``error_code``) with their meaning and verdict. Used by
  ``classify_error``, by the reply parser (per-number rejections) and walked by the tests.
- :data:`STATUSES`: message statuses (status.php, per-number ``status``) -> normalised delivery state.
- :data:`DELIVERY_ERRORS`: the ``err`` delivery error codes (200 is virtual sending in test mode).
- :data:`TASK_STATUSES`: deferred task states of downloads.php.

Code 9 on a send means SMSC already has an identical request (same ``id``, same content) from the
last minute: a resend after an ambiguous failure, or the same message sent again. It is never
``rejected``: ambiguous and final, so the core settles it ``unknown`` without resending (and looks it
up through status.php). SMSC also answers 9 to 15 or more concurrent connections; that case is rare
and settles the same way, which at worst costs a lookup. On status, balance, cost (``cost=1``:
quotes and test-mode sends) and downloads requests 9 is throttling: their per-minute limits.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from smsgate.models import (
    BalanceQuery,
    Call,
    Classification,
    DeliveryStatus,
    Failure,
    Quote,
    Reconcile,
    Send,
    StatusQuery,
    Verdict,
)


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
    "9": Code(
        "SMSC already has an identical request from the last minute (or too many concurrent requests)",
        Verdict.AMBIGUOUS,
    ),
}

#: Where status.php, balance.php and downloads.php give a code another meaning.
ENDPOINT_MEANINGS: Mapping[tuple[str, str], str] = {
    ("status", "5"): "error deleting the message",
    ("status", "9"): (
        "more than five requests for one message, or more than one mass request, within a minute; "
        "or five or more concurrent requests"
    ),
    ("balance", "9"): "more than ten balance requests within a minute, or too many concurrent requests",
    ("cost", "9"): "more than five identical cost requests within a minute, or too many concurrent requests",
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

#: The contract's view of the table: code -> verdict for a send.
VERDICTS: Mapping[str, Verdict] = {code: entry.verdict for code, entry in ERRORS.items()}


def endpoint_of(operation: object, test_mode: bool = False) -> str:
    """Which request ``operation`` is, as :func:`meaning` names it: ``send``, ``cost`` (quotes and
    test-mode sends, ``cost=1``), ``status`` (lookups too), ``balance`` or ``downloads``."""
    if isinstance(operation, Send):
        return "cost" if test_mode else "send"
    if isinstance(operation, Quote):
        return "cost"
    if isinstance(operation, (StatusQuery, Reconcile)):
        return "status"
    if isinstance(operation, BalanceQuery):
        return "balance"
    return "downloads" if isinstance(operation, Call) else "send"


def meaning(code: str, endpoint: str = "send") -> str:
    """The documented meaning of error ``code`` on ``endpoint`` (``send cost status balance downloads``)."""
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


def classify(failure: Failure, *, test_mode: bool = False) -> Classification | None:
    """The verdict for an SMSC error code, or ``None`` for anything else (the core decides).

    A 5xx is always the core's (ambiguous): a proxy may answer it after SMSC took the request.
    ``test_mode``: sends go out as cost requests (``cost=1``), so 9 is their per-minute limit.
    """
    code = failure.code or ""
    entry = ERRORS.get(code)
    status = failure.http_status
    if entry is None or (status is not None and status >= 500):
        return None
    operation = failure.operation
    reason = f"SMSC error {code}: {entry.meaning}"
    if code == "9":
        if isinstance(operation, Send) and not test_mode:
            why = "the first request reached SMSC" if failure.after_ambiguous else "sent again within a minute"
            return Classification(Verdict.AMBIGUOUS, reason=f"{reason}; {why}: not resent", final=True)
        return Classification(
            Verdict.THROTTLED, LIMIT_WAIT, f"SMSC error 9: {meaning(code, endpoint_of(operation, test_mode))}"
        )
    return Classification(entry.verdict, getattr(failure.error, "retry_after", None), reason)
