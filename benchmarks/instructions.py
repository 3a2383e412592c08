"""Instructions, not seconds, counted by callgrind (valgrind), which neither the load of other
work on the machine nor the host's speed changes:

- text analysis: ``smsgate.text.analyse`` against ``smsutil.split`` on the samples of
  ``benchmarks/text.py``;
- overhead (``--overhead``): one ``Gateway.send`` of a one-recipient message against the plain
  urllib3 loop of ``benchmarks/overhead.py`` sending the same request, and against a plain
  ``http.client`` loop (the floor for a Python client: no pool, no checks), to nginx (or,
  without it, the outbox emulator in its own process; only this process is counted).

    python -m benchmarks.instructions [--calls 2000]
    python -m benchmarks.instructions --overhead [--calls 300]

For each sample and client, two runs under ``valgrind --tool=callgrind``: the call made once,
then ``1 + calls`` times; the difference over ``calls`` is the instructions per call (start-up
and imports cancel out: the hash seed is fixed, and a first run writes the bytecode caches).
Slow (about 15 s a run): not part of ``run.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

from benchmarks.common import ROOT, Table
from benchmarks.text import SAMPLES

_CHILD = """
import sys
from benchmarks.text import SAMPLES
text = SAMPLES[int(sys.argv[1])][1]
if sys.argv[2] == "smsgate":
    from smsgate.text import analyse as f
else:
    from smsutil import split as f
f(text)
for _ in range(int(sys.argv[3])):
    f(text)
"""


_SENDS = """
import sys, json
from benchmarks.overhead import Plain, PlainHttpClient, messages
import smsgate
dsn, client, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
gateway = smsgate.connect(dsn)
batch = messages("i", 1002)  # the same setup in every run: it cancels out
if client == "plain":
    items, send = [gateway.preview(m, redact=False)[0] for m in batch], Plain().send
elif client == "httpclient":
    items, send = [gateway.preview(m, redact=False)[0] for m in batch], PlainHttpClient().send
elif client == "transport":
    items, send = [gateway.preview(m, redact=False)[0] for m in batch], gateway.transport.send
else:
    items, send = batch, gateway.send
for item in items[: 2 + calls]:
    send(item)
"""


def instructions(sample: int | str, client: str, calls: int, child: str = _CHILD) -> int:
    """Instructions (callgrind's ``Collected``) of one child run."""
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            child,
            str(sample),
            client,
            str(calls),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # the same start-up work in both runs: it cancels out
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise RuntimeError(f"callgrind gave no count: {proc.stderr[-500:]}")
    return int(found.group(1))


def per_call(sample: int | str, client: str, calls: int, child: str = _CHILD) -> float:
    return (instructions(sample, client, calls, child) - instructions(sample, client, 0, child)) / calls


def overhead(calls: int) -> Table:
    """Instructions per send: the plain loop, smsgate's transport alone, ``Gateway.send``."""
    from benchmarks.overhead import _server
    from benchmarks.servers import nginx_binary

    table = Table(["client (one-recipient sends, same server)", "instructions per send", "÷ plain urllib3"])
    kind = "nginx" if nginx_binary() else "emulator"
    with _server(kind) as dsn:
        instructions(dsn, "gateway", 0, _SENDS)  # bytecode caches written: not counted in a baseline run
        per_client = {c: per_call(dsn, c, calls, _SENDS) for c in ("plain", "httpclient", "transport", "gateway")}
    labels = {
        "plain": "plain urllib3 loop",
        "httpclient": "plain http.client loop (the leanest stdlib client)",
        "transport": "smsgate Transport.send",
        "gateway": "Gateway.send",
    }
    for client, value in per_client.items():
        table.add(f"{labels[client]} ({kind})", f"{value:,.0f}", f"{value / per_client['plain']:.2f}×")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--overhead", action="store_true", help="Gateway.send vs the plain urllib3 loop")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    if args.overhead:
        print(overhead(min(args.calls, 1000)).markdown())
        return 0
    instructions(0, "smsgate", 0), instructions(0, "smsutil", 0)  # bytecode caches written
    table = Table(["text", "smsgate analyse instructions", "smsutil split instructions", "smsutil / analyse"])
    for i, (label, _) in enumerate(SAMPLES):
        ours, theirs = per_call(i, "smsgate", args.calls), per_call(i, "smsutil", args.calls)
        table.add(label, f"{ours:,.0f}", f"{theirs:,.0f}", f"{theirs / ours:.1f}×")
        print(table.rows[-1], flush=True)
    print(table.markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
