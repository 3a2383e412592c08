"""Parse handlers: one pure function per operation, from the reply to a typed result
(registered in the handler table of ``__init__``)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from smsgate.codes import unreadable
from smsgate.models import Balance, BalanceQuery, HttpResponse, Outcome, Receipt, Send, Status
from smsgate_acme.codes import TABLE
from smsgate_acme.settings import AcmeSettings


def document(response: HttpResponse) -> dict[str, Any]:
    """The JSON object of a reply; an error document or status raises the code's error, with
    the gateway's Retry-After passed on (``classify_error`` hands it to the retry policy)."""
    try:
        doc = response.json()
    except ValueError:
        raise unreadable("reply is not JSON", response) from None
    if not isinstance(doc, dict):
        raise unreadable("reply is not a JSON object", response)
    error = doc.get("error")
    if error is not None or response.status >= 300:
        code = str(error.get("code")) if isinstance(error, dict) else f"http-{response.status}"
        message = str(error.get("message")) if isinstance(error, dict) and "message" in error else None
        raise TABLE.error(
            code, message=message, http_status=response.status, body=response.text(), retry_after=response.retry_after()
        )
    return doc


def outcome(item: Any, scheduled: bool) -> Outcome:
    if not isinstance(item, dict) or not isinstance(item.get("to"), str):
        raise unreadable("a message entry has no 'to'", body=repr(item)[:500])
    status = item.get("status")
    if status == "queued" and isinstance(item.get("id"), str):
        return Outcome(item["to"], Status.SCHEDULED if scheduled else Status.ACCEPTED, message_id=item["id"])
    if status == "rejected":
        code = str(item.get("code", "rejected"))
        return Outcome(item["to"], Status.REJECTED, code=code, reason=TABLE.meaning(code))
    raise unreadable(f"unknown message status {status!r}", body=repr(item)[:500])


def parse_send(operation: Send, response: HttpResponse, settings: AcmeSettings) -> Receipt:
    messages = document(response).get("messages")
    if not isinstance(messages, list):
        raise unreadable("reply has no messages list", response)
    scheduled = bool(operation.batch.schedule)
    return Receipt(tuple(outcome(item, scheduled) for item in messages))


def parse_balance(operation: BalanceQuery, response: HttpResponse, settings: AcmeSettings) -> Balance:
    doc = document(response)
    try:
        return Balance(Decimal(str(doc["balance"])), unit=str(doc.get("currency", "")) or None)
    except (KeyError, InvalidOperation):
        raise unreadable("reply has no balance", response) from None
