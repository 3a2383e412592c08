"""Every documented reply (tests/fixtures) parsed to the right outcomes, and broken replies refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from serwersms_support import reply, response

from smsgate.errors import (
    AuthenticationError,
    GatewayError,
    InsufficientCreditError,
    MalformedResponseError,
    RateLimitedError,
)
from smsgate.gateway import Gateway
from smsgate.models import (
    BalanceQuery,
    Batch,
    Call,
    DeliveryStatus,
    HttpResponse,
    Message,
    Reconcile,
    Send,
    Status,
    StatusQuery,
)

Offline = Callable[..., Gateway]


@pytest.fixture
def gw(offline: Offline) -> Gateway:
    return offline()


def batch_of(gateway: Gateway, to: list[str], **kwargs: object) -> Batch:
    return gateway.prepare(Message(to, "Test platform SerwerSMS.pl", **kwargs))[0].batches[0]  # type: ignore[arg-type]


def test_plain_success_without_details(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    receipt = gw.hooks.parse_response(Send(batch), reply("send_success.json"), gw.settings)
    assert [(o.recipient, o.status, o.message_id) for o in receipt.outcomes] == [
        ("+48500600700", Status.ACCEPTED, None)
    ]


def test_plain_success_that_does_not_cover_the_batch_is_malformed(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700", "+48500600701"])
    with pytest.raises(MalformedResponseError) as info:
        gw.hooks.parse_response(Send(batch), reply("send_success.json"), gw.settings)
    assert info.value.body is not None and '"queued":1' in info.value.body


def test_success_with_details(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    (outcome,) = gw.hooks.parse_response(Send(batch), reply("send_success_details.json"), gw.settings).outcomes
    assert outcome.status is Status.ACCEPTED and outcome.message_id == "1c142d81c7" and outcome.parts == 1


def test_partial_success_rejects_only_the_wrong_numbers(gw: Gateway) -> None:
    # The gateway echoes wrong numbers as given ("45616"); our batch only holds valid E.164
    # numbers, so the two unsent items keep the gateway's spelling and the core leaves them out.
    batch = batch_of(gw, ["+48500600700", "+48500600500"])
    receipt = gw.hooks.parse_response(Send(batch), reply("send_partial.json"), gw.settings)
    assert [(o.recipient, o.status, o.message_id, o.code) for o in receipt.outcomes] == [
        ("+48500600700", Status.ACCEPTED, "32039da8e9", None),
        ("+48500600500", Status.ACCEPTED, "844c2b4af0", None),
        ("45616", Status.REJECTED, "6e373d7856", "3103"),
        ("7799123", Status.REJECTED, "bf069fe2c1", "3103"),
    ]
    assert receipt.outcomes[2].reason == "Incorrect number"


def test_partial_success_maps_normalised_numbers_back(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700", "+48500600799"])
    document = {
        "success": True,
        "queued": 1,
        "unsent": 1,
        "items": [
            {"id": "a1", "phone": "48500600700", "status": "queued", "parts": 1},
            {
                "id": "a2",
                "phone": "+48500600799",
                "status": "unsent",
                "error_code": "3103",
                "error_message": "Incorrect number",
            },
        ],
    }
    outcomes = gw.hooks.parse_response(Send(batch), response(document), gw.settings).outcomes
    assert [(o.recipient, o.status, o.code) for o in outcomes] == [
        ("+48500600700", Status.ACCEPTED, None),
        ("+48500600799", Status.REJECTED, "3103"),
    ]


def test_scheduled_and_test_mode_outcomes(offline: Offline) -> None:
    gateway = offline("test=true")
    when = datetime(2031, 1, 1, tzinfo=timezone.utc)
    scheduled = batch_of(gateway, ["+48500600700"], send_at=when)
    (outcome,) = gateway.hooks.parse_response(
        Send(scheduled), reply("send_success_details.json"), gateway.settings
    ).outcomes
    assert outcome.status is Status.SCHEDULED
    assert outcome.reason is not None and "test mode" in outcome.reason


@pytest.mark.parametrize(
    ("name", "code", "kind"),
    [
        ("error_empty_message.json", "3101", GatewayError),
        ("error_no_phones.json", "3104", GatewayError),
        ("error_invalid_user.json", "1001", AuthenticationError),
    ],
)
@pytest.mark.parametrize("status", [200, 400])
def test_request_level_errors(gw: Gateway, name: str, code: str, kind: type[GatewayError], status: int) -> None:
    batch = batch_of(gw, ["+48500600700"])
    with pytest.raises(kind) as info:
        gw.hooks.parse_response(Send(batch), reply(name, status), gw.settings)
    assert type(info.value) is kind
    assert info.value.code == code and info.value.http_status == status
    assert info.value.body is not None and code in info.value.body


def test_limit_exhausted_is_insufficient_credit(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    document = {"error": {"code": 3000, "type": "SendError", "message": "Limit ECO+ exhausted"}}
    with pytest.raises(InsufficientCreditError, match="Limit ECO"):
        gw.hooks.parse_response(Send(batch), response(document), gw.settings)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, b"<html>oops</html>", MalformedResponseError),
        (200, b"[1, 2]", MalformedResponseError),
        (200, b'{"success": true, "items": "nope"}', MalformedResponseError),
        (200, b'{"success": true, "items": [{"id": "x"}]}', MalformedResponseError),
        (200, b'{"error": "flat"}', MalformedResponseError),
        (200, b'{"success": false}', GatewayError),
        (503, b"<html>busy</html>", GatewayError),
        (429, b"slow down", RateLimitedError),
    ],
)
def test_unreadable_or_http_errors(gw: Gateway, status: int, body: bytes, kind: type[GatewayError]) -> None:
    batch = batch_of(gw, ["+48500600700"])
    with pytest.raises(kind) as info:
        gw.hooks.parse_response(Send(batch), HttpResponse(status, body), gw.settings)
    assert type(info.value) is kind and info.value.http_status == status
    assert info.value.body == body.decode()


def test_unknown_item_status_is_unknown_never_accepted(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    document = {"success": True, "items": [{"id": "x", "phone": "+48500600700", "status": "weird"}]}
    (outcome,) = gw.hooks.parse_response(Send(batch), response(document), gw.settings).outcomes
    assert outcome.status is Status.UNKNOWN


def test_reports_as_delivery_reports(gw: Gateway) -> None:
    reports = gw.hooks.parse_response(
        StatusQuery(("aca3944055",)), reply("reports_documented_fields.json"), gw.settings
    )
    assert [(r.message_id, r.status, r.code) for r in reports] == [
        ("aca3944055", DeliveryStatus.DELIVERED, None),
        ("1c142d81c7", DeliveryStatus.EXPIRED, "message_expired"),
        ("844c2b4af0", DeliveryStatus.REJECTED, "wrong_number"),
        ("32039da8e9", DeliveryStatus.PENDING, None),
    ]
    first = reports[0]
    assert first.recipient == "+48500600700"
    assert first.at == datetime(2015, 2, 22, 11, 26, 9, tzinfo=timezone.utc)  # 12:26:09 in Warsaw (CET)
    assert first.raw["network"] == "Plus"
    assert reports[2].reason == "wrong number"


def test_reconcile_lists_only_what_the_gateway_has(gw: Gateway) -> None:
    to = ["+48500600700", "+48500600701", "+48500600702", "+48500600703", "+48500600704"]
    batch = batch_of(gw, to)
    receipt = gw.hooks.parse_response(Reconcile(batch), reply("reports_documented_fields.json"), gw.settings)
    assert [(o.recipient, o.status, o.message_id, o.code) for o in receipt.outcomes] == [
        ("+48500600700", Status.ACCEPTED, "aca3944055", None),
        ("+48500600701", Status.ACCEPTED, "1c142d81c7", None),
        ("+48500600702", Status.REJECTED, "844c2b4af0", "wrong_number"),
        ("+48500600703", Status.SCHEDULED, "32039da8e9", None),
    ]
    assert receipt.outcomes[0].cost == Decimal("0.07")


def test_reconcile_refuses_a_partial_page(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    document = {"paging": {"page": 1, "count": 2}, "items": []}
    with pytest.raises(GatewayError, match="pages"):
        gw.hooks.parse_response(Reconcile(batch), response(document), gw.settings)


def test_reconcile_of_nothing_found(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    receipt = gw.hooks.parse_response(
        Reconcile(batch), response({"paging": {"page": 1, "count": 1}, "items": []}), gw.settings
    )
    assert receipt.outcomes == ()


def test_limits(offline: Offline) -> None:
    eco, full = offline(), offline("sender=INFORMACJA")
    balance = eco.hooks.parse_response(BalanceQuery(), reply("limits_documented_fields.json"), eco.settings)
    assert (balance.amount, balance.unit) == (Decimal(1200), "eco")
    assert balance.details["full"] == {"value": "350", "chars_limit": 918}
    balance = full.hooks.parse_response(BalanceQuery(), reply("limits_documented_fields.json"), full.settings)
    assert (balance.amount, balance.unit) == (Decimal(350), "full")
    with pytest.raises(MalformedResponseError):
        eco.hooks.parse_response(BalanceQuery(), response({"items": []}), eco.settings)
    with pytest.raises(MalformedResponseError):
        eco.hooks.parse_response(BalanceQuery(), response({"items": [{"type": "eco", "value": "lots"}]}), eco.settings)


def test_error_view_call_returns_the_description(gw: Gateway) -> None:
    document = {"error": {"code": 3103, "type": "SendError", "message": "Incorrect number"}}
    result = gw.hooks.parse_response(Call("error", {"code": 3103}), response(document), gw.settings)
    assert result == document["error"]
    with pytest.raises(GatewayError):
        gw.hooks.parse_response(Call("view", {"id": "x"}), response({"error": {"code": 1004}}), gw.settings)
