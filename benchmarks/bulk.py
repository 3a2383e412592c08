"""2. Bulk: many recipients through a batching gateway (SerwerSMS, 200 numbers a request) and
through a one-message-per-request gateway (SMSC, one recipient per message), against their
emulators: recipients per second, requests per second, peak memory.

Each run is a fresh worker process (``python -m benchmarks.bulk '{...}'``), so that its peak
RSS is its own; the emulator runs in a process of its own too. Memory is measured twice: the
rise of peak RSS over the worker's RSS once connected (a run at full speed), and, in a second
run, tracemalloc's peak of Python allocations (slower, so its rate is not reported).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

from benchmarks.common import ROOT, Headline, Section, Settings, Table, fmt
from benchmarks.servers import EmulatorProcess

TEXT = "Bulk benchmark: your code is 1234. Reply STOP to opt out."
BATCH = 200


def numbers(n: int, offset: int = 0) -> Iterator[str]:
    for i in range(offset, offset + n):
        yield f"+48{500_000_000 + i}"


# -- the worker ---------------------------------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() // 1024


def work(case: str, dsn: str, n: int, trace: bool, offset: int) -> dict[str, Any]:
    """Send ``n`` recipients as ``case`` says; returns counters, times and memory."""
    import smsgate

    gateway = smsgate.connect(dsn)
    warm = 4 if case == "one-per-request" else 0  # open the pool's connections outside the count
    list(gateway.send_many(smsgate.Message(to=r, text=TEXT) for r in numbers(warm, offset + n)))
    base = _rss_kib()
    if trace:
        tracemalloc.start()
    accepted = other = requests = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if case == "one-message":
        result = gateway.send(smsgate.Message(to=list(numbers(n, offset)), text=TEXT))
        accepted = sum(1 for o in result.outcomes if o.ok)
        other, requests = len(result.outcomes) - accepted, result.requests
        del result
    else:
        if case == "send-many-batches":
            msgs = (smsgate.Message(to=list(numbers(BATCH, offset + i)), text=TEXT) for i in range(0, n, BATCH))
        else:
            msgs = (smsgate.Message(to=r, text=TEXT) for r in numbers(n, offset))
        for result in gateway.send_many(msgs):
            ok = sum(1 for o in result.outcomes if o.ok)
            accepted += ok
            other += len(result.outcomes) - ok
            requests += result.requests
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    traced = tracemalloc.get_traced_memory()[1] if trace else 0
    gateway.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "accepted": accepted,
        "other": other,
        "requests": requests,
        "warmup_requests": warm,
        "wall": wall,
        "cpu": cpu,
        "rss_rise_kib": max(0, peak - base),
        "traced_peak": traced,
    }


def _worker(case: str, dsn: str, n: int, trace: bool, offset: int, timeout: float) -> dict[str, Any]:
    spec = json.dumps({"case": case, "dsn": dsn, "n": n, "trace": trace, "offset": offset})
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bulk", spec],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bulk worker {case} n={n} failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- the section --------------------------------------------------------------------------------

CASES = [
    # (label, emulator, case)
    ("SerwerSMS: one Message, N recipients (send)", "serwersms", "one-message"),
    ("SerwerSMS: N/200 Messages of 200 (send_many)", "serwersms", "send-many-batches"),
    ("SMSC: N Messages of 1 recipient (send_many)", "smsc", "one-per-request"),
]
EMULATOR_KWARGS: dict[str, dict[str, Any]] = {
    "serwersms": {"eco": 10**9, "full": 10**9},
    "smsc": {"balance": "1000000000"},
}


def sizes(settings: Settings, emulator: str) -> list[int]:
    if settings.quick:
        return [2_000, 10_000] if emulator == "serwersms" else [500, 2_000]
    return [10_000, 100_000] if emulator == "serwersms" else [10_000, 30_000]


def run(settings: Settings) -> Section:
    section = Section("bulk", "2. Bulk: batching vs one message per request")
    table = Table(
        [
            "case",
            "recipients",
            "accepted",
            "requests",
            "wall s",
            "recipients/s",
            "requests/s",
            "client CPU s",
            "client CPU µs/recipient",
            "server CPU s",
            "peak RSS rise MiB",
            "traced peak MiB",
            "traced B/recipient",
        ],
        caption="Each run in a fresh worker process against its emulator in another process:",
    )
    offset = 0
    flat: dict[str, tuple[float, float]] = {}
    for label, emulator, case in CASES:
        with EmulatorProcess(emulator, EMULATOR_KWARGS[emulator]) as emu:
            for n in sizes(settings, emulator):
                before = emu.stats()
                r = _worker(case, emu.dsn(), n, False, offset, timeout=600)
                after = emu.stats()
                offset += n + 10
                t = _worker(case, emu.dsn(), n, True, offset, timeout=600)
                offset += n + 10
                served = after["requests"] - before["requests"] - r["warmup_requests"]
                table.add(
                    label,
                    f"{n:,}",
                    f"{r['accepted']:,}",
                    f"{served:,}",
                    fmt(r["wall"], 2),
                    fmt(n / r["wall"], 0),
                    fmt(served / r["wall"], 0),
                    fmt(r["cpu"], 2),
                    fmt(r["cpu"] / n * 1e6, 0),
                    fmt(after["cpu"] - before["cpu"], 2),
                    fmt(r["rss_rise_kib"] / 1024, 1),
                    fmt(t["traced_peak"] / 2**20, 1),
                    fmt(t["traced_peak"] / n, 0),
                )
                if r["accepted"] != n:
                    section.note(f"{label}, {n:,}: only {r['accepted']:,} of {n:,} accepted ({r['other']:,} other).")
                flat.setdefault(label, (t["traced_peak"], float(n)))
                first_peak, first_n = flat[label]
                if n == first_n:
                    continue
                growth = t["traced_peak"] / max(first_peak, 1)
                scale = f"{int(first_n):,} → {n:,}"
                if "send_many" in label:
                    section.headlines.append(
                        Headline(
                            f"bulk memory, {label}, {scale}",
                            f"{growth:.2f}× for {n / first_n:.0f}× the recipients",
                            "flat",
                            growth < 1.5,
                        )
                    )
                else:
                    section.headlines.append(
                        Headline(
                            f"bulk memory, {label}, {scale}",
                            f"{t['traced_peak'] / n:,.0f} B/recipient at {n:,}",
                            "linear by design",
                        )
                    )
                section.headlines.append(
                    Headline(
                        f"bulk rate, {label}, {n:,}",
                        f"{n / r['wall']:,.0f} recipients/s, {served / r['wall']:,.0f} requests/s",
                    )
                )
    section.tables.append(table)
    section.note(
        "`one Message, N recipients` holds the whole message, its plan (one item per recipient), every request "
        "and one outcome per recipient at once: its memory grows with N by design; bytes per recipient is the figure "
        "to watch there. `send_many` streams: messages come from a generator and results are dropped as they are "
        "counted, so its memory should stay flat."
    )
    section.note(
        "Server CPU is the emulator's process (Python `http.server`, one thread per connection): where it is close "
        "to wall time, the emulator, not smsgate, bounds the rate."
    )
    if not settings.quick:
        section.note("SMSC one-per-request runs stop at 30,000 messages to keep the suite under 15 minutes on 2 cores.")
    return section


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    print(json.dumps(work(spec["case"], spec["dsn"], int(spec["n"]), bool(spec["trace"]), int(spec["offset"]))))
