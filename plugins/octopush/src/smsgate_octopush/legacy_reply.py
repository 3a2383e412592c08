"""Replies of the legacy API: HTTP 200 even for errors, so ``error_code`` decides ("000" is
success). A send reply carries ``ticket``, ``successs`` (sic: three s) and ``failures``.

``successs`` is an object for one recipient and a list for several (the XML-to-JSON shape);
the XML reply nests ``success`` elements. The shape of ``failures`` items is unverified: objects
with ``recipient`` and a code, or bare numbers, are both read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smsgate.models import Balance, Batch, HttpResponse, Outcome, Receipt, Status
from smsgate_octopush import codes, wire

_CODE_KEYS = ("error_code", "code", "error")
_RECIPIENT_KEYS = ("recipient", "number", "phone_number", "sms_recipient")


def _code(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    if not text:
        return None
    return text.zfill(3) if text.isdigit() else text


def checked(response: HttpResponse) -> dict[str, Any]:
    """The reply document when ``error_code`` is "000"; otherwise the request-level error."""
    doc = wire.document(response)
    if doc is None:
        if response.status != 200:
            raise wire.http_error(response)
        raise wire.malformed("the Octopush reply is neither JSON nor XML", response)
    code = _code(doc.get("error_code"))
    if code is None:
        if response.status != 200:
            raise wire.http_error(response)
        raise wire.malformed("the Octopush reply has no error_code", response)
    if code != codes.SUCCESS:
        raise codes.error_class("legacy", code)(
            codes.meaning("legacy", code),
            provider="octopush",
            code=code,
            http_status=response.status,
            body=response.text(),
        )
    if not 200 <= response.status < 300:  # "000" under an error status: believe the status
        raise wire.http_error(response)
    return doc


def _entries(value: Any, inner: str) -> list[Any]:
    """The items of ``successs``/``failures``: a list, one object, or XML's nested element."""
    if value is None or value == "" or value == {}:
        return []
    if isinstance(value, dict) and inner in value and len(value) == 1:
        return _entries(value[inner], inner)
    if isinstance(value, list):
        return value
    return [value]


class _Matcher:
    """Finds the batch's E.164 form of a number as the gateway wrote it (``33601010101``,
    ``+33601010101``, ``0033601010101``, ``0601010101``)."""

    def __init__(self, recipients: Iterable[str]) -> None:
        self.by_digits = {"".join(c for c in r if c.isdigit()): r for r in recipients}

    def __call__(self, raw: Any) -> str | None:
        if raw is None or isinstance(raw, (bool, dict, list)):
            return None
        digits = "".join(c for c in str(raw) if c.isdigit())
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


def send_receipt(response: HttpResponse, batch: Batch) -> Receipt:
    """One outcome per recipient the reply names; without ``successs`` or ``failures`` entries
    the request-level "000" and its ticket cover every recipient."""
    doc = checked(response)
    ticket = doc.get("ticket")
    if not isinstance(ticket, (str, int)) or isinstance(ticket, bool) or not str(ticket).strip():
        raise wire.malformed("the Octopush reply has error_code 000 but no ticket", response)
    ticket = str(ticket).strip()
    match = _Matcher(batch.recipients)
    accepted = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
    outcomes: list[Outcome] = []
    successes = _entries(doc.get("successs", doc.get("success")), "success")
    failures = _entries(doc.get("failures"), "failure")
    for item in successes:
        recipient = match(_recipient(item))
        if recipient is None:
            raise wire.malformed(f"a success entry names no recipient of this request: {item!r:.80}", response)
        details = item if isinstance(item, dict) else {}
        outcomes.append(
            Outcome(
                recipient,
                accepted,
                message_id=ticket,
                parts=wire.integer(details.get("sms_needed")),
                cost=wire.decimal(details.get("cost")),
            )
        )
    for item in failures:
        recipient = match(_recipient(item))
        if recipient is None:
            raise wire.malformed(f"a failure entry names no recipient of this request: {item!r:.80}", response)
        details = item if isinstance(item, dict) else {}
        code = next((c for c in (_code(details.get(k)) for k in _CODE_KEYS) if c is not None), None)
        reason = details.get("message") or details.get("reason")
        if not isinstance(reason, str) or not reason:
            reason = codes.meaning("legacy", code) if code else "listed in the reply's failures"
        outcomes.append(Outcome(recipient, Status.REJECTED, code=code, reason=reason))
    if not successes and not failures:
        outcomes = [Outcome(r, accepted, message_id=ticket) for r in batch.recipients]
    return Receipt(tuple(outcomes), cost=wire.decimal(doc.get("cost")), balance=wire.decimal(doc.get("balance")))


def credit(response: HttpResponse) -> Balance:
    """``/api/credit``: ``{"error_code": "000", "credit": "0.18"}`` (euros), JSON or XML."""
    doc = checked(response)
    amount = wire.decimal(doc.get("credit"))
    if amount is None:
        raise wire.malformed("the Octopush credit reply has no credit", response)
    return Balance(amount, unit="EUR", details={k: v for k, v in doc.items() if k not in ("credit", "error_code")})
