"""Campaigns: a CSV through the SerwerSMS emulator (personalised batches) and the SMSC emulator
(one request per message): rows per second per phase, peak RSS (flat from 100k to 1M rows?),
store bytes per row, and the time to resume a campaign stopped at 50%.

Run it from the repository root (figures printed, nothing asserted)::

    python -m benchmarks.campaign                   # 100k and 1M rows SerwerSMS, 100k SMSC
    python -m benchmarks.campaign --quick           # 10k and 50k SerwerSMS, 10k SMSC

Each run is a fresh worker process (``python -m benchmarks.campaign worker '{...}'``), so its
peak RSS is its own; the emulator runs in a process of its own (``benchmarks.servers``). The
store is SQLite with ``synchronous=NORMAL`` (every commit survives kill -9), in a temporary
directory.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.bulk import EMULATOR_KWARGS
from benchmarks.common import ROOT
from benchmarks.servers import EmulatorProcess

TEMPLATE = "Hi {first_name}, your parcel {parcel} is ready for pickup."


def write_input(path: Path, rows: int) -> None:
    """``rows`` rows, distinct numbers; one in five shares its text with others (grouped)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["phone", "first_name", "parcel"])
        for i in range(rows):
            shared = i % 5 == 0
            out.writerow([f"+48{500_000_000 + i}", "Ann" if shared else f"Name{i}", "P1" if shared else f"P{i}"])


def _rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One campaign run in this process; ``stop_at`` stops it after that share of rows."""
    from smsgate import connect
    from smsgate.campaign import Campaign, Progress
    from smsgate.store import open_store

    store = open_store(spec["store"])
    stop = threading.Event()
    first: list[float] = []
    stop_at = spec.get("stop_at")

    def progress(p: Progress) -> None:
        if not first:
            first.append(time.perf_counter())
        if stop_at is not None and p.settled_now >= stop_at * spec["rows"]:
            stop.set()

    figures: dict[str, Any] = {}
    with connect(spec["dsn"]) as gateway:
        campaign = Campaign(
            gateway, store, "bench", spec["source"], TEMPLATE, progress=progress, batch=spec.get("batch", True)
        )
        start = time.perf_counter()
        if spec.get("validate", True):
            summary = campaign.validate(quote=False)
            figures["validate_s"] = time.perf_counter() - start
            assert not summary.errors, summary.errors
        t = time.perf_counter()
        campaign.plan()
        figures["plan_s"] = time.perf_counter() - t
        t = time.perf_counter()
        counts = campaign.run(stop=stop)
        figures["send_s"] = time.perf_counter() - t
        figures["first_settled_s"] = (first[0] - start) if first else None
        figures["total_s"] = time.perf_counter() - start
    store.close()
    figures["counts"] = counts
    figures["rss_peak_mib"] = _rss_peak_mib()
    return figures


def _run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.campaign", "worker", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def _store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def measure(provider: str, rows: int, *, resume: bool, batch: bool) -> dict[str, Any]:
    """A full run of ``rows`` rows (``batch``: grouped and personalised requests, else one per
    message); with ``resume``, also a run stopped at 50% and resumed."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.csv"
        write_input(source, rows)
        out: dict[str, Any] = {"provider": provider, "rows": rows}
        with EmulatorProcess(provider, EMULATOR_KWARGS.get(provider)) as emulator:
            store = Path(tmp) / "full.db"
            spec = {"dsn": emulator.dsn(), "store": str(store), "source": str(source), "rows": rows, "batch": batch}
            full = _run_worker(spec)
            out.update(full)
            out["rows_per_s"] = rows / full["total_s"]
            out["send_rows_per_s"] = rows / full["send_s"]
            out["store_bytes_per_row"] = _store_bytes(store) / rows
            if resume:
                half = {**spec, "store": str(Path(tmp) / "half.db"), "stop_at": 0.5}
                stopped = _run_worker(half)
                again = _run_worker({**half, "stop_at": None, "validate": False})
                out["stopped_at"] = stopped["counts"]
                out["resume_first_settled_s"] = again["first_settled_s"]
                out["resume_total_s"] = again["total_s"]
                out["resumed_counts"] = again["counts"]
        return out


def main(argv: list[str]) -> None:
    if argv[:1] == ["worker"]:
        print(json.dumps(worker(json.loads(argv[1]))))
        return
    quick = "--quick" in argv
    runs = (
        [("serwersms", 10_000, False, True), ("serwersms", 50_000, True, True), ("smsc", 10_000, False, False)]
        if quick
        else [
            ("serwersms", 100_000, False, True),
            ("serwersms", 1_000_000, True, True),
            ("smsc", 100_000, True, False),
        ]
    )
    print(f"campaign benchmark, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(
        "provider   rows       total s  rows/s   send rows/s  peak RSS MiB  store B/row  resume: first row s, total s"
    )
    for provider, rows, resume, batch in runs:
        r = measure(provider, rows, resume=resume, batch=batch)
        resumed = f"{r['resume_first_settled_s']:.1f}, {r['resume_total_s']:.1f}" if resume else "-"
        print(
            f"{provider:<10} {rows:<10,} {r['total_s']:<8.1f} {r['rows_per_s']:<8,.0f} {r['send_rows_per_s']:<12,.0f} "
            f"{r['rss_peak_mib']:<13.0f} {r['store_bytes_per_row']:<12.0f} {resumed}"
        )
        print("  " + json.dumps({k: v for k, v in r.items() if k not in ("provider", "rows")}, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
