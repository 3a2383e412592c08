"""The parse handlers: SMSC's ``fmt=3`` JSON documents into receipts, reports, prices and balances,
one exact-typed function per operation, registered in the handler table of :mod:`.request`.

An error is ``{"error": "<description>", "error_code": N}`` (maybe with ``id``) for the whole request;
SMSC answers it with HTTP 200. Anything that cannot be read is a ``MalformedResponseError`` with the
body, never a success.
"""

from __future__ import annotations

import codecs
import functools
import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn, TypeVar

from smsgate.codes import unreadable
from smsgate.errors import GatewayError
from smsgate.models import (
    Balance,
    BalanceQuery,
    Batch,
    Call,
    DeliveryReport,
    DeliveryStatus,
    HttpResponse,
    Outcome,
    Price,
    Quote,
    Receipt,
    Reconcile,
    Send,
    Status,
    StatusQuery,
)

from . import codes
from .request import message_id
from .schedule import moscow
from .settings import SmscSettings

_TEXT_ERROR = re.compile(r"^\s*ERROR\s*=\s*(\d+)\s*(?:\((.*)\))?", re.DOTALL)
_XML_ERROR = re.compile(r"<error>(.*?)</error>\s*<error_code>\s*(\d+)\s*</error_code>", re.DOTALL)
OpT = TypeVar("OpT")
R = TypeVar("R")
_BOM = codecs.BOM_UTF8


class Unreadable(Exception):
    """Raised inside the parsers; turned into ``MalformedResponseError`` with the body."""


def _readable(
    handler: Callable[[OpT, HttpResponse, SmscSettings], R],
) -> Callable[[OpT, HttpResponse, SmscSettings], R]:
    """``handler``, with what the parsers found unreadable said with the reply's body."""

    @functools.wraps(handler)
    def read(operation: OpT, response: HttpResponse, settings: SmscSettings) -> R:
        try:
            return handler(operation, response, settings)
        except Unreadable as exc:
            raise unreadable(f"unreadable SMSC reply: {exc}", response) from None

    return read


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise Unreadable(f"{what} is not an integer")
    text = str(value).strip()
    if not re.fullmatch(r"[+-]?\d{1,18}", text):
        raise Unreadable(f"{what} is not an integer")
    return int(text)


def _opt_int(value: Any, what: str) -> int | None:
    return None if value is None or value == "" else _int(value, what)


