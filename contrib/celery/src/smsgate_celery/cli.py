"""``smsgate-celery``: enqueue a campaign for the workers, and follow it from any machine.

::

    smsgate-celery run customers.csv --gateway shop --text "Hi {first_name}" --name spring --yes
    smsgate-celery status spring          # rows per state, from the shared store
    smsgate-celery wait spring            # until every row is settled

The store is ``$SMSGATE_STORE`` (``--store``), the broker ``$SMSGATE_BROKER``, the gateways
``smsgate.toml`` (``$SMSGATE_CONFIG``); workers: ``celery -A smsgate_celery worker``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from smsgate.errors import SmsgateError
from smsgate.store import PLANNED, SENDING
from smsgate.store.postgres import open_postgres
from smsgate_celery.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsgate-celery", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="the PostgreSQL store (default: $SMSGATE_STORE)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="plan a campaign in the store and enqueue it")
    run.add_argument("file", help="CSV with a header row, or JSON lines")
    run.add_argument("--gateway", required=True, help="a gateway named in smsgate.toml (the workers use the name)")
    run.add_argument("--text", required=True, help="the template, e.g. 'Hi {first_name}'")
    run.add_argument("--name", help="the campaign's name")
    run.add_argument("--to-column", help="the column with the number")
    run.add_argument("--sender", help="sender name or number")
    run.add_argument("--skip-invalid", action="store_true", help="record invalid rows rejected and send the rest")
    run.add_argument("--yes", "-y", action="store_true", help="enqueue (without it: validate only)")
    for name in ("status", "wait"):
        action = sub.add_parser(name, help="rows per state" if name == "status" else "until every row is settled")
        action.add_argument("name")
        action.add_argument("--json", action="store_true")
        if name == "wait":
            action.add_argument("--timeout", type=float, default=None, help="give up after SECONDS (exit 1)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        store = open_postgres(args.store or settings.store_url())
    except SmsgateError as error:
        sys.stderr.write(f"smsgate-celery: {error}\n")
        return 2
    try:
        if args.command == "run":
            return _run(args, store)
        return _status(args, store, wait=args.command == "wait")
    except SmsgateError as error:
        sys.stderr.write(f"smsgate-celery: {error}\n")
        return 2
    finally:
        store.close()


def _run(args: argparse.Namespace, store: object) -> int:
    import smsgate
    from smsgate.campaign import Campaign
    from smsgate.journal import Journal
    from smsgate_celery.engine import enqueue

    with smsgate.connect(args.gateway) as gateway:
        gateway.journal = Journal.on(store)  # type: ignore[arg-type]
        campaign = Campaign(
            gateway,
            store,  # type: ignore[arg-type]
            args.name,
            args.file,
            args.text,
            gateway_name=args.gateway,
            to_column=args.to_column,
            sender=args.sender,
            skip_invalid=args.skip_invalid,
        )
        summary = campaign.validate(quote=False)
        print(f"{campaign.name}: {summary.valid} valid rows of {summary.rows}, {summary.parts} parts")
        for row, reason in summary.errors:
            print(f"  row {row}: {reason}")
        if summary.errors and not args.skip_invalid:
            return 1
        if not args.yes:
            print("not enqueued: add --yes")
            return 0
        tasks = enqueue(campaign)
        print(f"{campaign.name}: {tasks} tasks enqueued; follow it with: smsgate-celery status {campaign.name}")
    return 0


def _status(args: argparse.Namespace, store: object, *, wait: bool) -> int:
    from smsgate.store.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    started = time.monotonic()
    while True:
        record = store.campaign(args.name)
        if record is None:
            sys.stderr.write(f"smsgate-celery: no campaign named {args.name!r}\n")
            return 2
        counts = store.counts(args.name)
        left = counts.get(PLANNED, 0) + counts.get(SENDING, 0)
        if not wait or not left:
            break
        if args.timeout is not None and time.monotonic() - started > args.timeout:
            print(json.dumps(counts, sort_keys=True) if args.json else _line(args.name, record.state, counts))
            return 1
        time.sleep(1.0)
    print(
        json.dumps({"name": args.name, "state": record.state, "rows": counts}, sort_keys=True)
        if args.json
        else _line(args.name, record.state, counts)
    )
    return 0


def _line(name: str, state: str, counts: dict[str, int]) -> str:
    return f"{name} ({state}): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
