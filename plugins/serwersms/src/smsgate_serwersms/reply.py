"""Pure reply parsing for the SerwerSMS HTTPS API v2 (reference 2.4, 2.6, 2.7).

- A request-level error is ``{"error": {"code", "type", "message"}}`` (HTTP status *unverified*,
  probably 200; read the same under any status): the whole batch failed, nothing was queued.
- A send answers ``{"success": true, "queued": N, "unsent": M, "items": [...]}``; an item with
  ``status: "unsent"`` and its ``error_code`` is one rejected recipient, not a failed request.
- Any other non-200 reply is an HTTP error left to the core's rules (5xx, 429 ...); a 200 reply
  that is not a JSON object is malformed and never success.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from smsgate.errors import GatewayError, MalformedResponseError, RateLimitedError
from smsgate.models import (
    Balance,
    BalanceQuery,
    Batch,
    Call,
    DeliveryReport,
    HttpResponse,
    Operation,
    Outcome,
    Receipt,
    Reconcile,
    Send,
    Status,
    StatusQuery,
)
from smsgate_serwersms import reports
from smsgate_serwersms.codes import CODES, describe
from smsgate_serwersms.settings import SerwerSmsSettings

PROVIDER = "serwersms"
_TEST_NOTE = "test mode: the gateway answered as usual and sent nothing"


def _malformed(why: str, response: HttpResponse) -> MalformedResponseError:
    return MalformedResponseError(why, provider=PROVIDER, http_status=response.status, body=response.text())


def _code(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def raise_error(error: Any, response: HttpResponse) -> None:
    """Raise the error class of an ``{"error": {...}}`` document's code."""
    if not isinstance(error, dict):
        raise _malformed("the error document is not an object", response)
    code = _code(error.get("code"))
    entry = CODES.get(code or "")
    kind = entry.error if entry is not None else GatewayError
    message = error.get("message")
    text = message if isinstance(message, str) and message else describe(code) or "gateway error"
    name = error.get("type")
    prefix = f"{name}: " if isinstance(name, str) and name else ""
    raise kind(prefix + text, provider=PROVIDER, code=code, http_status=response.status, body=response.text())


def _json(response: HttpResponse) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def document(response: HttpResponse) -> dict[str, Any]:
    """The reply as a JSON object; raises for error documents, HTTP errors and garbage."""
    data = _json(response)
    if isinstance(data, dict) and "error" in data:
        raise_error(data["error"], response)
    if response.status == 429:
        raise RateLimitedError("HTTP 429: too many requests", provider=PROVIDER, http_status=429, body=response.text())
    if response.status != 200:
        raise GatewayError(
            f"HTTP {response.status}", provider=PROVIDER, http_status=response.status, body=response.text()
        )
    if data is None:
        raise _malformed("the reply is not JSON", response)
    if not isinstance(data, dict):
        raise _malformed("the reply is not a JSON object", response)
    return data


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


Numbers = Mapping[str, str]


def _numbers(batch: Batch) -> Numbers:
    """The batch's recipients by their digits."""
    return {_digits(item.recipient): item.recipient for item in batch.items}


def _recipient(phone: Any, numbers: Numbers, response: HttpResponse) -> tuple[str, bool]:
    """The batch's E.164 form of a phone the gateway reports (it normalises numbers), and
    whether it is one of the batch's; else the phone as the gateway wrote it."""
    if isinstance(phone, bool) or not isinstance(phone, (str, int)):
        raise _malformed("an item has no phone", response)
    text = str(phone)
    found = numbers.get(_digits(text))
    return (found, True) if found is not None else (text, False)


def _id(item: Mapping[str, Any]) -> str | None:
    value = item.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value):
        return None
    return str(value)


def _send_outcome(
    item: Any, batch: Batch, numbers: Numbers, response: HttpResponse, settings: SerwerSmsSettings
) -> Outcome:
    if not isinstance(item, dict):
        raise _malformed("an item is not an object", response)
    recipient, _ = _recipient(item.get("phone"), numbers, response)
    status = item.get("status")
    parts = _count(item.get("parts"))
    if status == "queued":
        kind = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
        note = _TEST_NOTE if settings.test else None
        return Outcome(recipient, kind, message_id=_id(item), reason=note, parts=parts)
    if status == "unsent":
        code = _code(item.get("error_code"))
        message = item.get("error_message")
        reason = message if isinstance(message, str) and message else describe(code) or "not sent"
        return Outcome(recipient, Status.REJECTED, message_id=_id(item), code=code, reason=reason, parts=parts)
    return Outcome(recipient, Status.UNKNOWN, message_id=_id(item), reason=f"unexpected item status {status!r}")


