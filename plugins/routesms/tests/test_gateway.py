"""End to end over loopback: smsgate.connect(emulator DSN) -> the routesms emulator, with faults."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from smsgate import Message, Status
from smsgate.emulator import Fault
from smsgate.errors import AuthenticationError, ValidationError
from smsgate.gateway import Gateway
from smsgate.testing import FakeClock
from smsgate_routesms.emulator import NOT_WHITE_LISTED, RoutesmsEmulator

A, B, C = "+48500600700", "+48500600701", "+48500600702"
TEXT = "Zażółć gęślą jaźń € [ok]"

Start = Callable[..., RoutesmsEmulator]
Connect = Callable[..., Gateway]


def test_both_recipients_accepted_with_unicode(gateway: Gateway, emulator: RoutesmsEmulator) -> None:
    result = gateway.send(Message([A, B], TEXT))
    assert result.ok and result.requests == 1
    assert [(o.recipient, o.message_id) for o in result.outcomes] == [(A, m.id) for m in emulator.messages[:1]] + [
        (B, emulator.messages[1].id)
    ]
    assert {(m.text, m.type, m.source, m.dlr) for m in emulator.messages} == {(TEXT, 2, "SMSGate", True)}
    (request,) = emulator.requests
    assert (request.method, request.path) == ("GET", "/bulksms/bulksms")


def test_flash_latin1_and_options_per_message(gateway: Gateway, emulator: RoutesmsEmulator) -> None:
    gateway.send(Message(A, "Alert", flash=True))
    gateway.send(Message(A, "Café", options={"charset": "latin1", "dlr": False}, sender="+4812345"))
    gateway.send(Message(A, "żółw", flash=True))
    assert [(m.type, m.text, m.dlr, m.source) for m in emulator.messages] == [
        (1, "Alert", True, "SMSGate"),
        (5, "Café", False, "+4812345"),
        (6, "żółw", True, "SMSGate"),
    ]


def test_dlt_fields_reach_the_gateway(emulator: RoutesmsEmulator, gateway_to: Connect) -> None:
    gateway = gateway_to(emulator, "entityid=1201159100000000001&tempid=1207161234567890123")
    assert gateway.send(Message("+919876543210", "Your OTP is 1234")).ok
    assert emulator.messages[0].dlt == (("entityid", "1201159100000000001"), ("tempid", "1207161234567890123"))


def test_partial_success_dnd(start_emulator: Start, gateway_to: Connect) -> None:
    for dnd_code in ("1732", "1032"):
        emulator = start_emulator(dnd=[B], dnd_code=dnd_code)
        result = gateway_to(emulator).send(Message([A, B], "hi"))
        ok, dnd = result.outcomes
        assert ok.status is Status.ACCEPTED and ok.message_id == emulator.messages[0].id
        assert (dnd.status, dnd.code, dnd.reason, dnd.retryable) == (Status.REJECTED, dnd_code, "DND reject", False)
        assert not result.ok


@pytest.mark.parametrize("credit_code", ["1725", "1025"])
def test_credit_running_out_mid_request(start_emulator: Start, gateway_to: Connect, credit_code: str) -> None:
    emulator = start_emulator(credit=1, credit_code=credit_code)
    result = gateway_to(emulator).send(Message([A, B, C], "hi"))
    assert [(o.recipient, o.status, o.code) for o in result.outcomes] == [
        (A, Status.ACCEPTED, None),
        (B, Status.REJECTED, credit_code),
        (C, Status.UNKNOWN, None),
    ]
    assert result.requests == 1 and len(emulator.messages) == 1


def test_colon_variant_end_to_end(start_emulator: Start, gateway_to: Connect) -> None:
    emulator = start_emulator(id_separator=":")
    result = gateway_to(emulator).send(Message([A, B], "hi"))
    assert [o.message_id for o in result.outcomes] == [m.id for m in emulator.messages]


def test_na_items_over_the_wire(start_emulator: Start, gateway_to: Connect) -> None:
    # Route Mobile lists "1706|NA" first, whatever the order the numbers were sent in.
    emulator = start_emulator(id_separator=":", invalid=[B], invalid_as_na=True)
    result = gateway_to(emulator).send(Message([A, B, C], "hi"))
    assert [(o.recipient, o.status, o.code) for o in result.outcomes] == [
        (A, Status.ACCEPTED, None),
        (B, Status.REJECTED, "1706"),
        (C, Status.ACCEPTED, None),
    ]
    assert [o.message_id for o in result.outcomes if o.ok] == [m.id for m in emulator.messages]


def test_1715_settles_unknown_and_is_never_resent(
    gateway: Gateway, emulator: RoutesmsEmulator, clock: FakeClock
) -> None:
    emulator.queue_reply("1715", process=True)
    result = gateway.send(Message([A, B], "hi"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN, Status.UNKNOWN]
    assert result.error is not None and result.error.code == "1715"
    assert len(emulator.requests) == 1 and clock.slept == []
    assert len(emulator.messages) == 2, "the gateway did take them: unknown is the truth"


def test_1709_is_the_one_code_that_is_resent(gateway: Gateway, emulator: RoutesmsEmulator, clock: FakeClock) -> None:
    emulator.queue_reply("1709")
    result = gateway.send(Message(A, "hi"))
    assert result.ok and result.requests == 2 and len(clock.slept) == 1


def test_1709_until_attempts_run_out_is_rejected_retryable(gateway: Gateway, emulator: RoutesmsEmulator) -> None:
    emulator.queue_reply("1709", times=10)
    result = gateway.send(Message(A, "hi"))
    (outcome,) = result.outcomes
    assert (outcome.status, outcome.code, outcome.retryable) == (Status.REJECTED, "1709", True)
    assert result.requests == 4 and emulator.messages == []


@pytest.mark.parametrize("code", ["1702", "1710", "69", "8", "16", "18", "1028", "1033", "1041", "1042", "4242"])
def test_every_other_global_code_is_fatal_and_not_resent(
    gateway: Gateway, emulator: RoutesmsEmulator, code: str
) -> None:
    emulator.queue_reply(code)
    result = gateway.send(Message([A, B], "hi"))
    assert [(o.status, o.code, o.retryable) for o in result.outcomes] == [(Status.REJECTED, code, False)] * 2
    assert result.requests == 1


def test_lost_reply_settles_unknown(gateway: Gateway, emulator: RoutesmsEmulator, clock: FakeClock) -> None:
    emulator.inject(Fault.RESET_BEFORE_REPLY)
    result = gateway.send(Message([A, B], "hi"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN, Status.UNKNOWN]
    assert len(emulator.requests) == 1 and clock.slept == [] and len(emulator.messages) == 2


def test_timeout_after_accept_settles_unknown(emulator: RoutesmsEmulator, gateway_to: Connect) -> None:
    emulator.inject(Fault.TIMEOUT_AFTER_ACCEPT, delay=2)
    result = gateway_to(emulator, "read_timeout=0.3").send(Message(A, "slow"))
    assert result.outcomes[0].status is Status.UNKNOWN and len(emulator.messages) == 1


def test_malformed_and_truncated_replies_are_unknown(gateway: Gateway, emulator: RoutesmsEmulator) -> None:
    for fault in (Fault.MALFORMED, Fault.TRUNCATED):
        emulator.inject(fault)
        result = gateway.send(Message(A, "hi"))
        assert result.outcomes[0].status is Status.UNKNOWN, fault
    assert len(emulator.requests) == 2


def test_throttling_is_resent_after_retry_after(gateway: Gateway, emulator: RoutesmsEmulator, clock: FakeClock) -> None:
    emulator.inject(Fault.THROTTLE, retry_after=2)
    result = gateway.send(Message(A, "hi"))
    assert result.ok and result.requests == 2 and clock.slept == [2.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_settles_unknown_and_is_never_resent(
    gateway: Gateway, emulator: RoutesmsEmulator, clock: FakeClock, status: int
) -> None:
    """Any 5xx may come from a front end after the gateway took the request (the core's rule):
    without de-duplication or a lookup it settles unknown, never resent."""
    emulator.inject(Fault.SERVER_ERROR, status=status, times=2)
    result = gateway.send(Message([A, B], "hi"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN, Status.UNKNOWN]
    assert result.requests == 1 and len(emulator.requests) == 1 and clock.slept == []
    assert emulator.messages == [], "this front end refused it: unknown, since nothing can tell"


@pytest.mark.parametrize("status", [502, 503])
def test_processed_then_5xx_is_unknown_and_taken_once(
    gateway: Gateway, emulator: RoutesmsEmulator, clock: FakeClock, status: int
) -> None:
    """Audit: the gateway processed the request, then a proxy answered 502/503. It was resent
    (a duplicate); now the outcome is unknown and the gateway took it once."""
    emulator.inject(Fault.PROCESSED_THEN_ERROR, status=status)
    result = gateway.send(Message([A, B], "hi"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN, Status.UNKNOWN]
    assert not any(o.retryable for o in result.outcomes)
    assert len(emulator.requests) == 1 and clock.slept == []
    assert sorted(m.destination for m in emulator.messages) == [A.lstrip("+"), B.lstrip("+")]


def test_refused_connection_is_resent(gateway_to: Connect, clock: FakeClock) -> None:
    emulator = RoutesmsEmulator().start()
    dsn = emulator.dsn()
    emulator.stop()
    result = gateway_to(dsn).send(Message(A, "hi"))
    assert result.outcomes[0].status is Status.REJECTED and result.outcomes[0].retryable
    assert result.requests == 4 and len(clock.slept) == 3


def test_wrong_password(emulator: RoutesmsEmulator, gateway_to: Connect) -> None:
    gateway = gateway_to(emulator.dsn().replace("routesms-emu-s3cret", "guess"))
    result = gateway.send(Message(A, "hi"))
    assert (result.outcomes[0].status, result.outcomes[0].code) == (Status.REJECTED, "1703")
    assert isinstance(result.error, AuthenticationError) and result.requests == 1
    with pytest.raises(AuthenticationError, match="Permission denied"):
        gateway.balance()
    assert emulator.messages == []


def test_not_white_listed_is_rejected_with_the_body(start_emulator: Start, gateway_to: Connect) -> None:
    emulator = start_emulator(whitelist=[A])
    result = gateway_to(emulator).send(Message([A, B], "hi"))
    assert {(o.status, o.code) for o in result.outcomes} == {(Status.REJECTED, "NOT_WHITE_LISTED")}
    assert result.error is not None and getattr(result.error, "body", None) == NOT_WHITE_LISTED


def test_balance_decreases_by_parts(gateway: Gateway) -> None:
    before = gateway.balance().amount
    gateway.send(Message([A, B], "x" * 200))  # two parts each
    assert gateway.balance().amount == before - 4
    assert isinstance(before, Decimal)


def test_batches_of_100(gateway: Gateway, emulator: RoutesmsEmulator) -> None:
    numbers = [f"+4850060{n:04d}" for n in range(150)]
    result = gateway.send(Message(numbers, "hi"))
    assert result.ok and result.requests == 2 and len(emulator.messages) == 150


def test_no_status_pull_and_no_test_mode(gateway: Gateway, emulator: RoutesmsEmulator, gateway_to: Connect) -> None:
    assert gateway.spec.capabilities.test_mode is None and gateway.spec.capabilities.dedup is None
    with pytest.raises(ValidationError, match="no status operation"):
        gateway.status("abc")
    with pytest.raises(ValidationError, match="option test"):
        gateway_to(emulator, "test=true")
