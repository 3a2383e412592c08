"""Every documented SMSC code, in one place (reference section 4.5 and 4.7).

- :data:`TABLE`: the request error codes 1-9 (``error_code``) of a send, with meaning, verdict and
  error class (the core's :class:`~smsgate.codes.CodeTable`); :data:`TABLES` has one per request
  (``send cost status balance downloads``), since some give a code another meaning. Used by
  ``classify_error``, by the reply parser (errors, per-number rejections) and walked by the tests.
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
from typing import TYPE_CHECKING

import attrs

from smsgate import hookimpl
from smsgate.codes import Code, CodeTable
from smsgate.errors import AuthenticationError, InsufficientCreditError, RateLimitedError
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

if TYPE_CHECKING:
    from .settings import SmscSettings

FATAL, THROTTLED = Verdict.FATAL, Verdict.THROTTLED

#: The request error codes 1-9 (``error_code``) of a send: meaning, verdict, error class.
_SEND = (
    Code("1", "error in parameters", FATAL),
    Code(
        "2",
        "invalid login or password, or the IP address is not in the allowed list",
        FATAL,
        error=AuthenticationError,
    ),
    Code("3", "insufficient funds on the client's account", FATAL, error=InsufficientCreditError),
    Code("4", "IP address temporarily blocked because of frequent request errors", THROTTLED, error=RateLimitedError),
    Code("5", "invalid date format", FATAL),
    Code(
        "6",
        "message prohibited (by text or sender name; also mass or advertising sends without a contract)",
        FATAL,
    ),
    Code("7", "invalid phone number format", FATAL),
    Code("8", "message to this number cannot be delivered", FATAL),
    Code(
        "9",
        "SMSC already has an identical request from the last minute (or too many concurrent requests)",
        Verdict.AMBIGUOUS,
        final=True,
    ),
)


def _undocumented(code: str) -> Code:
    """A code SMSC does not document: no verdict of ours (the core's rules answer)."""
    return Code(code, f"error {code}", None)


def _endpoint(*changed: Code) -> CodeTable:
    """The send table with the codes an endpoint gives another meaning."""
    mine = {c.code: c for c in changed}
    return CodeTable(*(mine.get(c.code, c) for c in _SEND), fallback=_undocumented)


def _limit(meaning: str) -> Code:
    """Code 9 on anything but a send: a per-minute limit, throttling."""
    return Code("9", meaning, THROTTLED, error=RateLimitedError)


#: The send.php table: also the contract's and ``classify_error``'s.
TABLE = CodeTable(*_SEND, fallback=_undocumented)
#: Each request's table: where status.php, balance.php, cost requests (``cost=1``: quotes and
#: test-mode sends) and downloads.php give a code another meaning.
TABLES: Mapping[str, CodeTable] = {
    "send": TABLE,
    "cost": _endpoint(
        _limit("more than five identical cost requests within a minute, or too many concurrent requests")
    ),
    "status": _endpoint(
        Code("5", "error deleting the message", FATAL),
        _limit(
            "more than five requests for one message, or more than one mass request, within a minute; "
            "or five or more concurrent requests"
        ),
    ),
    "balance": _endpoint(_limit("more than ten balance requests within a minute, or too many concurrent requests")),
    "downloads": _endpoint(_limit("more than three identical task requests within a minute")),
}
#: The send table by code (what the tests walk).
ERRORS: Mapping[str, Code] = TABLE
#: The contract's view of the table: code -> verdict for a send.
VERDICTS: Mapping[str, Verdict] = TABLE.verdicts

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


#: The request each operation type is, as :func:`meaning` names it.
ENDPOINTS: Mapping[type, str] = {
    Send: "send",
    Quote: "cost",
    StatusQuery: "status",
    Reconcile: "status",
    BalanceQuery: "balance",
    Call: "downloads",
}


def endpoint_of(operation: object, test_mode: bool = False) -> str:
    """Which request ``operation`` is, as :func:`meaning` names it: ``send``, ``cost`` (quotes and
    test-mode sends, ``cost=1``), ``status`` (lookups too), ``balance`` or ``downloads``."""
    endpoint = ENDPOINTS.get(type(operation), "send")
    return "cost" if endpoint == "send" and test_mode else endpoint


def meaning(code: str, endpoint: str = "send") -> str:
    """The documented meaning of error ``code`` on ``endpoint`` (``send cost status balance downloads``)."""
    return TABLES[endpoint].meaning(code)


def status_meaning(status: int) -> str:
    entry = STATUSES.get(status)
    return entry.meaning if entry is not None else f"status {status}"


def delivery_error_meaning(err: int) -> str:
    return DELIVERY_ERRORS.get(err, f"delivery error {err}")


def classify(failure: Failure, settings: SmscSettings | None = None) -> Classification | None:
    """The ``classify_error`` hook: the verdict for an SMSC error code, or ``None`` for anything
    else (the core decides).

    A 5xx is always the core's (ambiguous): a proxy may answer it after SMSC took the request.
    In test mode (``settings.test``) sends go out as cost requests (``cost=1``), so 9 is their
    per-minute limit.
    """
    test_mode = settings is not None and settings.test
    entry = TABLE.find(failure.code)
    status = failure.http_status
    if entry is None or entry.verdict is None or (status is not None and status >= 500):
        return None
    code, operation = entry.code, failure.operation
    reason = f"SMSC error {code}: {entry.meaning}"
    if code == "9":
        if isinstance(operation, Send) and not test_mode:
            why = "the first request reached SMSC" if failure.after_ambiguous else "sent again within a minute"
            return Classification(Verdict.AMBIGUOUS, reason=f"{reason}; {why}: not resent", final=True)
        return Classification(
            Verdict.THROTTLED, LIMIT_WAIT, f"SMSC error 9: {meaning(code, endpoint_of(operation, test_mode))}"
        )
    return Classification(entry.verdict, getattr(failure.error, "retry_after", None), reason)


#: The ``classify_error`` hook: this module's :func:`classify`.
classify_error = hookimpl(classify)
