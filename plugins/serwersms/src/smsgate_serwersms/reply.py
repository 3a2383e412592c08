"""The parse handlers: pure reply parsing for the SerwerSMS HTTPS API v2 (reference 2.4, 2.6, 2.7).

- A request-level error is ``{"error": {"code", "type", "message"}}`` (HTTP status *unverified*,
  probably 200; read the same under any status): the whole batch failed, nothing was queued.
- A send answers ``{"success": true, "queued": N, "unsent": M, "items": [...]}``; an item with
  ``status: "unsent"`` and its ``error_code`` is one rejected recipient, not a failed request.
- Any other non-200 reply is an HTTP error left to the core's rules (5xx, 429 ...); a 200 reply
  that is not a JSON object is malformed and never success.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from smsgate.codes import unreadable
from smsgate.errors import GatewayError, RateLimitedError
from smsgate.models import (
    Balance,
    BalanceQuery,
    Batch,
    Call,
    DeliveryReport,
    HttpResponse,
    Outcome,
    Receipt,
    Reconcile,
    Send,
    Status,
    StatusQuery,
)
from smsgate_serwersms import codes, dlr
from smsgate_serwersms.codes import CODES
from smsgate_serwersms.dlr import phone_text
from smsgate_serwersms.request import unique_id
from smsgate_serwersms.settings import SerwerSmsSettings

_TEST_NOTE = "test mode: the gateway answered as usual and sent nothing"


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
        raise unreadable("the error document is not an object", response)
    code = _code(error.get("code"))
    message = error.get("message")
    if isinstance(message, str) and message.strip():
        text = message.strip()
    else:
        text = CODES.meaning(code) if code is not None else "gateway error"
    name = error.get("type")
    name = name.strip() if isinstance(name, str) else ""
    prefix = f"{name}: " if name else ""
    raise codes.error(code, name, prefix + text, http_status=response.status, body=response.text())


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
        raise RateLimitedError("HTTP 429: too many requests", http_status=429, body=response.text())
    if response.status != 200:
        raise GatewayError(f"HTTP {response.status}", http_status=response.status, body=response.text())
    if data is None:
        raise unreadable("the reply is not JSON", response)
    if not isinstance(data, dict):
        raise unreadable("the reply is not a JSON object", response)
    return data


def _count(value: Any) -> int | None:
    if type(value) is int:  # the common case (not a bool)
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():  # not "²"
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
    raise unreadable(f"the {what} has no items list", response)


def _status(item: Mapping[str, Any]) -> str | None:
    status = item.get("status")
    if not isinstance(status, str):
        return None
    status = status.strip()
    return status.lower() if status else None


def _id(item: Mapping[str, Any]) -> str | None:
    value = item.get("id")
    if type(value) is str:  # the common case
        return value.strip() or None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        return None
    return str(value).strip()


# -- matching reply items to the batch's recipients ----------------------------------------

#: The fewest digits a national spelling may have to be matched by its ending.
MIN_NATIONAL_DIGITS = 7


def digits(value: str) -> str:
    """The ASCII digits of ``value``, in order."""
    if value.isascii():  # the common cases first: E.164 (``+48...``) or digits only
        if value.isdigit():
            return value
        if value[:1] == "+" and value[1:].isdigit():
            return value[1:]
    return "".join(c for c in value if "0" <= c <= "9")


class Recipients:
    """A batch's recipients, for matching the gateway's ``phone`` (and ``unique_id``) in reply
    items back to them.

    The gateway "corrects" every number and writes it "in full format ... or the country code (eg.
    48) at the beginning" (seed 001): ``+48500600700``, ``48500600700``, and other spellings are
    possible (``0048500600700``, the national ``500600700``, spaces, a JSON number). We send E.164,
    so reply items are matched in passes, an earlier pass taking precedence:

    1. the item's ``unique_id``, when the gateway echoes it (not documented, but unambiguous), or
       its digits equal to one recipient's digits (after dropping a ``00`` international prefix);
    2. a phone written without ``+``, of at least 7 digits, that ends exactly one recipient not
       matched yet, the rest being a 1-3 digit country code (the national spelling ``500600700``);
    3. a batch of one recipient whose reply has one item with a status but without any phone.

    Anything else is not one of the batch's recipients (a panel group's member, a wrong number
    echoed as given): it keeps the gateway's spelling and the core leaves it out.
    """

    def __init__(self, batch: Batch) -> None:
        self.count = len(batch.items)
        self._batch = batch
        self._by_digits = {digits(i.recipient): i.recipient for i in batch.items}
        self._by_uid: dict[str, str] | None = None  # built on the first echoed unique_id
        self._tails: dict[str, list[str]] | None = None

    def exact(self, phone: Any, uid: Any = None) -> str | None:
        """Pass 1: by the echoed ``unique_id`` or by all the digits."""
        if isinstance(uid, str) and uid.strip():
            if self._by_uid is None:
                self._by_uid = {unique_id(i.key): i.recipient for i in self._batch.items}
            if uid.strip() in self._by_uid:
                return self._by_uid[uid.strip()]
        text = phone_text(phone)
        number = digits(text) if text is not None else ""
        if not number:
            return None
        found = self._by_digits.get(number)
        if found is None and number.startswith("00"):
            found = self._by_digits.get(number[2:])
        return found

    def _national(self, phone: Any, taken: set[str]) -> str | None:
        """Pass 2: a national spelling (no ``+``) ending exactly one recipient not yet matched."""
        text = phone_text(phone)
        if text is None or text.startswith("+"):
            return None
        number = digits(text)
        if len(number) < MIN_NATIONAL_DIGITS:
            return None
        if self._tails is None:  # built once, on the first national spelling
            self._tails = {}
            for known in self._by_digits:
                self._tails.setdefault(known[-MIN_NATIONAL_DIGITS:], []).append(known)
        found = [
            self._by_digits[known]
            for known in self._tails.get(number[-MIN_NATIONAL_DIGITS:], ())
            if 1 <= len(known) - len(number) <= 3 and known.endswith(number) and self._by_digits[known] not in taken
        ]
        return found[0] if len(found) == 1 else None

    def assign(self, items: Sequence[Mapping[str, Any]]) -> list[str | None]:
        """The recipient of each reply item (``None``: not one of the batch's)."""
        matched: list[str | None] = [self.exact(item.get("phone"), item.get("unique_id")) for item in items]
        taken = {m for m in matched if m is not None}
        if len(taken) < self.count:
            for n, item in enumerate(items):
                if matched[n] is None:
                    found = self._national(item.get("phone"), taken)
                    if found is not None:
                        matched[n] = found
                        taken.add(found)
        if self.count == 1 and len(items) == 1 and not taken:
            only = items[0]
            if phone_text(only.get("phone")) is None and isinstance(only.get("status"), str):
                matched[0] = next(iter(self._by_digits.values()))
        return matched


def _send_outcome(item: Mapping[str, Any], recipient: str, queued: Status, note: str | None) -> Outcome:
    """One recipient's outcome; a queued one is ``queued`` (accepted or scheduled) with ``note``."""
    status = _status(item)
    parts = _count(item.get("parts"))
    if status == "queued":
        return Outcome(recipient, queued, message_id=_id(item), reason=note, parts=parts)
    code = _code(item.get("error_code"))
    if status == "unsent" or (status is None and code is not None):
        message = item.get("error_message")
        reason = (
            message.strip()
            if isinstance(message, str) and message.strip()
            else CODES.meaning(code)
            if code is not None
            else "not sent"
        )
        return Outcome(recipient, Status.REJECTED, message_id=_id(item), code=code, reason=reason, parts=parts)
    return Outcome(recipient, Status.UNKNOWN, message_id=_id(item), reason=f"unexpected item status {status!r}")


def _objects(items: list[Any], response: HttpResponse, what: str) -> list[Mapping[str, Any]]:
    if not all(isinstance(item, dict) for item in items):
        raise unreadable(f"a {what} item is not an object", response)
    return items


def parse_send(operation: Send, response: HttpResponse, settings: SerwerSmsSettings) -> Receipt:
    """A send's reply: one outcome per item (``details=true`` is always asked for)."""
    batch = operation.batch
    data = document(response)
    raw = data.get("items")
    items = _objects(items_of(raw, response, "reply"), response, "reply") if raw is not None else []
    if items:
        queued_as = Status.SCHEDULED if batch.schedule else Status.ACCEPTED  # the same for every item
        note = _TEST_NOTE if settings.test else None
        outcomes = []
        for item, recipient in zip(items, Recipients(batch).assign(items)):
            if recipient is None:
                recipient = phone_text(item.get("phone"))
                if recipient is None:
                    raise unreadable("an item has no phone", response)
            outcomes.append(_send_outcome(item, recipient, queued_as, note))
        return Receipt(tuple(outcomes))
    queued, unsent = _count(data.get("queued")), _count(data.get("unsent"))
    if _true(data.get("success")) and queued == len(batch.items) and unsent == 0:
        kind = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
        note = _TEST_NOTE if settings.test else "the reply had no details: no message ids"
        return Receipt(tuple(Outcome(r, kind, reason=note) for r in batch.recipients))
    if "success" in data and not _true(data.get("success")) and not queued:
        raise GatewayError("the gateway answered success=false", http_status=200, body=response.text())
    raise unreadable("the reply has no items and does not say every recipient was queued", response)


#: Report statuses that mean the gateway took the message (reference 2.6; ``pending`` is a
#: filter value read like ``in_progress``). ``saved`` is scheduled, ``unsent`` refused.
_TAKEN = frozenset({"delivered", "undelivered", "sent", "in_progress", "pending"})


def _reconcile_outcome(item: Mapping[str, Any], recipient: str) -> Outcome:
    status, reason = _status(item), item.get("reason")
    reason = reason.strip() if isinstance(reason, str) and reason.strip() else None
    cost, parts, message_id = _decimal(item.get("cost")), _count(item.get("parts")), _id(item)
    if status == "unsent":
        return Outcome(
            recipient,
            Status.REJECTED,
            message_id,
            code=reason,
            reason=CODES.meaning(reason) if reason is not None else "not sent",
        )
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
        raise unreadable("the lookup reply has no items list: it cannot tell what the gateway lacks", response)
    return _objects(raw, response, "lookup")


def parse_reconcile(operation: Reconcile, response: HttpResponse, settings: SerwerSmsSettings) -> Receipt:
    """What ``messages/reports`` filtered by our ``unique_id`` values says the gateway has.

    Recipients it does not list are left out, and the core resends those, so only a well-formed
    report may leave anyone out: ``paging`` saying this is page 1 of at most 1, an ``items``
    list, and every item matched to one of the batch's recipients. Anything else raises
    ``MalformedResponseError`` (the lookup fails and the outcomes stay unknown).
    """
    data = document(response)
    page, count = paging(data)
    if page is None or count is None:
        raise unreadable("the lookup reply has no paging{page, count}: it may not be the whole answer", response)
    if page != 1 or count > 1:
        raise unreadable(
            f"the lookup reply is page {page} of {count}: cannot tell which recipients the gateway lacks", response
        )
    items = _report_items(data, response)
    if count == 0 and items:
        raise unreadable("the lookup reply says there are no pages yet lists items", response)
    found: dict[str, Outcome] = {}
    for item, recipient in zip(items, Recipients(operation.batch).assign(items)):
        if recipient is None:
            raise unreadable(
                f"a lookup item (phone {item.get('phone')!r}) matches none of the batch's recipients", response
            )
        found.setdefault(recipient, _reconcile_outcome(item, recipient))
    return Receipt(tuple(found.values()))


def parse_status(
    operation: StatusQuery, response: HttpResponse, settings: SerwerSmsSettings
) -> tuple[DeliveryReport, ...]:
    """``messages/reports`` by message id: the reports normalised."""
    data = document(response)
    items = items_of(data.get("items"), response, "report")
    return tuple(dlr.from_item(item, settings.timezone) for item in items)


#: How ``account/limits`` may say a type has no limit (the XML API wrote "brak limitu").
_UNLIMITED = frozenset({"brak limitu", "bez limitu", "unlimited", "no limit", "nolimit"})


def parse_balance(operation: BalanceQuery, response: HttpResponse, settings: SerwerSmsSettings) -> Balance:
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
        raise unreadable("account/limits listed no limits", response)
    wanted = "full" if settings.sender else "eco"
    kind = wanted if wanted in details else next(iter(details))
    shown = details[kind]["value"]
    if shown is None:
        raise unreadable(f"limit {kind!r} has no numeric value", response)
    amount = Decimal("Infinity") if shown == "unlimited" else Decimal(shown)
    return Balance(amount, unit=kind, details=details)


def reports_page(response: HttpResponse, settings: SerwerSmsSettings) -> dict[str, Any]:
    """The ``reports`` call: ``{"page", "count", "reports"}``, the reports normalised and the
    paging as the gateway numbers it (``count`` pages in all; ``None`` where absent)."""
    data = document(response)
    page, count = paging(data)
    items = items_of(data.get("items"), response, "report")
    return {"page": page, "count": count, "reports": tuple(dlr.from_item(i, settings.timezone) for i in items)}


def parse_call(operation: Call, response: HttpResponse, settings: SerwerSmsSettings) -> Any:
    """Plain data: the reply document (``error/<code>`` answers with the code's error document;
    ``reports`` with the normalised reports of one page)."""
    if operation.name == "reports":
        return reports_page(response, settings)
    if operation.name == "error":
        data = _json(response)
        if response.status == 200 and isinstance(data, dict) and isinstance(data.get("error"), dict):
            return dict(data["error"])
    return document(response)
