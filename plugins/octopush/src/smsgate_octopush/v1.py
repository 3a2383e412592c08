"""The JSON API (``api.octopush.com/v1/public``): header authentication (``api-login``,
``api-key``), a JSON body, ``{"sms_ticket": ...}`` on success and a non-2xx reply with a JSON
body on error (its schema is unverified: ``code``/``error_code`` and ``message``/``error`` are
read where present, and the body is always kept). An HTTP 200 whose body carries an error code
is that error too."""

from __future__ import annotations

import re
from typing import Any

from smsgate.errors import AuthenticationError, GatewayError, InsufficientCreditError, RateLimitedError
from smsgate.idempotency import alnum_key
from smsgate.models import Balance, Batch, HttpRequest, HttpResponse, Outcome, Receipt, Status
from smsgate.spec import Endpoint
from smsgate_octopush import codes, rules, wire
from smsgate_octopush.settings import OctopushSettings

SEND_PATH = wire.V1_PREFIX + "sms-campaign/send"
BALANCE_PATH = wire.V1_PREFIX + "wallet/check-balance"
#: Contacts per request.
MAX_RECIPIENTS = 500

_DUPLICATE = re.compile(r"already|duplicat|exists|used|unique|d[ée]j[àa]", re.IGNORECASE)
_BY_STATUS: dict[int, type[GatewayError]] = {
    401: AuthenticationError,
    403: AuthenticationError,
    402: InsufficientCreditError,
    429: RateLimitedError,
}


def headers(settings: OctopushSettings) -> tuple[tuple[str, str], ...]:
    login, key = wire.credentials(settings)
    return (("api-key", key), ("api-login", login), ("cache-control", "no-cache"))


def send_body(batch: Batch, settings: OctopushSettings) -> dict[str, Any]:
    """The JSON document of a send; raises ``ValidationError`` for what the API refuses."""
    rules.check_v1_text(batch.text)
    sender = rules.sender_for(batch, settings)
    columns = rules.merge_columns(batch, settings)
    recipients: list[dict[str, str]] = []
    for n, number in enumerate(batch.recipients):
        contact = {"phone_number": number}
        for name, values in columns.items():
            contact[rules.MERGE_FIELDS[name][1]] = values[n]
        recipients.append(contact)
    body: dict[str, Any] = {
        "recipients": recipients,
        "text": batch.text,
        "type": settings.v1_type,
        "purpose": "alert" if settings.transactional else "wholesale",
    }
    if sender is not None:
        body["sender"] = sender
    if "send_at" in batch.schedule:
        body["send_at"] = batch.schedule["send_at"]
    if settings.with_replies:
        body["with_replies"] = True
    if settings.simulation:
        body["simulation_mode"] = True
    body["request_id"] = alnum_key(batch.dedup_key)  # the key bound to the batch's content
    for name in ("auto_optimize_text", "auto_remove_blacklisted_numbers", "list_name", "recipient_tracking"):
        value = getattr(settings, name)
        if value is not None:
            body[name] = value
    return body


def send_request(batch: Batch, settings: OctopushSettings, endpoint: Endpoint) -> HttpRequest:
    return HttpRequest.json(endpoint.url(SEND_PATH), send_body(batch, settings), headers=headers(settings))


def balance_request(settings: OctopushSettings, endpoint: Endpoint) -> HttpRequest:
    query = (("product_name", settings.v1_type), ("country_code", settings.balance_country), ("with_details", "1"))
    return HttpRequest.get(endpoint.url(BALANCE_PATH), query, headers=headers(settings))


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
        code = codes.DUPLICATE_REQUEST_ID
    elif raw is not None and not isinstance(raw, bool):
        code = str(raw)
    else:
        code = str(status)
    entry = codes.V1_CODES.get(code)
    kind = entry.error if entry is not None else _BY_STATUS.get(status, GatewayError)
    return kind(
        message or (entry.meaning if entry is not None else f"HTTP {status}"),
        provider="octopush",
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


def checked(response: HttpResponse) -> dict[str, Any]:
    """The reply document of a 2xx reply without an error code; otherwise the error (an HTTP
    200 whose body carries a code is that code's error, never a resend without a code)."""
    doc = wire.document(response)
    if not 200 <= response.status < 300:
        raise _error(response, doc)
    if doc is None:
        raise wire.malformed("the Octopush reply is not a JSON object", response)
    if error_code(doc) is not None:
        if "sms_ticket" in doc:
            raise wire.malformed("the Octopush reply carries both an sms_ticket and an error code", response)
        raise _error(response, doc)
    return doc


def send_receipt(response: HttpResponse, batch: Batch) -> Receipt:
    """Every recipient accepted (or scheduled) under the campaign's ``sms_ticket``. When the
    gateway took fewer contacts than sent (blacklisted numbers removed) no one can tell which:
    every recipient is then ``unknown``."""
    doc = checked(response)
    ticket = doc.get("sms_ticket")
    if not isinstance(ticket, str) or not ticket.strip():
        raise wire.malformed("the Octopush reply has no sms_ticket", response)
    ticket = ticket.strip()
    count = len(batch.recipients)
    contacts = wire.integer(doc.get("number_of_contacts"))
    needed = wire.integer(doc.get("number_of_sms_needed"))
    cost, balance = wire.decimal(doc.get("total_cost")), wire.decimal(doc.get("residual_credit"))
    if contacts is not None and contacts < count:
        reason = f"the gateway took {contacts} of {count} contacts (campaign {ticket}) without saying which"
        return Receipt(
            tuple(Outcome(r, Status.UNKNOWN, message_id=ticket, reason=reason) for r in batch.recipients), cost, balance
        )
    parts = needed // count if needed and count and needed % count == 0 else None
    status = Status.SCHEDULED if "send_at" in batch.schedule else Status.ACCEPTED
    return Receipt(tuple(Outcome(r, status, message_id=ticket, parts=parts) for r in batch.recipients), cost, balance)


def balance(response: HttpResponse) -> Balance:
    """``{"amount": 10, "unit": "sms_premium", "wallet_packs": [...]}``."""
    doc = checked(response)
    amount = wire.decimal(doc.get("amount"))
    if amount is None:
        raise wire.malformed("the Octopush balance reply has no amount", response)
    unit = doc.get("unit")
    return Balance(
        amount,
        unit=str(unit) if unit is not None else None,
        details={k: v for k, v in doc.items() if k not in ("amount", "unit")},
    )
