"""Delivery reports: SMSC's status callback ("Event Notifications") as normalised reports.

The reference found no description of the push (*unverified*). This reads the fields SMSC's status
pull uses, from a form POST body or the query: ``id``, ``phone``, ``status``, ``err`` and the time as
``ts``/``time`` (Unix seconds) or ``last_date``/``time`` (``DD.MM.YYYY hh:mm:ss``, Moscow time).
With ``callback_check=true`` the ``sha1`` field must equal ``sha1("<id>:<phone>:<status>:<password>")``
(also *unverified*; off by default).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from smsgate.codes import unreadable
from smsgate.models import DeliveryReport, HttpRequest

from . import reply
from .schedule import moscow
from .settings import SmscSettings


def _fields(request: HttpRequest, settings: SmscSettings) -> dict[str, str]:
    fields = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    if request.body:
        try:
            text = request.body.decode(settings.codec)
        except UnicodeDecodeError:
            text = request.body.decode("utf-8", errors="replace")
        fields.update(parse_qsl(text, keep_blank_values=True))
    return fields


def signature(fields: dict[str, str], password: str) -> str:
    """The callback checksum this plugin expects (*unverified* formula)."""
    text = f"{fields.get('id', '')}:{fields.get('phone', '')}:{fields.get('status', '')}:{password}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _when(fields: dict[str, str]) -> Any:
    for name in ("ts", "time", "last_timestamp"):
        value = fields.get(name, "")
        if value.isdigit():
            return value
    for name in ("last_date", "time"):
        value = fields.get(name, "")
        try:
            return datetime.strptime(value, "%d.%m.%Y %H:%M:%S").replace(tzinfo=moscow())
        except ValueError:
            continue
    return None


def parse(request: HttpRequest, settings: SmscSettings) -> tuple[DeliveryReport, ...]:
    """The reports in a status callback (one per callback)."""
    fields = _fields(request, settings)
    body = request.body.decode("utf-8", errors="replace")
    missing = [n for n in ("id", "phone", "status") if not fields.get(n)]
    if missing:
        raise unreadable(f"not an SMSC status callback: no {', '.join(missing)}", body=body)
    if settings.callback_check:
        expected = signature(fields, settings.password.reveal())
        if not hmac.compare_digest(expected, fields.get("sha1", "").lower()):
            raise unreadable("SMSC status callback with a wrong sha1 checksum", body=body)
    when = _when(fields)
    item: dict[str, Any] = {k: v for k, v in fields.items() if k != "sha1"}
    if isinstance(when, str):
        item["last_timestamp"] = when
    try:
        found = reply.report(item, fields["id"], None)
    except reply.Unreadable as exc:
        raise unreadable(f"unreadable SMSC status callback: {exc}", body=body) from None
    if isinstance(when, datetime):
        found = DeliveryReport(
            found.message_id, found.status, found.recipient, found.code, found.reason, when, found.raw
        )
    return (found,)
