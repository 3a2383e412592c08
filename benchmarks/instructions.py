"""Text analysis in instructions, not seconds: ``smsgate.text.analyse`` against ``smsutil.split``
on the samples of ``benchmarks/text.py``, counted by callgrind (valgrind), which the load of
other work on the machine does not change.

    python -m benchmarks.instructions [--calls 2000]

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


def instructions(sample: int, client: str, calls: int) -> int:
    """Instructions (callgrind's ``Collected``) of one child run."""
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            _CHILD,
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


def per_call(sample: int, client: str, calls: int) -> float:
    return (instructions(sample, client, calls) - instructions(sample, client, 0)) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
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
