"""The ``smsgate`` command: send, providers, emulate, demo, balance, status.

Exit codes (stable, for scripts):

- 0: every recipient accepted or scheduled (or the command succeeded)
- 1: an unexpected internal error
- 2: bad usage, configuration or input: nothing was sent
- 3: at least one recipient rejected, none unknown
- 4: at least one recipient unknown: it may have been sent, do not resend blindly
- 5: the gateway or the network failed a query (balance, status)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from smsgate.errors import ConfigurationError, GatewayError, SmsgateError, TransportError, ValidationError

# The commands import what they need when they run, so `smsgate --help` stays fast.

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_REJECTED, EXIT_UNKNOWN, EXIT_QUERY = 0, 1, 2, 3, 4, 5


def _at(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 date-time") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} needs a UTC offset, e.g. 2026-12-24T18:00+01:00")
    return when


def _option(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{value!r} must look like name=value")
    return key, val


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsgate", description="Send SMS through HTTP gateways.")
    parser.add_argument("--version", action="version", version=f"smsgate {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    send = sub.add_parser("send", help="send one message (DSN from --dsn or SMSGATE_DSN)")
    send.add_argument("--dsn", help="gateway DSN, e.g. bulksms://user:secret@default (default: $SMSGATE_DSN)")
    send.add_argument("--to", action="append", required=True, help="recipient (repeatable)")
    send.add_argument("--text", required=True)
    send.add_argument("--sender")
    send.add_argument("--at", type=_at, help="schedule: ISO 8601 with offset")
    send.add_argument("--flash", action="store_true")
    send.add_argument("--key", help="idempotency key (makes a repeated command safe where the gateway de-duplicates)")
    send.add_argument("--option", "-o", action="append", type=_option, default=[], help="provider option name=value")
    send.add_argument("--journal", help="JSON-lines journal: a --key already sent is not sent again")
    send.add_argument("--dry-run", action="store_true", help="print the (redacted) requests; send nothing")
    send.add_argument("--json", action="store_true", help="machine-readable output")

    providers = sub.add_parser("providers", help="list installed provider plugins")
    providers.add_argument("--json", action="store_true")

    emulate = sub.add_parser("emulate", help="run a provider's gateway emulator on loopback")
    emulate.add_argument("name")
    emulate.add_argument("--port", type=int, default=0)
    emulate.add_argument("--host", default="127.0.0.1")

    demo = sub.add_parser("demo", help="send a mixed batch through every installed provider's emulator")
    demo.add_argument("--json", action="store_true")
    demo.add_argument("--provider", action="append", help="only these providers")

    for name, text in (("balance", "show the account's credit"), ("status", "pull delivery reports")):
        query = sub.add_parser(name, help=text)
        query.add_argument("--dsn")
        if name == "status":
            query.add_argument("message_id", nargs="+")
            query.add_argument("--recipient")
        query.add_argument("--json", action="store_true")
    return parser


def _version() -> str:
    from smsgate import __version__

    return __version__


def _send(args: argparse.Namespace, out: TextIO) -> int:
    from smsgate import output
    from smsgate.gateway import connect
    from smsgate.journal import Journal
    from smsgate.models import Message, Status

    message = Message(
        to=tuple(args.to),
        text=args.text,
        sender=args.sender,
        send_at=args.at,
        flash=args.flash,
        key=args.key,
        options=dict(args.option),
    )
    journal = Journal(args.journal) if args.journal else None
    with connect(args.dsn, journal=journal) as gateway:
        if args.dry_run:
            requests = gateway.preview(message)
            if args.json:
                output.dump({"provider": gateway.name, "requests": [output.request(r) for r in requests]}, out)
            else:
                for request in requests:
                    out.write(output.request_text(request) + "\n")
            return EXIT_OK
        result = gateway.send(message)
    if args.json:
        output.dump(output.result(result), out)
    else:
        out.write(output.result_text(result) + "\n")
    statuses = {o.status for o in result.outcomes}
    if Status.UNKNOWN in statuses:
        return EXIT_UNKNOWN
    if Status.REJECTED in statuses:
        return EXIT_REJECTED
    return EXIT_OK


def _providers(args: argparse.Namespace, out: TextIO) -> int:
    from smsgate import output
    from smsgate.plugins import default_registry

    registry = default_registry()
    rows = [output.provider(p) for _, p in sorted(registry.providers.items())]
    failures = [{"name": f.name, "group": f.group, "error": f.error} for f in registry.failures]
    if args.json:
        output.dump({"providers": rows, "failures": failures}, out)
    else:
        out.write(
            output.table(
                ["provider", "distribution", "version", "capabilities"],
                [
                    [r["name"], r["distribution"], r["version"], output.capability_summary(r["capabilities"])]
                    for r in rows
                ],
            )
            + "\n"
        )
        for f in failures:
            out.write(f"failed to load {f['name']}: {f['error']}\n")
    return EXIT_OK


def _emulate(args: argparse.Namespace, out: TextIO) -> int:
    from smsgate.plugins import default_registry, emulator_class

    spec = default_registry().provider(args.name).spec
    emulator = emulator_class(spec)(host=args.host, port=args.port).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    out.write(emulator.dsn() + "\n")
    out.flush()
    try:
        stop.wait()
    finally:
        emulator.stop()
    return EXIT_OK


def _query(args: argparse.Namespace, out: TextIO) -> int:
    from smsgate import output
    from smsgate.gateway import connect

    with connect(args.dsn) as gateway:
        if args.command == "balance":
            data: Any = output.plain(gateway.balance())
        else:
            data = [output.plain(r) for r in gateway.status(tuple(args.message_id), args.recipient)]
    if args.json:
        output.dump(data, out)
    else:
        out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit code (see the module docstring)."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    want_json = getattr(args, "json", False)
    try:
        if args.command == "send":
            return _send(args, out)
        if args.command == "providers":
            return _providers(args, out)
        if args.command == "emulate":
            return _emulate(args, out)
        if args.command == "demo":
            from smsgate import demo

            return demo.run(out, providers=args.provider, as_json=want_json)
        return _query(args, out)
    except (ValidationError, ConfigurationError) as error:
        return _fail(error, EXIT_USAGE, want_json, out)
    except (GatewayError, TransportError) as error:
        return _fail(error, EXIT_QUERY, want_json, out)
    except SmsgateError as error:
        return _fail(error, EXIT_INTERNAL, want_json, out)


def _fail(error: SmsgateError, code: int, want_json: bool, out: TextIO) -> int:
    from smsgate import output

    if want_json:
        output.dump({"error": output.error(error)}, out)
    else:
        sys.stderr.write(f"smsgate: {error}\n")
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
