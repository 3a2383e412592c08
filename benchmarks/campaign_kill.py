"""Campaigns under kill -9: one campaign per provider run by the CLI, killed with SIGKILL at
``--points`` random moments (each time restarted with the same command), then run to the end.
Counted per row at the emulator: duplicates (taken more than once), lost (not settled, or
accepted but never taken, or rejected but taken), ``unknown`` rows, and the rows that were in
flight at the kills (the bound for ``unknown``). Figures printed, nothing asserted::

    python -m benchmarks.campaign_kill                       # 2,000 rows, 20 kills, 4 providers
    python -m benchmarks.campaign_kill --rows 500 --points 5 --providers smsc,bulksms

SerwerSMS is left out by default: a resumed request is looked up only after its 60 s lookup
delay, so 20 kills take 20 minutes (``--providers serwersms`` runs it anyway).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

TEXT = "Hi {first_name}"
NUMBER_FIELDS = ("to", "msisdn", "destination", "recipient", "phone")


def taken(emulator: Any) -> Counter[tuple[str, str]]:
    found = getattr(emulator, "messages", None)
    if found is None:
        found = emulator.account.messages
    items = list(found.values() if isinstance(found, dict) else found)
    out: Counter[tuple[str, str]] = Counter()
    for m in items:
        number = next(str(getattr(m, f)) for f in NUMBER_FIELDS if getattr(m, f, None))
        out[("".join(c for c in number if c.isdigit()), str(m.text))] += 1
    return out


def one(provider: str, rows: int, points: int, rng: random.Random) -> dict[str, Any]:
    from smsgate.plugins import default_registry, emulator_class
    from smsgate.store import iter_rows, open_store

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.csv"
        people = [(f"+48{500_000_000 + i}", "Ann" if i % 4 == 0 else f"P{i}") for i in range(rows)]
        with source.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["phone", "first_name"])
            out.writerows(people)
        db = Path(tmp) / "store.db"
        env = {**os.environ, "SMSGATE_STORE": str(db)}
        spec = default_registry().provider(provider).spec
        kwargs: dict[str, Any] = {"balance": "1000000000"} if provider == "smsc" else {"credit": "1000000000"}
        if provider == "serwersms":
            kwargs = {"eco": 10**9, "full": 10**9}
        in_flight = kills = 0
        started = time.monotonic()
        with emulator_class(spec)(latency=0.005, **kwargs) as emulator:
            argv = [sys.executable, "-m", "smsgate", "campaign", "run", str(source), "--gateway", emulator.dsn()]
            argv += ["--text", TEXT, "--name", "k", "--yes"]
            for _ in range(points):
                before = sum(taken(emulator).values())
                if before >= rows:
                    break
                proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                target = before + rng.randint(1, max(1, (rows - before) // 4))
                deadline = time.monotonic() + 120
                while sum(taken(emulator).values()) < target and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.001)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                store = open_store(db)
                in_flight += store.counts("k").get("sending", 0)
                store.close()
            final = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800, check=False)
            store = open_store(db)
            states = {r.row: r.state for r in iter_rows(store, "k")}
            counts = store.counts("k")
            store.close()
            took = taken(emulator)
        duplicates = lost = 0
        for n, (phone, name) in enumerate(people, 1):
            times = took[(phone.lstrip("+"), f"Hi {name}")]
            state = states.get(n, "missing")
            duplicates += times > 1
            lost += (
                state in ("missing", "planned", "sending")
                or (state in ("accepted", "scheduled") and times == 0)
                or (state == "rejected" and times > 0)
            )
        return {
            "provider": provider,
            "rows": rows,
            "kills": kills,
            "duplicates": duplicates,
            "lost": lost,
            "unknown": counts.get("unknown", 0),
            "in_flight": in_flight,
            "counts": counts,
            "exit": final.returncode,
            "seconds": time.monotonic() - started,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--providers", default="bulksms,octopush,routesms,smsc")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print("provider   rows   kills  duplicates  lost  unknown  in flight at kills  seconds  final counts")
    for provider in args.providers.split(","):
        r = one(provider, args.rows, args.points, rng)
        print(
            f"{provider:<10} {r['rows']:<6} {r['kills']:<6} {r['duplicates']:<11} {r['lost']:<5} {r['unknown']:<8} "
            f"{r['in_flight']:<19} {r['seconds']:<8.1f} {r['counts']}"
        )


if __name__ == "__main__":
    main()
