"""The retry engine and the send flow, over loopback HTTP against the outbox emulator."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from core_kit import Sleeps, dsn_for

from smsgate import Message, Status, ValidationError, connect
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.emulator import Fault
from smsgate.errors import MessageTooLongError
from smsgate.gateway import Gateway
from smsgate.plugins import Registry

A, B, C = "+48500600700", "+48500600701", "+48500600702"


def test_send_reports_every_recipient_in_order(gateway: Gateway, emulator: OutboxEmulator) -> None:
    result = gateway.send(Message([B, "0048 500 600 700", B], "hello"))
    assert [(o.recipient, o.status) for o in result.outcomes] == [(B, Status.ACCEPTED), (A, Status.ACCEPTED)]
    assert result.ok and result.requests == 1
    assert [m.to for m in emulator.messages] == [B, A]


def test_batches_follow_the_gateway_maximum(emulator: OutboxEmulator, registry: Registry) -> None:
    with connect(dsn_for(emulator, "tiny"), registry=registry) as gateway:
        result = gateway.send(Message([A, B, C], "hi"))
    assert result.ok and result.requests == 2
    assert len(emulator.requests) == 2
    keys = {r.json()["key"] for r in emulator.requests}
    assert len(keys) == 2, "each batch carries its own idempotency key"


def test_refused_before_anything_is_sent(emulator: OutboxEmulator, registry: Registry) -> None:
    with connect(dsn_for(emulator, "tiny"), registry=registry) as gateway:
        with pytest.raises(ValidationError, match="'not-a-number'"):
            gateway.send(Message([A, "not-a-number"], "hi"))
        with pytest.raises(MessageTooLongError, match="3 parts"):
            gateway.send(Message(A, "x" * 400))
        with pytest.raises(ValidationError, match="flash"):
            gateway.send(Message(A, "hi", flash=True))
        with pytest.raises(ValidationError, match="cannot schedule"):
            gateway.send(Message(A, "hi", send_at=datetime.now(timezone.utc) + timedelta(days=1)))
        with pytest.raises(ValidationError, match="timezone-aware"):
            gateway.send(Message(A, "hi", send_at=datetime.now() + timedelta(days=1)))
        with pytest.raises(ValidationError, match=r"options\.colour"):
            gateway.send(Message(A, "hi", options={"colour": "red"}))
        with pytest.raises(ValidationError, match="empty"):
            gateway.send(Message(A, ""))
    assert emulator.requests == []


def test_lost_reply_is_resent_under_the_same_key(gateway: Gateway, emulator: OutboxEmulator, sleeps: Sleeps) -> None:
    emulator.inject(Fault.RESET_BEFORE_REPLY)
    result = gateway.send(Message(A, "once only", key="order-17"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED]
    assert len(emulator.requests) == 2 and result.requests == 2
    keys = {r.json()["key"] for r in emulator.requests}
    assert len(keys) == 1 and keys.pop().startswith("order-17#"), "one de-dup key, bound to the content"
    assert len(emulator.messages) == 1, "the gateway de-duplicated the resend"
    assert len(sleeps) == 1


def test_lost_reply_without_dedup_settles_unknown(emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps) -> None:
    emulator.inject(Fault.RESET_BEFORE_REPLY)
    with connect(dsn_for(emulator, "nodedup"), registry=registry, sleep=sleeps, clock=sleeps.clock) as gateway:
        result = gateway.send(Message([A, B], "maybe"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN, Status.UNKNOWN]
    assert len(emulator.requests) == 1 and sleeps == []
    assert result.error is not None and result.error.code == "reset"


def test_timeout_after_accept_is_ambiguous(emulator: OutboxEmulator, registry: Registry) -> None:
    emulator.inject(Fault.TIMEOUT_AFTER_ACCEPT, delay=3)
    with connect(dsn_for(emulator, "nodedup", "read_timeout=0.3"), registry=registry) as gateway:
        result = gateway.send(Message(A, "slow"))
    assert result.outcomes[0].status is Status.UNKNOWN
    assert len(emulator.messages) == 1, "the gateway did take it: unknown is the truth"


def test_refused_connection_is_retried_then_rejected(registry: Registry, sleeps: Sleeps) -> None:
    emulator = OutboxEmulator().start()
    dsn = emulator.dsn()
    emulator.stop()
    with connect(dsn + "&attempts=3", registry=registry, sleep=sleeps, clock=sleeps.clock) as gateway:
        result = gateway.send(Message(A, "nobody home"))
    assert result.outcomes[0].status is Status.REJECTED
    assert result.outcomes[0].retryable and result.requests == 3 and len(sleeps) == 2
    assert sleeps[1] > sleeps[0] * 0.9, "backoff grows"


def test_throttling_honours_retry_after(gateway: Gateway, emulator: OutboxEmulator, sleeps: Sleeps) -> None:
    emulator.inject(Fault.THROTTLE, retry_after=7)
    result = gateway.send(Message(A, "later"))
    assert result.ok and sleeps and sleeps[0] >= 7


def test_server_error_is_retried(gateway: Gateway, emulator: OutboxEmulator) -> None:
    emulator.inject(Fault.SERVER_ERROR, status=503, times=2)
    result = gateway.send(Message(A, "hi"))
    assert result.ok and result.requests == 3


def test_fatal_code_is_rejected_without_resend(emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps) -> None:
    emulator.credit = 0
    with connect(dsn_for(emulator), registry=registry, sleep=sleeps, clock=sleeps.clock) as gateway:
        result = gateway.send(Message([A, B], "no money"))
    assert [(o.status, o.code) for o in result.outcomes] == [(Status.REJECTED, "no_credit")] * 2
    assert len(emulator.requests) == 1 and sleeps == []


def test_attempts_are_bounded_in_time(emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps) -> None:
    emulator.inject(Fault.THROTTLE, retry_after=50, times=5)
    with connect(
        dsn_for(emulator, options="max_retry_time=60&attempts=9"), registry=registry, sleep=sleeps, clock=sleeps.clock
    ) as gateway:
        result = gateway.send(Message(A, "hi"))
    assert result.outcomes[0].status is Status.REJECTED and result.requests == 2
    assert sum(sleeps) <= 60


def test_malformed_reply_is_never_accepted(gateway: Gateway, emulator: OutboxEmulator) -> None:
    emulator.inject(Fault.MALFORMED)
    result = gateway.send(Message(A, "hi", key="m-1"))
    assert result.ok, "with de-dup the resend recovers the real reply"
    emulator.inject(Fault.MALFORMED, times=10)
    result = gateway.send(Message(B, "hi"))
    assert result.outcomes[0].status is Status.UNKNOWN
    assert (result.error is not None and "<html>" in (getattr(result.error, "body", "") or "")) or result.error


def test_per_recipient_rejections(gateway: Gateway, emulator: OutboxEmulator) -> None:
    emulator.credit = 1
    result = gateway.send(Message([A, B], "hi"))
    assert result.outcomes[0].status is Status.REJECTED and result.outcomes[0].code == "no_credit"


def test_schedule_and_past_times(gateway: Gateway, emulator: OutboxEmulator) -> None:
    later = datetime.now(timezone.utc) + timedelta(hours=3)
    result = gateway.send(Message(A, "later", send_at=later))
    assert result.outcomes[0].status is Status.SCHEDULED
    assert emulator.messages[0].send_at == later.strftime("%Y-%m-%dT%H:%M:%SZ")
    due = gateway.send(Message(A, "now", send_at=datetime.now(timezone.utc) - timedelta(seconds=5)))
    assert due.outcomes[0].status is Status.ACCEPTED, "a time within the grace period sends at once"
    with pytest.raises(ValidationError, match="past"):
        gateway.send(Message(A, "late", send_at=datetime.now(timezone.utc) - timedelta(hours=1)))


def test_preview_is_exact_and_sends_nothing(gateway: Gateway, emulator: OutboxEmulator) -> None:
    (request,) = gateway.preview(Message([A, B], "hi", key="k1"))
    assert request.method == "POST" and request.url.endswith("/v1/send")
    assert request.header("authorization") == "***"
    (raw,) = gateway.preview(Message([A, B], "hi", key="k1"), redact=False)
    assert (raw.header("authorization") or "").startswith("Basic ")
    assert raw.body == request.body
    assert emulator.requests == []


def test_send_many_keeps_order_and_the_connection_cap(emulator: OutboxEmulator, registry: Registry) -> None:
    active, peak, lock = 0, 0, threading.Lock()
    handle = emulator.handle

    def counting(request):  # type: ignore[no-untyped-def]
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            return handle(request)
        finally:
            with lock:
                active -= 1

    emulator.handle = counting  # type: ignore[method-assign]
    emulator.inject(Fault.SLOW, delay=0.05, times=40)
    messages = [Message(A, f"n{i}") for i in range(40)] + [Message("bad", "x")]
    with connect(dsn_for(emulator, options="max_connections=3"), registry=registry) as gateway:
        results = list(gateway.send_many(messages, concurrency=10))
    assert [r.ok for r in results] == [True] * 40 + [False]
    assert [m.text for m in sorted(emulator.messages, key=lambda m: int(m.id[2:]))] != [] and peak <= 3
    assert results[-1].error is not None and results[-1].outcomes[0].status is Status.REJECTED
    assert sorted(m.text for m in emulator.messages) == sorted(f"n{i}" for i in range(40))


def test_balance_status_and_reports(gateway: Gateway) -> None:
    result = gateway.send(Message(A, "hi"))
    assert gateway.balance().amount == 9999
    message_id = result.outcomes[0].message_id
    assert message_id is not None
    (report,) = gateway.status(message_id)
    assert report.message_id == message_id and report.status.final
    with pytest.raises(ValidationError, match="quote"):
        gateway.quote(Message(A, "hi"))
    with pytest.raises(ValidationError, match="no operation 'nope'"):
        gateway.call("nope")


def test_query_failure_raises_the_gateway_error(emulator: OutboxEmulator, registry: Registry) -> None:
    wrong = dsn_for(emulator).replace(emulator.password, "wrong-password")
    with (
        connect(wrong, registry=registry, sleep=lambda _: None) as gateway,
        pytest.raises(Exception, match="bad credentials") as info,
    ):
        gateway.balance()
    assert "wrong-password" not in str(info.value)


def test_lost_reply_is_looked_up_not_resent(emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps) -> None:
    emulator.inject(Fault.RESET_BEFORE_REPLY)
    with connect(dsn_for(emulator, "lookup"), registry=registry, sleep=sleeps) as gateway:
        result = gateway.send(Message([A, B], "found", key="l-1"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED] * 2
    assert [r.path for r in emulator.requests] == ["/v1/send", "/v1/lookup"]
    assert len(emulator.messages) == 2


def test_lookup_resends_only_what_the_gateway_lacks(
    emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps
) -> None:
    emulator.inject(Fault.DROP)  # the gateway never saw it
    with connect(dsn_for(emulator, "lookup"), registry=registry, sleep=sleeps) as gateway:
        result = gateway.send(Message(A, "again", key="l-2"))
    assert result.ok and [r.path for r in emulator.requests] == ["/v1/send", "/v1/lookup", "/v1/send"]
    assert len(emulator.messages) == 1


def test_a_resend_after_a_lookup_is_not_looked_up_again(
    emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps
) -> None:
    emulator.inject(Fault.DROP, path="/v1/send", times=50)
    with connect(dsn_for(emulator, "lookup"), registry=registry, sleep=sleeps) as gateway:
        result = gateway.send(Message(A, "never lands", key="l-3"))
    assert result.outcomes[0].status is Status.UNKNOWN
    assert [r.path for r in emulator.requests] == ["/v1/send", "/v1/lookup", "/v1/send"]
