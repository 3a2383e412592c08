"""Incoming messages: Octopush's MO and STOP callbacks (dev.octopush.com, "callbacks").

Octopush POSTs three callbacks to the URLs set in the account, told apart by their date field:
``delivery_date`` (a delivery report: not ours, ``None``), ``reception_date`` or ``answer_date``
(an incoming message: ``message_id, number, text, sim_card_number, reception_date``) and
``stop_date`` (a STOP: ``message_id, number, text, stop_date``; reported with
``opt_out=True``). The body is JSON (the documented sample) or a form; dates carry no zone and
are read as French time. No signing is documented: use the receiver's path token or Basic auth.
Octopush asks for an answer within a second with an empty body.
"""

from __future__ import annotations

import json
from typing import Any

from smsgate import hookimpl
from smsgate.errors import MalformedResponseError
from smsgate.inbound import InboundMessage
from smsgate.models import HttpRequest
from smsgate_octopush.dlr import _at, _items, _recipient

MO_DATES = ("reception_date", "answer_date")


def _message(item: Any, request: HttpRequest) -> InboundMessage | None:
    if not isinstance(item, dict):
        raise MalformedResponseError("not an Octopush callback: an item is not an object")
    is_stop = bool(item.get("stop_date"))
    if not is_stop and not any(item.get(k) for k in MO_DATES) and ("status" in item or "delivery_date" in item):
        return None  # a delivery report
    if not is_stop and "text" not in item:
        return None
    sender = _recipient(item.get("number"))
    if sender is None:
        raise MalformedResponseError("Octopush incoming message without a number")
    text = item.get("text")
    message_id = item.get("message_id")
    when = next((item.get(k) for k in ("stop_date", *MO_DATES) if item.get(k)), None)
    return InboundMessage(
        sender=sender,
        text=text if isinstance(text, str) else "" if text is None else str(text),
        recipient=_recipient(item.get("sim_card_number")),
        message_id=str(message_id).strip() or None if message_id is not None else None,
        received_at=_at(when),
        opt_out=is_stop,
        raw={str(k): v if isinstance(v, str) else json.dumps(v) for k, v in item.items()},
    )


def parse(request: HttpRequest) -> tuple[InboundMessage, ...] | None:
    found = [_message(item, request) for item in _items(request)]
    messages = tuple(m for m in found if m is not None)
    return messages or None


#: The ``parse_inbound`` hook: this module's :func:`parse`.
parse_inbound = hookimpl(parse)
