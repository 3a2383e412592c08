"""Each hook of the outbox provider, called through a gateway's typed façade."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from smsgate import DeliveryStatus, HttpRequest, HttpResponse, Message, Status
from smsgate.errors import AuthenticationError, GatewayError, MalformedResponseError, TransportError
from smsgate.gateway import Gateway
from smsgate.models import BalanceQuery, Failure, Receipt, Send, Verdict


def _send(gateway: Gateway, *to: str) -> Send:
    plan, _ = gateway.prepare(Message(to, "hi", key="k"))
    return Send(plan.batches[0])


def test_hook_provider_spec(gateway: Gateway) -> None:
    assert gateway.spec.name == "outbox" and gateway.spec.capabilities.dedup == "key"


def test_hook_build_request(gateway: Gateway) -> None:
    request = gateway.hooks.build_request(_send(gateway, "+48500600700"), gateway.settings, gateway.endpoint)
    body = json.loads(request.body)
    assert request.method == "POST" and body == {"to": ["+48500600700"], "text": "hi", "key": body["key"]}
    assert body["key"].startswith("k#"), "the de-dup key is the batch key bound to the content digest"
    assert gateway.hooks.build_request(BalanceQuery(), gateway.settings, gateway.endpoint).method == "GET"


def test_hook_parse_response(gateway: Gateway) -> None:
    op = _send(gateway, "+48500600700", "+48500600701")
    body = b'{"results":[{"to":"+48500600700","id":"7"},{"to":"+48500600701","error":"invalid_number","reason":"no"}]}'
    receipt = gateway.hooks.parse_response(op, HttpResponse(200, body), gateway.settings)
    assert isinstance(receipt, Receipt)
    assert [(o.status, o.message_id, o.code) for o in receipt.outcomes] == [
        (Status.ACCEPTED, "7", None),
        (Status.REJECTED, None, "invalid_number"),
    ]
    with pytest.raises(MalformedResponseError):
        gateway.hooks.parse_response(op, HttpResponse(200, b"<html>"), gateway.settings)
    with pytest.raises(AuthenticationError):
        gateway.hooks.parse_response(op, HttpResponse(401, b'{"error":"auth"}'), gateway.settings)


def test_hook_classify_error(gateway: Gateway) -> None:
    op = _send(gateway, "+48500600700")

    def verdict(error: Exception) -> Verdict:
        verdict: Verdict = gateway.hooks.classify_error(Failure(error, op), gateway.settings).verdict  # type: ignore[arg-type]
        return verdict

    assert verdict(GatewayError("x", code="busy")) is Verdict.RETRY
    assert verdict(GatewayError("x", code="no_credit")) is Verdict.FATAL
    assert verdict(TransportError("x", kind="connect", written=False)) is Verdict.RETRY
    assert verdict(TransportError("x", kind="timeout", written=True)) is Verdict.AMBIGUOUS
    assert verdict(GatewayError("x", http_status=429)) is Verdict.THROTTLED
    # a proxy may answer 503 after the gateway took the request
    assert verdict(GatewayError("x", http_status=503)) is Verdict.AMBIGUOUS
    assert verdict(GatewayError("x", http_status=500)) is Verdict.AMBIGUOUS
    assert verdict(MalformedResponseError("x")) is Verdict.AMBIGUOUS
    assert verdict(GatewayError("x", code="unheard-of")) is Verdict.FATAL


@pytest.mark.parametrize("local", ["2026-03-29 01:30", "2026-03-29 03:30", "2026-10-25 02:30"])
def test_hook_schedule_format(gateway: Gateway, local: str) -> None:
    when = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Europe/Warsaw"))
    fields = gateway.hooks.schedule_format(when, gateway.settings)
    sent = datetime.strptime(fields["send_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert sent.timestamp() == when.timestamp()  # (PEP 495: aware times in a fold compare unequal)
    assert when.utcoffset() in (timedelta(hours=1), timedelta(hours=2))


def test_hook_parse_delivery_report(gateway: Gateway) -> None:
    body = b'[{"id":"ob1","to":"+48500600700","state":"delivered","at":"1700000000"},{"id":"ob2","state":"??"}]'
    first, second = gateway.parse_delivery_report(HttpRequest("POST", "http://me/dlr", body=body))
    assert (first.message_id, first.status, first.recipient) == ("ob1", DeliveryStatus.DELIVERED, "+48500600700")
    assert first.at == datetime.fromtimestamp(1700000000, timezone.utc)
    assert second.status is DeliveryStatus.UNKNOWN
    with pytest.raises(MalformedResponseError):
        gateway.parse_delivery_report(HttpRequest("POST", "http://me/dlr", body=b"nope"))


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    from email.utils import format_datetime

    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    assert HttpResponse(429, headers=(("Retry-After", "7"),)).retry_after() == 7.0
    assert 100 < (HttpResponse(503, headers=(("retry-after", later),)).retry_after() or 0) <= 120
    assert HttpResponse(429, headers=(("Retry-After", "soon"),)).retry_after() is None
    assert HttpResponse(200).retry_after() is None
