"""Metrics and traces: what the engine did, for operators, without recipient numbers or secrets.

Every send and attempt is counted in a process-wide :data:`METRICS` registry (thread-safe,
dependency-free) that renders the Prometheus text format (``smsgate serve`` exposes it at
``/metrics``), and is forwarded to OpenTelemetry when its API is installed
(``pip install smsgate[otel]``): no-op until the app configures an SDK, as OpenTelemetry
intends. Traces: one span per batch sent (``smsgate.send``) with a child per attempt
(``smsgate.attempt``: gateway, batch size, verdict).

Names follow the OpenTelemetry semantic conventions where they exist
(``http.client.request.duration`` with ``http.request.method``, ``server.address``,
``http.response.status_code``, ``error.type``); the rest are ``smsgate.*``. Labels are gateway
names, statuses, verdicts and codes only.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

#: Request latency buckets in seconds (the OpenTelemetry default for HTTP client durations).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

_Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Counters, gauges and histograms by name and labels; renders the Prometheus format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[_Labels, float]] = {}
        self._gauges: dict[str, dict[_Labels, float]] = {}
        self._histograms: dict[str, dict[_Labels, list[float]]] = {}  # bucket counts + [sum, count]
        self._help: dict[str, str] = {}

    def add(self, name: str, value: float = 1.0, labels: Mapping[str, str] | None = None, help: str = "") -> None:
        key = _key(labels)
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value
            self._help.setdefault(name, help)
        _otel_add(name, value, labels)

    def set(self, name: str, value: float, labels: Mapping[str, str] | None = None, help: str = "") -> None:
        with self._lock:
            self._gauges.setdefault(name, {})[_key(labels)] = value
            self._help.setdefault(name, help)

    def observe(self, name: str, value: float, labels: Mapping[str, str] | None = None, help: str = "") -> None:
        key = _key(labels)
        with self._lock:
            series = self._histograms.setdefault(name, {})
            counts = series.setdefault(key, [0.0] * (len(BUCKETS) + 2))
            index = bisect.bisect_left(BUCKETS, value)  # per-bucket counts; cumulated when rendered
            if index < len(BUCKETS):
                counts[index] += 1
            counts[-2] += value
            counts[-1] += 1
            self._help.setdefault(name, help)
        _otel_observe(name, value, labels)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """A counter's or gauge's current value (0 when never touched)."""
        key = _key(labels)
        with self._lock:
            for table in (self._counters, self._gauges):
                if name in table:
                    return table[name].get(key, 0.0)
            histogram = self._histograms.get(name, {}).get(key)
            return histogram[-1] if histogram else 0.0

    def total(self, name: str, **match: str) -> float:
        """The sum of a counter over every series whose labels include ``match``."""
        with self._lock:
            series = self._counters.get(name, {})
            return sum(v for k, v in series.items() if all((m, x) in k for m, x in match.items()))

    def series(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Every series of a counter or gauge: ``(labels, value)``, in label order."""
        with self._lock:
            table = self._counters.get(name) or self._gauges.get(name) or {}
            return [(dict(k), v) for k, v in sorted(table.items())]

    def prometheus(self) -> str:
        """The text exposition format (version 0.0.4)."""
        lines: list[str] = []
        with self._lock:
            for kind, table in (("counter", self._counters), ("gauge", self._gauges)):
                for name, series in sorted(table.items()):
                    metric = _prom(name) + ("_total" if kind == "counter" else "")
                    lines += [f"# HELP {metric} {self._help.get(name) or name}", f"# TYPE {metric} {kind}"]
                    lines += [f"{metric}{_labels(k)} {_num(v)}" for k, v in sorted(series.items())]
            for name, hseries in sorted(self._histograms.items()):
                metric = _prom(name)
                lines += [f"# HELP {metric} {self._help.get(name) or name}", f"# TYPE {metric} histogram"]
                for k, counts in sorted(hseries.items()):
                    cumulative = 0.0
                    for bound, n in zip(BUCKETS, counts):
                        cumulative += n
                        lines.append(f"{metric}_bucket{_labels((*k, ('le', _num(bound))))} {_num(cumulative)}")
                    lines.append(f"{metric}_bucket{_labels((*k, ('le', '+Inf')))} {_num(counts[-1])}")
                    lines.append(f"{metric}_sum{_labels(k)} {_num(counts[-2])}")
                    lines.append(f"{metric}_count{_labels(k)} {_num(counts[-1])}")
        return "\n".join(lines) + "\n"

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()
            self._gauges.clear()
            self._histograms.clear()


