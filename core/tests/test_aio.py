"""smsgate.aio: the same outcomes as the synchronous Gateway (it runs the same engine), under
faults; cancellation never loses a message; concurrency stays within the connection cap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
from core_kit import Sleeps, dsn_for

from smsgate import Journal, Message, SendResult, Status, ValidationError, connect
from smsgate.aio import AsyncGateway, connect_async
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.emulator import EmulatorReply, EmulatorRequest, Fault
from smsgate.idempotency import with_content_keys
from smsgate.models import HttpRequest
from smsgate.plugins import Registry

A, B, C = "+48500600700", "+48500600701", "+48500600702"


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def shape(result: SendResult) -> tuple[Any, ...]:
    """What must agree between the paths (gateway ids differ from one emulator to another)."""
    outcomes = tuple((o.recipient, o.status, o.code, o.retryable) for o in result.outcomes)
    return outcomes, result.requests, type(result.error).__name__, result.replayed


class Peak:
    """Counts the requests the emulator is handling at once."""

    def __init__(self, emulator: OutboxEmulator, delay: float) -> None:
        self.active = self.peak = 0
        self.lock = threading.Lock()
        handle, stopping = emulator.handle, threading.Event()

        def counting(request: EmulatorRequest) -> EmulatorReply:
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            try:
                stopping.wait(delay)
                return handle(request)
            finally:
                with self.lock:
                    self.active -= 1

        emulator.handle = counting  # type: ignore[method-assign]


FAULTS = [
    ("outbox", None, {}, ""),
    ("outbox", Fault.RESET_BEFORE_REPLY, {}, ""),
    ("nodedup", Fault.RESET_BEFORE_REPLY, {}, ""),
    ("lookup", Fault.RESET_BEFORE_REPLY, {}, ""),
    ("lookup", Fault.DROP, {}, ""),
    ("outbox", Fault.DROP, {"times": 9}, "attempts=3"),
    ("nodedup", Fault.SERVER_ERROR, {"times": 2}, ""),
    ("outbox", Fault.THROTTLE, {"retry_after": 7}, ""),
    ("outbox", Fault.MALFORMED, {"times": 10}, ""),
    ("nodedup", Fault.TRUNCATED, {}, ""),
    ("outbox", Fault.PROCESSED_THEN_ERROR, {}, ""),
    ("nodedup", Fault.TIMEOUT_AFTER_ACCEPT, {"delay": 1.0}, "read_timeout=0.3"),
]


@pytest.mark.parametrize(
    ("scheme", "fault", "inject", "options"),
    FAULTS,
    ids=[f"{s}-{f.value if f else 'none'}" for s, f, _, _ in FAULTS],
)
def test_same_outcomes_as_the_sync_path(
    registry: Registry, scheme: str, fault: Fault | None, inject: dict[str, Any], options: str
) -> None:
    message = Message([A, B], "the same either way", key="order-7")
    results, taken = [], []
    for path in ("sync", "async"):
        sleeps = Sleeps()
        with OutboxEmulator() as emulator:
            if fault is not None:
                emulator.inject(fault, **inject)
            kwargs: dict[str, Any] = {"registry": registry, "sleep": sleeps, "clock": sleeps.clock}
            if path == "sync":
                with connect(dsn_for(emulator, scheme, options), **kwargs) as gateway:
                    results.append(gateway.send(message))
            else:

                async def send(dsn: str, kwargs: dict[str, Any]) -> SendResult:
                    async with connect_async(dsn, **kwargs) as gateway:
                        return await gateway.send(message)

                results.append(asyncio.run(send(dsn_for(emulator, scheme, options), kwargs)))
            taken.append((len(emulator.messages), len(emulator.requests), sleeps[:]))
    assert shape(results[0]) == shape(results[1])
    assert taken[0][:2] == taken[1][:2], "the gateway saw the same traffic"
    assert len(taken[0][2]) == len(taken[1][2]), "the same waits"


def test_send_many_matches_the_sync_path_in_order(registry: Registry) -> None:
    messages = [Message(A, f"n{i}") for i in range(12)] + [Message("not a number", "x"), Message([B, C], "two")]
    sync: list[SendResult] = []
    with OutboxEmulator() as emulator:
        emulator.inject(Fault.RESET_BEFORE_REPLY, times=3)
        with connect(dsn_for(emulator), registry=registry, sleep=Sleeps()) as gateway:
            sync = list(gateway.send_many(messages))
        sync_texts = sorted(m.text for m in emulator.messages)

    async def collect() -> list[SendResult]:
        async with connect_async(dsn_for(emulator), registry=registry, sleep=Sleeps()) as gateway:
            return [r async for r in gateway.send_many(messages)]

    with OutboxEmulator() as emulator:
        emulator.inject(Fault.RESET_BEFORE_REPLY, times=3)
        results = run(collect())
        assert sorted(m.text for m in emulator.messages) == sync_texts
    assert [[(o.recipient, o.status, o.code) for o in r.outcomes] for r in results] == [
        [(o.recipient, o.status, o.code) for o in r.outcomes] for r in sync
    ]
    assert results[12].outcomes[0].status is Status.REJECTED and results[12].error is not None


@pytest.mark.parametrize(
    ("scheme", "fault", "options", "status"),
    [
        ("outbox", Fault.SLOW, "", Status.ACCEPTED),
        ("nodedup", Fault.TIMEOUT_AFTER_ACCEPT, "read_timeout=0.4", Status.UNKNOWN),
    ],
    ids=["slow-reply", "reply-lost"],
)
def test_a_cancelled_send_settles_and_is_journaled(
    registry: Registry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    scheme: str,
    fault: Fault,
    options: str,
    status: Status,
) -> None:
    journal = Journal(tmp_path / "journal.jsonl", fsync=False)
    orphans: list[SendResult] = []
    message = Message([A, B], "cancel me", key="order-9")

    async def scenario(emulator: OutboxEmulator) -> None:
        gateway = connect_async(dsn_for(emulator, scheme, options), registry=registry, journal=journal)
        gateway.on_orphan = orphans.append
        task = asyncio.create_task(gateway.send(message))
        for _ in range(500):  # until the gateway has the request in hand
            if emulator.requests:
                break
            await asyncio.sleep(0.01)
        assert len(emulator.requests) == 1 and not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert journal.recorded(gateway.name, "order-9") is None, "still in flight"
        await gateway.aclose()  # waits for the send to settle

    caplog.set_level(logging.WARNING, logger="smsgate.aio")
    with OutboxEmulator() as emulator:
        emulator.inject(fault, delay=0.6)
        run(scenario(emulator))
        assert len(emulator.requests) == 1 and len(emulator.messages) == 2, "taken once (two recipients), never resent"
        recorded = journal.recorded(scheme, "order-9")
        assert recorded is not None and [o.status for o in recorded.outcomes] == [status, status]
        assert [o.status for o in orphans[0].outcomes] == [status, status]
        assert "cancelled" in caplog.text and "settled" in caplog.text
        with connect(dsn_for(emulator, scheme), registry=registry, journal=journal) as again:
            replay = again.send(message)
        assert replay.replayed and len(emulator.requests) == 1, "the journal answers; nothing sent twice"


def test_cancelled_sends_waiting_for_a_connection_still_go(registry: Registry) -> None:
    async def scenario(emulator: OutboxEmulator) -> list[SendResult]:
        orphans: list[SendResult] = []
        async with connect_async(
            dsn_for(emulator, options="max_connections=1"), registry=registry, on_orphan=orphans.append
        ) as gateway:
            tasks = [asyncio.create_task(gateway.send(Message(A, f"q{i}"))) for i in range(4)]
            await asyncio.sleep(0.05)
            for task in tasks[1:]:
                task.cancel()
            assert (await tasks[0]).ok
            for task in tasks[1:]:
                with pytest.raises(asyncio.CancelledError):
                    await task
        return orphans

    with OutboxEmulator() as emulator:
        emulator.inject(Fault.SLOW, delay=0.1, times=4)
        orphans = run(scenario(emulator))
        assert sorted(m.text for m in emulator.messages) == ["q0", "q1", "q2", "q3"]
    assert len(orphans) == 3 and all(r.ok for r in orphans)


def test_concurrency_is_bounded_by_the_connection_cap(registry: Registry) -> None:
    async def scenario(gateway: AsyncGateway) -> tuple[list[SendResult], list[SendResult], list[SendResult]]:
        gathered = await asyncio.gather(*(gateway.send(Message(A, f"g{i}")) for i in range(24)))
        many = [r async for r in gateway.send_many((Message(B, f"m{i}") for i in range(24)), concurrency=10)]
        return list(gathered), many, []

    with OutboxEmulator() as emulator:
        peak = Peak(emulator, 0.03)
        gateway = connect_async(dsn_for(emulator, options="max_connections=3"), registry=registry)

        async def main() -> tuple[list[SendResult], list[SendResult], list[SendResult]]:
            async with gateway:
                return await scenario(gateway)

        gathered, many, _ = asyncio.run(main())
        assert all(r.ok for r in gathered + many) and len(emulator.messages) == 48
        assert peak.peak == 3, "the cap is reached and never exceeded"
        assert [r.outcomes[0].recipient for r in many] == [B] * 24


def test_send_many_honours_a_lower_concurrency(registry: Registry) -> None:
    async def scenario(emulator: OutboxEmulator) -> list[SendResult]:
        async with connect_async(dsn_for(emulator, options="max_connections=4"), registry=registry) as gateway:
            return [r async for r in gateway.send_many([Message(A, f"c{i}") for i in range(12)], concurrency=2)]

    with OutboxEmulator() as emulator:
        peak = Peak(emulator, 0.03)
        results = run(scenario(emulator))
    assert [r.ok for r in results] == [True] * 12 and peak.peak <= 2


def test_async_input_gets_the_same_content_keys(registry: Registry, tmp_path: Path) -> None:
    messages = [Message(A, "same"), Message(A, "same"), Message(B, "other"), Message(A, "mine", key="k-1")]

    async def source() -> AsyncIterator[Message]:
        for message in messages:
            await asyncio.sleep(0)
            yield message

    async def scenario(emulator: OutboxEmulator) -> list[SendResult]:
        journal = Journal(tmp_path / "j.jsonl", fsync=False)
        async with connect_async(dsn_for(emulator), registry=registry, journal=journal) as gateway:
            return [r async for r in gateway.send_many(source())]

    with OutboxEmulator() as emulator:
        results = run(scenario(emulator))
    assert [r.key for r in results] == [m.key for m in with_content_keys(messages)]
    assert len({r.key for r in results}) == 4


def test_leaving_send_many_early_loses_nothing_and_a_rerun_completes(registry: Registry, tmp_path: Path) -> None:
    messages = [Message(A, f"e{i}") for i in range(20)]
    journal = Journal(tmp_path / "j.jsonl", fsync=False)

    async def first(emulator: OutboxEmulator) -> int:
        async with connect_async(
            dsn_for(emulator, options="max_connections=2"), registry=registry, journal=journal
        ) as gateway:
            seen = 0
            async with contextlib.aclosing(gateway.send_many(messages)) as results:
                async for _ in results:
                    seen += 1
                    if seen == 3:
                        break
        return seen

    async def rerun(emulator: OutboxEmulator) -> list[SendResult]:
        async with connect_async(dsn_for(emulator), registry=registry, journal=journal) as gateway:
            return [r async for r in gateway.send_many(messages)]

    with OutboxEmulator() as emulator:
        emulator.inject(Fault.SLOW, delay=0.05, times=20)
        assert run(first(emulator)) == 3
        sent_first = len(emulator.messages)
        assert 3 <= sent_first < 20
        results = run(rerun(emulator))
        assert all(r.ok for r in results)
        assert sorted(m.text for m in emulator.messages) == sorted(m.text for m in messages), "each exactly once"
        assert sum(r.replayed for r in results) == sent_first


def test_queries_and_pure_operations(registry: Registry) -> None:
    async def scenario(gateway: AsyncGateway) -> None:
        result = await gateway.send(Message(A, "hi"))
        assert (await gateway.balance()).amount == 9999
        message_id = result.outcomes[0].message_id
        assert message_id is not None
        (report,) = await gateway.status(message_id)
        assert report.message_id == message_id
        with pytest.raises(ValidationError, match="quote"):
            await gateway.quote(Message(A, "hi"))
        with pytest.raises(ValidationError, match="no operation 'nope'"):
            await gateway.call("nope")
        with pytest.raises(ValidationError):
            await gateway.send(Message("not a number", "x"))
        keyed = Message(A, "hi", key="p-1")
        (request,) = await gateway.preview(keyed)
        assert request == gateway.gateway.preview(keyed)[0] and "outbox-s3cret-pass" not in str(request)
        plan, requests = await gateway.prepare(Message([A, B], "hi"))
        assert plan.recipients == (A, B) and len(requests) == 1
        callback = HttpRequest(
            "POST", "http://app/dlr", body=b'{"id": "ob1", "state": "delivered", "to": "48500600700"}'
        )
        (pushed,) = await gateway.parse_delivery_report(callback)
        assert pushed.message_id == "ob1"
        (personal,) = await gateway.send_personalised([Message(B, "just you")])
        assert personal.ok

    with OutboxEmulator() as emulator:
        gateway = connect_async(dsn_for(emulator), registry=registry)

        async def main() -> None:
            async with gateway:
                await scenario(gateway)

        asyncio.run(main())
    with pytest.raises(RuntimeError, match="closed"):
        run(gateway.send(Message(A, "too late")))


def test_a_failing_on_orphan_is_logged_not_raised(registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
    def broken(result: SendResult) -> None:
        raise ValueError("app bug")

    async def scenario(emulator: OutboxEmulator) -> None:
        async with connect_async(dsn_for(emulator), registry=registry, on_orphan=broken) as gateway:
            task = asyncio.create_task(gateway.send(Message(A, "x")))
            await asyncio.sleep(0.1)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    with OutboxEmulator() as emulator:
        emulator.inject(Fault.SLOW, delay=0.3)
        run(scenario(emulator))
        assert len(emulator.messages) == 1
    assert "on_orphan failed" in caplog.text


def test_cancelling_a_send_many_consumer_loses_nothing(registry: Registry, tmp_path: Path) -> None:
    messages = [Message(A, f"x{i}") for i in range(16)]
    journal = Journal(tmp_path / "j.jsonl", fsync=False)
    orphans: list[SendResult] = []

    async def consume(gateway: AsyncGateway, seen: list[SendResult]) -> None:
        async for result in gateway.send_many(messages):
            seen.append(result)

    async def first(emulator: OutboxEmulator) -> list[SendResult]:
        seen: list[SendResult] = []
        async with connect_async(
            dsn_for(emulator, options="max_connections=2"), registry=registry, journal=journal, on_orphan=orphans.append
        ) as gateway:
            task = asyncio.create_task(consume(gateway, seen))
            while len(seen) < 2:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return seen

    async def rerun(emulator: OutboxEmulator) -> list[SendResult]:
        async with connect_async(dsn_for(emulator), registry=registry, journal=journal) as gateway:
            return [r async for r in gateway.send_many(messages)]

    with OutboxEmulator() as emulator:
        emulator.inject(Fault.SLOW, delay=0.1, times=16)
        seen = run(first(emulator))
        taken = len(emulator.messages)
        assert taken == len(seen) + len(orphans), "every message sent was either yielded or handed to on_orphan"
        results = run(rerun(emulator))
        assert all(r.ok for r in results) and sum(r.replayed for r in results) == taken
        assert sorted(m.text for m in emulator.messages) == sorted(m.text for m in messages), "each exactly once"
