"""Delivery reports: the gateway's push ("DLR Push API Specifications v1.0").

The gateway calls the URL registered with the account, by POST with form fields (a GET with the
same query is accepted too, and so is a JSON object of the same fields, which one Drupal module
decodes): ``sSender``, ``sMobileNo``, ``sStatus``, ``sMessageId``, ``dtSubmit``, ``dtDone``
(``yyyy-mm-dd hh:mm:ss``, read as UTC; a fraction of a second is ignored), ``iCostPerSms``,
``iCharge``, ``iMCCMNC`` and ``iErrCode`` (0: none). Your endpoint must answer HTTP 200 or 202.
The dates are not checked for order (a recorded report has ``dtSubmit`` after ``dtDone``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

from smsgate import hookimpl
from smsgate.codes import unreadable
from smsgate.models import DeliveryReport, DeliveryStatus, HttpRequest
from smsgate_routesms.settings import RoutesmsSettings

FIELDS = (
    "sSender",
    "sMobileNo",
    "sStatus",
    "sMessageId",
    "dtSubmit",
    "dtDone",
    "iCostPerSms",
    "iCharge",
    "iMCCMNC",
    "iErrCode",
)
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_FRACTION = re.compile(r"\.[0-9]{1,9}$")

#: ``sStatus`` -> normalised status and its meaning.
STATES: Mapping[str, tuple[DeliveryStatus, str]] = {
    "DELIVRD": (DeliveryStatus.DELIVERED, "delivered"),
    "UNDELIV": (DeliveryStatus.FAILED, "undeliverable"),
    "REJECTD": (DeliveryStatus.REJECTED, "rejected"),
    "EXPIRED": (DeliveryStatus.EXPIRED, "validity period expired"),
    "DELETED": (DeliveryStatus.EXPIRED, "deleted before delivery"),
    "ACKED": (DeliveryStatus.PENDING, "acknowledged"),
    "ENROUTE": (DeliveryStatus.PENDING, "en route"),
    "ACCEPTED": (DeliveryStatus.PENDING, "accepted"),
    "UNKNOWN": (DeliveryStatus.UNKNOWN, "state unknown"),
}


def _fields(request: HttpRequest) -> dict[str, str]:
    """The query merged with a form (or JSON) body, the body winning, in the declared charset."""
    ctype = request.header("Content-Type", "") or ""
    _, _, charset = ctype.partition("charset=")
    encoding = charset.split(";")[0].strip().strip('"') or "utf-8"
    try:
        "".encode(encoding)
    except LookupError:
        encoding = "utf-8"
    fields = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True, errors="replace"))
    media = ctype.split(";")[0].strip().lower()
    if not request.body:
        return fields
    text = request.body.decode(encoding, errors="replace")
    if media == "application/json" or (media == "" and text.lstrip("\ufeff \t\r\n").startswith("{")):
        fields.update(_json_fields(text))
    elif media in ("", "application/x-www-form-urlencoded"):
        fields.update(parse_qsl(text, keep_blank_values=True, encoding=encoding, errors="replace"))
    return fields


def _json_fields(text: str) -> dict[str, str]:
    """A JSON object's scalar members as strings (``{"sMobileNo": 2348055494143}`` too)."""
    try:
        document = json.loads(text.lstrip("\ufeff"))
    except (ValueError, RecursionError):
        return {}
    if not isinstance(document, dict):
        return {}
    return {str(k): str(v) for k, v in document.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(_FRACTION.sub("", value.strip()), DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def parse(request: HttpRequest, settings: RoutesmsSettings | None = None) -> tuple[DeliveryReport, ...]:
    """The one report a push request carries; raises ``MalformedResponseError`` for what is not
    one. The settings are not needed: the push is the same for every account."""
    fields = _fields(request)
    message_id = fields.get("sMessageId", "").strip()
    state = fields.get("sStatus", "").strip().upper()
    if not message_id or not state:
        shown = request.body.decode("utf-8", "replace") or request.url
        raise unreadable("not a RouteSMS delivery report: sMessageId and sStatus are required", body=shown)
    status, reason = STATES.get(state, (DeliveryStatus.UNKNOWN, f"unknown state {state}"))
    error = fields.get("iErrCode", "").strip()
    if error.isascii() and error.isdigit():
        error = error.lstrip("0") or "0"  # "000" is no error, "0205" is 205
    digits = "".join(c for c in fields.get("sMobileNo", "") if "0" <= c <= "9")
    return (
        DeliveryReport(
            message_id=message_id,
            status=status,
            recipient=f"+{digits}" if digits else None,
            code=error if error and error != "0" else None,
            reason=f"{state}: {reason}",
            at=_time(fields.get("dtDone")) or _time(fields.get("dtSubmit")),
            raw=fields,
        ),
    )


#: The former name, which the tests still use.
parse_report = parse


def report_fields(
    *,
    sender: str,
    mobile: str,
    status: str,
    message_id: str,
    submitted: datetime,
    done: datetime,
    cost: str = "1",
    charge: str = "1",
    mccmnc: str = "0",
    error: str = "0",
) -> list[tuple[str, str]]:
    """The form fields of a push report (the gateway's side, for the emulator and tests)."""
    values = (
        sender,
        mobile,
        status,
        message_id,
        submitted.astimezone(timezone.utc).strftime(DATE_FORMAT),
        done.astimezone(timezone.utc).strftime(DATE_FORMAT),
        cost,
        charge,
        mccmnc,
        error,
    )
    return list(zip(FIELDS, values))


#: The ``parse_delivery_report`` hook: this module's :func:`parse`.
parse_delivery_report = hookimpl(parse)