def _key(labels: Mapping[str, str] | None) -> _Labels:
    return tuple(sorted((str(k), str(v)) for k, v in (labels or {}).items()))


def _prom(name: str) -> str:
    return name.replace(".", "_")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _labels(key: _Labels) -> str:
    if not key:
        return ""
    body = ",".join(f'{_prom(k)}="{_escape(v)}"' for k, v in key)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


#: The process-wide registry every gateway records into.
METRICS = Metrics()


# -- OpenTelemetry, when its API is installed ------------------------------------------------

_otel: dict[str, Any] = {}
_otel_lock = threading.Lock()


def _api() -> Any:
    """The OpenTelemetry API modules, or ``None`` when not installed (checked once)."""
    if "api" not in _otel:
        with _otel_lock:
            if "api" not in _otel:
                try:
                    from opentelemetry import metrics, trace  # type: ignore[import-not-found,unused-ignore]

                    _otel["api"] = (metrics, trace)
                except ImportError:
                    _otel["api"] = None
    return _otel["api"]


def _instrument(name: str, kind: str) -> Any:
    api = _api()
    if api is None:
        return None
    cache_key = f"{kind}:{name}"
    if cache_key not in _otel:
        meter = api[0].get_meter("smsgate")
        unit = "s" if name.endswith(("duration", "wait")) else "1"
        make = meter.create_counter if kind == "counter" else meter.create_histogram
        _otel[cache_key] = make(name, unit=unit)
    return _otel[cache_key]


def _otel_add(name: str, value: float, labels: Mapping[str, str] | None) -> None:
    counter = _instrument(name, "counter")
    if counter is not None:
        counter.add(value, attributes=dict(labels or {}))


def _otel_observe(name: str, value: float, labels: Mapping[str, str] | None) -> None:
    histogram = _instrument(name, "histogram")
    if histogram is not None:
        histogram.record(value, attributes=dict(labels or {}))


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any]) -> Iterator[Any]:
    """An OpenTelemetry span (current context as parent), or nothing when the API is absent."""
    api = _api()
    if api is None:
        yield None
        return
    tracer = api[1].get_tracer("smsgate")
    with tracer.start_as_current_span(name, attributes=dict(attributes)) as current:
        yield current


# -- what the engine records ------------------------------------------------------------------


def attempt(gateway: str, method: str, host: str, seconds: float, status: int | None, verdict: str | None) -> None:
    """One HTTP attempt: its duration and, when it failed, the verdict."""
    labels = {"smsgate.gateway": gateway, "http.request.method": method, "server.address": host}
    if status is not None:
        labels["http.response.status_code"] = str(status)
    if verdict is not None:
        labels["error.type"] = verdict
    METRICS.observe("http.client.request.duration", seconds, labels, "Duration of requests to gateways")
    METRICS.add(
        "smsgate.attempts",
        1,
        {"gateway": gateway, "verdict": verdict or "ok"},
        "Attempts per gateway, by verdict (ok: answered)",
    )


def outcomes(gateway: str, statuses: Mapping[str, int]) -> None:
    """Recipients per final status of one batch."""
    for status, n in statuses.items():
        METRICS.add("smsgate.recipients", n, {"gateway": gateway, "status": status}, "Recipients by outcome")


def wait(gateway: str, why: str, seconds: float) -> None:
    """Time spent waiting before a resend or a lookup."""
    METRICS.add("smsgate.wait", seconds, {"gateway": gateway, "why": why}, "Seconds waited (backoff, throttling)")
