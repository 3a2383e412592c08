"""Every documented SerwerSMS code, in one place.

``CODES`` holds the error codes of the "General communications" page (reference 2.5): request-level
``{"error": {"code", "type", "message"}}`` documents and the per-item ``error_code`` of a send
(3103). ``REASONS`` holds the ``reason`` values of ``messages/reports`` (reference 2.6) and
``STATUSES`` the report item statuses. ``classify_error``, the reply parsers and the tests all walk
these tables.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping

import attrs

from smsgate.errors import AuthenticationError, GatewayError, InsufficientCreditError
from smsgate.models import DeliveryStatus, Verdict


@attrs.frozen
class Code:
    """One gateway error code: its ``type`` as the gateway names it, what it means, the verdict
    for a resend, and the error class a request-level document with this code raises."""

    type: str
    meaning: str
    verdict: Verdict
    error: builtins.type[GatewayError] = GatewayError


_F = Verdict.FATAL
_AUTH = AuthenticationError
_CREDIT = InsufficientCreditError

#: The ``type`` names of the credential and account codes (1001-1003, 1005, 1007, 1008): the
#: login, the API user's role, the account's state or the caller's IP address was refused. An
#: undocumented code of one of these types (or naming a token) raises ``AuthenticationError`` too.
AUTH_TYPES = frozenset({"InvalidUser", "InvalidRole", "InvalidIP"})

#: Reference 2.5, complete. 3105 and codes above 3106 (and the 4xxx range) were never captured;
#: neither were 1009-1012 (no source has them: their error class comes from their ``type``).
CODES: Mapping[str, Code] = {
    "1000": Code("InvalidAction", "no action given", _F),
    "1001": Code("InvalidUser", "incorrect login or password", _F, _AUTH),
    "1002": Code("InvalidRole", "this user may not use the API", _F, _AUTH),
    "1003": Code("InvalidIP", "unauthorised IP address", _F, _AUTH),
    "1004": Code("InvalidID", "invalid ID parameter", _F),
    "1005": Code("InvalidRole", "no permission", _F, _AUTH),
    "1006": Code("InvalidData", "invalid data format", _F),
    "1007": Code("InvalidRole", "the account is not fully active", _F, _AUTH),
    "1008": Code("InvalidRole", "no permission to view numbers", _F, _AUTH),
    "2000": Code("ValidationRequiredError", "required parameters are missing", _F),
    "2001": Code("ValidationPhoneError", "invalid phone number", _F),
    "2002": Code("ValidationCodeError", "invalid error code", _F),
    "3000": Code("SendError", "the ECO+ limit is exhausted (top up the account)", _F, _CREDIT),
    "3001": Code("SendError", "no permission to send ECO+", _F),
    "3002": Code("SendError", "the FULL limit is exhausted (top up the account)", _F, _CREDIT),
    "3003": Code("SendError", "no permission to send FULL", _F),
    "3004": Code("SendError", "the MMS limit is exhausted (top up the account)", _F, _CREDIT),
    "3005": Code("SendError", "no permission to send MMS", _F),
    "3006": Code("SendError", "the VOICE limit is exhausted (top up the account)", _F, _CREDIT),
    "3007": Code("SendError", "no permission to send VOICE", _F),
    "3008": Code("SendError", "no permission to send flash SMS", _F),
    "3009": Code("SendError", "no permission to send SMS", _F),
    "3100": Code("SendError", "sending SMS is blocked", _F),
    "3101": Code("SendError", "the message is empty", _F),
    "3102": Code("SendError", "the message exceeds the allowed length", _F),
    "3103": Code("SendError", "incorrect number", _F),
    "3104": Code("SendError", "no phone numbers given", _F),
    "3106": Code("SendError", "this sender name cannot be used", _F),
}

#: The code table as the contract suite wants it: code -> verdict.
VERDICTS: Mapping[str, Verdict] = {code: entry.verdict for code, entry in CODES.items()}


@attrs.frozen
class Reason:
    """A ``reason`` of ``messages/reports``: meaning, normalised delivery status, resend verdict."""

    meaning: str
    status: DeliveryStatus
    verdict: Verdict = Verdict.FATAL


_D = DeliveryStatus
#: Reference 2.6: why a message was not delivered (or not sent).
REASONS: Mapping[str, Reason] = {
    "message_expired": Reason("the message expired before it could be delivered", _D.EXPIRED),
    "unsupported_number": Reason("the number is not supported", _D.REJECTED),
    "message_rejected": Reason("the message was rejected", _D.REJECTED),
    "missed_call": Reason("missed call (voice message)", _D.FAILED),
    "wrong_number": Reason("wrong number", _D.REJECTED),
    "limit_exhausted": Reason("the account's limit is exhausted", _D.REJECTED),
    "lock_send": Reason("sending is locked", _D.REJECTED),
    "wrong_message": Reason("the message is invalid", _D.REJECTED),
    "operator_error": Reason("the operator's network failed", _D.FAILED, Verdict.RETRY),
    "wrong_sender_name": Reason("the sender name is not allowed", _D.REJECTED),
    "number_is_blacklisted": Reason("the number is blacklisted", _D.REJECTED),
    "sending_to_foreign_networks_is_locked": Reason("sending to foreign networks is locked", _D.REJECTED),
    "no_permission_to_send_messages": Reason("no permission to send messages", _D.REJECTED),
    "other_error": Reason("other error", _D.FAILED),
}

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


def describe(code: str | None) -> str | None:
    """What an error code or a report reason means; the text itself when undocumented."""
    if code is None:
        return None
    if code in CODES:
        return CODES[code].meaning
    if code in REASONS:
        return REASONS[code].meaning
    return code


def error_class(code: str | None, type_name: str = "") -> builtins.type[GatewayError]:
    """The error a request-level document raises: its code's class when documented, else by
    its ``type`` (``InvalidUser``/``InvalidRole``/``InvalidIP``, or a type naming a token or
    authorisation: ``AuthenticationError``), else ``GatewayError``."""
    entry = CODES.get(code or "")
    if entry is not None:
        return entry.error
    lowered = type_name.lower()
    if type_name in AUTH_TYPES or "token" in lowered or "auth" in lowered:
        return AuthenticationError
    return GatewayError


def verdict_of(code: str | None) -> Verdict | None:
    """The resend verdict of an error code or a report reason; ``None`` when undocumented."""
    if code is None:
        return None
    entry = CODES.get(code)
    if entry is not None:
        return entry.verdict
    reason = REASONS.get(code)
    return reason.verdict if reason is not None else None
