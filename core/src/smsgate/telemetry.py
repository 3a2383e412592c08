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

:func:`scrape` adds, at each scrape of ``/metrics``, series computed from the store and the
published circuit breakers, so they are the same whichever process sent: campaign progress
(``smsgate.campaign.*``), recipients and delivery reports by gateway (``smsgate.store.*``) and
circuit states (``smsgate.circuit.state``).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from smsgate.health import Health
    from smsgate.store import StateCount, Store

log = logging.getLogger("smsgate.telemetry")

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
        self._summaries: dict[str, dict[_Labels, tuple[float, float]]] = {}  # count, sum
        self._help: dict[str, str] = {}

    def add(self, name: str, value: float = 1.0, labels: Mapping[str, str] | None = None, help: str = "") -> None:
        key = _key(labels)
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value
            self._help.setdefault(name, help)
        if _otel.get("api", _UNLOADED) is not None:  # not known to be absent
            _otel_add(name, value, labels)

    def put(self, name: str, value: float, labels: Mapping[str, str] | None = None, help: str = "") -> None:
        """Set a counter to ``value``: a count kept elsewhere (the store), not forwarded to OpenTelemetry."""
        with self._lock:
            self._counters.setdefault(name, {})[_key(labels)] = value
            self._help.setdefault(name, help)

    def put_summary(
        self, name: str, count: float, total: float, labels: Mapping[str, str] | None = None, help: str = ""
    ) -> None:
        """Set a summary (``_count``, ``_sum``; no quantiles) from values kept elsewhere."""
        with self._lock:
            self._summaries.setdefault(name, {})[_key(labels)] = (float(count), float(total))
            self._help.setdefault(name, help)

    def set(self, name: str, value: float, labels: Mapping[str, str] | None = None, help: str = "") -> None:
        with self._lock:
            self._gauges.setdefault(name, {})[_key(labels)] = value
            self._help.setdefault(name, help)

    def observe(self, name: str, value: float, labels: Mapping[str, str] | None = None, help: str = "") -> None:
        key = _key(labels)
        with self._lock:
            series = self._histograms.setdefault(name, {})
            counts = series.get(key)
            if counts is None:
                counts = series[key] = [0.0] * (len(BUCKETS) + 2)
            index = bisect.bisect_left(BUCKETS, value)  # per-bucket counts; cumulated when rendered
            if index < len(BUCKETS):
                counts[index] += 1
            counts[-2] += value
            counts[-1] += 1
            self._help.setdefault(name, help)
        if _otel.get("api", _UNLOADED) is not None:
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
            for name, sseries in sorted(self._summaries.items()):
                metric = _prom(name)
                lines += [f"# HELP {metric} {self._help.get(name) or name}", f"# TYPE {metric} summary"]
                for k, (count, total) in sorted(sseries.items()):
                    lines += [f"{metric}_sum{_labels(k)} {_num(total)}", f"{metric}_count{_labels(k)} {_num(count)}"]
        return "\n".join(lines) + "\n"

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()
            self._gauges.clear()
            self._histograms.clear()
            self._summaries.clear()


def _key(labels: Mapping[str, str] | None) -> _Labels:
    """``labels`` as a sorted tuple of strings; memoised (a few gateways, statuses and codes:
    the engine records the same handful of label sets on every request)."""
    if not labels:
        return ()
    items = tuple(labels.items())
    key = _KEYS.get(items)
    if key is None:
        key = tuple(sorted((str(k), str(v)) for k, v in items))
        if len(_KEYS) < _MAX_KEYS:  # bounded, whatever labels a caller invents
            _KEYS[items] = key
    return key


_KEYS: dict[tuple[tuple[str, str], ...], _Labels] = {}
_MAX_KEYS = 4096


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
_UNLOADED = object()  # ``_otel["api"]`` before the first look: not known to be absent
_otel_lock = threading.Lock()


