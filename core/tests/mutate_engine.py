"""Mutation check of the simulation: put each fixed engine bug back and watch the simulation
catch it. Run by hand (minutes): ``python core/tests/mutate_engine.py [SCHEDULES]``.

Each mutant is a copy of ``core/src`` with one rule broken, put first on ``PYTHONPATH``; the
simulation must fail on every mutant and pass on the original.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "core" / "src"

#: name -> (file under smsgate/, original text, broken text)
MUTANTS: dict[str, tuple[str, str, str]] = {
    "5xx after processing retried as if nothing was taken (finding 3)": (
        "defaults.py",
        'return Classification(Verdict.AMBIGUOUS, retry_after, f"HTTP {status}: the gateway may have it")',
        'return Classification(Verdict.RETRY, retry_after, f"HTTP {status}")',
    ),
    "lookup while the first request may still be processed (finding 2)": (
        "rules.py",
        "return LookUp(max(0.0, ended + self.offer.lookup_delay - now))",
        "return LookUp(0.0)",
    ),
    "exhausted retries rejected although an attempt may have been taken (finding 3)": (
        "rules.py",
        "return self.unresolved(progress, now, Why.DOUBT_EXHAUSTED)\n        return Resend(wait)",
        "return Settle(Status.REJECTED, Why.EXHAUSTED)\n        return Resend(wait)",
    ),
    "resends past the de-dup window (finding 5)": (
        "rules.py",
        "return window is not None and when + self.guard < progress.started + window",
        "return window is not None",
    ),
    "a key reused for other content replayed (findings 6, 7)": (
        "journal.py",
        'if record.get("digest", digest) != digest:',
        "if False:",
    ),
    "an unreadable lookup reply read as 'has none' (finding 1)": (
        "builtin/outbox.py",
        "        if not isinstance(results, list):",
        "        if results is None:\n            results = []\n        if not isinstance(results, list):",
    ),
    "an interrupted send resent without de-dup (finding 8)": (
        "rules.py",
        "        if self.offer.dedup and self.in_window(progress, now):\n            return Resend(0.0)",
        "        return Resend(0.0)",
    ),
}


def run(pythonpath: Path | None, schedules: int) -> bool:
    env = dict(os.environ, SMSGATE_SIM_SCHEDULES=str(schedules))
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    tests = ["core/tests/test_simulation.py", "-q", "-x", "-p", "no:cacheprovider"]
    done = subprocess.run([sys.executable, "-m", "pytest", *tests], cwd=ROOT, env=env, capture_output=True)
    return done.returncode == 0


def main() -> int:
    schedules = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    ok = run(None, schedules)
    print(f"original: {'passes' if ok else 'FAILS'}")
    missed = 0
    for name, (path, before, after) in MUTANTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "src"
            shutil.copytree(SRC, copy)
            target = copy / "smsgate" / path
            text = target.read_text()
            assert before in text, f"mutant {name!r} no longer applies"
            target.write_text(text.replace(before, after, 1))
            caught = not run(copy, schedules)
        missed += not caught
        print(f"{'caught' if caught else 'MISSED'}: {name}")
    return 1 if missed or not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
