"""Incoming messages (replies to two-way messages, keywords): the push and the pull's items.

SerwerSMS pushes replies to a URL set in the panel; its field list was not found (*unverified*).
The pull (``messages/recived``) documents ``id, type, phone, recived, message_id, text``
(dev.serwersms.pl/en/https-api-v2/incomming-messages): the push is read with those names, then
the Polish placeholder names a user may choose (``numer``, ``wiadomosc``/``tresc``, ``data``,
``do``), from the query, a form or a JSON body. A callback without a text is not an incoming
message (a delivery report on the same URL): ``None``. ``recived`` is Warsaw time unless the
settings name another zone.

The pull (:func:`build_fetch`, :func:`parse_fetch`) asks ``messages/recived`` for every type
(``type`` left out: "all categories"), oldest first (``order=asc``), 100 a page, from
``date_from``: the cursor is the last ``recived`` time seen (``YYYY-MM-DD HH:MM:SS``, the
gateway's own wall time), with ``#N`` for page N when one second holds more than a page. The
overlap at that second is dropped by the store (each message's ``id``). ``read`` is never sent:
a pull marks nothing read at the gateway, so a crash between the pull and the store loses nothing.
"""

from __future__ import annotations

import re
from typing import Any

from smsgate import hookimpl
from smsgate.codes import unreadable
from smsgate.errors import ValidationError
from smsgate.inbound import InboundMessage
from smsgate.models import HttpRequest, HttpResponse, Inbox, InboxQuery
from smsgate.spec import Endpoint
from smsgate_serwersms import reply, request
from smsgate_serwersms.dlr import _callback_params, _first, e164
from smsgate_serwersms.schedule import parse_local
from smsgate_serwersms.settings import SerwerSmsSettings

RECIVED = "messages/recived"
#: Messages asked for per page.
PAGE = 100
_CURSOR = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})?(?:#(\d{1,6}))?$")

TEXT_NAMES = ("text", "wiadomosc", "tresc", "message")
PHONE_NAMES = ("phone", "numer", "number", "sender")
ID_NAMES = ("id", "sms_id", "smsid")
DATE_NAMES = ("recived", "received", "data", "date")
TO_NAMES = ("do", "to", "recipient")


def from_item(item: Any, zone: str) -> InboundMessage:
    """One ``messages/recived`` item (pull) or push's fields."""
    if not isinstance(item, dict):
        raise unreadable("incoming message item is not an object", body=repr(item)[:500])
    params = {str(k): "" if v is None else str(v) for k, v in item.items() if not isinstance(v, (dict, list))}
    phone = _first(params, PHONE_NAMES)
    if not phone:
        raise unreadable("incoming message without a phone", body=repr(item)[:500])
    text = _first(params, TEXT_NAMES) or ""
    ident = _first(params, ID_NAMES)
    return InboundMessage(
        sender=e164(phone) or phone,
        text=text,
        recipient=e164(_first(params, TO_NAMES)) if _first(params, TO_NAMES) else None,
        message_id=ident,
        received_at=parse_local(_first(params, DATE_NAMES), zone),
        raw=params,
    )


def parse(request: HttpRequest, zone: str) -> tuple[InboundMessage, ...] | None:
    params = _callback_params(request)
    lowered = {k.lower() for k in params}
    if not lowered.intersection(TEXT_NAMES):
        return None
    return (from_item(params, zone),)


def _cursor(since: str | None) -> tuple[str | None, int]:
    match = _CURSOR.match((since or "").strip())
    if match is None:
        raise ValidationError("since", f"a SerwerSMS cursor is 'YYYY-MM-DD HH:MM:SS[#page]', not {since!r:.40}")
    return match[1], int(match[2] or 1)


def build_fetch(operation: InboxQuery, settings: SerwerSmsSettings, endpoint: Endpoint) -> HttpRequest:
    """``messages/recived`` from the cursor's time (its page), oldest first."""
    date, page = _cursor(operation.since)
    body: dict[str, Any] = {"order": "asc", "limit": PAGE, "page": page}
    if date:
        body["date_from"] = date
    return request.post(endpoint, RECIVED, body, settings)


def parse_fetch(operation: InboxQuery, response: HttpResponse, settings: SerwerSmsSettings) -> Inbox:
    """The items of a ``messages/recived`` reply, oldest first, and where the next pull starts."""
    data = reply.document(response)
    items = reply.items_of(data.get("items"), response, "messages/recived reply")
    messages = [from_item(item, settings.timezone) for item in items]
    times = [str(m.raw.get("recived", "")).strip() for m in messages]
    order = sorted(
        range(len(messages)),
        key=lambda i: (times[i], int(messages[i].message_id or 0) if (messages[i].message_id or "").isdigit() else 0),
    )
    messages = [messages[i] for i in order]
    date, page = _cursor(operation.since)
    page_now, pages = reply.paging(data)
    more = page_now < pages if page_now is not None and pages is not None else len(items) >= PAGE
    latest = max((t for t in times if t and "#" not in t and _CURSOR.match(t)), default=None)
    if latest and (date is None or latest > date):
        cursor: str | None = latest
    elif more:
        cursor = f"{date or ''}#{page + 1}"  # a whole page at one second: the next page of it
    else:
        cursor = operation.since
    return Inbox(tuple(messages), cursor, more=more)


@hookimpl
def parse_inbound(request: HttpRequest, settings: SerwerSmsSettings) -> tuple[InboundMessage, ...] | None:
    """The ``parse_inbound`` hook: incoming messages (MO) pushed by the gateway, read in the
    account's zone (``None``: not one)."""
    return parse(request, settings.timezone)
