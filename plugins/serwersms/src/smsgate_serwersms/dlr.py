"""Delivery reports: ``messages/reports`` items (pull) and the ``dlr_url`` callback (push).

The push carries whatever names the user put in front of the placeholders of ``dlr_url``; the
seed's example is ``?smsid=#SMSID#&stan=#STAN#&data=#DATA#`` and ``przyczyna=#PRZYCZYNA#`` is
the natural fourth. Those names are read first, then the English ``id``/``status``/``date``/
``reason``. The HTTP method of the push is *unverified*: a GET query, a form POST and a JSON
POST are all read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from smsgate import hookimpl
from smsgate.codes import unreadable
from smsgate.models import DeliveryReport, DeliveryStatus, HttpRequest
from smsgate_serwersms.codes import CODES, REASONS, STATUSES
from smsgate_serwersms.schedule import parse_local
from smsgate_serwersms.settings import SerwerSmsSettings

#: Callback parameter names, in the order they are looked for.
ID_NAMES = ("smsid", "sms_id", "id")
STATE_NAMES = ("stan", "status", "state")
DATE_NAMES = ("data", "date")
REASON_NAMES = ("przyczyna", "reason")

#: What ``#STAN#`` may hold is *unverified*: the report statuses, their Polish names, and the
#: SMPP-style states SerwerSMS puts in ``#STAN#`` of its NAT callback (``DELIVRD``, ``UNDELIV``,
#: ``ERR``, ``PENDING``: https://dev.serwersms.pl/https-xml-api/nat) with their SMPP siblings.
_OTHER_STATES: Mapping[str, DeliveryStatus] = {
    "delivrd": DeliveryStatus.DELIVERED,
    "undeliv": DeliveryStatus.FAILED,
    "undeliverable": DeliveryStatus.FAILED,
    "err": DeliveryStatus.FAILED,
    "expired": DeliveryStatus.EXPIRED,
    "rejectd": DeliveryStatus.REJECTED,
    "rejected": DeliveryStatus.REJECTED,
    "deleted": DeliveryStatus.FAILED,
    "acceptd": DeliveryStatus.PENDING,
    "enroute": DeliveryStatus.PENDING,
    "dostarczona": DeliveryStatus.DELIVERED,
    "dostarczono": DeliveryStatus.DELIVERED,
    "niedostarczona": DeliveryStatus.FAILED,
    "niedostarczono": DeliveryStatus.FAILED,
    "wyslana": DeliveryStatus.PENDING,
    "wysłana": DeliveryStatus.PENDING,
    "niewyslana": DeliveryStatus.REJECTED,
    "niewysłana": DeliveryStatus.REJECTED,
    "oczekuje": DeliveryStatus.PENDING,
}


def phone_text(phone: Any) -> str | None:
    """A reply's ``phone`` as text (a string, or a JSON number); ``None`` when absent."""
    if type(phone) is str:  # the common case
        return phone.strip() or None
    if isinstance(phone, bool) or phone is None:
        return None
    if isinstance(phone, float) and phone.is_integer():
        phone = int(phone)
    if isinstance(phone, (str, int)):
        text = str(phone).strip()
        return text or None
    return None


def e164(phone: Any) -> str | None:
    """A reply's phone as ``+digits`` when it is plainly international (``+48...``,
    ``0048...``, or 11 to 15 digits without a leading zero); else as the gateway wrote it."""
    text = phone_text(phone)
    if text is None:
        return None
    compact = text.replace(" ", "").replace("-", "")
    if compact.startswith("+"):
        number, explicit = compact[1:], True
    elif compact.startswith("00"):
        number, explicit = compact[2:], True
    else:
        number, explicit = compact, False
    shortest = 8 if explicit else 11
    if number.isascii() and number.isdigit() and shortest <= len(number) <= 15 and number[0] != "0":
        return "+" + number
    return text


def normalised_status(state: str, reason: str | None) -> DeliveryStatus:
    """A report ``status`` (and its ``reason``) as a ``DeliveryStatus``."""
    key = state.strip().lower()
    status = STATUSES.get(key) or _OTHER_STATES.get(key) or DeliveryStatus.UNKNOWN
    if status is DeliveryStatus.FAILED and reason is not None and reason in REASONS:
        return REASONS.delivery(reason)
    return status


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def from_item(item: Any, zone: str) -> DeliveryReport:
    """One ``messages/reports`` item as a ``DeliveryReport``."""
    if not isinstance(item, dict):
        raise unreadable("report item is not an object", body=repr(item)[:500])
    message_id = item.get("id")
    if not isinstance(message_id, (str, int)) or isinstance(message_id, bool) or not str(message_id):
        raise unreadable("report item without an id", body=repr(item)[:500])
    reason = item.get("reason")
    reason = str(reason) if isinstance(reason, (str, int)) and str(reason) else None
    at = None
    for name in ("delivered", "sent", "queued"):
        at = at or parse_local(item.get(name), zone)
    return DeliveryReport(
        message_id=str(message_id),
        status=normalised_status(_scalar(item.get("status")), reason),
        recipient=e164(item.get("phone")),
        code=reason,
        reason=CODES.meaning(reason) if reason is not None else None,
        at=at,
        raw={str(k): _scalar(v) for k, v in item.items()},
    )


def _first(params: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    lowered = {k.lower(): v for k, v in params.items()}
    return next((lowered[n] for n in names if lowered.get(n)), None)


def _callback_params(request: HttpRequest) -> dict[str, str]:
    params = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    if not request.body:
        return params
    body = request.body.decode("utf-8", errors="replace")
    ctype = (request.header("Content-Type") or "").lower()
    if "json" in ctype or body.lstrip().startswith("{"):
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            raise unreadable("delivery report body is not JSON", body=body[:2000]) from None
        if not isinstance(document, dict):
            raise unreadable("delivery report body is not a JSON object", body=body[:2000])
        params.update({str(k): _scalar(v) for k, v in document.items()})
    else:
        params.update(parse_qsl(body, keep_blank_values=True))
    return params


def parse(request: HttpRequest, settings: SerwerSmsSettings) -> tuple[DeliveryReport, ...]:
    """The ``dlr_url`` push (GET query, form POST or JSON POST) as one ``DeliveryReport``."""
    params = _callback_params(request)
    message_id = _first(params, ID_NAMES)
    if not message_id:
        names = "/".join(ID_NAMES)
        raise unreadable(f"delivery report without a message id ({names})", body=request.url[:2000])
    reason = _first(params, REASON_NAMES)
    state = _first(params, STATE_NAMES) or ""
    report = DeliveryReport(
        message_id=message_id,
        status=normalised_status(state, reason),
        code=reason,
        reason=CODES.meaning(reason) if reason is not None else None,
        at=parse_local(_first(params, DATE_NAMES), settings.timezone),
        raw=params,
    )
    return (report,)


#: The ``parse_delivery_report`` hook: this module's :func:`parse`.
parse_delivery_report = hookimpl(parse)
