"""Run the benchmarks and write their figures with the machine they came from.

    python benchmarks/run.py                 # everything: writes benchmarks/RESULTS.md (~10 min + ~35 min latency)
    python benchmarks/run.py --quick         # a smoke run with small counts (~7 min)
    python benchmarks/run.py --only text     # one section (repeatable)
    python benchmarks/run.py --only latency --quick --merge   # splice one section into RESULTS.md

A full run (every section, not ``--quick``) writes ``benchmarks/RESULTS.md`` and refreshes the
summary in ``docs/benchmarks.md``; a partial run writes ``benchmarks/results-partial.md``
(ignored by git) unless ``--output`` says otherwise; ``--merge`` instead replaces the sections run
(and their summary rows) in ``benchmarks/RESULTS.md``, keeping the others. Every server is on 127.0.0.1 and is
stopped at the end; every loop is bounded in count and time. Nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks")]

from benchmarks import bulk, common, latency, overhead, peers, startup, text  # noqa: E402
from benchmarks.common import Section, Settings  # noqa: E402

SECTIONS: dict[str, Callable[[Settings], Section]] = {
    "overhead": overhead.run,
    "bulk": bulk.run,
    "text": text.run,
    "startup": startup.run,
    "peers": peers.run,
    "latency": latency.run,
}
DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only this section (repeatable)")
    parser.add_argument("--output", type=Path, help="where to write the Markdown results")
    parser.add_argument(
        "--latency-scale",
        nargs=3,
        type=int,
        metavar=("MESSAGES", "RECIPIENTS", "PEER_MESSAGES"),
        help="the realistic-latency section's size (full: 100000 1000000 2000, about 35 min)",
    )
    parser.add_argument(
        "--merge", action="store_true", help="replace the sections run (and their summary rows) in RESULTS.md"
    )
    return parser.parse_args(argv)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} minutes"


def _machine_table(loads: tuple[str, str]) -> common.Table:
    table = common.Table(["", ""])
    for key, value in common.machine():
        table.add(key, value)
    table.add("load average (1, 5, 15 min)", f"{loads[0]} at the start; {loads[1]} at the end")
    return table


def _markdown(sections: list[Section], machine: common.Table, command: str, seconds: float, failed: list[str]) -> str:
    parts = [
        "# Benchmark results",
        "",
        f"Produced by `{command}` in {_duration(seconds)}; see benchmarks/README.md for what each figure "
        "means. Other work may have run on the machine meanwhile (see the load averages): ratios measured side "
        "by side in one run are the figures to compare; absolute times are this machine's.",
        "",
        "## Machine",
        "",
        machine.markdown(),
        "",
        "## Summary",
        "",
        common.headline_table(sections).markdown(),
        "",
    ]
    if failed:
        parts += ["Sections that failed: " + ", ".join(failed) + ".", ""]
    parts += [s.markdown() for s in sections]
    return "\n".join(parts).rstrip() + "\n"


def _refresh_docs(sections: list[Section], machine: common.Table) -> None:
    if not DOCS.exists():
        return
    page = DOCS.read_text()
    if BEGIN not in page or END not in page:
        return
    rows = {row[0]: row[1] for row in machine.rows}
    python = rows.get("Python", "?").split(" (")[0]
    summary = "\n".join(
        [
            BEGIN,
            f"Measured {rows.get('date', '?')} on {rows.get('CPU', '?')}, {rows.get('RAM', '?')}, "
            f"{rows.get('OS', '?')}, {python}; smsgate {rows.get('smsgate', '?')}; load average "
            f"{rows.get('load average (1, 5, 15 min)', '?')}. "
            "Full tables: [benchmarks/RESULTS.md](../benchmarks/RESULTS.md).",
            "",
            common.headline_table(sections).markdown(),
            END,
        ]
    )
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOCS.write_text(head + summary + tail)


def _merge(path: Path, sections: list[Section], command: str, machine: common.Table) -> None:
    """Replace (or append) each section of ``sections`` in the Markdown at ``path``, and its rows
    of the summary table (those named as its headlines, or starting with its key), keeping the rest."""
    page = path.read_text()
    rows = {row[0]: row[1] for row in machine.rows}
    for section in sections:
        number = section.title.split(".", 1)[0]
        block = section.markdown().rstrip() + "\n"
        block = block.replace(
            "\n\n",
            f"\n\nMerged into this file by `{command} --merge` on {rows.get('date', '?')}, on {rows.get('CPU', '?')} "
            f"(load average {rows.get('load average (1, 5, 15 min)', '?')}; smsgate {rows.get('smsgate', '?')}); "
            "the other sections are from the run above.\n\n",
            1,
        )
        start = page.find(f"\n## {number}. ")
        if start < 0:
            page = page.rstrip() + "\n\n" + block
        else:
            ends = [i for i in (page.find("\n## ", start + 1), page.find("\n<!--", start + 1)) if i >= 0]
            end = min(ends) if ends else -1  # the next section, or another tool's marked block
            page = page[: start + 1] + block + ("\n" + page[end + 1 :] if end >= 0 else "")
        page = _merge_rows(page, "## Summary\n\n", section)
    path.write_text(page)
    if DOCS.exists() and BEGIN in (docs := DOCS.read_text()):  # the docs' summary too, saying so
        for section in sections:
            docs = _merge_rows(docs, "\n\n| figure |", section, "| figure |")
        head, marker, rest = docs.partition(BEGIN + "\n")
        line, newline, tail = rest.partition("\n")
        numbers = ", ".join(s.title.split(".", 1)[0] for s in sections)
        line = line.split(" Merged since:")[0] + (
            f" Merged since: section {numbers}, {rows.get('date', '?')} on {rows.get('CPU', '?')} "
            f"(smsgate {rows.get('smsgate', '?')})."
        )
        DOCS.write_text(head + marker + line + newline + tail)


def _merge_rows(page: str, anchor: str, section: Section, keep: str = "") -> str:
    """``page`` with the summary table after ``anchor`` holding ``section``'s headline rows in
    place of its old ones (the others kept); ``keep``: the end of ``anchor`` that is the table's."""
    head, marker, rest = page.partition(anchor)
    if not marker:
        return page
    table, sep, tail = (keep + rest).partition("\n\n")
    names = {h.name for h in section.headlines}
    kept = [
        line
        for line in table.splitlines()
        if not line.lower().startswith(f"| {section.key.lower()}") and line.split(" | ")[0][2:] not in names
    ]
    added = common.headline_table([section]).markdown().splitlines()[2:]
    return head + marker.removesuffix(keep) + "\n".join(kept + added) + sep + tail


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    for var in ("NO_PROXY", "no_proxy"):  # loopback only, whatever proxy the environment names
        os.environ[var] = ",".join(filter(None, [os.environ.get(var, ""), "127.0.0.1", "localhost"]))
    settings = Settings(quick=args.quick, latency_scale=tuple(args.latency_scale) if args.latency_scale else None)
    names = args.only or list(SECTIONS)
    full = not args.quick and not args.only
    output = args.output or (ROOT / "benchmarks" / ("RESULTS.md" if full else "results-partial.md"))
    command = (
        "python benchmarks/run.py"
        + (" --quick" if args.quick else "")
        + "".join(f" --only {n}" for n in names if args.only)
        + (" --latency-scale " + " ".join(map(str, args.latency_scale)) if args.latency_scale else "")
    )
    start_load = common.load()
    started = time.perf_counter()
    sections: list[Section] = []
    failed: list[str] = []
    for name in names:
        print(f"\n### {name} ...", flush=True)
        t0, load = time.perf_counter(), common.load()
        try:
            section = SECTIONS[name](settings)
        except Exception as exc:  # report the others; exit non-zero at the end
            traceback.print_exc()
            failed.append(name)
            section = Section(name, f"{name}: FAILED")
            section.note(f"{type(exc).__name__}: {exc}")
        section.seconds, section.load = time.perf_counter() - t0, load
        sections.append(section)
        print(section.text(), flush=True)
        print(f"({section.seconds:.0f} s)", flush=True)
    seconds = time.perf_counter() - started
    machine = _machine_table((start_load, common.load()))
    print("\n### summary")
    print(common.headline_table(sections).text())
    ran = {s.key: s for s in sections if s.key not in failed}
    if "latency" in ran and (full or args.merge):
        rows = {row[0]: row[1] for row in machine.rows}
        latency.write_docs(
            ran["latency"],
            f"Measured {rows.get('date', '?')} by `{command}` on {rows.get('CPU', '?')}; smsgate "
            f"{rows.get('smsgate', '?')}; load average {rows.get('load average (1, 5, 15 min)', '?')}.",
        )
    if args.merge:
        output = args.output or (ROOT / "benchmarks" / "RESULTS.md")
        _merge(output, [s for s in sections if s.key not in failed], command, machine)
        print(f"\nmerged into {output} ({_duration(seconds)})")
        return 1 if failed else 0
    output.write_text(_markdown(sections, machine, command, seconds, failed))
    print(f"\nwrote {output} ({_duration(seconds)})")
    if full and not failed:
        _refresh_docs(sections, machine)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
