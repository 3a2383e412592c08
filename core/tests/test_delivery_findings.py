"""A regression test for each engine-side finding of the delivery audit (issue 11), over real
loopback HTTP against the outbox emulator. Each failed on the code before its fix."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import urllib3
from core_kit import Sleeps, dsn_for

from smsgate import Journal, Message, Status, connect, hookimpl
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.emulator import Fault
from smsgate.errors import AuthenticationError, KeyConflictError, ValidationError
from smsgate.gateway import Gateway
from smsgate.idempotency import content_key
from smsgate.models import DeliveryReport, HttpRequest, Operation, Send
from smsgate.plugins import Registry
from smsgate.webhook import delivery_reports_app

A, B, C = "+48500600700", "+48500600701", "+48500600702"


def taken(emulator: OutboxEmulator, text: str) -> int:
    return sum(1 for m in emulator.messages if m.text == text)


# -- finding 3: a 5xx after the gateway processed the request ------------------------------


def test_processed_then_502_without_dedup_is_unknown_not_resent(
    emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps
) -> None:
    emulator.inject(Fault.PROCESSED_THEN_ERROR)
    with connect(dsn_for(emulator, "nodedup"), registry=registry, sleep=sleeps, clock=sleeps.clock) as gateway:
        result = gateway.send(Message(A, "took it"))
    assert result.outcomes[0].status is Status.UNKNOWN
    assert taken(emulator, "took it") == 1 and len(emulator.requests) == 1


def test_processed_then_502_with_dedup_is_accepted_once(gateway: Gateway, emulator: OutboxEmulator) -> None:
    emulator.inject(Fault.PROCESSED_THEN_ERROR)
    result = gateway.send(Message(A, "took it", key="k-502"))
    assert result.ok and taken(emulator, "took it") == 1 and len(emulator.requests) == 2


def test_exhausted_retries_after_a_doubtful_attempt_are_unknown(
    emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps
) -> None:
    emulator.inject(Fault.PROCESSED_THEN_ERROR)
    emulator.inject(Fault.SERVER_ERROR, times=10)
    dsn = dsn_for(emulator, "outbox", "attempts=3")
    with connect(dsn, registry=registry, sleep=sleeps, clock=sleeps.clock) as gateway:
        result = gateway.send(Message(A, "maybe"))
    assert taken(emulator, "maybe") == 1
    assert result.outcomes[0].status is Status.UNKNOWN, "the first attempt was taken: never 'rejected'"


def test_exhausted_retries_with_nothing_taken_are_rejected_and_retryable(
    emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps
) -> None:
    emulator.inject(Fault.THROTTLE, times=10, retry_after=1)
    with connect(dsn_for(emulator, "outbox", "attempts=2"), registry=registry, sleep=sleeps, clock=sleeps.clock) as g:
        result = g.send(Message(A, "throttled"))
    outcome = result.outcomes[0]
    assert outcome.status is Status.REJECTED and outcome.retryable and taken(emulator, "throttled") == 0


# -- finding 2: a lookup made while the first request may still be processed ----------------


def test_lookup_waits_for_the_gateway_to_finish_processing(emulator: OutboxEmulator, registry: Registry) -> None:
    emulator.inject(Fault.SLOW, delay=0.8)  # processed after the client gave up
    dsn = dsn_for(emulator, "lookup", "read_timeout=0.3")
    with connect(dsn, registry=registry) as gateway:  # real time: lookup_delay is 1 s
        result = gateway.send(Message([A, B], "slow gateway"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED, Status.ACCEPTED]
    assert taken(emulator, "slow gateway") == 2, "one copy per recipient, never a second"
    paths = [r.path for r in emulator.requests]
    assert paths == ["/v1/send", "/v1/lookup"], "found by the lookup, nothing resent"


# -- finding 5: resends stay inside the de-dup window ----------------------------------------


def test_no_resend_once_the_dedup_window_may_have_closed(
    emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps
) -> None:
    from smsgate.builtin.outbox import variant

    registry.register(variant("minute", dedup_window=60.0, operations=frozenset({"send"})))
    emulator.inject(Fault.RESET_BEFORE_REPLY, times=5)
    dsn = dsn_for(emulator, "minute", "max_retry_time=600&backoff=20&attempts=10&read_timeout=10")
    with connect(dsn, registry=registry, sleep=sleeps, clock=sleeps.clock) as gateway:
        result = gateway.send(Message(A, "window", key="w1"))
    assert result.outcomes[0].status is Status.UNKNOWN
    assert "window" in (result.outcomes[0].reason or "")
    assert sum(sleeps) + 15 < 60, "every resend was written with time to be processed inside the window"


# -- findings 6 and 7: key reuse, the journal's race and torn lines --------------------------


def test_a_key_reused_for_other_content_is_refused(gateway: Gateway, emulator: OutboxEmulator) -> None:
    assert gateway.send(Message(A, "first", key="order-9")).ok
    with pytest.raises(KeyConflictError, match="'order-9' was already used"):
        gateway.send(Message(B, "second", key="order-9"))
    assert taken(emulator, "second") == 0


def test_the_gateway_never_replays_another_messages_reply(
    emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps
) -> None:
    with connect(dsn_for(emulator), registry=registry, sleep=sleeps, clock=sleeps.clock) as first:
        first.send(Message(A, "first", key="shared"))
    with connect(dsn_for(emulator), registry=registry, sleep=sleeps, clock=sleeps.clock) as other:  # no memory
        result = other.send(Message(B, "second", key="shared"))
    assert result.ok and taken(emulator, "second") == 1, "accepted means taken: a new de-dup key for new content"


def test_the_same_key_twice_in_send_many_is_sent_once(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry
) -> None:
    emulator.inject(Fault.SLOW, delay=0.3, times=4)
    journal = Journal(tmp_path / "j.jsonl")
    with connect(dsn_for(emulator), registry=registry, journal=journal) as gateway:
        results = list(gateway.send_many([Message(A, "twice", key="dup")] * 5, concurrency=4))
    assert taken(emulator, "twice") == 1 and len(emulator.requests) == 1
    assert all(r.ok for r in results) and sum(r.replayed for r in results) == 4


def test_a_torn_last_line_does_not_swallow_the_next_record(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry
) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"state": "sending", "provider": "outbox", "key": "x"}\n{"state": "do')
    with connect(dsn_for(emulator), registry=registry, journal=Journal(path)) as gateway:
        gateway.send(Message(A, "after the tear", key="after"))
    assert Journal(path).recorded("outbox", "after") is not None
    lines = path.read_text().splitlines()
    assert all(json.loads(line) for line in lines), "every line is a whole record"


# -- finding 8: without keys -------------------------------------------------------------------


def test_send_many_with_a_journal_derives_keys_so_a_rerun_sends_nothing(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry
) -> None:
    batch = [Message(A, "hello"), Message(B, "hello"), Message(A, "hello")]  # the third is a deliberate repeat
    path = tmp_path / "j.jsonl"
    with connect(dsn_for(emulator), registry=registry, journal=Journal(path)) as gateway:
        first = list(gateway.send_many(batch))
    with connect(dsn_for(emulator), registry=registry, journal=Journal(path)) as gateway:  # after a crash
        again = list(gateway.send_many(batch))
    assert len(emulator.messages) == 3, "the repeat is sent, the rerun is not"
    assert all(r.replayed for r in again) and [r.key for r in again] == [r.key for r in first]
    assert first[0].key == content_key(batch[0], 0) and first[2].key == content_key(batch[2], 1)


# -- finding 9: one message's failure never costs another its outcome -----------------------


class _Crashing:
    """An app plugin whose build_request crashes for one text."""

    @hookimpl(tryfirst=True)
    def build_request(self, operation: Operation) -> None:
        if isinstance(operation, Send) and operation.batch.text == "boom":
            raise RuntimeError("plugin bug")


class _Injecting:
    """An app plugin whose request carries a header value that would end the header early."""

    @hookimpl(tryfirst=True)
    def build_request(self, operation: Operation) -> HttpRequest | None:
        if isinstance(operation, Send) and operation.batch.text == "inject":
            return HttpRequest("POST", "http://127.0.0.1:9/send", (("X-Note", "a\r\nX-Evil: 1"),), b"{}")
        return None


def test_a_malformed_request_is_refused_not_unknown(
    emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps
) -> None:
    """Nothing was written: the outcome is known (refused), and it is not resent."""
    registry.add_extension(_Injecting())
    with connect(dsn_for(emulator), registry=registry, sleep=sleeps, clock=sleeps.clock) as gateway:
        result = gateway.send(Message(A, "inject"))
    assert result.outcomes[0].status is Status.REJECTED and result.requests == 1 and sleeps == []
    assert "header X-Note holds CR, LF or NUL" in str(result.error)


def test_send_many_reports_every_message_whatever_fails(emulator: OutboxEmulator, registry: Registry) -> None:
    registry.add_extension(_Crashing())
    messages = [Message(A, f"m{i}") for i in range(12)]
    messages[3] = Message(A, "bad key", key="k\udc00")
    messages[7] = Message(A, "boom")
    with connect(dsn_for(emulator), registry=registry) as gateway:
        results = list(gateway.send_many(messages, concurrency=4))
    assert len(results) == 12
    assert results[3].outcomes[0].status is Status.REJECTED and isinstance(results[3].error, ValidationError)
    assert results[7].outcomes[0].status is Status.REJECTED and "plugin" in str(results[7].error)
    assert sum(r.ok for r in results) == 10 and len(emulator.messages) == 10


def test_send_many_stops_after_a_credentials_failure(emulator: OutboxEmulator, registry: Registry) -> None:
    dsn = dsn_for(emulator).replace(emulator.password, "wrong-password")
    with connect(dsn, registry=registry) as gateway:
        results = list(gateway.send_many([Message(A, f"m{i}") for i in range(50)], concurrency=1))
    assert len(results) == 50 and all(o.status is Status.REJECTED for r in results for o in r.outcomes)
    assert all(isinstance(r.error, AuthenticationError) for r in results)
    assert len(emulator.requests) == 1, "nothing more is sent once the credentials are known bad"
    assert "not sent" in (results[-1].outcomes[0].reason or "")


# -- finding 10: a delivery report whose handler failed is handed over again ----------------


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def flaky_receiver(gateway: Gateway) -> Iterator[tuple[str, list[DeliveryReport]]]:
    got: list[DeliveryReport] = []
    failures = [1]

    def on_report(report: DeliveryReport) -> None:
        if failures:
            failures.pop()
            raise RuntimeError("database down")
        got.append(report)

    server = make_server("127.0.0.1", 0, delivery_reports_app(gateway, on_report), handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/dlr", got
    finally:
        server.shutdown()
        server.server_close()


def test_a_report_whose_handler_failed_is_processed_on_the_resend(
    flaky_receiver: tuple[str, list[DeliveryReport]],
) -> None:
    url, got = flaky_receiver
    body = b'[{"id":"ob1","to":"+48500600700","state":"delivered"}]'
    http = urllib3.PoolManager()
    first = http.request("POST", url, body=body, headers={"Content-Type": "application/json"})
    assert first.status == 500 and got == []
    again = http.request("POST", url, body=body, headers={"Content-Type": "application/json"})
    assert again.status == 200 and [r.message_id for r in got] == ["ob1"]


# -- finding 12: bad input refused before anything is sent ----------------------------------


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (Message(A, "lone \ud800 surrogate"), "text"),
        (Message(A, "hi", key="k\udc00"), "key"),
        (Message(A, "hi", send_at=datetime.max.replace(tzinfo=timezone.utc)), "send_at"),
        (Message(A, "hi", options={"test": {"a": "b"}}), "options.test"),
        (Message(A, "hi", options={"test": [["nested"]]}), "options.test"),
        (Message(A, " \t\n "), "text"),
        (Message(A, "hi", sender=" "), "sender"),
        (Message(A, "hi", sender="a\x00b"), "sender"),
        (Message(A, "hi", sender="line\nbreak"), "sender"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    message: Message, field: str, gateway: Gateway, emulator: OutboxEmulator
) -> None:
    with pytest.raises(ValidationError) as caught:
        gateway.send(message)
    assert caught.value.field == field
    assert emulator.requests == []
