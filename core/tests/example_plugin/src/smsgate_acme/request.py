"""Build handlers: one pure function per operation, from the operation to the exact request
(registered in the handler table of ``__init__``)."""

from __future__ import annotations

from typing import Any

from smsgate.models import BalanceQuery, HttpRequest, Send
from smsgate.spec import Endpoint
from smsgate_acme.settings import AcmeSettings


def auth(settings: AcmeSettings) -> dict[str, str]:
    """The Bearer token header (the core redacts it in previews and logs)."""
    return {"Authorization": f"Bearer {settings.token.reveal()}"}


def build_send(operation: Send, settings: AcmeSettings, endpoint: Endpoint) -> HttpRequest:
    batch = operation.batch
    document: dict[str, Any] = {"to": list(batch.recipients), "text": batch.text}
    sender = batch.message.sender or settings.sender
    if sender:
        document["from"] = sender
    document.update(batch.schedule)  # {"send_at": ...} from schedule.fields
    # The de-dup key: the same on every attempt of this batch, bound to its content.
    headers = {**auth(settings), "Idempotency-Key": batch.dedup_key}
    return HttpRequest.json(endpoint.url("/v2/messages"), document, headers=headers)


def build_balance(operation: BalanceQuery, settings: AcmeSettings, endpoint: Endpoint) -> HttpRequest:
    return HttpRequest.get(endpoint.url("/v2/balance"), headers=auth(settings))