def _api() -> Any:
    """The OpenTelemetry API modules, or ``None`` when not installed (checked once)."""
    if "api" not in _otel:
        with _otel_lock:
            if "api" not in _otel:
                try:
                    from opentelemetry import metrics, trace  # type: ignore[import-not-found,unused-ignore]
                    from opentelemetry.metrics import _internal as meters  # type: ignore[import-not-found,unused-ignore]

                    trace.get_tracer_provider()  # load the providers OTEL_PYTHON_*_PROVIDER name, if any
                    metrics.get_meter_provider()
                    _otel["api"] = (metrics, trace, meters)
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


def _metering() -> bool:
    """Whether an OpenTelemetry meter provider is set: until then the API's placeholder records
    nothing, and the instruments are not called. Checked per call (an app may set one at any
    time) on the API's global, which ``get_meter_provider`` would read after an environment
    lookup; were that private name gone, every call goes to the API as before."""
    api = _otel["api"] if "api" in _otel else _api()
    return api is not None and getattr(api[2], "_METER_PROVIDER", True) is not None


def _otel_add(name: str, value: float, labels: Mapping[str, str] | None) -> None:
    if not _metering():
        return
    counter = _instrument(name, "counter")
    if counter is not None:
        counter.add(value, attributes=dict(labels or {}))


def _otel_observe(name: str, value: float, labels: Mapping[str, str] | None) -> None:
    if not _metering():
        return
    histogram = _instrument(name, "histogram")
    if histogram is not None:
        histogram.record(value, attributes=dict(labels or {}))


_NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()


def span(name: str, attributes: Mapping[str, Any]) -> contextlib.AbstractContextManager[Any]:
    """An OpenTelemetry span (current context as parent); nothing (``None``) when the API is
    absent or no SDK is configured, where a span would record nothing and cost the hot path."""
    api = _api()
    if api is None:
        return _NO_SPAN
    trace = api[1]
    if getattr(trace, "_TRACER_PROVIDER", True) is None:
        return _NO_SPAN  # no provider set: the API's placeholder (as _metering), checked before get_tracer
    tracer = trace.get_tracer("smsgate")
    return tracer.start_as_current_span(name, attributes=dict(attributes))  # type: ignore[no-any-return]


# -- what the engine records ------------------------------------------------------------------


def attempt(gateway: str, method: str, host: str, seconds: float, status: int | None, verdict: str | None) -> None:
    """One HTTP attempt: its duration and, when it failed, the verdict."""
    key = (gateway, method, host, status, verdict)
    labels = _ATTEMPT_LABELS.get(key) or _memo(_ATTEMPT_LABELS, key, _attempt_labels(*key))
    METRICS.observe("http.client.request.duration", seconds, labels[0], "Duration of requests to gateways")
    METRICS.add("smsgate.attempts", 1, labels[1], "Attempts per gateway, by verdict (ok: answered)")