def send_receipt(batch: Batch, response: HttpResponse, settings: SerwerSmsSettings) -> Receipt:
    """A send's reply: one outcome per item (``details=true`` is always asked for)."""
    data = document(response)
    items = data.get("items")
    if isinstance(items, list):
        numbers = _numbers(batch)
        return Receipt(tuple(_send_outcome(item, batch, numbers, response, settings) for item in items))
    queued, unsent = _count(data.get("queued")), _count(data.get("unsent"))
    if items is None and data.get("success") is True and queued == len(batch.items) and unsent == 0:
        kind = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
        note = _TEST_NOTE if settings.test else "the reply had no details: no message ids"
        return Receipt(tuple(Outcome(r, kind, reason=note) for r in batch.recipients))
    if data.get("success") is False:
        raise GatewayError(
            "the gateway answered success=false", provider=PROVIDER, http_status=200, body=response.text()
        )
    raise _malformed("the reply has no items and does not say every recipient was queued", response)


def _report_items(data: Mapping[str, Any], response: HttpResponse) -> list[Any]:
    items = data.get("items", [])
    if not isinstance(items, list):
        raise _malformed("the report has no items list", response)
    return items


def _reconcile_outcome(item: Any, numbers: Numbers, response: HttpResponse) -> Outcome | None:
    if not isinstance(item, dict):
        raise _malformed("a report item is not an object", response)
    recipient, ours = _recipient(item.get("phone"), numbers, response)
    if not ours:
        return None
    status, reason = item.get("status"), item.get("reason")
    reason = reason if isinstance(reason, str) and reason else None
    cost, parts, message_id = _decimal(item.get("cost")), _count(item.get("parts")), _id(item)
    if status == "unsent":
        return Outcome(recipient, Status.REJECTED, message_id, code=reason, reason=describe(reason) or "not sent")
    kind = Status.SCHEDULED if status == "saved" else Status.ACCEPTED
    note = f"found by unique_id after a lost reply (status {status})"
    return Outcome(recipient, kind, message_id, reason=note, parts=parts, cost=cost)


def reconcile_receipt(batch: Batch, response: HttpResponse) -> Receipt:
    """What ``messages/reports`` filtered by our ``unique_id`` values says the gateway has.

    Recipients it does not list are left out (the core resends only those). A reply split over
    several pages is refused, so that nothing is resent on a partial answer.
    """
    data = document(response)
    paging = data.get("paging")
    if isinstance(paging, dict):
        page, count = _count(paging.get("page")), _count(paging.get("count"))
        if page is not None and count is not None and page < count:
            raise GatewayError(
                f"the report spans {count} pages: cannot tell which recipients the gateway lacks",
                provider=PROVIDER,
                http_status=response.status,
                body=response.text(),
            )
    found: dict[str, Outcome] = {}
    numbers = _numbers(batch)
    for item in _report_items(data, response):
        outcome = _reconcile_outcome(item, numbers, response)
        if outcome is not None:
            found.setdefault(outcome.recipient, outcome)
    return Receipt(tuple(found.values()))


def delivery_reports(response: HttpResponse, settings: SerwerSmsSettings) -> tuple[DeliveryReport, ...]:
    data = document(response)
    return tuple(reports.from_item(item, settings.time_zone) for item in _report_items(data, response))


def balance(response: HttpResponse, settings: SerwerSmsSettings) -> Balance:
    """``account/limits``: the remaining limit of FULL when a sender is set, else ECO+.

    ``value``'s unit (messages or money) is *unverified*; ``unit`` names the limit type and
    ``details`` holds every type's ``value`` and ``chars_limit``.
    """
    data = document(response)
    details: dict[str, Any] = {}
    for item in _report_items(data, response):
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise _malformed("a limit item has no type", response)
        value = _decimal(item.get("value"))
        if value is None:
            raise _malformed(f"limit {item['type']!r} has no numeric value", response)
        details[item["type"]] = {"value": str(value), "chars_limit": _count(item.get("chars_limit"))}
    if not details:
        raise _malformed("account/limits listed no limits", response)
    wanted = "full" if settings.sender else "eco"
    kind = wanted if wanted in details else next(iter(details))
    return Balance(Decimal(details[kind]["value"]), unit=kind, details=details)


def call_result(operation: Call, response: HttpResponse) -> Any:
    """Plain data: the reply document (``error/<code>`` answers with the code's error document)."""
    if operation.name == "error":
        data = _json(response)
        if response.status == 200 and isinstance(data, dict) and isinstance(data.get("error"), dict):
            return dict(data["error"])
    return document(response)


def parse(operation: Operation, response: HttpResponse, settings: SerwerSmsSettings) -> Any:
    if isinstance(operation, Send):
        return send_receipt(operation.batch, response, settings)
    if isinstance(operation, Reconcile):
        return reconcile_receipt(operation.batch, response)
    if isinstance(operation, StatusQuery):
        return delivery_reports(response, settings)
    if isinstance(operation, BalanceQuery):
        return balance(response, settings)
    if isinstance(operation, Call):
        return call_result(operation, response)
    return None
