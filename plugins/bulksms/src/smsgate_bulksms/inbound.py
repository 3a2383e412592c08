"""Incoming messages (MO): the EAPI "HTTP push" of replies, and the ``get_inbox`` pull's rows.

The gateway calls the URL set in the account with a GET whose query carries ``msisdn`` (the
number the reply was sent to: ours), ``sender`` (the subscriber), ``message``, ``dca``
(``7bit``: ISO-8859-1 text with the GSM mapping; ``8bit``/``16bit``: hex octets, 16bit being
UTF-16 big-endian) and ``msg_id``, which "must" be used to drop duplicate submissions
(developer.bulksms.com/eapi/reception/http_push). The push is not signed: put a secret in the
URL (the receiver's path token) or use HTTP Basic. A form POST with the same fields is read too.
A request without ``sender`` and ``message`` is not an incoming message (a delivery report on
the same URL): ``None``.

The pull, ``reception/get_inbox/1/1.0`` (developer.bulksms.com/eapi/reception/get_inbox), takes
``last_retrieved_id`` (the cursor: the highest ``msg_id`` seen, ``0`` the first time) and answers
``0|records to follow|<count>`` (1.1: ``0|Results to follow``), then one row per message:
``msg_id|sender|message|received_time|msisdn|referring_batch_id`` (1.1 adds ``|encoding``;
both are read), at most 1,000 per request, ``\n``/``\r`` escaped in the text, times in the
account's zone (``timezone``).
"""

from __future__ import annotations

import binascii
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from smsgate import hookimpl
from smsgate.codes import unreadable
from smsgate.errors import ValidationError
from smsgate.inbound import InboundMessage
from smsgate.models import HttpRequest, HttpResponse, Inbox, InboxQuery
from smsgate.spec import Endpoint
from smsgate_bulksms import reply
from smsgate_bulksms.encoding import LATIN1, from_latin1
from smsgate_bulksms.settings import BulkSmsSettings

GET_INBOX = "/eapi/reception/get_inbox/1/1.0"
#: Rows one get_inbox reply carries at most ("currently 1000 messages"): a full page means more.
MAX_ROWS = 1000
ENCODINGS = ("7bit", "8bit", "16bit")
ROW_FIELDS = ("msg_id", "sender", "message", "received_time", "msisdn", "referring_batch_id", "encoding")

PUSH_FIELDS = ("msisdn", "sender", "message", "dca", "msg_id", "referring_batch_id", "network_id", "concat_reference")


def _number(value: str) -> str:
    digits = value.strip().lstrip("+")
    return "+" + digits if digits.isascii() and digits.isdigit() and not digits.startswith("0") else value.strip()


def decode(message: str, dca: str) -> str:
    """The text of ``message`` as ``dca`` encodes it."""
    dca = (dca or "7bit").strip().lower()
    if dca == "7bit":
        return from_latin1(message)
    try:
        octets = binascii.unhexlify(message.strip())
    except (binascii.Error, ValueError):
        raise unreadable(f"BulkSMS incoming message: dca={dca} but the message is not hex") from None
    if dca == "16bit":
        return octets.decode("utf-16-be", errors="replace")
    if dca == "8bit":
        return octets.decode(LATIN1)
    raise unreadable(f"BulkSMS incoming message: unknown dca {dca!r}")


def parse(request: HttpRequest) -> tuple[InboundMessage, ...] | None:
    params = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True, encoding=LATIN1))
    if request.body:
        params.update(parse_qsl(request.body.decode(LATIN1), keep_blank_values=True, encoding=LATIN1))
    if "sender" not in params or "message" not in params:
        return None
    sender = params["sender"].strip()
    if not sender:
        raise unreadable("BulkSMS incoming message without a sender", body=request.url[:300])
    msg_id = params.get("msg_id", "").strip() or None
    return (
        InboundMessage(
            sender=_number(sender),
            text=decode(params["message"], params.get("dca", "7bit")),
            recipient=_number(params["msisdn"]) if params.get("msisdn", "").strip() else None,
            message_id=msg_id,
            raw={k: v for k, v in params.items() if k in PUSH_FIELDS},
        ),
    )


def build_fetch(operation: InboxQuery, settings: BulkSmsSettings, endpoint: Endpoint) -> HttpRequest:
    """``get_inbox`` after the cursor (a ``msg_id``; ``0`` the first time)."""
    since = (operation.since or "0").strip()
    if not (since.isascii() and since.isdigit()):
        raise ValidationError("since", f"a BulkSMS cursor is a message id (digits), not {since[:20]!r}")
    fields = [("username", settings.username), ("password", settings.password.reveal()), ("last_retrieved_id", since)]
    return HttpRequest.form(endpoint.url(GET_INBOX), fields, encoding=LATIN1)


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in ("\\n", "\\r", "\\\\"):
            out.append({"\\n": "\n", "\\r": "\r", "\\\\": "\\"}[pair])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _inbox_row(row: str, settings: BulkSmsSettings, text: str) -> InboundMessage:
    fields = row.split("|")
    encoding = "7bit"
    if len(fields) >= 7 and fields[-1].strip().lower() in ENCODINGS:
        encoding = fields.pop().strip().lower()
    if len(fields) < 6:
        raise unreadable(f"unreadable BulkSMS get_inbox row: expected {'|'.join(ROW_FIELDS[:6])}", body=text)
    msg_id, sender = fields[0].strip(), fields[1].strip()
    message, (received, msisdn, referring) = "|".join(fields[2:-3]), fields[-3:]
    if not (msg_id.isascii() and msg_id.isdigit()) or not sender:
        raise unreadable("unreadable BulkSMS get_inbox row: no msg_id or sender", body=text)
    try:
        at = datetime.strptime(received.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=settings.zone)
    except ValueError:
        raise unreadable(f"unreadable BulkSMS get_inbox time {received[:30]!r}", body=text) from None
    raw = dict(zip(ROW_FIELDS, (msg_id, sender, message, received, msisdn, referring, encoding)))
    return InboundMessage(
        sender=_number(sender),
        text=decode(_unescape(message), encoding),
        recipient=_number(msisdn) if msisdn.strip() else None,
        message_id=msg_id,
        received_at=at,
        raw=raw,
    )


def parse_fetch(operation: InboxQuery, response: HttpResponse, settings: BulkSmsSettings) -> Inbox:
    """The rows of a ``get_inbox`` reply, oldest first; the cursor is the highest ``msg_id``."""
    text = reply.checked_text(response)
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip(" \t\r")]
    if not lines:
        raise unreadable("unreadable BulkSMS get_inbox reply: empty", body=text)
    status = reply.status_line(lines[0], text)
    if status.code != "0":
        raise reply.request_error(status, response, text)
    messages = sorted((_inbox_row(row, settings, text) for row in lines[1:]), key=lambda m: int(m.message_id or 0))
    cursor = messages[-1].message_id if messages else operation.since
    if messages and operation.since and int(messages[-1].message_id or 0) <= int(operation.since):
        cursor = operation.since  # never move the cursor back
    return Inbox(tuple(messages), cursor, more=len(messages) >= MAX_ROWS)


#: The ``parse_inbound`` hook: this module's :func:`parse`.
parse_inbound = hookimpl(parse)