def _attempt_labels(
    gateway: str, method: str, host: str, status: int | None, verdict: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    duration = {"smsgate.gateway": gateway, "http.request.method": method, "server.address": host}
    if status is not None:
        duration["http.response.status_code"] = str(status)
    if verdict is not None:
        duration["error.type"] = verdict
    return duration, {"gateway": gateway, "verdict": verdict or "ok"}


def outcomes(gateway: str, statuses: Mapping[str, int]) -> None:
    """Recipients per final status of one batch."""
    for status, n in statuses.items():
        key = (gateway, status)
        labels = _OUTCOME_LABELS.get(key) or _memo(_OUTCOME_LABELS, key, {"gateway": gateway, "status": status})
        METRICS.add("smsgate.recipients", n, labels, "Recipients by outcome")


_T = TypeVar("_T")
_ATTEMPT_LABELS: dict[tuple[str, str, str, int | None, str | None], tuple[dict[str, str], dict[str, str]]] = {}
_OUTCOME_LABELS: dict[tuple[str, str], dict[str, str]] = {}


def _memo(table: dict[Any, _T], key: Any, value: _T) -> _T:
    """Remember ``value`` under ``key`` while the table is small (label sets repeat; bounded anyway)."""
    if len(table) < _MAX_KEYS:
        table[key] = value
    return value


def wait(gateway: str, why: str, seconds: float) -> None:
    """Time spent waiting before a resend or a lookup."""
    METRICS.add("smsgate.wait", seconds, {"gateway": gateway, "why": why}, "Seconds waited (backoff, throttling)")


# -- what /metrics adds at each scrape: the store's numbers and the circuits -----------------------

#: Campaigns exported per scrape (the most recently updated): a bound on label cardinality.
CAMPAIGNS = 20

_ACCEPTED = ("accepted", "scheduled", "delivered", "undelivered", "expired")  # the gateway took them


def scrape(store: Store | None, *, campaigns: int = CAMPAIGNS, health: Health | None = None) -> str:
    """The series ``/metrics`` computes at each scrape (Prometheus text): from ``store``, one
    aggregate query (:meth:`~smsgate.store.Store.stats`), campaign progress for the
    ``campaigns`` most recently updated campaigns and, over every campaign, recipients and
    delivery reports by gateway as counters and the delivery-report lag; and each gateway's
    circuit state, as published in the store by routers in any process, and this process's
    (``health``, default ``Health.shared()``). ``smsgate.store.up`` is 0 when the store failed."""
    from smsgate.health import LEVELS, states

    out = Metrics()
    up = 1.0
    if store is not None:
        try:
            _store_series(out, store.stats(), campaigns)
        except Exception:
            log.exception("smsgate: /metrics could not read the store")
            up = 0.0
    try:
        circuits = states(store, health)
    except Exception:
        log.exception("smsgate: /metrics could not read the published circuit states")
        circuits, up = states(None, health), 0.0
    for c in circuits:
        out.set(
            "smsgate.circuit.state",
            LEVELS.get(str(c["state"]), 2),
            {"gateway": str(c["gateway"])},
            "Circuit breaker state per gateway: 0 closed, 1 half-open, 2 open",
        )
    if store is not None:
        out.set("smsgate.store.up", up, None, "1 when the store answered this scrape")
    return out.prometheus()


def _store_series(out: Metrics, stats: Sequence[StateCount], campaigns: int) -> None:
    from smsgate.store import DELIVERY, STATES

    info = {s.campaign: s for s in stats}
    shown = sorted(info.values(), key=lambda s: (-s.updated_at, s.campaign))[: max(0, campaigns)]
    rows: dict[str, dict[str, int]] = defaultdict(dict)
    outcomes: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(("accepted", "rejected", "unknown"), 0))
    reports: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DELIVERY, 0))
    lag: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # count, sum
    for s in stats:
        outcomes[s.gateway]  # every gateway gets its series, even before it has any
        reports[s.gateway]
        if s.state is None:
            continue
        rows[s.campaign][s.state] = s.rows
        if s.state in _ACCEPTED:
            outcomes[s.gateway]["accepted"] += s.rows
        elif s.state in ("rejected", "unknown"):
            outcomes[s.gateway][s.state] += s.rows
        if s.state in DELIVERY:
            reports[s.gateway][s.state] += s.rows
        lag[s.gateway][0] += s.lag_count
        lag[s.gateway][1] += s.lag_sum
    out.set("smsgate.store.campaigns", len(info), None, "Campaigns in the store")
    for c in shown:
        labels = {"campaign": c.campaign}
        out.set("smsgate.campaign.info", 1, {**labels, "gateway": c.gateway, "status": c.campaign_state}, "Campaigns")
        out.set("smsgate.campaign.rows", c.total, labels, "Rows of the campaign's input")
        for state in STATES:
            value = rows[c.campaign].get(state, 0)
            out.set("smsgate.campaign.recipients", value, {**labels, "state": state}, "Campaign rows per state")
    for gateway in sorted(outcomes):
        labels = {"gateway": gateway}
        for outcome, n in outcomes[gateway].items():
            out.put(
                "smsgate.store.recipients", n, {**labels, "outcome": outcome}, "Campaign recipients by gateway's answer"
            )
        for state, n in reports[gateway].items():
            out.put("smsgate.store.delivery_reports", n, {**labels, "state": state}, "Recipients by delivery status")
        count, total = lag[gateway]
        out.put_summary(
            "smsgate.store.delivery_lag",
            count,
            total,
            labels,
            "Seconds from the gateway's reply to the delivery status",
        )
