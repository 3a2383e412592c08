"""Delivery reports: SMSC's status callback ("Event Notifications") as normalised reports.

The reference found no description of the push (*unverified*). This reads the fields SMSC's status
pull uses, from a form POST body or the query: ``id``, ``phone``, ``status``, ``err`` and the time as
``ts``/``time`` (Unix seconds) or ``last_date``/``time`` (``DD.MM.YYYY hh:mm:ss``, Moscow time).
SMSC protects its handler calls with a checksum when the handler URL names an algorithm (``md5``,
``sha1`` or ``crc32``: smscentre.com/api/http/miscellaneous/callback). With ``callback_check=true``
the checksum field must equal that digest of ``"<id>:<phone>:<status>:<password>"`` (the formula
is *unverified*; off by default); a missing or wrong one raises ``CallbackRejectedError`` (the
receiver answers 403 and stores nothing).
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from smsgate import hookimpl
from smsgate.codes import unreadable
from smsgate.inbound import CallbackRejectedError
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


#: The checksum fields SMSC may add, strongest first.
CHECKSUMS = ("sha1", "md5", "crc32")


def signature(fields: dict[str, str], password: str, algorithm: str = "sha1", subject: str = "status") -> str:
    """The checksum this plugin expects on a callback (*unverified* formula):
    ``algorithm("<id>:<phone>:<subject field>:<password>")``, hex (crc32: decimal)."""
    ident = fields.get("id") or fields.get("sms_id", "")
    data = f"{ident}:{fields.get('phone', '')}:{fields.get(subject, '')}:{password}".encode()
    if algorithm == "crc32":
        return str(zlib.crc32(data))
    import hashlib  # here, not at the top: discovery does not need it

    return hashlib.new(algorithm, data).hexdigest()


def check(fields: dict[str, str], password: str, subject: str, what: str) -> None:
    """Raise ``CallbackRejectedError`` unless a checksum field (:data:`CHECKSUMS`) matches.
    crc32 is taken in decimal or hex (its format is *unverified*)."""
    import hmac  # here, not at the top: discovery does not need it

    for algorithm in CHECKSUMS:
        given = fields.get(algorithm, "").strip().lower()
        if not given:
            continue
        expected = signature(fields, password, algorithm, subject)
        readings = {expected, f"{int(expected):08x}"} if algorithm == "crc32" else {expected}
        if any(hmac.compare_digest(r.encode(), given.encode("utf-8", "replace")) for r in readings):
            return
        raise CallbackRejectedError(f"SMSC {what} with a wrong {algorithm} checksum")
    raise CallbackRejectedError(f"SMSC {what} without a checksum (callback_check=true)")


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
        check(fields, settings.password.reveal(), "status", "status callback")
    when = _when(fields)
    item: dict[str, Any] = {k: v for k, v in fields.items() if k not in CHECKSUMS}
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


#: The ``parse_delivery_report`` hook: this module's :func:`parse`.
parse_delivery_report = hookimpl(parse)
