"""Every documented reply of the reference (section 3.4), as recorded fixtures, parsed to outcomes.

The fixtures are the replies recorded in the reference's sources, ids in full: the Drupal
handlers' comments and tests [R1][R2], the Java and VB clients' comments on the ``:id`` variant
[R12], the PHP test string with 1032 [R13], the "not White Listed" reply [R13].
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import FIXTURES

from smsgate import text
from smsgate.errors import AuthenticationError, GatewayError, InsufficientCreditError, MalformedResponseError
from smsgate.models import Batch, HttpResponse, Item, Message, Outcome, Status
from smsgate_routesms.reply import balance, send_receipt

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
    receipt = send_receipt(batch(NG1, NG2), fixture("send_all_ok.txt"))
    assert receipt.outcomes == (
        Outcome(NG1, Status.ACCEPTED, message_id="bc5f7425-c98c-445b-a1f7-4fc5e2acef7e"),
        Outcome(NG2, Status.ACCEPTED, message_id="5122f879-2ba7-4469-8ae2-4091267ef389"),
    )


def test_scheduled_batch_reports_scheduled() -> None:
    receipt = send_receipt(batch(NG1, NG2, scheduled=True), fixture("send_all_ok.txt"))
    assert [o.status for o in receipt.outcomes] == [Status.SCHEDULED, Status.SCHEDULED]


def test_partial_success_failed_item_has_no_id() -> None:
    receipt = send_receipt(batch(NG1, "+23405"), fixture("send_partial.txt"))
    ok, bad = receipt.outcomes
    assert (ok.status, ok.message_id) == (Status.ACCEPTED, "3023779f-1722-4b7b-a3c8-d81f9e4bfc32")
    assert (bad.recipient, bad.status, bad.code, bad.message_id) == ("+23405", Status.REJECTED, "1706", None)
    assert bad.reason == "Invalid destination"


def test_per_destination_failures_only() -> None:
    receipt = send_receipt(batch("+23405", NG1), fixture("send_failures_only.txt"))
    assert [(o.recipient, o.status, o.code) for o in receipt.outcomes] == [
        ("+23405", Status.REJECTED, "1706"),
        (NG1, Status.REJECTED, "1707"),
    ]
    receipt = send_receipt(batch(NG1, "+23405", "+234509"), fixture("send_invalid_type.txt"))
    assert [(o.status, o.code) for o in receipt.outcomes] == [(Status.REJECTED, "1704")] * 3


def test_mixed_reply_of_the_r1_test() -> None:
    receipt = send_receipt(batch("+987987987", "+234509", "+23405", "+3453453456"), fixture("send_mixed.txt"))
    assert [(o.recipient, o.status, o.code, o.message_id) for o in receipt.outcomes] == [
        ("+987987987", Status.ACCEPTED, None, "3023779f-1722-4b7b-a3c8-d81f9e4bfc32"),
        ("+234509", Status.REJECTED, "1704", None),
        ("+23405", Status.REJECTED, "1706", None),
        ("+3453453456", Status.REJECTED, "1707", None),
    ]


def test_items_over_several_lines_with_trailing_commas() -> None:
    receipt = send_receipt(batch(NG1, NG2, "+2349876543"), fixture("send_all_ok_lines.txt"))
    assert [(o.status, o.message_id) for o in receipt.outcomes] == [
        (Status.ACCEPTED, "bc5f7425-c98c-445b-a1f7-4fc5e2acef7e"),
        (Status.ACCEPTED, "5122f879-2ba7-4469-8ae2-4091267ef389"),
        (Status.ACCEPTED, "20cef313-1660-4b92-baa5-1b7ba45256a5"),
    ]


def test_success_items_without_ids_are_unknown_failures_rejected() -> None:
    receipt = send_receipt(batch(NG1, "+23405", "+234509"), fixture("send_success_items_without_ids.txt"))
    assert [(o.status, o.code) for o in receipt.outcomes] == [
        (Status.UNKNOWN, "1701"),
        (Status.REJECTED, "1706"),
        (Status.REJECTED, "1706"),
    ]


def test_credit_running_out_leaves_later_numbers_out() -> None:
    # The Drupal test [R2]: five numbers sent, four items back, the last one 1025.
    numbers = ("+123123123", "+234234234", "+678678678", "+2345678990", "+3456789012")
    receipt = send_receipt(batch(*numbers), fixture("send_credit_partway.txt"))
    assert [(o.recipient, o.status, o.code) for o in receipt.outcomes] == [
        ("+123123123", Status.ACCEPTED, None),
        ("+234234234", Status.ACCEPTED, None),
        ("+678678678", Status.ACCEPTED, None),
        ("+2345678990", Status.REJECTED, "1025"),
    ], "+3456789012 is not mentioned: the core reports it unknown"
    assert receipt.outcomes[3].reason == "Insufficient credit"


def test_bare_global_code_is_an_error_for_the_whole_request() -> None:
    with pytest.raises(GatewayError) as caught:
        send_receipt(batch(NG1, NG2), fixture("send_global_1702.txt"))
    assert caught.value.code == "1702" and caught.value.body == "1702"
    assert "parameter" in caught.value.message


def test_colon_variant() -> None:
    receipt = send_receipt(batch("+917042100870"), fixture("send_colon.txt"))
    assert receipt.outcomes == (
        Outcome("+917042100870", Status.ACCEPTED, message_id="92fdc32c-c375-44a3-b704-8186c9f7e304"),
    )
    receipt = send_receipt(batch("+919876543210"), fixture("send_colon_numeric_id.txt"))
    assert receipt.outcomes[0].message_id == "123456789"


OK1, OK2 = "7dac224a-cab2-4800-9742-f5774d6f9319", "03c89ad5-e338-4bc0-b214-a35e0024ec67"


@pytest.mark.parametrize(
    "numbers",
    [
        ("+9199999", "+919411082815", "+919045929210"),
        ("+919411082815", "+9199999", "+919045929210"),  # the invalid number was not sent first
        ("+919411082815", "+919045929210", "+9199999"),
    ],
)
def test_colon_variant_na_goes_to_the_one_number_no_item_names(numbers: tuple[str, ...]) -> None:
    receipt = send_receipt(batch(*numbers), fixture("send_colon_na.txt"))
    got = {o.recipient: (o.status, o.code, o.message_id) for o in receipt.outcomes}
    assert got == {
        "+9199999": (Status.REJECTED, "1706", None),
        "+919411082815": (Status.ACCEPTED, None, OK1),
        "+919045929210": (Status.ACCEPTED, None, OK2),
    }


@pytest.mark.parametrize(
    ("numbers", "body"),
    [
        (("+9199999", "+919411082815", "+919045929210"), "1706|NA,1701|919411082815:a"),  # two unnamed, one NA
        (("+9199999", "+9188888"), "1706|NA,1707|NA"),  # codes differ: which is which?
        (("+9199999", "+919411082815"), "1706|NA,1701|447700900001:a"),  # an item names a stranger
    ],
)
def test_na_items_that_cannot_be_placed_are_left_to_the_core(numbers: tuple[str, ...], body: str) -> None:
    receipt = send_receipt(batch(*numbers), HttpResponse(200, body.encode()))
    assert all(o.code != "1706" and o.code != "1707" for o in receipt.outcomes)


def test_several_na_items_with_one_code() -> None:
    body = b"1706|NA,1701|919411082815:x,1706|NA"
    receipt = send_receipt(batch("+9199999", "+919411082815", "+9188888"), HttpResponse(200, body))
    assert [(o.status, o.code) for o in receipt.outcomes] == [
        (Status.REJECTED, "1706"),
        (Status.ACCEPTED, None),
        (Status.REJECTED, "1706"),
    ]


def test_success_code_without_id_is_unknown() -> None:
    (outcome,) = send_receipt(batch("+917042100870"), fixture("send_success_without_id.txt")).outcomes
    assert (outcome.status, outcome.code, outcome.message_id) == (Status.UNKNOWN, "1701", None)


def test_dnd_1032_fixture() -> None:
    receipt = send_receipt(batch("+2349038781253", "+2349038781252"), fixture("send_dnd_1032.txt"))
    assert [(o.status, o.code) for o in receipt.outcomes] == [(Status.UNKNOWN, "1701"), (Status.REJECTED, "1032")]
    assert receipt.outcomes[1].reason == "DND reject"


def test_not_white_listed_text_is_a_rejection_carrying_the_body() -> None:
    with pytest.raises(GatewayError) as caught:
        send_receipt(batch(NG1), fixture("send_not_white_listed.txt"))
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
        ("1702,", GatewayError, "1702"),
        ("\ufeff1703,\r\n", AuthenticationError, "1703"),
        ("PERMISSION DENIED\r\n", AuthenticationError, "PERMISSION_DENIED"),
    ],
)
def test_global_codes_raise_the_right_error(body: str, kind: type[GatewayError], code: str) -> None:
    with pytest.raises(kind) as caught:
        send_receipt(batch(NG1), HttpResponse(200, body.encode()))
    assert caught.value.code == code and caught.value.http_status == 200


@pytest.mark.parametrize(
    "body",
    [b"", b"   \n", b"1701", b"<html><body>Service Unavailable</body></html>", b"OK", b"1701|123|a|b", b"\xff\xfe\x00"],
)
def test_unreadable_replies_are_malformed_never_accepted(body: bytes) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        send_receipt(batch(NG1), HttpResponse(200, body))
    assert caught.value.body is not None


def test_unreadable_reply_with_error_status_keeps_the_status() -> None:
    with pytest.raises(GatewayError) as caught:
        send_receipt(batch(NG1), HttpResponse(503, b"<html>busy</html>"))
    assert not isinstance(caught.value, MalformedResponseError)
    assert caught.value.http_status == 503 and caught.value.code is None


def test_reply_items_in_any_order_and_reformatted_numbers() -> None:
    body = b"1701|2348134496448|id-2,1701|+2348055494143|id-1\n"
    receipt = send_receipt(batch(NG1, NG2), HttpResponse(200, body))
    assert [(o.recipient, o.message_id) for o in receipt.outcomes] == [(NG1, "id-1"), (NG2, "id-2")]
    receipt = send_receipt(batch(NG1), HttpResponse(200, b"1701|08055494143|id-9"))
    assert receipt.outcomes == (Outcome(NG1, Status.ACCEPTED, message_id="id-9"),)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\xef\xbb\xbf1701|2348055494143|id-1", [(Status.ACCEPTED, "id-1", None)]),  # UTF-8 BOM
        (b"1701|2348055494143|id-1,\r\n", [(Status.ACCEPTED, "id-1", None)]),
        (b" 1701 | 2348055494143 |  id-1 ,, ", [(Status.ACCEPTED, "id-1", None)]),
        (b"1701\t|2348055494143\t:id-1", [(Status.ACCEPTED, "id-1", None)]),
        (b"1701|2348055494143|", [(Status.UNKNOWN, None, "1701")]),  # an empty id is no id
        (b"1701|2348055494143:", [(Status.UNKNOWN, None, "1701")]),
        (b"1706|2348055494143|", [(Status.REJECTED, None, "1706")]),
        (b"1701|2348055494143|bc5f7425-c98c:1", [(Status.ACCEPTED, "bc5f7425-c98c:1", None)]),  # ':' in an id
    ],
)
def test_tolerated_spellings(body: bytes, expected: list[tuple[Status, str | None, str | None]]) -> None:
    receipt = send_receipt(batch(NG1), HttpResponse(200, body))
    assert [(o.status, o.message_id, o.code) for o in receipt.outcomes] == expected


@pytest.mark.parametrize(
    "body",
    [b"1701|2348055494143|id 1", b"1701|2348055494143:id|x", b"1701:2348055494143|id", b"17O1|2348055494143|id"],
)
def test_still_unreadable_items(body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        send_receipt(batch(NG1), HttpResponse(200, body))


def test_unknown_numbers_and_repeats_are_ignored() -> None:
    body = b"1701|2348055494143|id-1,1706|2348055494143,1701|447700900001|id-x"
    receipt = send_receipt(batch(NG1, NG2), HttpResponse(200, body))
    assert receipt.outcomes == (Outcome(NG1, Status.ACCEPTED, message_id="id-1"),)


def test_per_item_timeout_is_unknown() -> None:
    receipt = send_receipt(batch(NG1, NG2), HttpResponse(200, b"1701|2348055494143|a,1715|2348134496448"))
    assert [(o.status, o.code) for o in receipt.outcomes] == [(Status.ACCEPTED, None), (Status.UNKNOWN, "1715")]


def test_balance_replies() -> None:
    assert balance(fixture("balance.txt")).amount == Decimal("1520.75")
    assert balance(fixture("balance_lower.txt")).amount == Decimal("23.3")
    with pytest.raises(AuthenticationError) as caught:
        balance(fixture("balance_permission_denied.txt"))
    assert caught.value.code == "PERMISSION_DENIED" and caught.value.body == "PERMISSION DENIED"
    with pytest.raises(AuthenticationError):
        balance(HttpResponse(200, b"1703"))
    with pytest.raises(MalformedResponseError):
        balance(HttpResponse(200, b"Balance:lots"))


@pytest.mark.parametrize(
    ("body", "amount"),
    [
        (b"BALANCE:5", "5"),
        (b"Balance : 12.50\r\n", "12.50"),
        (b"balance:\t0.5", "0.5"),
        (b"\xef\xbb\xbfBalance:23.3", "23.3"),
        (b"Balance:-4.25", "-4.25"),
        (b"Balance:.75", "0.75"),
        (b"Balance:100.", "100"),
        (b"Balance:1.2345678E7", "12345678"),  # a Java double past 10^7
    ],
)
def test_balance_spellings(body: bytes, amount: str) -> None:
    assert balance(HttpResponse(200, body)).amount == Decimal(amount)


@pytest.mark.parametrize("body", [b"Balance:1,520.75", b"Balance:12 INR", b"Balance:", b"Credits:12", b"Balance:NaN"])
def test_balance_not_guessed(body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        balance(HttpResponse(200, body))
