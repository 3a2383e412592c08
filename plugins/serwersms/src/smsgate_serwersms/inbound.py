"""Incoming messages (replies to two-way messages, keywords): the push and the pull's items.

SerwerSMS pushes replies to a URL set in the panel; its field list was not found (*unverified*).
The pull (``messages/recived``) documents ``id, type, phone, recived, message_id, text``
(dev.serwersms.pl/en/https-api-v2/incomming-messages): the push is read with those names, then
the Polish placeholder names a user may choose (``numer``, ``wiadomosc``/``tresc``, ``data``,
``do``), from the query, a form or a JSON body. A callback without a text is not an incoming
message (a delivery report on the same URL): ``None``. ``recived`` is Warsaw time unless the
settings name another zone.
"""

from __future__ import annotations

from typing import Any

from smsgate.codes import unreadable
from smsgate.inbound import InboundMessage
from smsgate.models import HttpRequest
from smsgate_serwersms.dlr import _callback_params, _first, e164
from smsgate_serwersms.schedule import parse_local

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