def _decimal(value: Any, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Unreadable(f"{what} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise Unreadable(f"{what} is not a number") from None
    if not number.is_finite():
        raise Unreadable(f"{what} is not a finite number")
    return number


def _text(response: HttpResponse, settings: SmscSettings) -> str:
    """The body as text: in the requested charset, else UTF-8 (a gateway answering UTF-8 whatever
    ``charset`` said), else the charset with replacement characters (every field the parser needs
    is ASCII; only descriptions may suffer). A UTF-8 byte-order mark is dropped."""
    body, order = response.body, (settings.codec, "utf-8")
    if body.startswith(_BOM):
        body, order = body[len(_BOM) :], ("utf-8", settings.codec)
    for codec in dict.fromkeys(order):
        try:
            return body.decode(codec)
        except UnicodeDecodeError:
            continue
    return body.decode(settings.codec, errors="replace")


def raise_error(code: Any, description: Any, response: HttpResponse, endpoint: str) -> NoReturn:
    """Raise the error SMSC reported for the whole request (9 is throttling except on a send)."""
    number = str(_int(code, "error_code"))
    table = codes.TABLES[endpoint]
    wording = table.meaning(number)
    if isinstance(description, str) and description.strip():
        wording += f" (SMSC says: {description.strip()[:200]})"
    raise table.error(
        number, message=f"SMSC error {number}: {wording}", http_status=response.status, body=response.text()
    )


def document(response: HttpResponse, settings: SmscSettings, endpoint: str) -> Any:
    """The reply as JSON, after raising the request-level error it may carry."""
    text = _text(response, settings)
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        match = _TEXT_ERROR.match(text)  # a plain ``fmt=0`` error: "ERROR = 2 (description)"
        if match:
            raise_error(match[1], match[2], response, endpoint)
        xml = _XML_ERROR.search(text)  # ``fmt=2``: <result><error>..</error><error_code>N</error_code>..
        if xml:
            raise_error(xml[2], xml[1], response, endpoint)
        if response.status != 200:
            raise GatewayError(
                f"HTTP {response.status} from SMSC", http_status=response.status, body=response.text()
            ) from None
        raise Unreadable("reply is not JSON") from None
    if isinstance(doc, dict) and ("error_code" in doc or "error" in doc):
        raise_error(doc.get("error_code"), doc.get("error"), response, endpoint)
    if response.status != 200:
        raise GatewayError(f"HTTP {response.status} from SMSC", http_status=response.status, body=response.text())
    return doc


def _object(doc: Any, what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise Unreadable(f"{what} is not a JSON object")
    return doc


def _recipients(batch: Batch) -> dict[str, str]:
    return {_digits(r): r for r in batch.recipients}


def _phone_outcome(entry: Any, batch: Batch, ident: str, known: dict[str, str]) -> Outcome:
    """One ``phones[]`` entry of an ``op=1`` reply. A number is refused when its ``error`` is set
    or its ``status`` is a failure (the field set is *unverified*; both readings are honoured)."""
    item = _object(entry, "phones entry")
    phone = item.get("phone")
    if not isinstance(phone, (str, int)) or isinstance(phone, bool) or not _digits(str(phone)):
        raise Unreadable("phones entry without a phone number")
    recipient = known.get(_digits(str(phone)), str(phone))
    status = _opt_int(item.get("status"), "phones status")
    error = _opt_int(item.get("error"), "phones error")
    cost = _decimal(item.get("cost"), "phones cost")
    if error:
        code = str(error)
        reason = codes.TABLE[code].meaning if code in codes.TABLE else codes.delivery_error_meaning(error)
        return Outcome(recipient, Status.REJECTED, code=code, reason=reason)
    if status is not None and status in codes.FAILED_STATUSES:
        return Outcome(recipient, Status.REJECTED, code=f"status:{status}", reason=codes.status_meaning(status))
    accepted = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
    return Outcome(recipient, accepted, message_id=ident, cost=cost)


def _with_parts(outcomes: list[Outcome], cnt: int) -> tuple[Outcome, ...]:
    taken = [o for o in outcomes if o.ok]
    if not taken or cnt % len(taken):
        return tuple(outcomes)
    parts = cnt // len(taken)
    return tuple(
        Outcome(o.recipient, o.status, o.message_id, o.code, o.reason, parts, o.cost) if o.ok else o for o in outcomes
    )


def send_receipt(doc: Any, batch: Batch, settings: SmscSettings) -> Receipt:
    """``{"id", "cnt", "cost", "balance", "phones": [...]}`` -> one outcome per number."""
    body = _object(doc, "reply")
    if settings.test:
        return _test_receipt(body, batch)
    ident = str(_int(body.get("id"), "id"))
    cnt = _int(body.get("cnt"), "cnt")
    cost, balance = _decimal(body.get("cost"), "cost"), _decimal(body.get("balance"), "balance")
    phones = body.get("phones")
    if phones is None:  # accepted as a whole, no per-number detail
        if cnt < 1:
            raise Unreadable("reply accepts no message (cnt=0) and lists no numbers")
        status = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
        outcomes = [Outcome(r, status, message_id=ident) for r in batch.recipients]
    elif isinstance(phones, list):
        known = _recipients(batch)
        outcomes = [_phone_outcome(entry, batch, ident, known) for entry in phones]
        listed = {_digits(o.recipient) for o in outcomes}
        if cnt > 0:  # accepted as a whole: a number not listed as bad is on its way
            status = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
            outcomes += [Outcome(r, status, message_id=ident) for d, r in known.items() if d not in listed]
    else:
        raise Unreadable("phones is not a list")
    return Receipt(_with_parts(outcomes, cnt), cost=cost, balance=balance)


def _test_receipt(body: dict[str, Any], batch: Batch) -> Receipt:
    """Test mode (``cost=1``): SMSC checked and priced the request and sent nothing. Numbers its
    ``phones`` list (``err=1``/``op=1``) marks as bad are rejected, as a real send would reject them."""
    cost = _decimal(body.get("cost"), "cost")
    if cost is None:
        raise Unreadable("test-mode reply without cost")
    _int(body.get("cnt"), "cnt")
    phones = body.get("phones", [])
    if not isinstance(phones, list):
        raise Unreadable("phones is not a list")
    known = _recipients(batch)
    refused = {}
    for entry in phones:
        outcome = _phone_outcome(entry, batch, "", known)
        if not outcome.ok:
            refused[_digits(outcome.recipient)] = outcome
    reason = "test mode (cost=1): checked and priced by SMSC, not sent"
    outcomes = (refused.get(_digits(r), Outcome(r, Status.ACCEPTED, reason=reason)) for r in batch.recipients)
    return Receipt(tuple(outcomes), cost=cost)


def _items(doc: Any) -> list[dict[str, Any]]:
    items = doc if isinstance(doc, list) else [doc]
    return [_object(item, "status entry") for item in items]


def _at(item: dict[str, Any]) -> datetime | None:
    """When the status last changed: ``last_timestamp``, else ``last_date`` (Moscow wall time)."""
    stamp = _opt_int(item.get("last_timestamp"), "last_timestamp")
    if stamp:
        try:
            return datetime.fromtimestamp(stamp, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise Unreadable("last_timestamp is out of range") from None
    date = item.get("last_date")
    if isinstance(date, str) and date.strip():
        try:
            wall = datetime.strptime(date.strip(), "%d.%m.%Y %H:%M:%S")
            return wall.replace(tzinfo=moscow()).astimezone(timezone.utc)
        except (ValueError, OverflowError):
            return None
    return None


def reconcile_receipt(doc: Any, batch: Batch) -> Receipt:
    """status.php entries for the batch's id: what SMSC has of each number.

    The request lists the batch's numbers in order, so an entry without ``phone`` is read as the
    number at its position (a list as long as the batch, or the single object of a one-number
    lookup). Only status -3 (not found) leaves a number out, which makes the core resend it; a
    number no readable entry settles (an entry error, another id, a short list) is ``unknown``
    and never resent: SMSC may have it.
    """
    known = _recipients(batch)
    ident = str(message_id(batch))
    items = _items(doc)
    positional = len(items) == len(batch.items)
    accepted = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
    settled: dict[str, Outcome | None] = {}
    for n, item in enumerate(items):
        phone = item.get("phone")
        if isinstance(phone, (str, int)) and not isinstance(phone, bool) and _digits(str(phone)) in known:
            recipient = known[_digits(str(phone))]
        elif phone is None and positional:
            recipient = batch.recipients[n]
        else:
            continue
        if "error" in item or "error_code" in item or str(item.get("id", ident)).strip() != ident:
            continue
        status = _int(item.get("status"), "status")
        if status == -3:
            settled[recipient] = None
        elif status in codes.REFUSED_STATUSES:
            reason = codes.status_meaning(status)
            settled[recipient] = Outcome(recipient, Status.REJECTED, code=f"status:{status}", reason=reason)
        else:
            settled[recipient] = Outcome(recipient, accepted, message_id=ident)
    outcomes: list[Outcome] = []
    for recipient in batch.recipients:
        if recipient not in settled:
            reason = "SMSC's status reply did not settle this number; not resent"
            outcomes.append(Outcome(recipient, Status.UNKNOWN, reason=reason))
        elif (found := settled[recipient]) is not None:
            outcomes.append(found)
    return Receipt(tuple(outcomes))


def report(item: dict[str, Any], message_id: str, recipient: str | None) -> DeliveryReport:
    """One status entry (or callback) as a normalised delivery report."""
    status = _int(item.get("status"), "status")
    err = _opt_int(item.get("err"), "err") or 0
    entry = codes.STATUSES.get(status)
    state = entry.state if entry is not None else DeliveryStatus.UNKNOWN
    reason = codes.status_meaning(status)
    if err == codes.VIRTUAL_SENDING:
        state = DeliveryStatus.FAILED
    if err:
        reason = f"{reason}: {codes.delivery_error_meaning(err)} (err {err})"
    phone = item.get("phone")
    if isinstance(phone, (str, int)) and not isinstance(phone, bool) and _digits(str(phone)):
        recipient = recipient if recipient and _digits(recipient) == _digits(str(phone)) else str(phone)
    raw = {str(k): "" if v is None else str(v) for k, v in item.items()}
    return DeliveryReport(str(item.get("id") or message_id), state, recipient, str(status), reason, _at(item), raw)


def reports(doc: Any, query: StatusQuery) -> tuple[DeliveryReport, ...]:
    items = _items(doc)
    out = []
    for n, item in enumerate(items):
        if "error" in item or "error_code" in item:
            continue
        ident = query.message_ids[n] if n < len(query.message_ids) else query.message_ids[-1]
        out.append(report(item, ident, query.recipient))
    return tuple(out)


def price(doc: Any) -> Price:
    body = _object(doc, "reply")
    cost = _decimal(body.get("cost"), "cost")
    if cost is None:
        raise Unreadable("reply without cost")
    return Price(cost, parts=_int(body.get("cnt"), "cnt"))


def balance(doc: Any) -> Balance:
    body = _object(doc, "reply")
    amount = _decimal(body.get("balance"), "balance")
    if amount is None:
        raise Unreadable("reply without balance")
    currency = body.get("currency")
    details = {k: str(v) for k, v in body.items() if k not in ("balance", "currency")}
    return Balance(amount, unit=currency if isinstance(currency, str) and currency else None, details=details)


_TASK_FIELDS = ("id", "name", "status", "created", "time", "file")


def _task(item: dict[str, Any]) -> dict[str, Any]:
    status = _int(item.get("status"), "task status")
    task = {k: "" if item.get(k) is None else str(item.get(k)) for k in _TASK_FIELDS}
    return {
        **task,
        "id": _int(item.get("id"), "task id"),
        "status": status,
        "state": codes.TASK_STATUSES.get(status, f"status {status}"),
    }


def tasks(response: HttpResponse, settings: SmscSettings) -> tuple[dict[str, Any], ...]:
    """The pending task list: a JSON array, or lines ``id,name,status,created,time,file``."""
    text = _text(response, settings)
    try:
        doc = document(response, settings, "downloads")
    except Unreadable:
        rows = [line.split(",") for line in text.splitlines() if line.strip()]
        if any(len(r) < 6 for r in rows):
            raise
        doc = [dict(zip(_TASK_FIELDS, (r[0], ",".join(r[1:-4]), *r[-4:]))) for r in rows]
    if isinstance(doc, dict):
        doc = [doc] if doc else []
    if not isinstance(doc, list):
        raise Unreadable("task list is not a list")
    return tuple(_task(_object(item, "task")) for item in doc)


def download(response: HttpResponse, settings: SmscSettings) -> str:
    """A finished task's CSV file, as text; an SMSC error document raises instead."""
    text = _text(response, settings)
    if text.lstrip().startswith(("{", "ERROR", "<result>")):
        document(response, settings, "downloads")
    if response.status != 200:
        raise GatewayError(f"HTTP {response.status} from SMSC", http_status=response.status, body=text)
    return text


@_readable
def parse_send(operation: Send, response: HttpResponse, settings: SmscSettings) -> Receipt:
    endpoint = "cost" if settings.test else "send"  # test mode sends cost requests
    return send_receipt(document(response, settings, endpoint), operation.batch, settings)


@_readable
def parse_reconcile(operation: Reconcile, response: HttpResponse, settings: SmscSettings) -> Receipt:
    return reconcile_receipt(document(response, settings, "status"), operation.batch)


@_readable
def parse_quote(operation: Quote, response: HttpResponse, settings: SmscSettings) -> Price:
    return price(document(response, settings, "cost"))


@_readable
def parse_status(operation: StatusQuery, response: HttpResponse, settings: SmscSettings) -> tuple[DeliveryReport, ...]:
    return reports(document(response, settings, "status"), operation)


@_readable
def parse_balance(operation: BalanceQuery, response: HttpResponse, settings: SmscSettings) -> Balance:
    return balance(document(response, settings, "balance"))


@_readable
def parse_call(operation: Call, response: HttpResponse, settings: SmscSettings) -> object:
    return tasks(response, settings) if operation.name == "tasks" else download(response, settings)
