"""The parse handlers (registered in ``__init__``): send replies, the credit check and request-level errors.

A send reply is plain text, one item per destination, comma-separated (seed 002, real replies in
the reference): ``1701|<number>|<message id>`` on success and ``<code>|<number>`` on failure.
Route Mobile's newer platform writes ``1701|<number>:<message id>`` (and ``1706|NA``). A bare code
(``1702``) is an error for the whole request, and some deployments answer a sentence instead
(``Destination/(s) is not White Listed.``). When fewer items come back than numbers were sent
(credit ran out part-way), the numbers not mentioned are left out: the core reports them
``unknown``. A ``1701`` without a message id is ``unknown`` too: one client documents it as a
failure. Whitespace, CRLF, a byte order mark and trailing separators around items are ignored;
an empty id is no id.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from smsgate.codes import unreadable
from smsgate.errors import GatewayError
from smsgate.models import Balance, BalanceQuery, Batch, HttpResponse, Outcome, Receipt, Send, Status, Verdict
from smsgate_routesms import codes
from smsgate_routesms.settings import RoutesmsSettings

_CODE = re.compile(r"[0-9]{1,6}")
_SEPARATORS = re.compile(r"[,\r\n]+")
_AMOUNT = r"[+-]?(?:[0-9]{1,15}(?:\.[0-9]{0,10})?|\.[0-9]{1,10})(?:[eE][+-]?[0-9]{1,3})?"
_BALANCE = re.compile(rf"balance\s*:\s*({_AMOUNT})", re.IGNORECASE)
#: What surrounds a reply and is no part of it: whitespace and a byte order mark.
_JUNK = " \t\r\n\ufeff\x00"
#: Shortest number a reformatted destination is matched on by its trailing digits.
_MIN_SUFFIX = 7


def _digits(number: str) -> str:
    return "".join(c for c in number if "0" <= c <= "9")


def _text_label(text: str) -> str | None:
    lowered = text.lower()
    return next((label for start, label in codes.TEXT_REPLIES.items() if lowered.startswith(start)), None)


def raise_code(code: str, response: HttpResponse, body: str) -> NoReturn:
    """Raise the error for a reply that is a code (or a known sentence) for the whole request."""
    if code == codes.SUCCESS:
        raise unreadable("success code without destination or message id", response)
    raise codes.TABLE.error(code, http_status=response.status, body=body)


def _unreadable(why: str, response: HttpResponse, body: str) -> NoReturn:
    """An unreadable 200 reply is ``MalformedResponseError``; under any other status it is that
    HTTP error (the core's rules say what it means)."""
    if response.status != 200:
        raise GatewayError(f"HTTP {response.status}: {why}", http_status=response.status, body=body)
    raise unreadable(why, response)


def _request_level(text: str, response: HttpResponse, body: str) -> None:
    """Raise when ``text`` is an answer for the whole request rather than a list of items
    (``1702``, also written ``1702,`` or ``1702|``)."""
    text = text.strip(_JUNK + ",|")
    if text.isascii() and text.isdigit():
        raise_code(text, response, body)
    label = _text_label(text)
    if label is not None:
        raise_code(label, response, body)


#: One reply item: code, destination as written, message id (``None`` when absent or empty).
Item = tuple[str, str, str | None]


def _item(piece: str, response: HttpResponse, body: str) -> Item:
    """``code|number``, ``code|number|id`` or ``code|number:id`` (spaces around fields allowed;
    an empty id is no id; an id may itself hold a colon in the ``|id`` form)."""
    fields = [f.strip(_JUNK) for f in piece.split("|")]
    if len(fields) == 2 and ":" in fields[1]:
        number, _, message_id = fields[1].partition(":")
        fields = [fields[0], number.strip(_JUNK), message_id.strip(_JUNK)]
    if len(fields) not in (2, 3) or not _CODE.fullmatch(fields[0]) or ":" in fields[1]:
        _unreadable(f"unreadable reply item {piece[:40]!r}", response, body)
    message_id = fields[2] if len(fields) == 3 else ""
    if any(c.isspace() for c in fields[1] + message_id):
        _unreadable(f"unreadable reply item {piece[:40]!r}", response, body)
    return fields[0], fields[1], message_id or None


def _items(text: str, response: HttpResponse, body: str) -> list[Item]:
    items = [_item(piece, response, body) for piece in _SEPARATORS.split(text) if piece.strip(_JUNK)]
    if not items:
        _unreadable("empty reply", response, body)
    if len(items) == 1 and not items[0][1] and items[0][2] is None:  # "1702|": a global code
        raise_code(items[0][0], response, body)
    return items


class _Matcher:
    """Finds the batch recipient an item's destination names (digits, then trailing digits)."""

    def __init__(self, recipients: tuple[str, ...]) -> None:
        self.digits = [_digits(r) for r in recipients]
        self.index = {d: i for i, d in reversed(list(enumerate(self.digits)))}

    def find(self, destination: str) -> int | None:
        wanted = _digits(destination)
        if not wanted:
            return None
        if wanted in self.index:
            return self.index[wanted]
        wanted = wanted.lstrip("0")  # a national form with trunk prefix: 0805... for +234805...
        if len(wanted) < _MIN_SUFFIX:
            return None
        found = [
            i for i, d in enumerate(self.digits) if len(d) >= _MIN_SUFFIX and (d.endswith(wanted) or wanted.endswith(d))
        ]
        return found[0] if len(found) == 1 else None


def _outcome(recipient: str, code: str, message_id: str | None, scheduled: bool) -> Outcome:
    if code == codes.SUCCESS:
        if message_id:
            return Outcome(recipient, Status.SCHEDULED if scheduled else Status.ACCEPTED, message_id=message_id)
        why = "the gateway answered 1701 without a message id (a failure on some deployments)"
        return Outcome(recipient, Status.UNKNOWN, code=code, reason=why)
    entry = codes.TABLE.find(code)
    meaning = entry.meaning if entry is not None else f"code {code}"
    if entry is not None and entry.verdict is Verdict.AMBIGUOUS:
        return Outcome(recipient, Status.UNKNOWN, message_id=message_id, code=code, reason=meaning)
    return Outcome(recipient, Status.REJECTED, message_id=message_id, code=code, reason=meaning)


def send_receipt(batch: Batch, response: HttpResponse) -> Receipt:
    """One outcome per destination the reply mentions, in the batch's order.

    Items name their number; an item without a usable number (``1706|NA``) is given to the one
    recipient no other item names. Several such items go to the unnamed recipients only when
    they all carry the same code (then the order does not matter), and none when an item names a
    number that is not in the batch; otherwise those recipients are left out and the core
    reports them ``unknown``. The order of the items is never relied on (the recorded reply
    lists ``1706|NA`` first).
    """
    body = response.text()
    text = body.strip(_JUNK)
    if not text:
        _unreadable("empty reply", response, body)
    _request_level(text, response, body)
    recipients = batch.recipients
    matcher = _Matcher(recipients)
    scheduled = bool(batch.schedule)
    found: dict[int, Outcome] = {}
    anonymous: list[Item] = []
    strangers = 0
    for code, destination, message_id in _items(text, response, body):
        if not _digits(destination):
            anonymous.append((code, destination, message_id))
            continue
        index = matcher.find(destination)
        if index is None:
            strangers += 1
        elif index not in found:
            found[index] = _outcome(recipients[index], code, message_id, scheduled)
    unnamed = [i for i in range(len(recipients)) if i not in found]
    if anonymous and not strangers and len(anonymous) == len(unnamed) and len({a[0] for a in anonymous}) == 1:
        for index, (code, _, message_id) in zip(unnamed, anonymous):
            found[index] = _outcome(recipients[index], code, message_id, scheduled)
    return Receipt(tuple(found[i] for i in sorted(found)))


def balance(response: HttpResponse) -> Balance:
    """``Balance:<amount>`` (any case, spaces around the colon, decimals or a Java-style
    exponent); ``PERMISSION DENIED`` and codes are errors."""
    body = response.text()
    text = body.strip(_JUNK)
    match = _BALANCE.fullmatch(text)
    if match is not None:
        try:
            amount = Decimal(match.group(1))
        except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
            pass
        else:
            if amount.is_finite():
                return Balance(Decimal(f"{amount:f}"), details={"reply": text})
    _request_level(text, response, body)
    _unreadable("the credit check reply is not 'Balance:<amount>'", response, body)


def parse_send(operation: Send, response: HttpResponse, settings: RoutesmsSettings) -> Receipt:
    return send_receipt(operation.batch, response)


def parse_balance(operation: BalanceQuery, response: HttpResponse, settings: RoutesmsSettings) -> Balance:
    return balance(response)
