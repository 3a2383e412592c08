"""The code samples of README.md and docs/*.md, as data for tests/test_docs_samples.py.

Rules for authors:

- Every ```python block runs, in order, one namespace per file, against the emulators: a DSN
  literal on the ``default`` host (``"bulksms://user:secret@default?opt=1"``) is replaced by the
  DSN of that provider's running emulator (keeping its options), and ``$SMSGATE_DSN`` reaches
  the core's outbox emulator.
- A ```sh or ```console block runs only when ``<!-- run -->`` stands on the line before it: each
  command line runs in bash (``$DSN`` is set by a preceding ``smsgate emulate NAME`` line, which
  is started in the background) and must exit 0.
- A python block that cannot run says why on the line before it:
  ``<!-- not-run: a test module for your app's suite -->``.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
from ecosystem import ROOT

FENCE = re.compile(
    r"(?:^<!--\s*(?P<marker>run|not-run:[^>]*?)\s*-->[ \t]*\n)?^```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```",
    re.MULTILINE | re.DOTALL,
)
#: A DSN literal on the gateway's production host, in a python sample.
DSN_LITERAL = re.compile(
    r"""(?P<q>["'])(?P<scheme>[a-z][a-z0-9_]*)://[^"'\s]*@default(?:\?(?P<query>[^"'\s]*))?(?P=q)"""
)


@attrs.frozen
class Sample:
    path: Path
    line: int
    lang: str
    code: str
    marker: str | None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def not_run(self) -> str | None:
        """The reason a block is not run, or ``None``."""
        if self.marker and self.marker.startswith("not-run:"):
            return self.marker.partition(":")[2].strip()
        return None

    @property
    def runs(self) -> bool:
        if self.lang == "python":
            return self.not_run is None
        return self.lang in ("sh", "console", "bash") and self.marker == "run"


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def samples(path: Path) -> list[Sample]:
    text = path.read_text(encoding="utf-8")
    return [
        Sample(path, text.count("\n", 0, m.start("lang")) + 1, m["lang"], m["code"], m["marker"])
        for m in FENCE.finditer(text)
    ]


def all_samples() -> list[Sample]:
    return [s for path in documents() for s in samples(path)]


def counts() -> str:
    """One line for the test summary: what ran and what is marked not to run."""
    every = all_samples()
    python = [s for s in every if s.lang == "python"]
    shell = [s for s in every if s.lang in ("sh", "console", "bash")]
    ran_py = sum(s.runs for s in python)
    ran_sh = sum(s.runs for s in shell)
    skipped = [f"{s.id} ({s.not_run})" for s in python if not s.runs]
    text = f"docs samples: {ran_py} of {len(python)} python blocks run, {ran_sh} of {len(shell)} shell blocks run"
    return text + (f"; not run: {'; '.join(skipped)}" if skipped else "")
