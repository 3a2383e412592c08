"""Delivery reports: the HTTP push callback, and the report built from a status row.

The gateway pushes a GET with ``msisdn``, ``batch_id`` (``msg_id`` in old versions),
``status``, on some networks ``completed_time`` (documented as ``yy-MM-dd HH:mm:ss``, in the
account's time zone) and your ``source_id``; get_report rows are read into the same reports.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from smsgate import hookimpl
from smsgate.codes import unreadable
from smsgate.models import DeliveryReport, HttpRequest
from smsgate_bulksms.codes import TABLE
from smsgate_bulksms.encoding import LATIN1
from smsgate_bulksms.schedule import parse_local
from smsgate_bulksms.settings import BulkSmsSettings

CODE = re.compile(r"^[0-9]{1,6}$")
ID = re.compile(r"^[0-9]{1,20}$")
#: The query parameters of an HTTP push report: the rest (your own, e.g. a password in the
#: callback URL) are ignored, as the documentation asks.
PUSH_FIELDS = ("msisdn", "batch_id", "msg_id", "status", "completed_time", "source_id")


def _at(raw: dict[str, str], settings: BulkSmsSettings) -> datetime | None:
    value = raw.get("completed_time", "").strip()
    if not value:
        return None
    at = parse_local(value, settings)
    if at is None:
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=settings.zone)
    return at


def report(message_id: str, raw: dict[str, str], settings: BulkSmsSettings) -> DeliveryReport:
    """The report of one recipient: ``raw`` holds ``status``, ``msisdn`` and what else came."""
    code = raw["status"]
    return DeliveryReport(
        message_id=message_id,
        status=TABLE.delivery(code),
        recipient="+" + raw["msisdn"] if raw.get("msisdn") else None,
        code=code,
        reason=TABLE.meaning(code),
        at=_at(raw, settings),
        raw=raw,
    )


def parse(request: HttpRequest, settings: BulkSmsSettings) -> tuple[DeliveryReport, ...]:
    """The HTTP push callback (a GET; a form POST is read the same way). Other query
    parameters are ignored, as the documentation asks."""
    params = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True, encoding=LATIN1))
    if request.body:
        params.update(parse_qsl(request.body.decode(LATIN1), keep_blank_values=True, encoding=LATIN1))
    message_id = (params.get("batch_id") or params.get("msg_id") or "").strip()
    status = params.get("status", "").strip()
    if not ID.match(message_id) or not CODE.match(status):
        raise unreadable(
            "not a BulkSMS delivery report: it needs a numeric batch_id (or msg_id) and status", body=request.url[:300]
        )
    msisdn = params.get("msisdn", "").strip().lstrip("+")
    raw = {k: v for k, v in params.items() if k in PUSH_FIELDS}
    raw.update(status=status, msisdn=msisdn if ID.match(msisdn) else "")
    return (report(message_id, raw, settings),)


#: The ``parse_delivery_report`` hook: this module's :func:`parse`.
parse_delivery_report = hookimpl(parse)
