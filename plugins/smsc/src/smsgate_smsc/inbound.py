"""Incoming messages sent to the "Client handler" URL (smscentre.com/api/http/miscellaneous/callback).

SMSC calls one handler URL for delivery statuses, incoming SMS and calls, in the charset the URL
names (``?charset=utf-8``; windows-1251 by default). The fields of an incoming SMS are
*unverified* (the reference did not capture them): read here are ``phone`` (the subscriber),
``mes`` (the text), ``to`` (our number), ``id`` or ``sms_id`` and ``sent``/``time`` (Unix
seconds or ``DD.MM.YYYY hh:mm:ss`` Moscow time), from the query, a form body or a JSON object
(``fmt=3``). A callback without ``mes`` is a status (``None``: the delivery-report parser reads
it). With ``callback_check=true`` the ``sha1`` field must equal
``sha1("<id>:<phone>:<mes>:<password>")`` (the formula is *unverified*, like the status one);
a mismatch raises ``CallbackRejectedError`` (403).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

from smsgate.errors import MalformedResponseError
from smsgate.inbound import CallbackRejectedError, InboundMessage
from smsgate.models import HttpRequest

from .schedule import moscow
from .settings import CODECS, SmscSettings

PROVIDER = "smsc"


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


def signature(fields: dict[str, str], password: str) -> str:
    """The checksum this plugin expects on an incoming message (*unverified* formula)."""
    ident = fields.get("id") or fields.get("sms_id", "")
    text = f"{ident}:{fields.get('phone', '')}:{fields.get('mes', '')}:{password}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _when(fields: dict[str, str]) -> datetime | None:
    for name in ("sent", "time"):
        value = fields.get(name, "").strip()
        if value.isdigit():
            return datetime.fromtimestamp(int(value), timezone.utc)
        try:
            return datetime.strptime(value, "%d.%m.%Y %H:%M:%S").replace(tzinfo=moscow())
        except ValueError:
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
        expected = signature(fields, settings.password.reveal())
        if not hmac.compare_digest(expected, fields.get("sha1", "").strip().lower()):
            raise CallbackRejectedError("SMSC incoming message with a wrong sha1 checksum")
    ident = (fields.get("id") or fields.get("sms_id") or "").strip()
    return (
        InboundMessage(
            sender=sender,
            text=fields["mes"],
            recipient=_number(fields.get("to", "")),
            message_id=ident or None,
            received_at=_when(fields),
            raw={k: v for k, v in fields.items() if k not in ("sha1", "md5", "crc32")},
        ),
    )
