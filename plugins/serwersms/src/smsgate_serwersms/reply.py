"""Pure reply parsing for the SerwerSMS HTTPS API v2 (reference 2.4, 2.6, 2.7).

- A request-level error is ``{"error": {"code", "type", "message"}}`` (HTTP status *unverified*,
  probably 200; read the same under any status): the whole batch failed, nothing was queued.
- A send answers ``{"success": true, "queued": N, "unsent": M, "items": [...]}``; an item with
  ``status: "unsent"`` and its ``error_code`` is one rejected recipient, not a failed request.
- Any other non-200 reply is an HTTP error left to the core's rules (5xx, 429 ...); a 200 reply
  that is not a JSON object is malformed and never success.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from smsgate.errors import GatewayError, MalformedResponseError, RateLimitedError, SmsgateError
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
from smsgate_serwersms.codes import describe, error_class
from smsgate_serwersms.recipients import Recipients, phone_text
from smsgate_serwersms.settings import SerwerSmsSettings

PROVIDER = "serwersms"
_TEST_NOTE = "test mode: the gateway answered as usual and sent nothing"


def _malformed(why: str, response: HttpResponse) -> MalformedResponseError:
    return MalformedResponseError(why, provider=PROVIDER, http_status=response.status, body=response.text())


def _code(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
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
    message = error.get("message")
    text = message.strip() if isinstance(message, str) and message.strip() else describe(code) or "gateway error"
    name = error.get("type")
    name = name.strip() if isinstance(name, str) else ""
    kind = error_class(code, name)
    prefix = f"{name}: " if name else ""
    raise kind(prefix + text, provider=PROVIDER, code=code, http_status=response.status, body=response.text())


def _json(response: HttpResponse) -> Any:
    """The body as JSON; a UTF-8 byte order mark and stray non-UTF-8 bytes are tolerated (the
    document's structure is ASCII, and PHP escapes text as ``\\uXXXX`` anyway)."""
    try:
        return json.loads(response.body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError):
        return None


def _absent(value: Any) -> bool:
    """``null``, ``false``, ``""``, ``{}`` or ``[]``: an ``error`` field that reports nothing."""
    return value is None or value is False or value == "" or value == {} or value == []


def _bare_error(data: Mapping[str, Any]) -> bool:
    """``{"code", "type", "message"}`` at the top level (the XML form's shape, reference 2.4)."""
    if any(key in data for key in ("success", "items", "paging", "id")):
        return False
    return _code(data.get("code")) is not None and isinstance(data.get("message"), str)


def document(response: HttpResponse) -> dict[str, Any]:
    """The reply as a JSON object; raises for error documents, HTTP errors and garbage."""
    data = _json(response)
    if isinstance(data, dict):
        if not _absent(data.get("error")):
            raise_error(data["error"], response)
        if _bare_error(data):
            raise_error(data, response)
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
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _true(value: Any) -> bool:
    """``success`` as PHP may write it: ``true``, ``1``, ``"true"``, ``"1"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in ("true", "1")


def items_of(value: Any, response: HttpResponse, what: str) -> list[Any]:
    """``items`` as a list. PHP writes an array whose keys are not 0..n-1 as an object
    (``{"0": {...}, "2": {...}}``), and a lone item may come as one object; both are read."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if all(isinstance(v, dict) for v in value.values()):
            return list(value.values())
        return [value]
    raise _malformed(f"the {what} has no items list", response)


def _status(item: Mapping[str, Any]) -> str | None:
    status = item.get("status")
    return status.strip().lower() if isinstance(status, str) and status.strip() else None


def _id(item: Mapping[str, Any]) -> str | None:
    value = item.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        return None
    return str(value).strip()


def _send_outcome(item: Mapping[str, Any], recipient: str, batch: Batch, settings: SerwerSmsSettings) -> Outcome:
    status = _status(item)
    code = _code(item.get("error_code"))
    parts = _count(item.get("parts"))
    if status == "queued":
        kind = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
        note = _TEST_NOTE if settings.test else None
        return Outcome(recipient, kind, message_id=_id(item), reason=note, parts=parts)
    if status == "unsent" or (status is None and code is not None):
        message = item.get("error_message")
        reason = message.strip() if isinstance(message, str) and message.strip() else describe(code) or "not sent"
        return Outcome(recipient, Status.REJECTED, message_id=_id(item), code=code, reason=reason, parts=parts)
    return Outcome(recipient, Status.UNKNOWN, message_id=_id(item), reason=f"unexpected item status {status!r}")


def _objects(items: list[Any], response: HttpResponse, what: str) -> list[Mapping[str, Any]]:
    if not all(isinstance(item, dict) for item in items):
        raise _malformed(f"a {what} item is not an object", response)
    return items


def send_receipt(batch: Batch, response: HttpResponse, settings: SerwerSmsSettings) -> Receipt:
    """A send's reply: one outcome per item (``details=true`` is always asked for)."""
    data = document(response)
    raw = data.get("items")
    items = _objects(items_of(raw, response, "reply"), response, "reply") if raw is not None else []
    if items:
        outcomes = []
        for item, recipient in zip(items, Recipients(batch).assign(items)):
            if recipient is None:
                recipient = phone_text(item.get("phone"))
                if recipient is None:
                    raise _malformed("an item has no phone", response)
            outcomes.append(_send_outcome(item, recipient, batch, settings))
        return Receipt(tuple(outcomes))
    queued, unsent = _count(data.get("queued")), _count(data.get("unsent"))
    if _true(data.get("success")) and queued == len(batch.items) and unsent == 0:
        kind = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
        note = _TEST_NOTE if settings.test else "the reply had no details: no message ids"
        return Receipt(tuple(Outcome(r, kind, reason=note) for r in batch.recipients))
    if "success" in data and not _true(data.get("success")) and not queued:
        raise GatewayError(
            "the gateway answered success=false", provider=PROVIDER, http_status=200, body=response.text()
        )
    raise _malformed("the reply has no items and does not say every recipient was queued", response)


#: Report statuses that mean the gateway took the message (reference 2.6; ``pending`` is a
#: filter value read like ``in_progress``). ``saved`` is scheduled, ``unsent`` refused.
_TAKEN = frozenset({"delivered", "undelivered", "sent", "in_progress", "pending"})


def _reconcile_outcome(item: Mapping[str, Any], recipient: str) -> Outcome:
    status, reason = _status(item), item.get("reason")
    reason = reason.strip() if isinstance(reason, str) and reason.strip() else None
    cost, parts, message_id = _decimal(item.get("cost")), _count(item.get("parts")), _id(item)
    if status == "unsent":
        return Outcome(recipient, Status.REJECTED, message_id, code=reason, reason=describe(reason) or "not sent")
    if status == "saved" or status in _TAKEN:
        kind = Status.SCHEDULED if status == "saved" else Status.ACCEPTED
        note = f"found by unique_id after a lost reply (status {status})"
        return Outcome(recipient, kind, message_id, reason=note, parts=parts, cost=cost)
    # The gateway has it (so it is never resent) but did not say in what state.
    why = f"found by unique_id after a lost reply, in an undocumented status {status!r}"
    return Outcome(recipient, Status.UNKNOWN, message_id, reason=why, parts=parts, cost=cost)


def paging(data: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``paging{page, count}`` of a ``messages/reports`` reply (``None`` where absent)."""
    value = data.get("paging")
    if not isinstance(value, dict):
        return None, None
    return _count(value.get("page")), _count(value.get("count"))


def _report_items(data: Mapping[str, Any], response: HttpResponse) -> list[Mapping[str, Any]]:
    """The ``items`` of a lookup reply, only in a documented shape: a JSON array, or the object
    PHP writes for an array with gaps in its keys (``{"0": {...}, "2": {...}}``). Anything else
    (absent, ``null``, ``{}``, a lone item, a string) cannot prove that an item is missing."""
    raw = data.get("items")
    if isinstance(raw, dict) and raw and all(isinstance(k, str) and k.isdigit() for k in raw):
        raw = list(raw.values())
    if not isinstance(raw, list):
        raise _malformed("the lookup reply has no items list: it cannot tell what the gateway lacks", response)
    return _objects(raw, response, "lookup")


def reconcile_receipt(batch: Batch, response: HttpResponse) -> Receipt:
    """What ``messages/reports`` filtered by our ``unique_id`` values says the gateway has.

    Recipients it does not list are left out, and the core resends those, so only a well-formed
    report may leave anyone out: ``paging`` saying this is page 1 of at most 1, an ``items``
    list, and every item matched to one of the batch's recipients. Anything else raises
    ``MalformedResponseError`` (the lookup fails and the outcomes stay unknown).
    """
    data = document(response)
    page, count = paging(data)
    if page is None or count is None:
        raise _malformed("the lookup reply has no paging{page, count}: it may not be the whole answer", response)
    if page != 1 or count > 1:
        raise _malformed(
            f"the lookup reply is page {page} of {count}: cannot tell which recipients the gateway lacks", response
        )
    items = _report_items(data, response)
    if count == 0 and items:
        raise _malformed("the lookup reply says there are no pages yet lists items", response)
    found: dict[str, Outcome] = {}
    for item, recipient in zip(items, Recipients(batch).assign(items)):
        if recipient is None:
            raise _malformed(
                f"a lookup item (phone {item.get('phone')!r}) matches none of the batch's recipients", response
            )
        found.setdefault(recipient, _reconcile_outcome(item, recipient))
    return Receipt(tuple(found.values()))


def delivery_reports(response: HttpResponse, settings: SerwerSmsSettings) -> tuple[DeliveryReport, ...]:
    data = document(response)
    items = items_of(data.get("items"), response, "report")
    return tuple(reports.from_item(item, settings.time_zone) for item in items)


#: How ``account/limits`` may say a type has no limit (the XML API wrote "brak limitu").
_UNLIMITED = frozenset({"brak limitu", "bez limitu", "unlimited", "no limit", "nolimit"})


def balance(response: HttpResponse, settings: SerwerSmsSettings) -> Balance:
    """``account/limits``: the remaining limit of FULL when a sender is set, else ECO+.

    ``value``'s unit (messages or money) is *unverified*; ``unit`` names the limit type and
    ``details`` holds every type's ``value`` and ``chars_limit``. A type without a limit
    ("brak limitu") has an infinite amount; a type whose value cannot be read does not spoil
    the others, unless it is the one asked for.
    """
    data = document(response)
    details: dict[str, Any] = {}
    for item in items_of(data.get("items"), response, "limits reply"):
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(kind, str) or not kind.strip():
            continue
        raw = item.get("value")
        value = _decimal(raw)
        if value is not None:
            shown: str | None = str(value)
        elif isinstance(raw, str) and raw.strip().lower() in _UNLIMITED:
            shown = "unlimited"
        else:
            shown = None
        details[kind.strip().lower()] = {"value": shown, "chars_limit": _count(item.get("chars_limit"))}
    if not details:
        raise _malformed("account/limits listed no limits", response)
    wanted = "full" if settings.sender else "eco"
    kind = wanted if wanted in details else next(iter(details))
    shown = details[kind]["value"]
    if shown is None:
        raise _malformed(f"limit {kind!r} has no numeric value", response)
    amount = Decimal("Infinity") if shown == "unlimited" else Decimal(shown)
    return Balance(amount, unit=kind, details=details)


def reports_page(response: HttpResponse, settings: SerwerSmsSettings) -> dict[str, Any]:
    """The ``reports`` call: ``{"page", "count", "reports"}``, the reports normalised and the
    paging as the gateway numbers it (``count`` pages in all; ``None`` where absent)."""
    data = document(response)
    page, count = paging(data)
    items = items_of(data.get("items"), response, "report")
    return {"page": page, "count": count, "reports": tuple(reports.from_item(i, settings.time_zone) for i in items)}


def call_result(operation: Call, response: HttpResponse, settings: SerwerSmsSettings) -> Any:
    """Plain data: the reply document (``error/<code>`` answers with the code's error document;
    ``reports`` with the normalised reports of one page)."""
    if operation.name == "reports":
        return reports_page(response, settings)
    if operation.name == "error":
        data = _json(response)
        if response.status == 200 and isinstance(data, dict) and isinstance(data.get("error"), dict):
            return dict(data["error"])
    return document(response)


def parse(operation: Operation, response: HttpResponse, settings: SerwerSmsSettings) -> Any:
    """Read the reply to ``operation``; only smsgate errors escape (anything else a parser
    raises, ``RecursionError`` on absurd nesting say, is a ``MalformedResponseError``)."""
    try:
        return _parse(operation, response, settings)
    except SmsgateError:
        raise
    except Exception as exc:
        raise _malformed(f"unreadable reply ({type(exc).__name__})", response) from exc


def _parse(operation: Operation, response: HttpResponse, settings: SerwerSmsSettings) -> Any:
    if isinstance(operation, Send):
        return send_receipt(operation.batch, response, settings)
    if isinstance(operation, Reconcile):
        return reconcile_receipt(operation.batch, response)
    if isinstance(operation, StatusQuery):
        return delivery_reports(response, settings)
    if isinstance(operation, BalanceQuery):
        return balance(response, settings)
    if isinstance(operation, Call):
        return call_result(operation, response, settings)
    return None
