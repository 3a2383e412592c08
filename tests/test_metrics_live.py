"""Issue 19's done-when, over real processes: ``smsgate serve`` runs on a store, ``smsgate
campaign run`` sends a campaign from another process through the outbox emulator (20 ms per
reply, 20 messages a second: about three seconds), ``/metrics`` is scraped with urllib3 during
it, and its counters move; the last scrape equals ``smsgate campaign status --json``."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.store import STATES

ROWS = 60
TOKEN = "scrape-s3cret"
SAMPLE = re.compile(r"^([a-z_]+)(?:\{(.*)\})? ([0-9.e+-]+)$")


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, line
        labels = frozenset(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        found[(match.group(1), labels)] = float(match.group(3))
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """``smsgate serve`` on a fresh store, in its own process: (its URL, the store, the env)."""
    db = tmp_path / "smsgate.db"
    env = {**os.environ, "SMSGATE_STORE": str(db), "SMSGATE_METRICS_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    env.pop("SMSGATE_DSN", None)
    command = [sys.executable, "-m", "smsgate", "serve", "--gateway", "outbox=outbox://u:p@127.0.0.1:9?tls=false"]
    proc = subprocess.Popen(
        [*command, "--port", "0", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        url = None
        deadline = time.monotonic() + 10
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                break
            found = re.search(r"listening on (http://\S+)", line)
            url = found.group(1) if found else None
        assert url, f"serve did not start: {proc.stderr.read() if proc.poll() is not None and proc.stderr else ''}"
        yield url, db, env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_metrics_move_during_a_campaign_and_agree_with_the_store(
    served: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    started = time.monotonic()
    url, _, env = served
    source = tmp_path / "people.csv"
    source.write_text("phone,name\n" + "".join(f"+4850060{i:04d},P{i}\n" for i in range(ROWS)), encoding="utf-8")
    http = urllib3.PoolManager(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5.0, retries=False)

    def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        response = http.request("GET", f"{url}/metrics")
        assert response.status == 200, response.data[:200]
        return parse(response.data.decode())

    assert value(scrape(), "smsgate_store_up") == 1
    with OutboxEmulator(latency="20ms") as emulator:
        args = [str(source), "--gateway", emulator.dsn(), "--text", "Hi {name}", "--name", "live", "--yes"]
        run = subprocess.Popen(
            [sys.executable, "-m", "smsgate", "campaign", "run", *args, "--rate", "20/s", "--no-batch", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen: list[tuple[float, float]] = []  # (rows accepted, rows still planned), per scrape
        while run.poll() is None and time.monotonic() - started < 30:
            found = scrape()
            seen.append(
                (
                    value(found, "smsgate_store_recipients_total", gateway="outbox", outcome="accepted"),
                    value(found, "smsgate_campaign_recipients", campaign="live", state="planned"),
                )
            )
            time.sleep(0.25)
        out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err[-2000:]
    assert len(seen) >= 4, f"the campaign was too quick to watch: {seen}"
    accepted = [a for a, _ in seen]
    planned = [p for _, p in seen if p]
    assert accepted == sorted(accepted), f"a counter never goes back: {seen}"
    assert planned == sorted(planned, reverse=True) and len(set(planned)) >= 2, f"the progress gauge moves: {seen}"
    moves = sum(1 for a, b in itertools.pairwise(accepted) if b > a)
    assert moves >= 3 and 0 < accepted[len(accepted) // 2] < ROWS, f"the counters moved during the campaign: {seen}"

    final = scrape()
    status = subprocess.run(
        [sys.executable, "-m", "smsgate", "campaign", "status", "live", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    counts: dict[str, int] = json.loads(status.stdout)["counts"]
    assert sum(counts.values()) == ROWS and counts == json.loads(out)["counts"]
    for state in STATES:
        assert value(final, "smsgate_campaign_recipients", campaign="live", state=state) == counts.get(state, 0), state
    took = sum(counts.get(s, 0) for s in ("accepted", "scheduled", "delivered", "undelivered", "expired"))
    assert value(final, "smsgate_store_recipients_total", gateway="outbox", outcome="accepted") == took == ROWS
    assert value(final, "smsgate_campaign_rows", campaign="live") == ROWS
    assert len(emulator.messages) == ROWS
    elapsed = time.monotonic() - started
    print(f"{len(seen)} scrapes during the campaign; accepted per scrape {accepted}; {elapsed:.1f}s in all")
    assert elapsed < 20
