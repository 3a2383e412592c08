"""The dashboard page (smsgate.dashboard) against a store with a campaign: every number shown is
the store's, text is escaped, no recipient number is on the page; /dashboard is behind the
metrics token (header or ?token=)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smsgate import dashboard, serve
from smsgate.health import BreakerPolicy, Health
from smsgate.inbound import MemoryInboundStore
from smsgate.store import STATES, CampaignRecord, Row, RowRef, SendRecord, Store, open_store
from smsgate.telemetry import Metrics
from smsgate.testing.pages import numbers, one

NUMBERS = [f"+4850060{i:04d}" for i in range(1, 9)]
NAME = 'spring <sale> & "friends"'


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "smsgate.db")
    store.save_campaign(CampaignRecord(NAME, "bulk", "bulksms", "t", "src.csv", "d", len(NUMBERS) + 1))
    store.add_rows(Row(NAME, i, n, "d") for i, n in enumerate([*NUMBERS, "+48500600999"], start=1))
    refs = [RowRef(NAME, i, n) for i, n in enumerate(NUMBERS[:6], start=1)]
    outcomes = tuple(
        {"recipient": n, "status": "accepted" if i < 5 else "rejected", "message_id": f"id{i}", "code": "x"}
        for i, n in enumerate(NUMBERS[:6])
    )
    record = SendRecord("bulksms", "k1", "d", tuple(NUMBERS[:6]), "sending", time.time())
    store.begin(record, refs)
    store.settle(attrs_evolve(record, outcomes), refs)
    store.record_delivery(NAME, "id0", "delivered", None, None)
    store.record_delivery(NAME, "id1", "delivered", None, None)
    store.record_delivery(NAME, "id2", "undelivered", "51", f"handset {NUMBERS[2]} unreachable")
    store.set_rows(NAME, [(9, "rejected", "invalid_number", "not a number: +48500600999")])
    yield store
    store.close()


def attrs_evolve(record: SendRecord, outcomes: Any) -> SendRecord:
    import attrs

    return attrs.evolve(record, state="done", outcomes=outcomes)


def test_the_page_shows_the_stores_numbers(store: Store) -> None:
    metrics = Metrics()
    metrics.add("smsgate.attempts", 3, {"gateway": "bulk", "verdict": "ok"})
    metrics.add("smsgate.attempts", 1, {"gateway": "bulk", "verdict": "retry"})
    metrics.add("smsgate.recipients", 5, {"gateway": "bulk", "status": "accepted"})
    health = Health()
    health.breaker("bulk").failure("503 from gateway")
    page = dashboard.page(store, metrics=metrics, health=health)
    found = numbers(page)
    counts = store.counts(NAME)
    assert counts == {"delivered": 2, "undelivered": 1, "accepted": 2, "rejected": 2, "planned": 2}
    for state in STATES:
        if counts.get(state):
            assert one(found, "campaign.rows", campaign=NAME, state=state) == counts[state]
    assert one(found, "campaign.total", campaign=NAME) == 9
    assert one(found, "campaign.done", campaign=NAME) == 7
    assert one(found, "campaign.percent", campaign=NAME) == 77
    assert one(found, "campaigns.count") == 1
    assert one(found, "delivery.delivered") == 2
    assert one(found, "delivery.failed") == 1
    assert one(found, "delivery.rate") == 67
    assert one(found, "gateway.attempts", gateway="bulk", verdict="ok") == 3
    assert one(found, "gateway.attempts", gateway="bulk", verdict="retry") == 1
    assert one(found, "gateway.failed_attempts", gateway="bulk") == 1
    assert one(found, "gateway.recipients", gateway="bulk", status="accepted") == 5
    assert 'data-metric="gateway.breaker" data-gateway="bulk">closed<' in page
    # the chart: one bar group per bucket, adding up to the delivery totals
    assert page.count('class="bucket"') >= 1
    # recent errors: rejected and undelivered rows, newest first, without recipients
    assert page.count('class="error"') == 3
    for number in [*NUMBERS, "+48500600999", "48500600"]:
        assert number not in page, "no recipient number on the page"
    assert "handset [number] unreachable" in page
    # escaped everywhere
    assert "<sale>" not in page
    assert "spring &lt;sale&gt; &amp; &quot;friends&quot;" in page
    assert '<meta name="viewport"' in page
    assert "http://" not in page and "https://" not in page, "no external assets"


def test_breakers_published_in_the_store_by_another_process_are_shown(store: Store) -> None:
    elsewhere = Health(BreakerPolicy(failures=1))  # a router's, in a worker process
    stop = elsewhere.publish(store, ["routed"])
    elsewhere.breaker("routed").failure(f"HTTP 503 sending to {NUMBERS[0]}")
    stop()
    page = dashboard.page(store, metrics=Metrics(), health=Health())
    assert 'data-metric="gateway.breaker" data-gateway="routed">open<' in page
    assert "last error: HTTP 503 sending to [number]" in page and NUMBERS[0] not in page


def test_an_empty_page_without_a_store() -> None:
    page = dashboard.page(None, metrics=Metrics(), health=Health())
    assert "No campaign store" in page
    assert one(numbers(page), "campaigns.count") == 0


def _get(app: serve.Receiver, path: str, query: str = "", **headers: str) -> tuple[str, dict[str, str], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"], captured["headers"] = status, dict(hdrs)

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "wsgi.input": io.BytesIO(b""),
        **{"HTTP_" + k.upper(): v for k, v in headers.items()},
    }
    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], body


def test_the_dashboard_route_is_behind_the_metrics_token(store: Store) -> None:
    receiver = serve.Receiver([], MemoryInboundStore(), metrics_token="s3cret", campaign_store=store)
    assert _get(receiver, "/dashboard")[0].startswith("401")
    assert _get(receiver, "/dashboard", "token=wrong")[0].startswith("401")
    assert _get(receiver, "/dashboard", authorization="Bearer wrong")[0].startswith("401")
    status, headers, body = _get(receiver, "/dashboard", "token=s3cret")
    assert status == "200 OK"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    assert "s3cret" not in body.decode()
    assert one(numbers(body.decode()), "campaign.total", campaign=NAME) == 9
    assert _get(receiver, "/dashboard/", authorization="Bearer s3cret")[0] == "200 OK"
    receiver.metrics_token = None
    assert _get(receiver, "/dashboard")[0] == "200 OK"


def test_a_failing_store_answers_500() -> None:
    class Broken:
        def campaigns(self) -> list[CampaignRecord]:
            raise RuntimeError("database is locked")

    receiver = serve.Receiver([], MemoryInboundStore(), campaign_store=Broken())  # type: ignore[arg-type]
    status, _, body = _get(receiver, "/dashboard")
    assert status.startswith("500") and b"locked" not in body
