"""The ``outbox`` provider: a small JSON gateway that ships with the core.

It is the reference for plugin authors (about 100 lines of pure hooks), the gateway behind the
``smsgate_outbox`` pytest fixture, and the core's own end-to-end test subject. Its emulator
(:mod:`smsgate.builtin.outbox_emulator`) keeps every accepted message, so an app's tests can
assert on what would have gone out. DSN: ``outbox://user:secret@127.0.0.1:PORT?tls=false``.

Wire format: ``POST /v1/send`` with a JSON body ``{"to": [...], "text": ..., "sender": ...,
"key": ..., "send_at": ...}`` and basic auth; the reply is ``{"results": [{"to", "id"} or
{"to", "error", "reason"}]}``; errors are ``{"error": code, "reason": text}`` with a 4xx/5xx
status. A repeated ``key`` replays the first reply (de-duplication); ``GET /v1/lookup?key=``
lists the messages taken under a key (reconciliation).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import attrs

from smsgate import hookimpl
from smsgate.codes import Code, CodeTable, unreadable
from smsgate.errors import AuthenticationError, InsufficientCreditError, RateLimitedError
from smsgate.handlers import Handlers
from smsgate.inbound import InboundMessage
from smsgate.models import (
    Balance,
    BalanceQuery,
    Classification,
    DeliveryReport,
    DeliveryStatus,
    Failure,
    HttpRequest,
    HttpResponse,
    Outcome,
    Receipt,
    Reconcile,
    Send,
    Status,
    StatusQuery,
    Verdict,
)
from smsgate.spec import Capabilities, Endpoint, ProviderSpec, Secret

#: Every error code of the outbox gateway: meaning, verdict, error class.
TABLE = CodeTable(
    Code("auth", "bad credentials", Verdict.FATAL, error=AuthenticationError),
    Code("invalid", "the request is invalid", Verdict.FATAL),
    Code("invalid_number", "no such subscriber", Verdict.FATAL),
    Code("no_credit", "no credit left", Verdict.FATAL, error=InsufficientCreditError),
    Code("busy", "the gateway is busy; nothing was done", Verdict.RETRY),
    Code("throttled", "too many requests", Verdict.THROTTLED, error=RateLimitedError),
)
#: The table as ``ProviderContract.codes`` takes it.
CODES: Mapping[str, Verdict] = TABLE.verdicts

handlers = Handlers()


@attrs.frozen(kw_only=True)
class OutboxSettings:
    username: str = "user"
    password: Secret = attrs.field(factory=lambda: Secret(""))
    test: bool = False


@hookimpl
def provider_spec() -> ProviderSpec:
    return ProviderSpec(
        name="outbox",
        settings=OutboxSettings,
        default_host="127.0.0.1",
        default_port=8025,
        capabilities=Capabilities(
            max_recipients=100,
            max_parts=10,
            scheduling=True,
            dedup="key",
            dedup_window=24 * 3600.0,
            lookup_delay=1.0,
            test_mode="test",
            flash=True,
            max_connections=8,
            operations=handlers.operations,
            delivery_reports=True,
            inbound=frozenset({"push"}),
        ),
        description="Loopback test gateway that keeps every message (ships with the core)",
        emulator="smsgate.builtin.outbox_emulator:OutboxEmulator",
    )


def _auth(settings: OutboxSettings) -> tuple[tuple[str, str], ...]:
    return _basic(settings.username, settings.password.reveal())


@functools.lru_cache(maxsize=8)
def _basic(username: str, password: str) -> tuple[tuple[str, str], ...]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return (("Authorization", f"Basic {token}"),)


@handlers.build(Send)
def build_send(operation: Send, settings: OutboxSettings, endpoint: Endpoint) -> HttpRequest:
    batch = operation.batch
    body: dict[str, Any] = {"to": list(batch.recipients), "text": batch.text, "key": batch.dedup_key}
    if batch.message.sender:
        body["sender"] = batch.message.sender
    if batch.message.flash:
        body["flash"] = True
    if settings.test:
        body["test"] = True
    body.update(batch.schedule)
    return HttpRequest.json(endpoint.url("/v1/send"), body, headers=_auth(settings))


@handlers.build(Reconcile)
def build_lookup(operation: Reconcile, settings: OutboxSettings, endpoint: Endpoint) -> HttpRequest:
    return HttpRequest.get(endpoint.url("/v1/lookup"), [("key", operation.batch.dedup_key)], headers=_auth(settings))


@handlers.build(StatusQuery)
def build_status(operation: StatusQuery, settings: OutboxSettings, endpoint: Endpoint) -> HttpRequest:
    return HttpRequest.get(
        endpoint.url("/v1/status"), [("id", i) for i in operation.message_ids], headers=_auth(settings)
    )


@handlers.build(BalanceQuery)
def build_balance(operation: BalanceQuery, settings: OutboxSettings, endpoint: Endpoint) -> HttpRequest:
    return HttpRequest.get(endpoint.url("/v1/balance"), headers=_auth(settings))


def _document(response: HttpResponse) -> Any:
    try:
        document = response.json()
    except ValueError:
        raise unreadable("reply is not JSON", response) from None
    if not isinstance(document, dict):
        raise unreadable("reply is not a JSON object", response)
    if "error" in document or response.status != 200:
        code = str(document.get("error", response.status))
        raise TABLE.error(
            code,
            message=str(document["reason"]) if "reason" in document else None,
            http_status=response.status,
            body=response.text(),
            retry_after=response.retry_after(),
        )
    return document


def _result(item: Any, scheduled: bool) -> Outcome:
    if not isinstance(item, dict) or not isinstance(item.get("to"), str):
        raise unreadable("result item without 'to'", body=repr(item))
    if "id" in item:
        return Outcome(item["to"], Status.SCHEDULED if scheduled else Status.ACCEPTED, message_id=str(item["id"]))
    return Outcome(item["to"], Status.REJECTED, code=str(item.get("error")), reason=str(item.get("reason", "")))


@handlers.parse(Send)
@handlers.parse(Reconcile)
def parse_results(operation: Send | Reconcile, response: HttpResponse, settings: OutboxSettings) -> Receipt:
    results = _document(response).get("results")
    if not isinstance(results, list):
        raise unreadable("reply has no results list", response)
    scheduled = bool(operation.batch.schedule)
    return Receipt(tuple(_result(item, scheduled) for item in results))


@handlers.parse(BalanceQuery)
def parse_balance(operation: BalanceQuery, response: HttpResponse, settings: OutboxSettings) -> Balance:
    return Balance(Decimal(str(_document(response).get("balance", "0"))), unit="messages")


@handlers.parse(StatusQuery)
def parse_status(
    operation: StatusQuery, response: HttpResponse, settings: OutboxSettings
) -> tuple[DeliveryReport, ...]:
    reports = _document(response).get("reports", [])
    if not isinstance(reports, list):
        raise unreadable("reports is not a list", response)
    return tuple(_report(item) for item in reports)


build_request = handlers.build_request
parse_response = handlers.parse_response


_STATES = {"delivered": DeliveryStatus.DELIVERED, "pending": DeliveryStatus.PENDING, "failed": DeliveryStatus.FAILED}


def _report(item: Mapping[str, str]) -> DeliveryReport:
    if not isinstance(item, Mapping):
        raise unreadable("a delivery report is not a JSON object", body=repr(item))
    try:
        at = item.get("at")
        return DeliveryReport(
            message_id=str(item["id"]),
            status=_STATES.get(str(item.get("state")), DeliveryStatus.UNKNOWN),
            recipient=item.get("to"),
            at=datetime.fromtimestamp(float(at), timezone.utc) if at else None,
            raw={str(k): str(v) for k, v in item.items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise unreadable(f"unreadable delivery report: {exc}", body=repr(item)) from None


@hookimpl
def classify_error(failure: Failure, settings: OutboxSettings) -> Classification | None:
    return TABLE.classify(failure)


@hookimpl
def schedule_format(when: datetime, settings: OutboxSettings) -> Mapping[str, str]:
    return {"send_at": when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


@hookimpl
def parse_delivery_report(request: HttpRequest, settings: OutboxSettings) -> tuple[DeliveryReport, ...]:
    try:
        document = HttpResponse(200, request.body).json()
    except ValueError:
        raise unreadable("delivery report is not JSON", body=request.body.decode("utf-8", "replace")) from None
    items = document if isinstance(document, list) else [document]
    return tuple(_report(item) for item in items)


@hookimpl
def parse_inbound(request: HttpRequest, settings: OutboxSettings) -> tuple[InboundMessage, ...] | None:
    """An incoming message: a JSON object (or list) with ``from``, ``text`` and optionally ``to``,
    ``id`` and ``at`` (Unix seconds). A body without ``from`` and ``text`` is not one (``None``)."""
    try:
        document = HttpResponse(200, request.body).json()
    except ValueError:
        return None  # the delivery-report parser says what is wrong with it
    items = document if isinstance(document, list) else [document]
    if not items or not all(isinstance(i, Mapping) and "from" in i and "text" in i for i in items):
        return None
    try:
        return tuple(
            InboundMessage(
                sender=str(i["from"]),
                text=str(i["text"]),
                recipient=str(i["to"]) if i.get("to") else None,
                message_id=str(i["id"]) if i.get("id") else None,
                received_at=datetime.fromtimestamp(float(i["at"]), timezone.utc) if i.get("at") else None,
                raw={str(k): str(v) for k, v in i.items()},
            )
            for i in items
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise unreadable(f"unreadable incoming message: {exc}", body=request.body.decode("utf-8", "replace")) from None


def variant(name: str, **capabilities: Any) -> SimpleNamespace:
    """This provider under another name with other capabilities, as a plugin to register in a
    test's registry (e.g. ``variant("nodedup", dedup=None)``: a gateway with nothing against doubt)."""
    base = provider_spec()

    @hookimpl
    def spec() -> ProviderSpec:
        return attrs.evolve(base, name=name, capabilities=attrs.evolve(base.capabilities, **capabilities))

    return SimpleNamespace(
        __name__=f"variant_{name}",
        provider_spec=spec,
        build_request=build_request,
        parse_response=parse_response,
        classify_error=classify_error,
        schedule_format=schedule_format,
        parse_delivery_report=parse_delivery_report,
    )
