"""Incoming messages sent to the "Client handler" URL (smscentre.com/api/http/miscellaneous/callback).

SMSC calls one handler URL for delivery statuses, incoming SMS and calls, in the charset the URL
names (``?charset=utf-8``; windows-1251 by default). The fields of an incoming SMS are
*unverified* (the reference did not capture them): read here are ``phone`` (the subscriber),
``mes`` (the text), ``to`` (our number), ``id`` or ``sms_id`` and ``sent``/``time`` (Unix
seconds or ``DD.MM.YYYY hh:mm:ss`` Moscow time), from the query, a form body or a JSON object
(``fmt=3``). A callback without ``mes`` is a status (``None``: the delivery-report parser reads
it). With ``callback_check=true`` a checksum field (``sha1``, ``md5`` or ``crc32``, as the handler
URL asks) must equal that digest of ``"<id>:<phone>:<mes>:<password>"`` (the formula is
*unverified*, like the status one: :func:`.dlr.check`); a missing or wrong one raises
``CallbackRejectedError`` (403).

The pull, ``get.php?get_answers=1`` (smscentre.com/api/http/get_data/inbox), is built and read
by :func:`build_fetch` and :func:`parse_fetch`: ``after_id`` (the cursor: the highest ``id``
seen), ``hour=168`` (the documented maximum, 7 days), ``cnt`` (1,000 a page), ``fmt=3``; the
reply is a JSON list of ``{id, received, phone, message, to, sent}``. Which of ``received`` and
``sent`` is a Unix time and which ``DD.MM.YYYY hh:mm:ss`` (Moscow) is *unverified*: both forms
are read in both, and ``mes``/``to_phone`` are read for ``message``/``to``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from smsgate import hookimpl
from smsgate.codes import unreadable
from smsgate.errors import MalformedResponseError, ValidationError
from smsgate.inbound import InboundMessage
from smsgate.models import HttpRequest, HttpResponse, Inbox, InboxQuery
from smsgate.spec import Endpoint

from . import dlr, reply, request
from .schedule import moscow
from .settings import CODECS, SmscSettings

PROVIDER = "smsc"
GET = "/sys/get.php"
#: Messages asked for per pull (``cnt``; the documented maximum is 10,000); a full page means more.
PAGE = 1000
#: ``hour``: how far back to look, the documented maximum (7 days).
HOURS = 168


def _encoding(request: HttpRequest) -> str:
    """The handler's charset: ``charset`` in its URL, else the documented default windows-1251."""
    query = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    name = query.get("charset", "").strip().lower()
    return CODECS.get(name, "cp1251")


def _fields(request: HttpRequest, settings: SmscSettings) -> dict[str, str]:
    encoding = _encoding(request)
    fields = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True, encoding=encoding, errors="replace"))
    if not request.body:
        return fields
    text = request.body.decode(encoding, errors="replace")
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            raise MalformedResponseError("SMSC callback: the body is not JSON") from None
        if not isinstance(document, dict):
            raise MalformedResponseError("SMSC callback: the JSON body is not an object")
        fields.update({str(k): str(v) for k, v in document.items() if not isinstance(v, (dict, list))})
    else:
        fields.update(parse_qsl(text, keep_blank_values=True, encoding=encoding, errors="replace"))
    return fields


def signature(fields: dict[str, str], password: str, algorithm: str = "sha1") -> str:
    """The checksum this plugin expects on an incoming message (*unverified* formula)."""
    return dlr.signature(fields, password, algorithm, "mes")


def _when(fields: dict[str, str], names: tuple[str, ...] = ("sent", "time")) -> datetime | None:
    for name in names:
        value = fields.get(name, "").strip()
        try:
            if value.isascii() and value.isdigit():
                return datetime.fromtimestamp(int(value), timezone.utc)
            return datetime.strptime(value, "%d.%m.%Y %H:%M:%S").replace(tzinfo=moscow())
        except (ValueError, OverflowError, OSError):
            continue
    return None


def _number(value: str) -> str | None:
    digits = value.strip().lstrip("+")
    if not digits:
        return None
    return "+" + digits if digits.isascii() and digits.isdigit() and not digits.startswith("0") else value.strip()


def parse(request: HttpRequest, settings: SmscSettings) -> tuple[InboundMessage, ...] | None:
    fields = _fields(request, settings)
    if "mes" not in fields:
        return None
    sender = _number(fields.get("phone", ""))
    if sender is None:
        raise MalformedResponseError("SMSC incoming message without a phone")
    if settings.callback_check:
        dlr.check(fields, settings.password.reveal(), "mes", "incoming message")
    ident = (fields.get("id") or fields.get("sms_id") or "").strip()
    return (
        InboundMessage(
            sender=sender,
            text=fields["mes"],
            recipient=_number(fields.get("to", "")),
            message_id=ident or None,
            received_at=_when(fields),
            raw={k: v for k, v in fields.items() if k not in dlr.CHECKSUMS},
        ),
    )


def build_fetch(operation: InboxQuery, settings: SmscSettings, endpoint: Endpoint) -> HttpRequest:
    """``get.php?get_answers=1`` for the messages after the cursor (an incoming message ``id``)."""
    since = (operation.since or "").strip()
    if since and not (since.isascii() and since.isdigit()):
        raise ValidationError("since", f"an SMSC cursor is a message id (digits), not {since[:20]!r}")
    fields = [*request.common(settings), ("get_answers", "1"), ("hour", str(HOURS)), ("cnt", str(PAGE))]
    if since:
        fields.append(("after_id", since))
    return request._post(endpoint, GET, fields, settings)


def _answer(item: Any, body: str) -> InboundMessage:
    if not isinstance(item, dict):
        raise unreadable("unreadable SMSC get_answers reply: an entry is not an object", body=body)
    fields = {str(k): "" if v is None else str(v) for k, v in item.items() if not isinstance(v, (dict, list))}
    ident, sender = fields.get("id", "").strip(), _number(fields.get("phone", ""))
    if not (ident.isascii() and ident.isdigit()) or sender is None:
        raise unreadable("unreadable SMSC get_answers reply: an entry without id or phone", body=body)
    text = fields.get("message", fields.get("mes"))
    if text is None:
        raise unreadable("unreadable SMSC get_answers reply: an entry without message", body=body)
    return InboundMessage(
        sender=sender,
        text=text,
        recipient=_number(fields.get("to") or fields.get("to_phone") or ""),
        message_id=ident,
        received_at=_when(fields, ("received", "sent")),
        raw=fields,
    )


def parse_fetch(operation: InboxQuery, response: HttpResponse, settings: SmscSettings) -> Inbox:
    """The incoming messages of a ``get_answers`` reply, oldest first; the cursor is the highest id."""
    try:
        doc = reply.document(response, settings, "balance")
    except reply.Unreadable as exc:
        raise unreadable(f"unreadable SMSC reply: {exc}", response) from None
    body = response.text()[:500]
    if isinstance(doc, dict):
        doc = [doc] if doc else []
    if not isinstance(doc, list):
        raise unreadable("unreadable SMSC get_answers reply: not a list", body=body)
    messages = sorted((_answer(item, body) for item in doc), key=lambda m: int(m.message_id or 0))
    cursor = operation.since
    if messages and (cursor is None or int(messages[-1].message_id or 0) > int(cursor)):
        cursor = messages[-1].message_id
    return Inbox(tuple(messages), cursor, more=len(messages) >= PAGE)


#: The ``parse_inbound`` hook: this module's :func:`parse`.
parse_inbound = hookimpl(parse)
