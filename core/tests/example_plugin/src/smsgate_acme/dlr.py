"""Delivery reports Acme pushes to us: ``POST`` of ``{"id", "to", "state", "code"}`` (or a list)."""

from __future__ import annotations

from typing import Any

from smsgate import hookimpl
from smsgate.codes import unreadable
from smsgate.models import DeliveryReport, DeliveryStatus, HttpRequest, HttpResponse

STATES = {
    "delivered": DeliveryStatus.DELIVERED,
    "pending": DeliveryStatus.PENDING,
    "failed": DeliveryStatus.FAILED,
    "expired": DeliveryStatus.EXPIRED,
}


def parse(request: HttpRequest) -> tuple[DeliveryReport, ...]:
    """The ``parse_delivery_report`` hook: the reports in one callback; raises
    ``MalformedResponseError`` when it holds none."""
    try:
        doc = HttpResponse(200, request.body).json()
    except ValueError:
        raise unreadable("delivery report is not JSON", body=request.body.decode("utf-8", "replace")[:500]) from None
    items = doc if isinstance(doc, list) else [doc]
    return tuple(_report(item) for item in items)


def _report(item: Any) -> DeliveryReport:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise unreadable("delivery report without an id", body=repr(item)[:500])
    to, code = item.get("to"), item.get("code")
    return DeliveryReport(
        message_id=item["id"],
        status=STATES.get(str(item.get("state")), DeliveryStatus.UNKNOWN),
        recipient=to if isinstance(to, str) else None,
        code=str(code) if code is not None else None,
        raw={str(k): str(v) for k, v in item.items()},
    )


#: The ``parse_delivery_report`` hook: this module's :func:`parse`.
parse_delivery_report = hookimpl(parse)
