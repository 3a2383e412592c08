"""The parse handlers of both APIs, and reading their JSON or XML replies safely.

The legacy API answers HTTP 200 even for errors, so ``error_code`` decides ("000" is success).
A send reply carries ``ticket``, ``successs`` (sic: three s) and ``failures``. ``successs`` is an
object for one recipient and a list for several (the XML-to-JSON shape); the XML reply nests
``success`` elements, and an XML conversion may keep that wrapper in JSON (``"successs":
{"success": {...}}``, the official PHP client's dump). Numbers and costs may be JSON numbers or
strings. The shape of ``failures`` items is unverified: objects with ``recipient`` and a code,
or bare numbers, are both read. A number no entry names is ``unknown``, never ``accepted``.

The JSON API answers ``{"sms_ticket": ...}`` on success and a non-2xx reply with a JSON body on
error (its schema is unverified: ``code``/``error_code`` and ``message``/``error`` are read where
present, and the body is always kept). An HTTP 200 whose body carries an error code is that
error too.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from smsgate.codes import unreadable
from smsgate.errors import AuthenticationError, GatewayError, InsufficientCreditError, RateLimitedError
from smsgate.models import Balance, BalanceQuery, HttpResponse, Outcome, Receipt, Send, Status
from smsgate_octopush.codes import DUPLICATE_REQUEST_ID, LEGACY_CODES, SUCCESS, V1_CODES
from smsgate_octopush.settings import OctopushSettings

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

_DUPLICATE = re.compile(r"already|duplicat|exists|used|unique|d[ée]j[àa]", re.IGNORECASE)
_BY_STATUS: dict[int, type[GatewayError]] = {
    401: AuthenticationError,
    403: AuthenticationError,
    402: InsufficientCreditError,
    429: RateLimitedError,
}


def decimal(value: Any) -> Decimal | None:
    """A number from a reply, or ``None`` when absent or unreadable (costs are informational)."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def http_error(response: HttpResponse) -> GatewayError:
    """An error for a reply that is not the gateway's own document (a proxy's page...)."""
    kind = RateLimitedError if response.status == 429 else GatewayError
    return kind(
        f"HTTP {response.status} without an Octopush reply",
        http_status=response.status,
        body=response.text(),
        retry_after=response.retry_after(),
    )


