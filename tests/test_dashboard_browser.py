"""The dashboard in a real browser (issue 19): headless Chromium (Debian's ``chromium`` package)
loads ``/dashboard`` from a running ``smsgate serve`` while a campaign sent through the BulkSMS
emulator is waiting for its delivery reports, and every number it shows is checked against the
store; a phone-sized screenshot is kept as a test artifact (``dashboard.png`` in the test's
tmp dir). Without Chromium the test is skipped, naming it; on CI (``$CI`` set) it fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

import smsgate
from smsgate import serve
from smsgate.campaign import Campaign
from smsgate.emulator import Fault
from smsgate.health import BreakerPolicy, Health
from smsgate.inbound import SqliteInboundStore
from smsgate.store import DELIVERY, STATES, Store, open_store
from smsgate.telemetry import METRICS
from smsgate.testing import services
from smsgate.testing.pages import PageNumbers

TOKEN = "dash-s3cret"
CALLBACK = "cb-token"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if found:
        return found
    why = "Chromium is not installed (Debian: apt-get install chromium): the dashboard browser test needs it"
    services.unavailable(why + " (.ci/run installs it)")


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(profile)}
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[serve.Server, Store, list[str]]]:
    from smsgate_bulksms.emulator import BulkSmsEmulator

    METRICS.reset()
    store = open_store(tmp_path / "smsgate.db")
    inbound = SqliteInboundStore(store=store)
    numbers = [f"+4477009{i:05d}" for i in range(1, 9)]
    source = tmp_path / "people.csv"
    source.write_text(
        "phone,name\n" + "".join(f"{n},P{i}\n" for i, n in enumerate(numbers)) + "not-a-number,Zed\n",
        encoding="utf-8",
    )
    later = tmp_path / "later.csv"
    later.write_text("phone,name\n+447700900101,Ann\n+447700900102,Bob\n", encoding="utf-8")
    with BulkSmsEmulator() as emulator, smsgate.connect(emulator.dsn()) as gateway:
        emulator.inject(Fault.SERVER_ERROR, times=1)  # one failed attempt for the gateway's health
        # one request per message: each row gets its own gateway id (a delivery report each)
        Campaign(gateway, store, "spring", source, "Hi {name}", skip_invalid=True, batch=False).run()
        Campaign(gateway, store, "summer", later, "Soon {name}").plan()
    # a router in another process publishes its breakers to the store: bulksms's circuit opened
    elsewhere = Health(BreakerPolicy(failures=1))
    stop = elsewhere.publish(store, ["bulksms"])
    elsewhere.breaker("bulksms").failure(f"HTTP 503 while sending to {numbers[0]}")
    stop()
    routes = [serve.Route("bulksms", smsgate.connect("bulksms://user:pw@default"), token=CALLBACK)]
    receiver = serve.Receiver(routes, inbound, metrics_token=TOKEN, campaign_store=store)
    server = serve.start(receiver, "127.0.0.1", 0, timeout=5)
    try:
        yield server, store, numbers
    finally:
        server.stop()
        routes[0].gateway.close()
        inbound.close()
        store.close()


def _dlr(server: serve.Server, gateway_id: str, status: str) -> None:
    import http.client

    q = urlencode({"msisdn": "447700900001", "batch_id": gateway_id, "status": status})
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", f"/bulksms/{CALLBACK}/dlr?{q}")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_the_dashboard_in_chromium_shows_the_stores_numbers(
    world: tuple[serve.Server, Store, list[str]], tmp_path: Path
) -> None:
    binary = chromium()
    server, store, numbers = world
    # delivery reports for some of the accepted rows, through the receiver
    ids = sorted({r.gateway_id for r in store.rows_in_state("spring", "accepted") if r.gateway_id})
    assert len(ids) >= 3
    for i, gateway_id in enumerate(ids[:3]):
        _dlr(server, gateway_id, "51" if i == 1 else "11")

    started = time.monotonic()
    url = f"{server.url}/dashboard?token={TOKEN}"
    dumped = run_chromium(binary, tmp_path / "profile", "--dump-dom", url)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert "smsgate dashboard" in dom, dom[:500]
    shot = tmp_path / "dashboard.png"
    taken = run_chromium(binary, tmp_path / "profile", f"--screenshot={shot}", "--window-size=390,844", url)
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"browser: {time.monotonic() - started:.1f}s; screenshot kept at {shot}")

    page = PageNumbers()
    page.feed(dom)
    campaigns = {c.name: c for c in store.campaigns()}
    assert page.one("campaigns.count") == len(campaigns) == 2
    delivered = failed = 0
    for name, record in campaigns.items():
        counts = store.counts(name)
        for state in STATES:
            if counts.get(state):
                assert page.one("campaign.rows", campaign=name, state=state) == counts[state], (name, state)
        assert page.one("campaign.total", campaign=name) == record.total
        assert page.one("campaign.done", campaign=name) == sum(
            n for s, n in counts.items() if s not in ("planned", "sending")
        )
        delivered += counts.get("delivered", 0)
        failed += sum(counts.get(s, 0) for s in DELIVERY if s != "delivered")
    spring = store.counts("spring")
    assert (spring.get("delivered"), spring.get("undelivered"), spring.get("rejected")) == (2, 1, 1), spring
    assert spring.get("accepted", 0) + spring.get("unknown", 0) == 5, spring
    assert page.one("campaign.percent", campaign="summer") == 0
    assert page.one("delivery.delivered") == delivered
    assert page.one("delivery.failed") == failed
    assert page.one("delivery.rate") == round(100 * delivered / (delivered + failed))
    # the gateway's counters are the process's METRICS (one failed attempt: the injected 5xx)
    attempts = {labels["verdict"]: int(n) for labels, n in METRICS.series("smsgate.attempts")}
    for verdict, n in attempts.items():
        assert page.one("gateway.attempts", gateway="bulksms", verdict=verdict) == n
    assert page.one("gateway.failed_attempts", gateway="bulksms") == sum(attempts.values()) - attempts["ok"] >= 1
    assert page.one("gateway.reports", gateway="bulksms") == 3
    assert page.one("gateway.recipients", gateway="bulksms", status="accepted") == METRICS.value(
        "smsgate.recipients", {"gateway": "bulksms", "status": "accepted"}
    )
    breaker = [f for f in page.found if f["metric"] == "gateway.breaker" and f.get("gateway") == "bulksms"]
    assert [b["text"] for b in breaker] == ["open"], "the circuit state the router published in the store"
    assert "last error: HTTP 503 while sending to [number]" in dom
    failing = ("rejected", "unknown", "undelivered", "expired")
    shown_errors = dom.count('class="error"')
    assert shown_errors == min(10, sum(store.counts(n).get(s, 0) for n in campaigns for s in failing))
    for number in numbers:
        assert number not in dom and number[1:] not in dom, "no recipient number on the page"
    assert TOKEN not in dom
