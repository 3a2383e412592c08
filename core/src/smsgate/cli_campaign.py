"""``smsgate campaign``: run, status, report, list, refresh (see docs/campaigns.md).

``run`` validates every row and prints a summary first; it sends only with ``--yes`` (or a
``y`` typed at a terminal). Exit codes are the CLI's (``smsgate --help``), plus 130 when Ctrl-C
stopped a run: in-flight requests finished and were recorded; run the same command again to
continue.
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from smsgate.campaign import Progress, Summary
    from smsgate.store import Store

EXIT_STOPPED = 130
REPORT_COLUMNS = (
    "row",
    "recipient",
    "state",
    "gateway_id",
    "code",
    "reason",
    "attempts",
    "key",
    "sent_at",
    "settled_at",
    "delivered_at",
)


def add_parser(sub: Any) -> None:
    """Register ``campaign`` and its subcommands on the CLI's subparsers."""
    campaign = sub.add_parser("campaign", help="send a file of personalised messages; resume, track, report")
    actions = campaign.add_subparsers(
        dest="campaign_command", required=True, metavar="ACTION", help="run, status, report, list or refresh"
    )
    json_help = "machine-readable JSON output"
    store_help = "the store (SQLite file; default: $SMSGATE_STORE or ~/.local/share/smsgate/smsgate.db)"
    gateway_help = "a gateway named in smsgate.toml, or a DSN (default: $SMSGATE_DSN)"

    run = actions.add_parser("run", help="validate FILE, show a summary, then send (with --yes)")
    run.add_argument("file", metavar="FILE", help="CSV with a header row, or JSON lines (.jsonl)")
    run.add_argument("--gateway", "--dsn", dest="gateway", help=gateway_help)
    text = run.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help='the template, e.g. "Hi {first_name}, ..." (columns in braces)')
    text.add_argument("--template-file", metavar="PATH", help="read the template from a UTF-8 file")
    run.add_argument("--name", help="the campaign's name (default: from the file, template and gateway)")
    run.add_argument("--store", metavar="PATH", help=store_help)
    run.add_argument("--to-column", metavar="COLUMN", help="the column with the number (default: phone, to, ...)")
    run.add_argument("--sender", help="sender name or number (a 'sender' column overrides it per row)")
    run.add_argument("--at", metavar="WHEN", help="schedule every row (ISO 8601 with offset); or a send_at column")
    run.add_argument("--rate", metavar="N/s", help="at most N messages per second (N/min, N/h also)")
    run.add_argument("--rate-unit", choices=("message", "request"), default="message", help="what --rate counts")
    run.add_argument("--no-batch", action="store_true", help="one request per message (no grouping)")
    run.add_argument("--yes", "-y", action="store_true", help="send without asking")
    run.add_argument("--dry-run", action="store_true", help="validate and summarise only")
    run.add_argument("--skip-invalid", action="store_true", help="send the valid rows; record the others rejected")
    run.add_argument("--max-errors", type=int, default=10, metavar="N", help="errors to show (default 10)")
    run.add_argument("--json", action="store_true", help=json_help)
    run.add_argument(
        "--engine",
        default="local",
        help="local: send from this process (default); celery: plan and enqueue for the workers "
        "(python -m pip install smsgate-celery; needs --store postgresql://...)",
    )

    for name, text_help in (
        ("status", "rows per state of a campaign"),
        ("report", "one line per row with its outcome"),
        ("refresh", "pull delivery statuses from the gateway into the store"),
    ):
        action = actions.add_parser(name, help=text_help)
        action.add_argument("name", metavar="NAME", help="the campaign's name (see `smsgate campaign list`)")
        action.add_argument("--store", metavar="PATH", help=store_help)
        if name == "report":
            action.add_argument("--format", choices=("csv", "json"), default="csv", help="csv, or JSON lines")
        else:
            action.add_argument("--json", action="store_true", help=json_help)
        if name == "refresh":
            action.add_argument("--gateway", "--dsn", dest="gateway", help=gateway_help)
    listing = actions.add_parser("list", help="the campaigns in the store")
    listing.add_argument("--store", metavar="PATH", help=store_help)
    listing.add_argument("--json", action="store_true", help=json_help)


def main(args: argparse.Namespace, out: TextIO) -> int:
    from smsgate.store import open_store

    store = open_store(args.store)
    try:
        action = args.campaign_command
        if action == "run":
            return _run(args, store, out)
        if action == "status":
            return _status(args, store, out)
        if action == "report":
            return _report(args, store, out)
        if action == "refresh":
            return _refresh(args, store, out)
        return _list(args, store, out)
    finally:
        store.close()


def _note(text: str) -> None:
    sys.stderr.write(f"smsgate: {text}\n")


