"""Metrics and traces agree with what was sent, and carry no numbers or secrets."""

from __future__ import annotations

import re

import pytest
from core_kit import Sleeps, dsn_for

from smsgate import Message, connect
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.emulator import Fault
from smsgate.plugins import Registry
from smsgate.telemetry import METRICS, Metrics

A, B = "+48500600700", "+48500600701"


def test_counters_follow_the_outcomes(emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps) -> None:
    METRICS.reset()
    emulator.inject(Fault.RESET_BEFORE_REPLY)
    with connect(dsn_for(emulator), registry=registry, sleep=sleeps, clock=sleeps.clock) as gateway:
        gateway.send(Message([A, B], "hello", key="t1"))
        gateway.send(Message(A, "again"))
    assert METRICS.value("smsgate.recipients", {"gateway": "outbox", "status": "accepted"}) == 3
    assert METRICS.value("smsgate.attempts", {"gateway": "outbox", "verdict": "ambiguous"}) == 1
    assert METRICS.value("smsgate.attempts", {"gateway": "outbox", "verdict": "ok"}) == 2
    assert METRICS.total("smsgate.wait", gateway="outbox") == pytest.approx(sum(sleeps))
    text = METRICS.prometheus()
    assert 'smsgate_recipients_total{gateway="outbox",status="accepted"} 3' in text
    counts = re.findall(r'http_client_request_duration_count\{[^}]*smsgate_gateway="outbox"[^}]*\} (\d+)', text)
    assert sum(map(int, counts)) == 3, "one duration per attempt"
    assert "500600700" not in text and emulator.password not in text, "no numbers or secrets in labels"


def test_the_exposition_format_is_well_formed() -> None:
    metrics = Metrics()
    metrics.add("smsgate.recipients", 2, {"gateway": 'we"ird\n'}, "Recipients")
    metrics.set("smsgate.circuit", 1, {"gateway": "a"})
    metrics.observe("http.client.request.duration", 0.2, {"gateway": "a"})
    lines = metrics.prometheus().splitlines()
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? [0-9.e+-]+$')
    for line in lines:
        assert line.startswith("# ") or sample.match(line), line
    assert 'smsgate_recipients_total{gateway="we\\"ird\\n"} 2' in lines
    assert 'http_client_request_duration_bucket{gateway="a",le="0.25"} 1' in lines
    assert 'http_client_request_duration_bucket{gateway="a",le="0.1"} 0' in lines


def test_one_span_per_send_with_a_child_per_attempt(
    emulator: OutboxEmulator, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="opentelemetry-sdk not installed")
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)  # what set_tracer_provider does, undone after
    emulator.inject(Fault.SERVER_ERROR, status=503)
    with connect(dsn_for(emulator), registry=registry, sleep=lambda _: None) as gateway:
        gateway.send(Message([A, B], "traced", key="t2"))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    attempts = [s for s in exporter.get_finished_spans() if s.name == "smsgate.attempt"]
    send = spans["smsgate.send"]
    assert len(attempts) == 2 and all(
        s.parent is not None and s.parent.span_id == send.context.span_id for s in attempts
    )
    assert [(s.attributes or {})["smsgate.verdict"] for s in attempts] == ["ambiguous", "ok"]
    assert (send.attributes or {})["smsgate.batch.size"] == 2
