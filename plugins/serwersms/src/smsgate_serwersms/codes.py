"""Every documented SerwerSMS code, in the core's code tables.

``CODES`` holds the error codes of the "General communications" page (reference 2.5): request-level
``{"error": {"code", "type", "message"}}`` documents and the per-item ``error_code`` of a send
(3103); ``TYPES`` the ``type`` the gateway gives each. ``REASONS`` holds the ``reason`` values of
``messages/reports`` (reference 2.6) and ``STATUSES`` the report item statuses. ``classify_error``,
the reply parsers, the emulator and the tests all walk these tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from smsgate import hookimpl
from smsgate.codes import Code, CodeTable
from smsgate.errors import AuthenticationError, GatewayError, InsufficientCreditError
from smsgate.models import Classification, DeliveryStatus, Failure, Verdict

if TYPE_CHECKING:
    from smsgate_serwersms.settings import SerwerSmsSettings

_AUTH = AuthenticationError
_CREDIT = InsufficientCreditError
_D = DeliveryStatus


def _as_written(reason: str) -> Code:
    """An undocumented reason means what it says (``wrong_number``); it has no verdict."""
    return Code(reason, reason, None)


#: Reference 2.6: why a message was not delivered (or not sent), with the normalised delivery
#: status of an ``undelivered`` report carrying it and the verdict for a resend.
REASONS = CodeTable(
    Code("message_expired", "the message expired before it could be delivered", delivery=_D.EXPIRED),
    Code("unsupported_number", "the number is not supported", delivery=_D.REJECTED),
    Code("message_rejected", "the message was rejected", delivery=_D.REJECTED),
    Code("missed_call", "missed call (voice message)", delivery=_D.FAILED),
    Code("wrong_number", "wrong number", delivery=_D.REJECTED),
    Code("limit_exhausted", "the account's limit is exhausted", delivery=_D.REJECTED),
    Code("lock_send", "sending is locked", delivery=_D.REJECTED),
    Code("wrong_message", "the message is invalid", delivery=_D.REJECTED),
    Code("operator_error", "the operator's network failed", Verdict.RETRY, delivery=_D.FAILED),
    Code("wrong_sender_name", "the sender name is not allowed", delivery=_D.REJECTED),
    Code("number_is_blacklisted", "the number is blacklisted", delivery=_D.REJECTED),
    Code("sending_to_foreign_networks_is_locked", "sending to foreign networks is locked", delivery=_D.REJECTED),
    Code("no_permission_to_send_messages", "no permission to send messages", delivery=_D.REJECTED),
    Code("other_error", "other error", delivery=_D.FAILED),
    fallback=_as_written,
)

#: Reference 2.6: the ``status`` of a ``messages/reports`` item, normalised. ``pending`` is only
#: documented as a filter value; it is read like ``in_progress``.
STATUSES: Mapping[str, DeliveryStatus] = {
    "delivered": _D.DELIVERED,
    "undelivered": _D.FAILED,
    "sent": _D.PENDING,
    "unsent": _D.REJECTED,
    "in_progress": _D.PENDING,
    "saved": _D.PENDING,
    "pending": _D.PENDING,
}

#: Reference 2.5, complete: every code is fatal. 3105 and codes above 3106 (and the 4xxx range)
#: were never captured; neither were 1009-1012 (no source has them: their error class comes from
#: their ``type``, see :func:`error`). A code the table does not list is read as a report reason
#: (reconciliation and reports carry those as codes), else as written, without a verdict.
CODES = CodeTable(
    Code("1000", "no action given"),
    Code("1001", "incorrect login or password", error=_AUTH),
    Code("1002", "this user may not use the API", error=_AUTH),
    Code("1003", "unauthorised IP address", error=_AUTH),
    Code("1004", "invalid ID parameter"),
    Code("1005", "no permission", error=_AUTH),
    Code("1006", "invalid data format"),
    Code("1007", "the account is not fully active", error=_AUTH),
    Code("1008", "no permission to view numbers", error=_AUTH),
    Code("2000", "required parameters are missing"),
    Code("2001", "invalid phone number"),
    Code("2002", "invalid error code"),
    Code("3000", "the ECO+ limit is exhausted (top up the account)", error=_CREDIT),
    Code("3001", "no permission to send ECO+"),
    Code("3002", "the FULL limit is exhausted (top up the account)", error=_CREDIT),
    Code("3003", "no permission to send FULL"),
    Code("3004", "the MMS limit is exhausted (top up the account)", error=_CREDIT),
    Code("3005", "no permission to send MMS"),
    Code("3006", "the VOICE limit is exhausted (top up the account)", error=_CREDIT),
    Code("3007", "no permission to send VOICE"),
    Code("3008", "no permission to send flash SMS"),
    Code("3009", "no permission to send SMS"),
    Code("3100", "sending SMS is blocked"),
    Code("3101", "the message is empty"),
    Code("3102", "the message exceeds the allowed length"),
    Code("3103", "incorrect number"),
    Code("3104", "no phone numbers given"),
    Code("3106", "this sender name cannot be used"),
    fallback=REASONS.find,
)
#: The code table as the contract suite takes it: code -> verdict.
VERDICTS: Mapping[str, Verdict] = CODES.verdicts

#: The ``type`` the gateway gives each code (reference 2.5).
TYPES: Mapping[str, str] = {
    "1000": "InvalidAction", "1001": "InvalidUser", "1002": "InvalidRole", "1003": "InvalidIP",
    "1004": "InvalidID", "1005": "InvalidRole", "1006": "InvalidData", "1007": "InvalidRole",
    "1008": "InvalidRole", "2000": "ValidationRequiredError", "2001": "ValidationPhoneError",
    "2002": "ValidationCodeError", **dict.fromkeys((c for c in CODES if c.startswith("3")), "SendError"),
}  # fmt: skip

#: The ``type`` names of the credential and account codes (1001-1003, 1005, 1007, 1008): the
#: login, the API user's role, the account's state or the caller's IP address was refused. An
#: undocumented code of one of these types (or naming a token) raises ``AuthenticationError`` too.
AUTH_TYPES = frozenset({"InvalidUser", "InvalidRole", "InvalidIP"})


def error(code: str | None, type_name: str, message: str, *, http_status: int, body: str) -> GatewayError:
    """The error a request-level document raises: its code's class when listed, else by the
    gateway's ``type`` (``InvalidUser``/``InvalidRole``/``InvalidIP``, or a type naming a token or
    authorisation: ``AuthenticationError``), else ``GatewayError``."""
    if code is not None and code in CODES:
        return CODES.error(code, message=message, http_status=http_status, body=body)
    lowered = type_name.lower()
    credential = type_name in AUTH_TYPES or "token" in lowered or "auth" in lowered
    kind = AuthenticationError if credential else GatewayError
    return kind(message, code=code, http_status=http_status, body=body)


def classify(failure: Failure, settings: SerwerSmsSettings | None = None) -> Classification | None:
    """The ``classify_error`` hook: the code table (every documented code is fatal; report
    reasons have their own verdict); everything else (5xx, 429, 4xx refusals, transport
    failures, unreadable replies) is left to the core's rules."""
    return CODES.classify(failure)


#: The ``classify_error`` hook: this module's :func:`classify`.
classify_error = hookimpl(classify)
