"""Replies of the legacy API: HTTP 200 even for errors, so ``error_code`` decides ("000" is
success). A send reply carries ``ticket``, ``successs`` (sic: three s) and ``failures``.

``successs`` is an object for one recipient and a list for several (the XML-to-JSON shape);
the XML reply nests ``success`` elements, and an XML conversion may keep that wrapper in JSON
(``"successs": {"success": {...}}``, the official PHP client's dump). Numbers and costs may be
JSON numbers or strings. The shape of ``failures`` items is unverified: objects with
``recipient`` and a code, or bare numbers, are both read. A number no entry names is
``unknown``, never ``accepted``.
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


def send_receipt(response: HttpResponse, batch: Batch) -> Receipt:
    """One outcome per recipient: those the reply's ``successs`` names are accepted (or
    scheduled), those its ``failures`` names rejected with their code, any other recipient of
    the batch ``unknown``. A "000" reply without any entry covers every recipient under its
    ``ticket``; one with neither entries nor a ticket cannot be read.

    ``ticket`` is every accepted recipient's message id (the delivery reports' ``message_id``);
    a reply that names its successes but lost the ticket still accepts them, without an id.
    """
    doc = checked(response)
    ticket = _ticket(doc)
    match = _Matcher(batch.recipients)
    accepted = Status.SCHEDULED if batch.schedule else Status.ACCEPTED
    successes = _entries(doc.get("successs", doc.get("success")), "success")
    failures = _entries(doc.get("failures", doc.get("failure")), "failure")
    if not successes and not failures:
        if ticket is None:
            raise wire.malformed("the Octopush reply has error_code 000 but neither a ticket nor recipients", response)
        return Receipt(
            tuple(Outcome(r, accepted, message_id=ticket) for r in batch.recipients),
            cost=wire.decimal(doc.get("cost")),
            balance=wire.decimal(doc.get("balance")),
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
            reason = codes.meaning("legacy", code) if code else "listed in the reply's failures"
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
            parts=wire.integer(details.get("sms_needed")),
            cost=wire.decimal(details.get("cost")),
        )
    for recipient in both:  # named as a success and as a failure: nobody can tell
        why = "the reply lists this number in successs and in failures"
        found[recipient] = Outcome(recipient, Status.UNKNOWN, message_id=ticket, reason=why)
    unnamed = "error_code 000, but neither successs nor failures in the reply names this number"
    outcomes = tuple(
        found.get(r) or Outcome(r, Status.UNKNOWN, message_id=ticket, reason=unnamed) for r in batch.recipients
    )
    return Receipt(outcomes, cost=wire.decimal(doc.get("cost")), balance=wire.decimal(doc.get("balance")))


def credit(response: HttpResponse) -> Balance:
    """``/api/credit``: ``{"error_code": "000", "credit": "0.18"}`` (euros), JSON or XML."""
    doc = checked(response)
    amount = wire.decimal(doc.get("credit"))
    if amount is None:
        raise wire.malformed("the Octopush credit reply has no credit", response)
    return Balance(amount, unit="EUR", details={k: v for k, v in doc.items() if k not in ("credit", "error_code")})
