"""What every benchmark shares: the run's settings, bounded loops, result tables, the machine."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Settings:
    """How big a run is: ``quick`` is a smoke run of well under a minute per section."""

    quick: bool = False
    #: the realistic-latency section's scale, when set (``run.py --latency-scale``): messages per
    #: smsgate run, SerwerSMS recipients, messages per peer run
    latency_scale: tuple[int, int, int] | None = None

    def pick(self, full: int, quick: int) -> int:
        return quick if self.quick else full


# -- results ----------------------------------------------------------------------------------


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def text(self) -> str:
        widths = [
            max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h) for i, h in enumerate(self.headers)
        ]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        out = [fmt.format(*self.headers), fmt.format(*("-" * w for w in widths))]
        out += [fmt.format(*row) for row in self.rows]
        return "\n".join(out)


@dataclass
class Headline:
    """One figure for the summary: a ratio or rate, its goal, and whether the goal was met."""

    name: str
    value: str
    goal: str = ""
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "**not met**")


@dataclass
class Section:
    key: str
    title: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    headlines: list[Headline] = field(default_factory=list)
    seconds: float = 0.0
    load: str = ""

    def note(self, text: str) -> None:
        self.notes.append(text)

    def markdown(self) -> str:
        parts = [f"## {self.title}", ""]
        for table in self.tables:
            if table.caption:
                parts += [table.caption, ""]
            parts += [table.markdown(), ""]
        parts += [f"- {n}" for n in self.notes]
        parts += [
            "",
            f"_Section time: {self.seconds:.0f} s; load average (1, 5, 15 min) at its start: {self.load}._",
            "",
        ]
        return "\n".join(parts)

    def text(self) -> str:
        parts = [f"== {self.title}"]
        for table in self.tables:
            if table.caption:
                parts.append(table.caption)
            parts += [table.text(), ""]
        parts += [f"* {n}" for n in self.notes]
        return "\n".join(parts)


def headline_table(sections: Iterable[Section]) -> Table:
    table = Table(["figure", "value", "goal", "verdict"])
    for section in sections:
        for h in section.headlines:
            table.add(h.name, h.value, h.goal, h.verdict)
    return table


# -- timing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """``count`` operations in ``wall`` seconds of elapsed time and ``cpu`` seconds of this
    process's CPU time (every thread)."""

    count: int
    wall: float
    cpu: float

    @property
    def wall_us(self) -> float:
        return self.wall / max(self.count, 1) * 1e6

    @property
    def cpu_us(self) -> float:
        return self.cpu / max(self.count, 1) * 1e6

    @property
    def rate(self) -> float:
        return self.count / self.wall if self.wall > 0 else 0.0


def timed_loop(items: Sequence[object], step: Callable[[object], object], budget: float) -> Timing:
    """Run ``step`` over ``items`` (bounded by their count) until done or ``budget`` seconds pass."""
    deadline = time.perf_counter() + budget
    done = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for item in items:
        step(item)
        done += 1
        if time.perf_counter() > deadline:
            break
    return Timing(done, time.perf_counter() - wall0, time.process_time() - cpu0)


def per_call_us(fn: Callable[[], object], *, budget: float = 0.3, max_calls: int = 200_000) -> float:
    """Microseconds per call of ``fn``: the best of 5 batches, each bounded by count and time."""
    calls = 1
    while calls < max_calls:  # grow the batch until it takes ~1/10 of the budget
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start > budget / 10:
            break
        calls *= 4
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "n/a"


# -- the machine ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def _os() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))} (Linux {platform.release()})"
    except OSError:
        pass
    return platform.platform()


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "?"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def cpu_ticks() -> tuple[int, int] | None:
    """(steal, total) clock ticks of every CPU so far, from ``/proc/stat``; ``None`` elsewhere.
    Steal is time the hypervisor gave this virtual machine's CPUs to others."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7], sum(fields[:8])) if len(fields) >= 8 else None


def steal(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of CPU time stolen between two :func:`cpu_ticks` readings (``None``: unknown)."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def machine() -> list[tuple[str, str]]:
    commit = _git("rev-parse", "--short", "HEAD") or "?"
    if _git("status", "--porcelain", "--", "core", "plugins"):
        commit += " (core or plugins modified since)"
    plugins = ", ".join(
        f"{name} {version('smsgate-' + name)}" for name in ("bulksms", "serwersms", "routesms", "smsc", "octopush")
    )
    peers = ", ".join(f"{name} {version(name)}" for name in ("smsutil", "apprise", "octopush", "urllib3", "requests"))
    return [
        ("date", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} logical cores"),
        ("RAM", _ram()),
        ("OS", _os()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"),
        ("smsgate", f"{version('smsgate')}, commit {commit}"),
        ("plugins", plugins),
        ("peers and libraries", peers),
    ]
