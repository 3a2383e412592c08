"""Every documented reply of the reference (section 3.4), as recorded fixtures, parsed to outcomes.

The reference elides the message ids (``bc5f7425-…``); the fixtures complete them as UUIDs.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import FIXTURES

from smsgate import text
from smsgate.errors import AuthenticationError, GatewayError, InsufficientCreditError, MalformedResponseError
from smsgate.models import Batch, HttpResponse, Item, Message, Outcome, Status
from smsgate_routesms.reply import parse_balance, parse_send

NG1, NG2, NG3 = "+2348055494143", "+2348134496448", "+2345678990"


def batch(*recipients: str, scheduled: bool = False) -> Batch:
    message = Message(recipients, "hello", sender="Shop")
    info = text.analyse("hello")
    items = tuple(Item(r, "hello", f"k/{r}", info) for r in recipients)
    schedule = {"date": "01/02/2030", "time": "10:00 am", "gmt": "+00:00"} if scheduled else {}
    return Batch(message, items, "k", schedule)


def fixture(name: str, status: int = 200) -> HttpResponse:
    return HttpResponse(status, (FIXTURES / name).read_bytes(), (("Content-Type", "text/html"),))


def test_all_accepted_with_ids() -> None:
    receipt = parse_send(batch(NG1, NG2), fixture("send_all_ok.txt"))
    assert receipt.outcomes == (
        Outcome(NG1, Status.ACCEPTED, message_id="bc5f7425-9b3e-4f6b-8d1a-2c7e5f0a9d41"),
        Outcome(NG2, Status.ACCEPTED, message_id="5122f879-0c4d-4e8a-b6f3-7a9d2e1c8b50"),
    )


def test_scheduled_batch_reports_scheduled() -> None:
    receipt = parse_send(batch(NG1, NG2, scheduled=True), fixture("send_all_ok.txt"))
    assert [o.status for o in receipt.outcomes] == [Status.SCHEDULED, Status.SCHEDULED]


def test_partial_success_failed_item_has_no_id() -> None:
    receipt = parse_send(batch(NG1, "+23405"), fixture("send_partial.txt"))
    ok, bad = receipt.outcomes
    assert (ok.status, ok.message_id) == (Status.ACCEPTED, "3023779f-5e2a-4c1b-9f8d-6b4a3e2d1c07")
    assert (bad.recipient, bad.status, bad.code, bad.message_id) == ("+23405", Status.REJECTED, "1706", None)
    assert bad.reason == "Invalid destination"


def test_per_destination_failures_only() -> None:
    receipt = parse_send(batch("+23405", NG1), fixture("send_failures_only.txt"))
    assert [(o.recipient, o.status, o.code) for o in receipt.outcomes] == [
        ("+23405", Status.REJECTED, "1706"),
        (NG1, Status.REJECTED, "1707"),
    ]
    receipt = parse_send(batch(NG1, "+23405"), fixture("send_invalid_type.txt"))
    assert {o.code for o in receipt.outcomes} == {"1704"}


def test_credit_running_out_leaves_later_numbers_out() -> None:
    receipt = parse_send(batch(NG1, NG3, NG2), fixture("send_credit_partway.txt"))
    assert [(o.recipient, o.status, o.code) for o in receipt.outcomes] == [
        (NG1, Status.ACCEPTED, None),
        (NG3, Status.REJECTED, "1025"),
    ], "NG2 is not mentioned: the core reports it unknown"
    assert receipt.outcomes[1].reason == "Insufficient credit"


def test_bare_global_code_is_an_error_for_the_whole_request() -> None:
    with pytest.raises(GatewayError) as caught:
        parse_send(batch(NG1, NG2), fixture("send_global_1702.txt"))
    assert caught.value.code == "1702" and caught.value.body == "1702"
    assert "parameter" in caught.value.message


def test_colon_variant() -> None:
    receipt = parse_send(batch("+919876543210"), fixture("send_colon.txt"))
    assert receipt.outcomes == (
        Outcome("+919876543210", Status.ACCEPTED, message_id="92fdc32c-4b1e-4f7a-8c2d-9e3f1a0b5c6d"),
    )
    receipt = parse_send(batch("+919876543210"), fixture("send_colon_numeric_id.txt"))
    assert receipt.outcomes[0].message_id == "123456789"


def test_colon_variant_with_na_destination_matches_by_position() -> None:
    receipt = parse_send(batch("+9199999", "+919411082815"), fixture("send_colon_na.txt"))
    assert [(o.recipient, o.status, o.code, o.message_id) for o in receipt.outcomes] == [
        ("+9199999", Status.REJECTED, "1706", None),
        ("+919411082815", Status.ACCEPTED, None, "7dac224a-1e2f-4c3d-8b4a-5f6e7d8c9b0a"),
    ]


def test_success_code_without_id_is_unknown() -> None:
    (outcome,) = parse_send(batch("+917042100870"), fixture("send_success_without_id.txt")).outcomes
    assert (outcome.status, outcome.code, outcome.message_id) == (Status.UNKNOWN, "1701", None)


def test_dnd_1032_fixture() -> None:
    receipt = parse_send(batch("+2349038781253", "+2349038781252"), fixture("send_dnd_1032.txt"))
    assert [(o.status, o.code) for o in receipt.outcomes] == [(Status.UNKNOWN, "1701"), (Status.REJECTED, "1032")]
    assert receipt.outcomes[1].reason == "DND reject"


def test_not_white_listed_text_is_a_rejection_carrying_the_body() -> None:
    with pytest.raises(GatewayError) as caught:
        parse_send(batch(NG1), fixture("send_not_white_listed.txt"))
    assert not isinstance(caught.value, MalformedResponseError)
    assert caught.value.code == "NOT_WHITE_LISTED"
    assert caught.value.body == "Destination/(s) is not White Listed."


@pytest.mark.parametrize(
    ("body", "kind", "code"),
    [
        ("1703", AuthenticationError, "1703"),
        ("1725", InsufficientCreditError, "1725"),
        ("1025\r\n", InsufficientCreditError, "1025"),
        ("1715", GatewayError, "1715"),
        ("69", GatewayError, "69"),
        ("1709|", GatewayError, "1709"),
    ],
)
def test_global_codes_raise_the_right_error(body: str, kind: type[GatewayError], code: str) -> None:
    with pytest.raises(kind) as caught:
        parse_send(batch(NG1), HttpResponse(200, body.encode()))
    assert caught.value.code == code and caught.value.http_status == 200


@pytest.mark.parametrize(
    "body",
    [b"", b"   \n", b"1701", b"<html><body>Service Unavailable</body></html>", b"OK", b"1701|123|a|b", b"\xff\xfe\x00"],
)
def test_unreadable_replies_are_malformed_never_accepted(body: bytes) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        parse_send(batch(NG1), HttpResponse(200, body))
    assert caught.value.body is not None


def test_unreadable_reply_with_error_status_keeps_the_status() -> None:
    with pytest.raises(GatewayError) as caught:
        parse_send(batch(NG1), HttpResponse(503, b"<html>busy</html>"))
    assert not isinstance(caught.value, MalformedResponseError)
    assert caught.value.http_status == 503 and caught.value.code is None


def test_reply_items_in_any_order_and_reformatted_numbers() -> None:
    body = b"1701|2348134496448|id-2,1701|+2348055494143|id-1\n"
    receipt = parse_send(batch(NG1, NG2), HttpResponse(200, body))
    assert [(o.recipient, o.message_id) for o in receipt.outcomes] == [(NG1, "id-1"), (NG2, "id-2")]
    receipt = parse_send(batch(NG1), HttpResponse(200, b"1701|08055494143|id-9"))
    assert receipt.outcomes == (Outcome(NG1, Status.ACCEPTED, message_id="id-9"),)


def test_unknown_numbers_and_repeats_are_ignored() -> None:
    body = b"1701|2348055494143|id-1,1706|2348055494143,1701|447700900001|id-x"
    receipt = parse_send(batch(NG1, NG2), HttpResponse(200, body))
    assert receipt.outcomes == (Outcome(NG1, Status.ACCEPTED, message_id="id-1"),)


def test_per_item_timeout_is_unknown() -> None:
    receipt = parse_send(batch(NG1, NG2), HttpResponse(200, b"1701|2348055494143|a,1715|2348134496448"))
    assert [(o.status, o.code) for o in receipt.outcomes] == [(Status.ACCEPTED, None), (Status.UNKNOWN, "1715")]


def test_balance_replies() -> None:
    assert parse_balance(fixture("balance.txt")).amount == Decimal("1520.75")
    assert parse_balance(fixture("balance_lower.txt")).amount == Decimal("23.3")
    with pytest.raises(AuthenticationError) as caught:
        parse_balance(fixture("balance_permission_denied.txt"))
    assert caught.value.code == "PERMISSION_DENIED" and caught.value.body == "PERMISSION DENIED"
    with pytest.raises(AuthenticationError):
        parse_balance(HttpResponse(200, b"1703"))
    with pytest.raises(MalformedResponseError):
        parse_balance(HttpResponse(200, b"Balance:lots"))
