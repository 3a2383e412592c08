"""Delivery-report callbacks ("acknowledge receipt"), pushed to the URL set in the account.

The documented sample decodes a JSON body: ``{"message_id": "sms_5fa275dbf21dc", "number":
"+33600000000", "status": "DELIVERED", "delivery_date": "2021-01-01 12:00:00", ...}``. The
delivery method is unverified, so a form-encoded body or query string with the same fields is
read too, and a JSON list of such objects. ``delivery_date`` carries no zone: it is read as
French time (Europe/Paris), the zone the JSON API assumes for times without an offset.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from smsgate import hookimpl
from smsgate.codes import unreadable
from smsgate.errors import MalformedResponseError
from smsgate.models import DeliveryReport, DeliveryStatus, HttpRequest
from smsgate_octopush.settings import OctopushSettings


def paris() -> tzinfo:
    """The gateway's zone (Europe/Paris): its timestamps without an offset are in it."""
    from zoneinfo import ZoneInfo  # here, not at the top: discovery does not need it

    return ZoneInfo("Europe/Paris")  # ZoneInfo keeps one instance per name


#: Octopush statuses -> normalised delivery states.
STATUSES: Mapping[str, DeliveryStatus] = {
    "ACK": DeliveryStatus.PENDING,
    "DELIVERED": DeliveryStatus.DELIVERED,
    "READ": DeliveryStatus.DELIVERED,
    "NOT_DELIVERED": DeliveryStatus.FAILED,
    "NOT_ALLOWED": DeliveryStatus.REJECTED,
    "BAD_DESTINATION": DeliveryStatus.REJECTED,
    "BLACKLISTED_NUMBER": DeliveryStatus.REJECTED,
    "UNKNOWN_DELIVERY": DeliveryStatus.UNKNOWN,
    "UNDEFINED": DeliveryStatus.UNKNOWN,
}
REASONS: Mapping[str, str] = {
    "ACK": "acknowledged by the operator",
    "DELIVERED": "delivered to the handset",
    "READ": "read",
    "NOT_DELIVERED": "not delivered",
    "NOT_ALLOWED": "not allowed (operator or country refused the message)",
    "BAD_DESTINATION": "bad destination number",
    "BLACKLISTED_NUMBER": "the number is blacklisted",
    "UNKNOWN_DELIVERY": "delivery unknown",
    "UNDEFINED": "undefined status",
}


def _bad(why: str, request: HttpRequest) -> MalformedResponseError:
    return unreadable(f"not an Octopush delivery report: {why}", body=request.body.decode("utf-8", "replace"))


def _items(request: HttpRequest) -> list[Any]:
    body = request.body.strip()
    if body[:1] in (b"{", b"["):
        try:
            document = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            raise _bad("the body is not JSON", request) from None
        return document if isinstance(document, list) else [document]
    fields = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    if body:
        try:
            fields.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (ValueError, UnicodeDecodeError):
            raise _bad("the body is neither JSON nor a form", request) from None
    return [fields]


def _at(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        at = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            return None
    return at if at.tzinfo is not None else at.replace(tzinfo=paris())


def _recipient(value: Any) -> str | None:
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    return f"+{text}" if text.isdigit() and not text.startswith("0") else text or None


def report(item: Any, request: HttpRequest) -> DeliveryReport:
    if not isinstance(item, dict):
        raise _bad("an item is not an object", request)
    message_id, status = item.get("message_id"), item.get("status")
    if not isinstance(message_id, (str, int)) or isinstance(message_id, bool) or not str(message_id).strip():
        raise _bad("no message_id", request)
    if not isinstance(status, str) or not status.strip():
        raise _bad("no status", request)
    name = status.strip().upper()
    return DeliveryReport(
        message_id=str(message_id).strip(),
        status=STATUSES.get(name, DeliveryStatus.UNKNOWN),
        recipient=_recipient(item.get("number")),
        code=name,
        reason=REASONS.get(name, f"status {name}"),
        at=_at(item.get("delivery_date")),
        raw={str(k): v if isinstance(v, str) else json.dumps(v) for k, v in item.items()},
    )


def parse(request: HttpRequest, settings: OctopushSettings) -> tuple[DeliveryReport, ...]:
    """The ``parse_delivery_report`` hook: the reports in a callback (both APIs push the same)."""
    items = _items(request)
    if not items:
        raise _bad("no reports", request)
    return tuple(report(item, request) for item in items)


#: The ``parse_delivery_report`` hook: this module's :func:`parse`.
parse_delivery_report = hookimpl(parse)
