"""Incoming messages (MO): the EAPI "HTTP push" of replies, and the ``get_inbox`` pull's rows.

The gateway calls the URL set in the account with a GET whose query carries ``msisdn`` (the
number the reply was sent to: ours), ``sender`` (the subscriber), ``message``, ``dca``
(``7bit``: ISO-8859-1 text with the GSM mapping; ``8bit``/``16bit``: hex octets, 16bit being
UTF-16 big-endian) and ``msg_id``, which "must" be used to drop duplicate submissions
(developer.bulksms.com/eapi/reception/http_push). The push is not signed: put a secret in the
URL (the receiver's path token) or use HTTP Basic. A form POST with the same fields is read too.
A request without ``sender`` and ``message`` is not an incoming message (a delivery report on
the same URL): ``None``.
"""

from __future__ import annotations

import binascii
from urllib.parse import parse_qsl, urlsplit

from smsgate.codes import unreadable
from smsgate.inbound import InboundMessage
from smsgate.models import HttpRequest
from smsgate_bulksms.encoding import LATIN1, from_latin1

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
