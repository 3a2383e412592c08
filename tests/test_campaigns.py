"""Campaigns end to end through every shipped provider's emulator over loopback HTTP, and a
kill -9 in the middle of a campaign run by the CLI, then a resume: nothing sent twice, nothing
lost, ``unknown`` at most for the rows that were in flight."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ecosystem import PLUGINS

from smsgate import connect
from smsgate.campaign import Campaign
from smsgate.plugins import default_registry, emulator_class
from smsgate.store import iter_rows, open_store

NUMBER_FIELDS = ("to", "msisdn", "destination", "recipient", "phone")


def people(n: int, same_every: int = 3) -> list[dict[str, str]]:
    return [{"phone": f"+4850{i:07d}", "first_name": "Ann" if i % same_every == 0 else f"P{i}"} for i in range(n)]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def taken(emulator: Any) -> Counter[tuple[str, str]]:
    """(number's digits, text) -> how many times the emulator took it."""
    found = getattr(emulator, "messages", None)
    if found is None:
        found = emulator.account.messages
    items = list(found.values() if isinstance(found, dict) else found)
    out: Counter[tuple[str, str]] = Counter()
    for m in items:
        number = next(str(getattr(m, f)) for f in NUMBER_FIELDS if getattr(m, f, None))
        out[("".join(c for c in number if c.isdigit()), str(m.text))] += 1
    return out


@pytest.fixture(params=PLUGINS)
def emulator(request: pytest.FixtureRequest) -> Iterator[Any]:
    spec = default_registry().provider(request.param).spec
    with emulator_class(spec)() as emulator:
        emulator.provider = request.param
        yield emulator


def test_a_campaign_runs_through_each_emulator(emulator: Any, tmp_path: Path) -> None:
    rows = people(30)
    source = write_csv(tmp_path / "in.csv", rows)
    store = open_store(tmp_path / "store.db")
    with connect(emulator.dsn()) as gateway:
        campaign = Campaign(gateway, store, "e2e", source, "Hi {first_name}, your code is ready")
        summary = campaign.validate()
        assert summary.valid == 30 and not summary.errors, summary.errors
        counts = campaign.run()
    assert set(counts) <= {"accepted", "scheduled"} and sum(counts.values()) == 30, counts
    took = taken(emulator)
    expected = {(r["phone"].lstrip("+"), f"Hi {r['first_name']}, your code is ready") for r in rows}
    assert set(took) == expected and set(took.values()) == {1}
    assert all(r.gateway_id for r in iter_rows(store, "e2e"))
    store.close()


def _run(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "smsgate", "campaign", "run", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("provider", [p for p in PLUGINS if p != "serwersms"])
def test_kill_9_then_resume(provider: str, tmp_path: Path) -> None:
    """SerwerSMS is left out: resuming its in-flight requests waits out its 60 s lookup delay."""
    rng = random.Random(int(os.environ.get("SMSGATE_KILL_SEED", str(time.time_ns()))))
    rows = people(120)
    source = write_csv(tmp_path / "in.csv", rows)
    db = tmp_path / "store.db"
    spec = default_registry().provider(provider).spec
    env = {**os.environ, "SMSGATE_STORE": str(db)}
    with emulator_class(spec)(latency=0.01) as emulator:
        args = [str(source), "--gateway", emulator.dsn(), "--text", "Hi {first_name}", "--name", "k", "--yes"]
        proc = _run(args, env)
        point = rng.randint(1, 100)
        deadline = time.monotonic() + 60
        while sum(taken(emulator).values()) < point and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        store = open_store(db)
        in_flight = store.counts("k").get("sending", 0)
        store.close()
        resumed = _run(args, env)
        _, err = resumed.communicate(timeout=120)
        assert resumed.returncode in (0, 4), err
        store = open_store(db)
        counts = store.counts("k")
        final = {r.row: r for r in iter_rows(store, "k")}
        store.close()
        took = taken(emulator)
    where = f"{provider}: killed after {point} taken, {in_flight} in flight; {counts}"
    assert sum(counts.values()) == 120 and not counts.get("planned") and not counts.get("sending"), where
    assert counts.get("unknown", 0) <= in_flight, where
    for n, row in enumerate(rows, 1):
        times = took[(row["phone"].lstrip("+"), f"Hi {row['first_name']}")]
        state = final[n].state
        assert times <= 1, f"sent twice: row {n}; {where}"
        if state in ("accepted", "scheduled"):
            assert times == 1, f"row {n} accepted but never taken; {where}"
        elif state == "rejected":
            assert times == 0, f"row {n} rejected but taken; {where}"


class Killed(BaseException):
    """kill -9: nothing after this point runs."""


@pytest.mark.parametrize("provider", ["bulksms", "smsc"])
def test_an_interrupted_personalised_request_resumes_under_its_key(
    provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_csv(tmp_path / "in.csv", people(8, same_every=1000))  # every text its own
    store = open_store(tmp_path / "store.db")
    spec = default_registry().provider(provider).spec
    with emulator_class(spec)() as emulator:
        with connect(emulator.dsn()) as gateway:
            campaign = Campaign(gateway, store, "p", source, "Hi {first_name}")
            campaign.plan()
            unit = next(campaign._units())
            assert unit.kind == "p" and len(unit.entries) == 8

            def die(*_: object) -> None:
                raise Killed()

            monkeypatch.setattr(campaign.journal, "done", die)
            with pytest.raises(Killed):
                campaign._send(unit)
        assert store.counts("p") == {"sending": 8} and sum(taken(emulator).values()) == 8
        monkeypatch.undo()
        with connect(emulator.dsn()) as gateway:
            counts = Campaign(gateway, store, "p", source, "Hi {first_name}").run()
        assert counts == {"accepted": 8}, "resent under the de-dup key: the gateway replayed its reply"
        assert sum(taken(emulator).values()) == 8 and {r.attempts for r in iter_rows(store, "p")} == {2}
    store.close()
