"""The receiver under load: delivery reports at a fixed rate from a loopback client against
``smsgate serve`` (waitress, SQLite store) in a child process.

    python benchmarks/inbound.py                       # 1,000 reports/s for 60 s
    python benchmarks/inbound.py --rate 500 --seconds 10

Each report is a distinct BulkSMS push (``batch_id`` = its number); resends are sent for one in
twenty, which must not be stored twice. Reported: the rate held (reports answered per second of
sending), latency percentiles (request written to reply read), statuses, and whether every report
is in the store exactly once. Bounded: the run stops at ``--seconds`` plus a 30 s grace, the
client sends at most ``rate x seconds`` reports, and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

TOKEN = "bench-token"
DSN = "bulksms://user:secret@default"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("smsgate serve did not start")


def run(rate: int, seconds: float, clients: int, threads: int) -> dict[str, object]:
    total = int(rate * seconds)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        port = _free_port()
        command = [
            sys.executable, "-m", "smsgate", "serve", "--gateway", f"bulk={DSN}", "--token", f"bulk={TOKEN}",
            "--port", str(port), "--store", str(db), "--threads", str(threads),
        ]  # fmt: skip
        log = (Path(tmp) / "serve.log").open("w")
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait(port, time.monotonic() + 30)
            latencies: list[float] = []
            statuses: Counter[int | str] = Counter()
            lock = threading.Lock()
            start = time.monotonic() + 0.5
            stop_at = start + seconds + 30

            def client(offset: int) -> None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                mine: list[float] = []
                seen: Counter[int | str] = Counter()
                for i in range(offset, total, clients):
                    due = start + i / rate
                    now = time.monotonic()
                    if now > stop_at:
                        break
                    if due > now:
                        time.sleep(due - now)
                    batch = i if i % 20 else max(0, i - 10)  # one in twenty resends an earlier report
                    path = f"/bulk/{TOKEN}/dlr?msisdn=447700900001&batch_id={1_000_000 + batch}&status=11"
                    t0 = time.perf_counter()
                    try:
                        conn.request("GET", path)
                        reply = conn.getresponse()
                        reply.read()
                        seen[reply.status] += 1
                    except (OSError, http.client.HTTPException) as exc:
                        seen[type(exc).__name__] += 1
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                        continue
                    mine.append(time.perf_counter() - t0)
                conn.close()
                with lock:
                    latencies.extend(mine)
                    statuses.update(seen)

            workers = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            elapsed = time.monotonic() - start
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
        queue_warnings = (Path(tmp) / "serve.log").read_text(errors="replace").count("Task queue depth")
        distinct = len({i if i % 20 else max(0, i - 10) for i in range(total)})
        with sqlite3.connect(db) as con:
            stored, unique = con.execute(
                "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM inbound_v1_reports WHERE gateway = 'bulk'"
            ).fetchone()
    answered = statuses.get(200, 0)
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 100 else [float("nan")] * 99
    return {
        "target": f"{rate}/s for {seconds:g} s ({total} requests, {distinct} distinct reports)",
        "held": f"{answered / elapsed:.0f}/s answered 200 over {elapsed:.1f} s",
        "latency_ms": {
            "p50": round(q[49] * 1000, 2),
            "p90": round(q[89] * 1000, 2),
            "p99": round(q[98] * 1000, 2),
            "max": round(max(latencies, default=0) * 1000, 2),
        },
        "statuses": dict(statuses),
        "server_queue_warnings": queue_warnings,
        "stored": stored,
        "exactly_once": stored == unique == distinct,
        "load": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000, help="reports per second (default 1000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send (default 60)")
    parser.add_argument("--clients", type=int, default=8, help="client connections (keep-alive)")
    parser.add_argument("--threads", type=int, default=4, help="server worker threads")
    args = parser.parse_args()
    for key, value in run(args.rate, args.seconds, args.clients, args.threads).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