def _element(node: ET.Element) -> Any:
    children = list(node)
    if not children:
        return (node.text or "").strip()
    out: dict[str, Any] = {}
    for child in children:
        value = _element(child)
        tag = str(child.tag).strip()
        if tag in out:
            previous = out[tag]
            out[tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[tag] = value
    return out


def xml_document(body: bytes) -> dict[str, Any]:
    """An XML reply (``<octopush>...</octopush>``) as a dict; repeated tags become lists."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise ValueError("XML with a DOCTYPE is not an Octopush reply")
    import xml.etree.ElementTree as ET  # here, not at the top: only the legacy replies are XML

    try:
        root = ET.fromstring(body)
    except Exception as exc:  # expat raises several kinds (bad encodings, depth...); all mean unreadable
        raise ValueError(f"unreadable XML: {type(exc).__name__}") from None
    value = _element(root)
    if not isinstance(value, dict):
        raise ValueError("empty XML document")
    return value


def document(response: HttpResponse) -> dict[str, Any] | None:
    """The reply as a dict (JSON, or XML for the legacy XML endpoints), ``None`` when it is
    neither.

    Tolerant of what a PHP front end adds: a UTF-8 byte-order mark, surrounding whitespace or
    CRLF, a body in Latin-1 rather than UTF-8, and the whole document wrapped in an
    ``{"octopush": {...}}`` object (the XML root kept by an XML-to-JSON conversion).
    """
    body = response.body.strip().removeprefix(codecs.BOM_UTF8).strip()
    try:
        if body.startswith(b"<"):
            value: Any = xml_document(body)
        else:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = body.decode("latin-1")
            value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("octopush"), dict):
        value = value["octopush"]
    return value if isinstance(value, dict) else None


# -- the legacy API --------------------------------------------------------------------------------

_CODE_KEYS = ("error_code", "code", "error")
_RECIPIENT_KEYS = ("recipient", "number", "phone_number", "sms_recipient")


def _code(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    if not text:
        return None
    return text.zfill(3) if text.isdigit() else text


def legacy_checked(response: HttpResponse) -> dict[str, Any]:
    """The reply document when ``error_code`` is "000"; otherwise the request-level error."""
    doc = document(response)
    if doc is None:
        if response.status != 200:
            raise http_error(response)
        raise unreadable("the Octopush reply is neither JSON nor XML", response)
    code = _code(doc.get("error_code"))
    if code is None:
        if response.status != 200:
            raise http_error(response)
        raise unreadable("the Octopush reply has no error_code", response)
    if code != SUCCESS:
        raise LEGACY_CODES.error(code, http_status=response.status, body=response.text())
    if not 200 <= response.status < 300:  # "000" under an error status: believe the status
        raise http_error(response)
    return doc


_ITEM_KEYS = frozenset({*_RECIPIENT_KEYS, *_CODE_KEYS, "cost", "country_code", "sms_needed", "message", "reason"})


def _entries(value: Any, inner: str) -> list[Any]:
    """The items of ``successs``/``failures``: a list, one object, or an XML conversion's
    wrapper (``{"success": ...}``, ``{"failure": ...}``, ``{"recipient": [...]}``)."""
    while isinstance(value, dict) and len(value) == 1:
        ((key, only),) = value.items()
        if key in _RECIPIENT_KEYS and isinstance(only, list):
            return list(only)  # <failures><recipient>..</recipient><recipient>..</recipient></failures>
        if key != inner and key in _ITEM_KEYS:
            break  # one item that has a single field
        value = only
    if value is None or value == "" or value == {} or isinstance(value, bool):
        return []
    return value if isinstance(value, list) else [value]


class _Matcher:
    """Finds the batch's E.164 form of a number as the gateway wrote it (``33601010101``,
    ``+33601010101``, ``0033601010101``, ``0601010101``)."""

    def __init__(self, recipients: Iterable[str]) -> None:
        self.by_digits = {"".join(c for c in r if c.isdigit()): r for r in recipients}

    def __call__(self, raw: Any) -> str | None:
        if raw is None or isinstance(raw, (bool, dict, list, float)):
            return None
        digits = "".join(c for c in str(raw) if c.isascii() and c.isdigit())
        if not digits:
            return None
        if digits in self.by_digits:
            return self.by_digits[digits]
        tail = digits.lstrip("0")
        if len(tail) < 6:
            return None
        found = [r for d, r in self.by_digits.items() if d.endswith(tail)]
        return found[0] if len(found) == 1 else None


def _recipient(item: Any) -> Any:
    if isinstance(item, dict):
        return next((item[k] for k in _RECIPIENT_KEYS if k in item), None)
    return item


def _ticket(doc: dict[str, Any]) -> str | None:
    ticket = doc.get("ticket")
    if isinstance(ticket, bool) or not isinstance(ticket, (str, int)) or not str(ticket).strip():
        return None
    return str(ticket).strip()


def parse_legacy_send(operation: Send, response: HttpResponse, settings: OctopushSettings) -> Receipt:
    """One outcome per recipient: those the reply's ``successs`` names are accepted (or
    scheduled), those its ``failures`` names rejected with their code, any other recipient of
    the batch ``unknown``. A "000" reply without any entry covers every recipient under its
    ``ticket``; one with neither entries nor a ticket cannot be read.

    ``ticket`` is every accepted recipient's message id (the delivery reports' ``message_id``);
    a reply that names its successes but lost the ticket still accepts them, without an id.
    """
    batch = operation.batch
    doc = legacy_checked(response)
    ticket = _ticket(doc)
    match = _Matcher(batch.recipients)
    accepted = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
    successes = _entries(doc.get("successs", doc.get("success")), "success")
    failures = _entries(doc.get("failures", doc.get("failure")), "failure")
    if not successes and not failures:
        if ticket is None:
            raise unreadable("the Octopush reply has error_code 000 but neither a ticket nor recipients", response)
        return Receipt(
            tuple(Outcome(r, accepted, message_id=ticket) for r in batch.recipients),
            cost=decimal(doc.get("cost")),
            balance=decimal(doc.get("balance")),
        )
    found: dict[str, Outcome] = {}
    both: set[str] = set()
    for item in failures:
        recipient = match(_recipient(item))
        if recipient is None or recipient in found:
            continue
        details = item if isinstance(item, dict) else {}
        code = next((c for c in (_code(details.get(k)) for k in _CODE_KEYS) if c is not None), None)
        reason = details.get("message") or details.get("reason")
        if not isinstance(reason, str) or not reason:
            reason = LEGACY_CODES.meaning(code) if code else "listed in the reply's failures"
        found[recipient] = Outcome(recipient, Status.REJECTED, code=code, reason=reason)
    for item in successes:
        recipient = match(_recipient(item))
        if recipient is None:
            continue
        if recipient in found:
            both.add(recipient)
            continue
        details = item if isinstance(item, dict) else {}
        found[recipient] = Outcome(
            recipient,
            accepted,
            message_id=ticket,
            parts=integer(details.get("sms_needed")),
            cost=decimal(details.get("cost")),
        )
    for recipient in both:  # named as a success and as a failure: nobody can tell
        why = "the reply lists this number in successs and in failures"
        found[recipient] = Outcome(recipient, Status.UNKNOWN, message_id=ticket, reason=why)
    unnamed = "error_code 000, but neither successs nor failures in the reply names this number"
    outcomes = tuple(
        found.get(r) or Outcome(r, Status.UNKNOWN, message_id=ticket, reason=unnamed) for r in batch.recipients
    )
    return Receipt(outcomes, cost=decimal(doc.get("cost")), balance=decimal(doc.get("balance")))


def parse_legacy_balance(operation: BalanceQuery, response: HttpResponse, settings: OctopushSettings) -> Balance:
    """``/api/credit``: ``{"error_code": "000", "credit": "0.18"}`` (euros), JSON or XML."""
    doc = legacy_checked(response)
    amount = decimal(doc.get("credit"))
    if amount is None:
        raise unreadable("the Octopush credit reply has no credit", response)
    return Balance(amount, unit="EUR", details={k: v for k, v in doc.items() if k not in ("credit", "error_code")})


# -- the JSON API ----------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, list) and value:
        return "; ".join(filter(None, (_text(v) for v in value))) or None
    if isinstance(value, dict):
        return "; ".join(f"{k}: {t}" for k, v in value.items() if (t := _text(v))) or None
    return None


def _error(response: HttpResponse, doc: dict[str, Any] | None) -> GatewayError:
    body = response.text()
    doc = doc or {}
    raw = next(
        (doc[k] for k in ("code", "error_code") if isinstance(doc.get(k), (str, int)) and doc.get(k) != ""), None
    )
    message = next(filter(None, (_text(doc.get(k)) for k in ("message", "error", "error_description", "errors"))), None)
    status = response.status
    if status < 500 and "request_id" in body.lower() and _DUPLICATE.search(body):
        code = DUPLICATE_REQUEST_ID
    elif raw is not None and not isinstance(raw, bool):
        code = str(raw)
    else:
        code = str(status)
    entry = V1_CODES.get(code)
    kind = entry.error if entry is not None else _BY_STATUS.get(status, GatewayError)
    return kind(
        message or (entry.meaning if entry is not None else f"HTTP {status}"),
        code=code,
        http_status=status,
        body=body,
        retry_after=response.retry_after(),
    )


#: ``code`` values that are no error (a success document may carry its HTTP status).
_NO_ERROR = frozenset({"0", "000", "200", "201", "202"})


def error_code(doc: dict[str, Any]) -> str | None:
    """The error code a reply document carries (``code`` or ``error_code``), ``None`` if none."""
    for key in ("code", "error_code"):
        value = doc.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            code = str(value).strip()
            return None if code in _NO_ERROR else code
    return None


def v1_checked(response: HttpResponse) -> dict[str, Any]:
    """The reply document of a 2xx reply without an error code; otherwise the error (an HTTP
    200 whose body carries a code is that code's error, never a resend without a code)."""
    doc = document(response)
    if not 200 <= response.status < 300:
        raise _error(response, doc)
    if doc is None:
        raise unreadable("the Octopush reply is not a JSON object", response)
    if error_code(doc) is not None:
        if "sms_ticket" in doc:
            raise unreadable("the Octopush reply carries both an sms_ticket and an error code", response)
        raise _error(response, doc)
    return doc


def parse_v1_send(operation: Send, response: HttpResponse, settings: OctopushSettings) -> Receipt:
    """Every recipient accepted (or scheduled) under the campaign's ``sms_ticket``. When the
    gateway took fewer contacts than sent (blacklisted numbers removed) no one can tell which:
    every recipient is then ``unknown``."""
    batch = operation.batch
    doc = v1_checked(response)
    ticket = doc.get("sms_ticket")
    if not isinstance(ticket, str) or not ticket.strip():
        raise unreadable("the Octopush reply has no sms_ticket", response)
    ticket = ticket.strip()
    count = len(batch.recipients)
    contacts = integer(doc.get("number_of_contacts"))
    needed = integer(doc.get("number_of_sms_needed"))
    cost, balance = decimal(doc.get("total_cost")), decimal(doc.get("residual_credit"))
    if contacts is not None and contacts < count:
        reason = f"the gateway took {contacts} of {count} contacts (campaign {ticket}) without saying which"
        return Receipt(
            tuple(Outcome(r, Status.UNKNOWN, message_id=ticket, reason=reason) for r in batch.recipients), cost, balance
        )
    parts = needed // count if needed and count and needed % count == 0 else None
    status = Status.SCHEDULED if "send_at" in batch.schedule else Status.ACCEPTED
    return Receipt(tuple(Outcome(r, status, message_id=ticket, parts=parts) for r in batch.recipients), cost, balance)


def parse_v1_balance(operation: BalanceQuery, response: HttpResponse, settings: OctopushSettings) -> Balance:
    """``{"amount": 10, "unit": "sms_premium", "wallet_packs": [...]}``."""
    doc = v1_checked(response)
    amount = decimal(doc.get("amount"))
    if amount is None:
        raise unreadable("the Octopush balance reply has no amount", response)
    unit = doc.get("unit")
    return Balance(
        amount,
        unit=str(unit) if unit is not None else None,
        details={k: v for k, v in doc.items() if k not in ("amount", "unit")},
    )
