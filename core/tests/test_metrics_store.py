"""/metrics series read from the store at each scrape (smsgate.telemetry.scrape): campaign
progress, recipients and delivery reports by gateway, delivery-report lag, and circuit states
that routers publish to the store on each change of state (never per request)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from core_kit import Sleeps, dsn_for

from smsgate import Journal, connect, serve, telemetry
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.health import Breaker, BreakerPolicy, Health, states
from smsgate.inbound import MemoryInboundStore
from smsgate.models import Message
from smsgate.plugins import Registry
from smsgate.router import Router, Rule
from smsgate.store import (
    STATES,
    CampaignRecord,
    GatewayHealth,
    Row,
    RowRef,
    SendRecord,
    Store,
    open_store,
)

NUMBERS = [f"+4850060{i:04d}" for i in range(1, 9)]
SAMPLE = re.compile(r'^([a-z_]+)(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? [0-9.e+-]+$')


def series(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text body, by (name, labels); every line well-formed."""
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        assert line.startswith("# ") or SAMPLE.match(line), line
        if not line.startswith("#"):
            head, value = line.rsplit(" ", 1)
            name, _, body = head.partition("{")
            labels = frozenset(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', body))
            key = (name, labels)
            assert key not in found, f"duplicate series {line}"
            found[key] = float(value)
    return found


def one(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def settle(store: Store, campaign: str, rows: list[int], statuses: list[str], key: str) -> None:
    refs = [RowRef(campaign, n, NUMBERS[n - 1]) for n in rows]
    record = SendRecord("outbox", key, "d", tuple(r.recipient for r in refs), "sending", time.time())
    store.begin(record, refs)
    outcomes = tuple(
        {"recipient": r.recipient, "status": s, "message_id": f"{key}-{r.row}", "code": None, "reason": None}
        for r, s in zip(refs, statuses)
    )
    store.settle(attrs.evolve(record, state="done", outcomes=outcomes), refs)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "smsgate.db")
    store.save_campaign(CampaignRecord("old", "bulk", "bulksms", "t", "a.csv", "d", 3))
    store.add_rows(Row("old", i, NUMBERS[i - 1], "d") for i in range(1, 4))
    settle(store, "old", [1, 2, 3], ["accepted", "accepted", "unknown"], "k0")
    store.record_delivery("old", "k0-1", "delivered", None, None)
    time.sleep(0.01)  # "new" is updated later: the newest
    store.save_campaign(CampaignRecord("new", "bulk", "bulksms", "t", "b.csv", "d", 6))
    store.add_rows(Row("new", i, NUMBERS[i - 1], "d") for i in range(1, 7))
    settle(store, "new", [1, 2, 3], ["accepted", "scheduled", "rejected"], "k1")
    store.record_delivery("new", "k1-1", "undelivered", "51", None)
    store.set_rows("new", [(6, "rejected", "invalid", "bad")])
    store.save_campaign(CampaignRecord("other", "cheap", "outbox", "t", "c.csv", "d", 0))
    yield store
    store.close()


def test_the_scrape_agrees_with_the_store(store: Store) -> None:
    found = series(telemetry.scrape(store, campaigns=2, health=Health()))
    exported = {dict(labels)["campaign"] for name, labels in found if name == "smsgate_campaign_recipients"}
    assert exported == {"new", "other"}, "the two most recently updated campaigns, no more"
    for name in exported:
        counts = store.counts(name)
        for state in STATES:
            assert one(found, "smsgate_campaign_recipients", campaign=name, state=state) == counts.get(state, 0)
    assert one(found, "smsgate_campaign_rows", campaign="new") == 6
    assert one(found, "smsgate_campaign_info", campaign="new", gateway="bulk", status="planned") == 1
    assert one(found, "smsgate_store_campaigns") == 3
    # the gateway counters cover every campaign, "old" included
    everything = [store.counts(n) for n in ("old", "new")]
    accepted = sum(c.get(s, 0) for c in everything for s in ("accepted", "scheduled", *LAG_STATES))
    assert one(found, "smsgate_store_recipients_total", gateway="bulk", outcome="accepted") == accepted == 4
    assert one(found, "smsgate_store_recipients_total", gateway="bulk", outcome="rejected") == 2
    assert one(found, "smsgate_store_recipients_total", gateway="bulk", outcome="unknown") == 1
    assert one(found, "smsgate_store_recipients_total", gateway="cheap", outcome="accepted") == 0
    assert one(found, "smsgate_store_delivery_reports_total", gateway="bulk", state="delivered") == 1
    assert one(found, "smsgate_store_delivery_reports_total", gateway="bulk", state="undelivered") == 1
    assert one(found, "smsgate_store_delivery_lag_count", gateway="bulk") == 2
    assert 0 <= one(found, "smsgate_store_delivery_lag_sum", gateway="bulk") < 2
    assert one(found, "smsgate_store_delivery_lag_count", gateway="cheap") == 0
    assert one(found, "smsgate_store_up") == 1
    text = telemetry.scrape(store, health=Health())
    assert not any(n[1:] in text for n in NUMBERS), "no recipient number in a label"


LAG_STATES = ("delivered", "undelivered", "expired")


def test_counters_only_grow_as_rows_move_on(store: Store) -> None:
    before = series(telemetry.scrape(store, health=Health()))
    settle(store, "new", [4, 5], ["accepted", "accepted"], "k2")
    store.record_delivery("new", "k2-4", "delivered", None, None)
    store.record_delivery("new", "k1-2", "expired", None, None)  # scheduled -> expired
    after = series(telemetry.scrape(store, health=Health()))
    counters = [k for k in after if k[0].endswith(("_total", "_count"))]
    assert counters and all(after[k] >= before.get(k, 0) for k in counters)
    assert one(after, "smsgate_store_recipients_total", gateway="bulk", outcome="accepted") == 6
    assert one(after, "smsgate_campaign_recipients", campaign="new", state="planned") == 0


def test_a_failing_store_still_answers_with_the_process_series() -> None:
    class Broken:
        def stats(self) -> list[Any]:
            raise OSError("disk on fire")

        def gateway_health(self) -> list[Any]:
            raise OSError("disk on fire")

    health = Health()
    health.breaker("local").success()
    found = series(telemetry.scrape(Broken(), health=health))  # type: ignore[arg-type]
    assert one(found, "smsgate_store_up") == 0
    assert one(found, "smsgate_circuit_state", gateway="local") == 0


# -- circuit states, published on change --------------------------------------------------------


class Counting:
    """A store that counts the breaker states written to it."""

    def __init__(self, store: Store) -> None:
        self.store, self.writes = store, 0

    def save_gateway_health(self, health: GatewayHealth) -> None:
        self.writes += 1
        self.store.save_gateway_health(health)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_breakers_publish_each_change_of_state_and_nothing_per_request(store: Store) -> None:
    clock = Clock()
    health = Health(BreakerPolicy(failures=3, cool_down=30), clock)
    counting = Counting(store)
    stop = health.publish(counting, ["gw"])  # type: ignore[arg-type]
    assert counting.writes == 1, "its state at once"
    breaker = health.breaker("gw")
    for _ in range(50):
        assert breaker.allow()
        breaker.success()
    breaker.failure("HTTP 503 for +48500600701")
    breaker.failure("HTTP 503")
    assert counting.writes == 1, "no change of state, no write"
    breaker.failure("HTTP 503 for +48500600702 (timed out)")
    assert counting.writes == 2
    (published,) = store.gateway_health()
    assert (published.state, published.opened) == ("open", 1)
    assert published.last_error == "HTTP 503 for [number] (timed out)", "numbers masked"
    assert published.retry_at == pytest.approx(clock.now + 30)
    process = Health()  # serve's own process: no breaker of its own
    assert [s["state"] for s in states(store, process, clock)] == ["open"]
    clock.now += 31
    assert [s["state"] for s in states(store, process, clock)] == ["half-open"], "past retry_at"
    assert breaker.allow()  # the probe: half-open
    breaker.success()  # closed
    assert counting.writes == 4
    assert [(s["state"], s["source"]) for s in states(store, process, clock)] == [("closed", "store")]
    stop()
    breaker.failure("x")
    breaker.failure("x")
    breaker.failure("x")
    assert counting.writes == 4, "stopped"


def _breaker_listeners(breaker: Breaker) -> int:
    return len(breaker.listeners)


def test_a_router_publishes_to_its_journals_store_and_serve_shows_it(
    store: Store, registry: Registry, sleeps: Sleeps
) -> None:
    health = Health(BreakerPolicy(failures=1))
    with OutboxEmulator() as gone:
        dead = dsn_for(gone, options="attempts=1")  # nothing listens there any more: refused, not sent
    with OutboxEmulator() as up:
        gateways = {
            "m-down": connect(dead, registry=registry, sleep=sleeps),
            "m-up": connect(dsn_for(up), registry=registry, sleep=sleeps),
        }
        with Router(gateways, [Rule(["m-down", "m-up"])], health=health, journal=Journal.on(store)) as router:
            assert {h.gateway: h.state for h in store.gateway_health()} == {"m-down": "closed", "m-up": "closed"}
            result = router.send(Message(NUMBERS[:2], "hi", key="r1"))
            assert result.ok and result.gateway_of(NUMBERS[0]) == "m-up"
            assert _breaker_listeners(health.breaker("m-down")) == 1
        assert _breaker_listeners(health.breaker("m-down")) == 0, "closing the router stops publishing"
    assert {h.gateway: h.state for h in store.gateway_health()} == {"m-down": "open", "m-up": "closed"}
    receiver = serve.Receiver([], MemoryInboundStore(), metrics_token="t0k", campaign_store=store)
    status, body = call(receiver, "/metrics", "Bearer t0k")
    assert status.startswith("200")
    found = series(body)
    assert one(found, "smsgate_circuit_state", gateway="m-down") == 2
    assert one(found, "smsgate_circuit_state", gateway="m-up") == 0
    assert one(found, "smsgate_campaign_recipients", campaign="new", state="rejected") == 2
    assert call(receiver, "/metrics", "Bearer nope")[0].startswith("401")


def call(app: serve.Receiver, path: str, authorization: str) -> tuple[str, str]:
    captured: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"] = status

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": authorization,
        "wsgi.input": io.BytesIO(b""),
    }
    body = b"".join(app(environ, start_response)).decode()
    return captured["status"], body


def test_every_metric_is_in_the_docs(store: Store) -> None:
    """docs/observability.md lists every metric the process and the scrape can produce."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text(encoding="utf-8")
    health = Health()
    health.breaker("g").success()
    names = {name for name, _ in series(telemetry.scrape(store, health=health))}
    source = Path(telemetry.__file__).parent
    recorded = re.findall(
        r'METRICS\.(add|observe|set)\(\s*"([^"]+)"', "".join(p.read_text() for p in source.glob("*.py"))
    )
    assert len(recorded) >= 6, recorded
    names |= {name.replace(".", "_") + ("_total" if kind == "add" else "") for kind, name in recorded}
    bases = {re.sub(r"_(sum|count)$", "", n) if "lag" in n else n for n in names}
    missing = sorted(n for n in bases if f"`{n}`" not in docs)
    assert not missing, f"not in docs/observability.md: {missing}"
