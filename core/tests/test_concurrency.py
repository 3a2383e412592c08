"""Throughput without new semantics: the batches of one message go out at once (up to the
connection cap), each its own request with its own outcome, in order; extra threads never put
more requests in flight than the cap; telemetry costs nothing until an SDK is configured."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest
from core_kit import dsn_for

from smsgate import Message, Status, connect
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.emulator import EmulatorReply, EmulatorRequest, Fault
from smsgate.engine import _Connections
from smsgate.errors import TransportError
from smsgate.models import HttpRequest, HttpResponse
from smsgate.plugins import Registry
from smsgate.testing import services
from smsgate.transport import Transport

NUMBERS = [f"+4850060070{i}" for i in range(8)]


class _Peak:
    """Counts the requests the emulator handles at once (each held ``delay`` seconds)."""

    def __init__(self, emulator: OutboxEmulator, delay: float) -> None:
        self.active = self.peak = 0
        self.lock = threading.Lock()
        handle = emulator.handle

        def counting(request: EmulatorRequest) -> EmulatorReply:
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            try:
                time.sleep(delay)
                return handle(request)
            finally:
                with self.lock:
                    self.active -= 1

        emulator.handle = counting  # type: ignore[method-assign]


def test_the_batches_of_one_message_go_out_at_once_up_to_the_cap(registry: Registry) -> None:
    with OutboxEmulator() as emulator:
        peak = _Peak(emulator, 0.2)
        with connect(dsn_for(emulator, "tiny", "max_connections=3"), registry=registry) as gateway:
            start = time.monotonic()
            result = gateway.send(Message(NUMBERS, "four batches of two"))
            took = time.monotonic() - start
    assert result.ok and result.requests == 4 and len(emulator.requests) == 4
    assert [o.recipient for o in result.outcomes] == NUMBERS, "outcomes in the caller's order"
    assert peak.peak == 3, "the cap is reached and never exceeded"
    assert took < 0.75, took  # one after another: 0.8 s or more


def test_each_batch_keeps_its_own_outcome(registry: Registry) -> None:
    with OutboxEmulator() as emulator:
        refusal = EmulatorReply.json({"error": "no_credit", "reason": "no credit left"}, 402)
        emulator.answer(refusal)  # whichever batch comes first: refused, nothing taken
        with connect(dsn_for(emulator, "tiny", "max_connections=4"), registry=registry) as gateway:
            result = gateway.send(Message(NUMBERS, "one batch fails"))
    assert [o.recipient for o in result.outcomes] == NUMBERS
    failed = [i for i, o in enumerate(result.outcomes) if not o.ok]
    assert len(failed) == 2 and failed[0] % 2 == 0 and failed[1] == failed[0] + 1, "one batch, both its recipients"
    assert {result.outcomes[i].status for i in failed} == {Status.REJECTED} and result.error is not None
    assert sum(o.status is Status.ACCEPTED for o in result.outcomes) == 6
    assert len(emulator.messages) == 6


class _Counting:
    """A transport with room for 16 connections that counts the requests in flight: only the
    engine's cap holds them."""

    def __init__(self) -> None:
        self.inner = Transport(max_connections=16)
        self.active = self.peak = 0
        self.lock = threading.Lock()

    def send(self, request: HttpRequest) -> HttpResponse:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            return self.inner.send(request)
        finally:
            with self.lock:
                self.active -= 1

    def close(self) -> None:
        self.inner.close()


def test_send_many_threads_never_exceed_the_connection_cap(registry: Registry) -> None:
    transport = _Counting()
    with OutboxEmulator() as emulator:
        _Peak(emulator, 0.03)
        dsn = dsn_for(emulator, options="max_connections=2")
        with connect(dsn, registry=registry, transport=transport) as gateway:
            results = list(gateway.send_many(Message(NUMBERS[i % 8], f"m{i}") for i in range(30)))
    assert [r.ok for r in results] == [True] * 30 and transport.peak == 2, "4 threads, 2 requests at once"
    assert [r.outcomes[0].recipient for r in results] == [NUMBERS[i % 8] for i in range(30)]


def test_a_freed_connection_is_handed_to_the_waiting_thread_before_the_freer_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The thread that frees a connection sleeps until the waiting one holds it, so the waiter
    writes its request before the freer reads its reply (the gateway's connection not idle)."""
    monkeypatch.setattr(_Connections, "HANDOFF", 5.0)  # a bound, never reached here
    slots = _Connections(1)
    done = threading.Event()

    def waiter() -> None:
        with slots:
            done.wait(5)

    with slots:
        thread = threading.Thread(target=waiter)
        thread.start()
        deadline = time.monotonic() + 5
        while not slots._waiting and time.monotonic() < deadline:  # the waiter queues for the connection
            time.sleep(0.001)
    handed = (slots._busy, slots._waiting)  # right after the freer's exit
    done.set()
    thread.join(5)
    assert handed == (1, 0), "the waiter holds the connection before the freer goes on"
    assert (slots._busy, slots._waiting) == (0, 0)


def test_no_opentelemetry_work_until_an_sdk_is_configured() -> None:
    script = textwrap.dedent(
        """
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider

        from smsgate import telemetry

        assert telemetry.span("smsgate.send", {}) is telemetry._NO_SPAN and not telemetry._metering()
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        trace.set_tracer_provider(TracerProvider())
        with telemetry.span("smsgate.send", {"smsgate.batch.size": 1}) as span:
            assert span is not None and span.is_recording()
        telemetry.METRICS.add("smsgate.recipients", 1, {"gateway": "g", "status": "accepted"})
        data = reader.get_metrics_data()
        names = {m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}
        assert names == {"smsgate.recipients"}, names
        """
    )
    services.module("opentelemetry.sdk", "python -m pip install opentelemetry-sdk")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_finished_attempts_leave_the_deadline_watch_and_deadlines_still_fire(registry: Registry) -> None:
    from smsgate import transport as transport_module

    with OutboxEmulator() as emulator, connect(dsn_for(emulator), registry=registry) as gateway:
        for i in range(40):
            assert gateway.send(Message(NUMBERS[0], f"t{i}")).ok
        assert len(transport_module._WATCHDOG._heap) <= 1, "only attempts in flight are watched"
        emulator.inject(Fault.SLOW, delay=1.5)  # a long attempt under a long deadline, in flight...
        slow = threading.Thread(target=gateway.send, args=(Message(NUMBERS[1], "slow"),))
        slow.start()
        time.sleep(0.2)
        emulator.inject(Fault.TIMEOUT_AFTER_ACCEPT, delay=3.0)  # ...while a short deadline passes
        short = Transport(read_timeout=5.0, attempt_timeout=0.5)
        request = gateway.preview(Message(NUMBERS[2], "cut"), redact=False)[0]
        start = time.monotonic()
        with pytest.raises(TransportError) as info:
            short.send(request)
        took = time.monotonic() - start
        slow.join(5)
        short.close()
    assert info.value.kind == "deadline" and 0.4 < took < 1.2, (info.value.kind, took)
