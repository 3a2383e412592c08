"""The code tables, walked in full: every SMSC error code, status and delivery error."""

from __future__ import annotations

import pytest

from smsgate.errors import GatewayError, TransportError
from smsgate.models import (
    BalanceQuery,
    Batch,
    Call,
    Classification,
    DeliveryStatus,
    Failure,
    Item,
    Message,
    Operation,
    Quote,
    Reconcile,
    Send,
    StatusQuery,
    Verdict,
)
from smsgate.spec import Secret
from smsgate.text import analyse
from smsgate_smsc import codes
from smsgate_smsc.settings import SmscSettings

MESSAGE = Message("+48500600700", "hello")
BATCH = Batch(MESSAGE, (Item("+48500600700", "hello", "k/+48500600700", analyse("hello")),), "k")
SEND = Send(BATCH)
TEST_MODE = SmscSettings(login="a", password=Secret("b"), test=True)
OTHERS: list[Operation] = [Reconcile(BATCH), Quote(BATCH), StatusQuery(("1",), "+48500600700"), BalanceQuery()]

#: The reference's classes for codes 1-9 on a send (section 4.5): 9 is "already sent" there.
EXPECTED = {
    "1": Verdict.FATAL,
    "2": Verdict.FATAL,
    "3": Verdict.FATAL,
    "4": Verdict.THROTTLED,
    "5": Verdict.FATAL,
    "6": Verdict.FATAL,
    "7": Verdict.FATAL,
    "8": Verdict.FATAL,
    "9": Verdict.AMBIGUOUS,
}


def classify(code: str, operation: Operation = SEND, *, after_ambiguous: bool = False) -> Classification:
    found = codes.classify(
        Failure(GatewayError("x", code=code), operation, 2 if after_ambiguous else 1, after_ambiguous)
    )
    assert found is not None
    return found


def test_table_holds_exactly_the_documented_codes() -> None:
    assert set(codes.ERRORS) == {str(n) for n in range(1, 10)}
    assert codes.VERDICTS == EXPECTED


@pytest.mark.parametrize("code", sorted(codes.ERRORS))
def test_every_code_classified_on_a_first_send(code: str) -> None:
    found = classify(code)
    assert found.verdict is EXPECTED[code]
    assert found.final is (code == "9")
    assert codes.ERRORS[code].meaning in found.reason


@pytest.mark.parametrize("code", sorted(set(codes.ERRORS) - {"9"}))
def test_codes_other_than_9_mean_the_same_after_an_ambiguous_attempt(code: str) -> None:
    assert classify(code, after_ambiguous=True).verdict is EXPECTED[code]


def test_9_after_an_ambiguous_attempt_means_the_first_request_got_through() -> None:
    found = classify("9", after_ambiguous=True)
    assert found.verdict is Verdict.AMBIGUOUS and found.final
    assert "reached SMSC" in found.reason


def test_9_on_a_first_send_is_already_sent_never_rejected() -> None:
    """The same message sent again within a minute: SMSC has it. Ambiguous and final: the core
    settles it unknown (and looks it up), never rejected, never resent."""
    found = classify("9")
    assert found.verdict is Verdict.AMBIGUOUS and found.final
    assert "already has an identical request from the last minute" in found.reason


def test_9_on_a_test_mode_send_is_the_cost_request_limit() -> None:
    found = codes.classify(Failure(GatewayError("x", code="9"), SEND), TEST_MODE)
    assert found is not None and found.verdict is Verdict.THROTTLED and found.retry_after == codes.LIMIT_WAIT
    assert "five identical cost requests" in found.reason


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("code", sorted(codes.ERRORS))
def test_a_5xx_is_the_cores_even_with_a_code(code: str, status: int) -> None:
    assert codes.classify(Failure(GatewayError("x", code=code, http_status=status), SEND)) is None


@pytest.mark.parametrize("operation", OTHERS, ids=lambda o: type(o).__name__)
def test_9_on_lookups_waits_for_the_per_minute_limit(operation: Operation) -> None:
    for after in (False, True):
        found = classify("9", operation, after_ambiguous=after)
        assert found.verdict is Verdict.THROTTLED and found.retry_after == codes.LIMIT_WAIT and not found.final


def test_9_on_downloads_names_the_three_a_minute_limit() -> None:
    found = classify("9", Call("tasks"))
    assert found.verdict is Verdict.THROTTLED and found.retry_after == 20.0
    assert "three identical" in found.reason


def test_unknown_codes_and_transport_errors_are_left_to_the_core() -> None:
    assert codes.classify(Failure(GatewayError("x", code="10"), SEND)) is None
    assert codes.classify(Failure(GatewayError("x", code=None, http_status=503), SEND)) is None
    assert codes.classify(Failure(TransportError("t", kind="timeout", written=True), SEND)) is None
    assert codes.classify(Failure(GatewayError("x", code="status:22"), SEND)) is None


def test_endpoint_specific_meanings() -> None:
    assert "identical request from the last minute" in codes.meaning("9")
    assert "five identical cost requests" in codes.meaning("9", "cost")
    assert codes.meaning("5", "status") == "error deleting the message"
    assert codes.meaning("5") == "invalid date format"
    assert "ten balance requests" in codes.meaning("9", "balance")
    assert "three identical" in codes.meaning("9", "downloads")
    assert codes.meaning("42") == "error 42"


#: Section 4.7: status -> class.
STATUS_CLASSES = {
    -3: DeliveryStatus.UNKNOWN,
    -2: DeliveryStatus.FAILED,
    -1: DeliveryStatus.PENDING,
    0: DeliveryStatus.PENDING,
    1: DeliveryStatus.DELIVERED,
    2: DeliveryStatus.DELIVERED,
    3: DeliveryStatus.EXPIRED,
    4: DeliveryStatus.DELIVERED,
    20: DeliveryStatus.FAILED,
    22: DeliveryStatus.REJECTED,
    23: DeliveryStatus.REJECTED,
    24: DeliveryStatus.REJECTED,
    25: DeliveryStatus.FAILED,
}


def test_every_status_mapped() -> None:
    assert {s: m.state for s, m in codes.STATUSES.items()} == STATUS_CLASSES
    assert {-2, 3, 20, 22, 23, 24, 25} == codes.FAILED_STATUSES
    assert codes.REFUSED_STATUSES <= codes.FAILED_STATUSES
    for status in STATUS_CLASSES:
        assert codes.status_meaning(status) == codes.STATUSES[status].meaning


def test_delivery_errors_include_virtual_sending() -> None:
    assert set(codes.DELIVERY_ERRORS) == {0, 1, 6, 11, 12, 13, 21, 200, 219, 220}
    assert "virtual sending" in codes.delivery_error_meaning(codes.VIRTUAL_SENDING)
    assert codes.delivery_error_meaning(7) == "delivery error 7"
    assert codes.TASK_STATUSES == {0: "pending", 1: "in progress", 2: "completed", 3: "canceled", 4: "execution error"}