def _dump(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


# -- run ------------------------------------------------------------------------------------------


def _template(args: argparse.Namespace) -> str:
    from smsgate.errors import ConfigurationError

    if args.template_file is None:
        return str(args.text)
    try:
        text = Path(args.template_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read --template-file {args.template_file!r}: {exc}") from None
    return text[:-1] if text.endswith("\n") else text


def _run(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    from smsgate import cli
    from smsgate.campaign import Campaign
    from smsgate.journal import Journal
    from smsgate.ratelimit import Rate

    when = cli._at(args.at) if args.at else None
    rate = Rate.parse(args.rate, args.rate_unit) if args.rate else None
    gateway, _ = cli._connect(args.gateway, (), Journal.on(store))
    from smsgate import suppression

    in_store = suppression.in_store(store)  # opt-outs received by `smsgate serve` into this store
    if in_store is not None:
        gateway.suppressed = in_store
    with gateway:
        shown = args.gateway if args.gateway and "://" not in args.gateway else gateway.name
        campaign = Campaign(
            gateway,
            store,
            args.name,
            args.file,
            _template(args),
            gateway_name=shown,
            to_column=args.to_column,
            sender=args.sender,
            send_at=when,
            rate=rate,
            skip_invalid=args.skip_invalid,
            batch=not args.no_batch,
        )
        summary = campaign.validate(max_errors=args.max_errors)
        if not args.json:
            out.write(_summary_text(campaign.name, gateway.name, summary) + "\n")
        code: int | None = None
        if summary.errors and not args.skip_invalid:
            _note(f"{summary.invalid} invalid row(s): nothing sent (fix them, or --skip-invalid)")
            code = cli.EXIT_USAGE
        elif args.dry_run:
            code = cli.EXIT_OK
        elif not args.yes and not _confirm(summary, gateway.name):
            _note("nothing sent: add --yes to send")
            code = cli.EXIT_USAGE
        if code is not None:
            if args.json:
                _dump({"campaign": campaign.name, "summary": _summary_json(summary), "sent": False}, out)
            return code
        if args.engine != "local":
            counts = _engine(args.engine)(campaign)
            if args.json:
                _dump({"campaign": campaign.name, "engine": args.engine, "counts": counts}, out)
            else:
                out.write(
                    f"campaign {campaign.name}: enqueued ({_counts_text(counts)}); "
                    f"follow it: smsgate campaign status {campaign.name}\n"
                )
            return cli.EXIT_OK
        stop = threading.Event()
        with _on_interrupt(stop), _progress_display(args.json, out) as show:
            campaign.progress = show
            counts = campaign.run(stop=stop)
    if args.json:
        _dump({"campaign": campaign.name, "summary": _summary_json(summary), "counts": counts}, out)
    else:
        out.write(f"campaign {campaign.name}: " + _counts_text(counts) + "\n")
    if counts.get("planned") or counts.get("sending"):
        _note(f"stopped: run the same command again to continue campaign {campaign.name}")
        return EXIT_STOPPED
    if counts.get("unknown"):
        return cli.EXIT_UNKNOWN
    if counts.get("rejected"):
        return cli.EXIT_REJECTED
    return cli.EXIT_OK


def _engine(name: str) -> Callable[..., dict[str, int]]:
    """A campaign engine from the entry-point group ``smsgate.campaign_engines`` (smsgate-celery
    registers ``celery``): called with the validated ``Campaign``, it plans and enqueues it."""
    from importlib.metadata import entry_points

    from smsgate.errors import ConfigurationError

    found = {ep.name: ep for ep in entry_points(group="smsgate.campaign_engines")}
    if name not in found:
        known = ", ".join(["local", *sorted(found)])
        raise ConfigurationError(
            f"no campaign engine {name!r} (installed: {known}); python -m pip install smsgate-{name}"
        )
    engine: Callable[..., dict[str, int]] = found[name].load()
    return engine


def _confirm(summary: Summary, gateway: str) -> bool:
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    sys.stderr.write(f"Send {summary.valid} message(s) through {gateway}? [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


@contextmanager
def _on_interrupt(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C (or SIGTERM) stops the run cleanly; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        _note("stopping: waiting for the requests in flight (Ctrl-C again to abort)")

    previous = {sig: signal.signal(sig, first) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "rows": summary.rows,
        "valid": summary.valid,
        "invalid": summary.invalid,
        "parts": summary.parts,
        "encodings": summary.encodings,
        "scheduled": summary.scheduled,
        "errors": [{"row": row, "reason": reason} for row, reason in summary.errors],
        "estimated_cost": None if summary.cost is None else str(summary.cost),
        "cost_unit": summary.cost_unit,
    }


def _summary_text(name: str, gateway: str, s: Summary) -> str:
    lines = [
        f"campaign {name} through {gateway}",
        f"  rows {s.rows}: {s.valid} valid, {s.invalid} invalid",
        f"  recipients {s.valid}, parts {s.parts}, encodings "
        + (", ".join(f"{k} {v}" for k, v in sorted(s.encodings.items())) or "none"),
    ]
    if s.scheduled:
        lines.append(f"  scheduled {s.scheduled}")
    if s.cost is not None:
        lines.append(f"  estimated cost {s.cost}" + (f" {s.cost_unit}" if s.cost_unit else ""))
    for row, reason in s.errors:
        lines.append(f"  row {row}: {reason}")
    if s.invalid > len(s.errors):
        lines.append(f"  ... and {s.invalid - len(s.errors)} more invalid row(s)")
    return "\n".join(lines)


def _counts_text(counts: dict[str, int]) -> str:
    from smsgate.store import STATES

    return ", ".join(f"{counts[s]} {s}" for s in STATES if counts.get(s)) or "no rows"


@contextmanager
def _progress_display(quiet: bool, out: TextIO) -> Iterator[Callable[[Progress], None]]:
    """A Rich progress bar on a terminal (with ``smsgate[cli]``), plain lines every few
    seconds otherwise (on stderr), nothing with ``--json``."""
    if quiet:
        yield lambda _: None
        return
    if sys.stderr.isatty():
        try:
            import rich.progress  # noqa: F401
        except ImportError:
            pass
        else:
            with _rich_progress() as show:
                yield show
            return
    last = [0.0]

    def plain(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] < 5.0 and not p.stopping and p.remaining:
            return
        last[0] = now
        eta = f", ETA {p.eta:.0f} s" if p.eta is not None else ""
        _note(f"{_counts_text(p.counts)} ({p.rate:.0f} rows/s{eta})")

    yield plain


@contextmanager
def _rich_progress() -> Iterator[Callable[[Progress], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[states]}"),
        transient=False,
    )
    with bar:
        task = bar.add_task("sending", total=None, rate="", states="")

        def show(p: Progress) -> None:
            done = p.total - p.remaining
            states = _counts_text({k: v for k, v in p.counts.items() if k not in ("planned", "sending")})
            bar.update(task, total=p.total, completed=done, rate=f"{p.rate:.0f}/s", states=states)

        yield show


# -- status, report, list, refresh ----------------------------------------------------------------


def _status(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    from smsgate.campaign import status

    record, counts = status(store, args.name)
    if args.json:
        _dump({"campaign": _record_json(record), "counts": counts}, out)
    else:
        out.write(
            f"campaign {record.name} ({record.state}) through {record.gateway}, {record.total} rows\n"
            + "".join(f"  {state:<12} {n}\n" for state, n in _ordered(counts))
        )
    return 0


def _ordered(counts: dict[str, int]) -> list[tuple[str, int]]:
    from smsgate.store import STATES

    return [(s, counts[s]) for s in STATES if counts.get(s)]


def _record_json(record: Any) -> dict[str, Any]:
    import attrs

    return attrs.asdict(record)


def _report(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    import attrs

    from smsgate.campaign import status
    from smsgate.store import iter_rows

    status(store, args.name)
    writer = csv.writer(out) if args.format == "csv" else None
    if writer is not None:
        writer.writerow(REPORT_COLUMNS)
    for row in iter_rows(store, args.name):
        values = attrs.asdict(row)
        if writer is not None:
            writer.writerow(["" if values[c] is None else values[c] for c in REPORT_COLUMNS])
        else:
            out.write(json.dumps({c: values[c] for c in REPORT_COLUMNS}, sort_keys=True) + "\n")
    return 0


def _list(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    campaigns = store.campaigns()
    rows = [(c, store.counts(c.name)) for c in campaigns]
    if args.json:
        _dump([{**_record_json(c), "counts": counts} for c, counts in rows], out)
        return 0
    if not rows:
        out.write("no campaigns in the store\n")
    for c, counts in rows:
        out.write(f"{c.name}  {c.state}  {c.gateway}  {c.total} rows: {_counts_text(counts)}\n")
    return 0


def _refresh(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    from smsgate import cli
    from smsgate.campaign import refresh, status

    record, _ = status(store, args.name)
    target = args.gateway or (
        record.gateway if "://" not in record.gateway and record.gateway != record.provider else None
    )
    gateway, _ = cli._connect(target, ())
    with gateway:
        moved = refresh(gateway, store, args.name)
    counts = store.counts(args.name)
    if args.json:
        _dump({"campaign": args.name, "updated": moved, "counts": counts}, out)
    else:
        out.write(f"campaign {args.name}: updated " + (_counts_text(moved) if moved else "nothing") + "\n")
        out.write("  now " + _counts_text(counts) + "\n")
    return 0
