"""The ``smsgate`` command: send, providers, emulate, demo, balance, status.

Exit codes (stable, for scripts):

- 0: every recipient accepted or scheduled (or the command succeeded)
- 1: an unexpected internal error
- 2: bad usage, configuration or input, including credentials the gateway refused (or an
  account it suspended): nothing was sent
- 3: at least one recipient rejected, none unknown
- 4: at least one recipient unknown: it may have been sent, do not resend blindly
- 5: the gateway or the network failed a query (balance, status), or ``status`` found no
  report for any of the ids
"""

from __future__ import annotations

import argparse
import errno
import gc
import ipaddress
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from smsgate.errors import (
    AuthenticationError,
    ConfigurationError,
    GatewayError,
    PluginError,
    SmsgateError,
    TransportError,
    UnknownProviderError,
    ValidationError,
)

if TYPE_CHECKING:
    from smsgate.gateway import Gateway
    from smsgate.journal import Journal
    from smsgate.plugins import Provider

# The commands import what they need when they run, so `smsgate --help` stays fast.

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_REJECTED, EXIT_UNKNOWN, EXIT_QUERY = 0, 1, 2, 3, 4, 5

CREDENTIALS_HINT = "check the credentials (user name and password or API key) in the DSN"


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


#: The commands whose parsers are built here (or by cli_router, cli_campaign, cli_plugins).
_COMMANDS = frozenset(
    {"send", "providers", "emulate", "demo", "balance", "status", "gateways", "campaign", "new-plugin"}
)
#: Commands that load no plugin, so that their start-up is over once their arguments are read.
_PLUGINLESS = frozenset({"new-plugin", "suppress"})
#: Set by :func:`run` while the collector is off for start-up.
_starting = False


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``only`` (a command of :data:`_COMMANDS`) the parser of that command
    alone: building every command's parser costs ~5 ms, a third of what `smsgate --help` costs."""

    def want(*names: str) -> bool:
        return only is None or only in names

    parser = argparse.ArgumentParser(
        prog="smsgate",
        description="Send SMS through HTTP gateways.",
        epilog="Exit codes: 0 ok; 2 bad usage, configuration, input or credentials (nothing sent); "
        "3 some recipient rejected; 4 some recipient unknown (may have been sent); 5 a query failed; "
        "1 internal error.",
    )
    parser.add_argument("--version", action="version", version=f"smsgate {_version()}")
    parser.add_argument("--config", metavar="PATH", help="smsgate.toml of named gateways (default: searched)")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("SMSGATE_LOG_FORMAT", "text"),
        help="log lines on standard error as text or JSON objects (default: $SMSGATE_LOG_FORMAT or text)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("SMSGATE_LOG_LEVEL", "WARNING"),
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        type=str.upper,
        help="least severe log level shown (default: $SMSGATE_LOG_LEVEL or WARNING)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dsn_help = "gateway DSN, e.g. bulksms://user:secret@default, or a name from smsgate.toml (default: $SMSGATE_DSN)"
    json_help = "machine-readable JSON output (stable shape, for scripts)"

    if want("send"):
        send = sub.add_parser("send", help="send one message (DSN from --dsn or SMSGATE_DSN)")
        send.add_argument("--dsn", "--gateway", dest="dsn", help=dsn_help)
        send.add_argument(
            "--to",
            action="append",
            required=True,
            metavar="NUMBER",
            help="recipient in E.164 (+48500600700); repeat it or give a comma-separated list",
        )
        text = send.add_mutually_exclusive_group(required=True)
        text.add_argument("--text", help="the message text; '-' reads it from standard input")
        text.add_argument("--text-file", metavar="PATH", help="read the message text from a UTF-8 file")
        send.add_argument("--sender", help="sender name or number, where the gateway allows one")
        send.add_argument(
            "--at",
            type=_at,
            metavar="WHEN",
            help="schedule for an ISO 8601 time with offset (2026-12-24T18:00+01:00); "
            "less than schedule_grace (60 s) away is sent at once",
        )
        send.add_argument("--flash", action="store_true", help="send as a flash SMS (shown, not stored)")
        send.add_argument(
            "--key", help="idempotency key (makes a repeated command safe where the gateway de-duplicates)"
        )
        send.add_argument(
            "--option",
            "-o",
            action="append",
            type=_option,
            default=[],
            metavar="NAME=VALUE",
            help="a core option (max_parts, attempts, ...; applied to the DSN) or a provider option for this message",
        )
        send.add_argument(
            "--journal", metavar="FILE", help="JSON-lines journal: a --key already sent is not sent again"
        )
        send.add_argument("--dry-run", action="store_true", help="print the (redacted) requests; send nothing")
        send.add_argument("--json", action="store_true", help=json_help)

    if want("providers"):
        providers = sub.add_parser("providers", help="list installed provider plugins")
        providers.add_argument("--json", action="store_true", help=json_help)
        providers.add_argument(
            "--check", action="store_true", help="run each plugin's self-checks (spec, hooks, handlers, emulator)"
        )

    if want("emulate"):
        emulate = sub.add_parser("emulate", help="run a provider's gateway emulator on loopback")
        emulate.add_argument("name", help="provider name (see `smsgate providers`)")
        emulate.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
        emulate.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default: 127.0.0.1)")
        emulate.add_argument("--latency", default="0", metavar="T", help="delay every reply by T (50ms, 0.05s, 0.05)")
        emulate.add_argument("--jitter", default="0", metavar="T", help="vary the delay by up to ± T")

    if want("demo"):
        demo = sub.add_parser("demo", help="send a mixed batch through every installed provider's emulator")
        demo.add_argument("--json", action="store_true", help=json_help)
        demo.add_argument("--provider", action="append", metavar="NAME", help="only this provider (repeatable)")

    if want("balance", "status"):
        for name, text_help in (("balance", "show the account's credit"), ("status", "pull delivery reports")):
            query = sub.add_parser(name, help=text_help)
            query.add_argument("--dsn", "--gateway", dest="dsn", help=dsn_help)
            if name == "status":
                query.add_argument("message_id", nargs="+", help="message id(s) the gateway returned")
                query.add_argument("--recipient", metavar="NUMBER", help="the recipient, where the gateway needs it")
            query.add_argument("--json", action="store_true", help=json_help)
    if want("gateways"):
        from smsgate import cli_router  # `smsgate gateways` (health of each gateway)

        cli_router.add_parser(sub, json_help)
    if want("campaign"):
        from smsgate import cli_campaign  # `smsgate campaign run|status|report|list|refresh`

        cli_campaign.add_parser(sub)
    if only is None or only not in _COMMANDS:  # serve, suppress, inbound (every command cli_serve adds)
        from smsgate import cli_serve  # `smsgate serve`, `smsgate suppress`, `smsgate inbound`

        cli_serve.add_parsers(sub)
    if want("new-plugin"):
        from smsgate import cli_plugins  # `smsgate new-plugin NAME`

        cli_plugins.add_parsers(sub)
    return parser


def _version() -> str:
    from smsgate import __version__

    return __version__


def _note(text: str) -> None:
    sys.stderr.write(f"smsgate: {text}\n")


# -- connecting: DSN, -o options, capability checks -------------------------------------------


def _provider(scheme: str) -> Provider:
    """The installed provider for ``scheme``; an unknown one is explained with load failures."""
    from smsgate.plugins import default_registry

    registry = default_registry()
    try:
        return registry.provider(scheme)
    except UnknownProviderError:
        failures = {f.name: f.error for f in registry.failures}
        raise UnknownProviderError(scheme, tuple(sorted(registry.providers)), failures) from None


def _with_options(dsn: str, core: Mapping[str, str]) -> str:
    """``dsn`` with the core options ``core`` set in its query (replacing the DSN's own)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    if not core:
        return dsn
    parts = urlsplit(dsn.strip())
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in core]
    return urlunsplit(parts._replace(query=urlencode([*pairs, *core.items()])))


def _split_options(options: Sequence[tuple[str, str]], provider: Provider) -> tuple[dict[str, str], dict[str, str]]:
    """``-o`` options as (core options for the DSN, provider options for the message); an
    unknown name is refused with the closest known one and both lists."""
    import attrs

    from smsgate.config import GatewayOptions

    core_names = sorted(f.name for f in attrs.fields(GatewayOptions))
    credentials = {c for c in provider.spec.credentials if c}
    fields = attrs.fields(provider.spec.settings)
    own = sorted(f.name for f in fields if not f.name.startswith("_") and f.name not in credentials)
    core: dict[str, str] = {}
    extra: dict[str, str] = {}
    for name, value in options:
        if name in credentials:
            raise ValidationError(f"option {name}", "is a credential: put it in the DSN", provider=provider.spec.name)
        if name in core_names:
            core[name] = value
        elif name in own:
            extra[name] = value
        else:
            import difflib  # here, not at the top: discovery does not need it

            close = difflib.get_close_matches(name, [*core_names, *own], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValidationError(
                f"option {name}",
                f"unknown option{hint} (core options: {', '.join(core_names)}; "
                f"{provider.spec.name} options: {', '.join(own) or 'none'})",
                provider=provider.spec.name,
            )
    return core, extra


def _check_capabilities(gateway: Gateway) -> None:
    """Refuse core options beyond what the gateway allows, naming the cap (the library would
    silently use the cap)."""
    caps = gateway.spec.capabilities
    limits = (("max_parts", caps.max_parts, "parts"), ("batch_size", caps.max_recipients, "recipients per request"))
    for name, cap, what in limits:
        value = getattr(gateway.options, name, None)
        if value is not None and value > cap:
            raise ValidationError(
                f"option {name}",
                f"{value} exceeds the {gateway.name} gateway's maximum of {cap} {what}",
                provider=gateway.name,
            )


def _connect(
    dsn: str | None, options: Sequence[tuple[str, str]] = (), journal: Journal | None = None
) -> tuple[Gateway, dict[str, str]]:
    """A checked gateway for ``dsn`` (or ``$SMSGATE_DSN``) and the per-message provider
    options: returns ``(gateway, provider options)``."""
    from smsgate import config
    from smsgate.gateway import connect
    from smsgate.plugins import default_registry
    from smsgate.profiles import resolve_dsn

    text = resolve_dsn(dsn if dsn is not None else config.dsn_from_env())
    provider = _provider(config.Dsn.parse(text).scheme)
    core, extra = _split_options(options, provider)
    gateway = connect(_with_options(text, core), registry=default_registry(), journal=journal)
    try:
        _check_capabilities(gateway)
    except SmsgateError:
        gateway.close()
        raise
    return gateway, extra


# -- send ---------------------------------------------------------------------------------------


def _recipients(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(n.strip() for v in values for n in v.split(",") if n.strip())


def _text(args: argparse.Namespace) -> str:
    if args.text_file is not None:
        try:
            with open(args.text_file, encoding="utf-8") as f:
                value = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError("text", f"cannot read --text-file {args.text_file!r}: {exc}") from None
    elif args.text == "-":
        value = sys.stdin.read()
    else:
        return str(args.text)
    return value[:-1] if value.endswith("\n") else value  # the newline every file and echo ends with


def _grace_notice(gateway: Gateway, when: datetime | None) -> str | None:
    """Say so when ``--at`` is within the schedule grace: the message goes out at once."""
    if when is None:
        return None
    grace = float(getattr(gateway.options, "schedule_grace", 60.0))
    now = datetime.now(timezone.utc)
    if abs(when - now) <= timedelta(seconds=grace):
        return f"--at {when.isoformat()} is less than {grace:g} s away (schedule_grace): sent now, not scheduled"
    return None


def _send(args: argparse.Namespace, out: TextIO) -> int:
    from smsgate import output, text
    from smsgate.journal import Journal
    from smsgate.models import Message, Status

    body = _text(args)
    journal = Journal(args.journal) if args.journal else None
    gateway, extra = _connect(args.dsn, args.option, journal)
    message = Message(
        to=_recipients(args.to),
        text=body,
        sender=args.sender,
        send_at=args.at,
        flash=args.flash,
        key=args.key,
        options=extra,
    )
    if journal is not None and not message.key:  # a re-run of this very command is recognised
        import attrs

        from smsgate.idempotency import content_key

        message = attrs.evolve(message, key=content_key(message))
    with gateway:
        notice = _grace_notice(gateway, args.at)
        if args.dry_run:
            requests = gateway.preview(message)
            if args.json:
                output.dump({"provider": gateway.name, "requests": [output.request(r) for r in requests]}, out)
            else:
                for request in requests:
                    out.write(output.request_text(request) + "\n")
            if notice:
                _note(notice)
            return EXIT_OK
        result = gateway.send(message)
    if notice:
        _note(notice)
    if result.replayed:
        _note(f"already sent under key {result.key!r} (journal {args.journal}): nothing sent, recorded outcomes shown")
    refused = isinstance(result.error, AuthenticationError) and not any(o.ok for o in result.outcomes)
    if args.json:
        output.dump(output.result(result), out)
    elif not refused:
        colour = output.colour_enabled(out)
        out.write(output.result_text(result, text.analyse(body) if body else None, colour=colour) + "\n")
    if refused:
        _note(f"{result.error}: {CREDENTIALS_HINT}; nothing was sent")
        return EXIT_USAGE
    statuses = {o.status for o in result.outcomes}
    if Status.UNKNOWN in statuses:
        return EXIT_UNKNOWN
    if Status.REJECTED in statuses:
        return EXIT_REJECTED
    return EXIT_OK


# -- providers, emulate, queries -----------------------------------------------------------------


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


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _emulate(args: argparse.Namespace, out: TextIO) -> int:
    from smsgate.plugins import emulator_class

    if not _loopback(args.host):
        raise ConfigurationError(
            f"refusing --host {args.host}: emulators serve on loopback only (127.0.0.1, ::1, localhost); "
            "they accept any message with test credentials and must not be reachable from the network"
        )
    if not 0 <= args.port <= 65535:
        raise ConfigurationError(f"--port {args.port}: a port is a number from 0 (any free one) to 65535")
    spec = _provider(args.name).spec
    try:
        from smsgate.emulator import parse_duration

        timing = {"latency": parse_duration(args.latency), "jitter": parse_duration(args.jitter)}
        kwargs = {k: v for k, v in timing.items() if v}  # only when asked: any emulator's __init__ works
        emulator = emulator_class(spec)(host=args.host, port=args.port, **kwargs).start()
    except (PluginError, ValueError) as error:
        raise ConfigurationError(str(error), provider=spec.name) from None
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        if exc.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"port {args.port} on {args.host} is already in use: choose another --port, or --port 0 for a free one"
            ) from None
        raise ConfigurationError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    import signal  # here, not at the top: discovery does not need it

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    out.write(emulator.dsn() + "\n")  # the first line of stdout is the DSN, for scripts
    out.flush()
    _note(
        f"the {spec.name} emulator is listening on {emulator.base_url} (loopback only); "
        "the DSN above reaches it. Ctrl-C to stop."
    )
    try:
        stop.wait()
    finally:
        emulator.stop()
    return EXIT_OK


def _query(args: argparse.Namespace, out: TextIO) -> int:
    from smsgate import output

    gateway, _ = _connect(args.dsn)
    with gateway:
        if args.command == "balance":
            balance = gateway.balance()
            if args.json:
                output.dump(output.plain(balance), out)
            else:
                out.write(output.balance_text(balance) + "\n")
            return EXIT_OK
        ids = tuple(args.message_id)
        reports = gateway.status(ids, args.recipient)
    if args.json:
        output.dump([output.plain(r) for r in reports], out)
    elif reports:
        out.write(output.reports_text(reports, colour=output.colour_enabled(out)) + "\n")
    found = {r.message_id for r in reports}
    missing = [i for i in ids if i not in found]
    if not reports:
        _note(f"no delivery report found for {', '.join(ids)} at {gateway.name}")
        return EXIT_QUERY
    if missing:
        _note(f"no delivery report for {', '.join(missing)}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit code (see the module docstring)."""
    out = out or sys.stdout
    argv = sys.argv[1:] if argv is None else list(argv)
    # the command first (the usual case): build its parser only; anything else gets them all
    args = _parser(argv[0] if argv and argv[0] in _COMMANDS else None).parse_args(argv)
    want_json = getattr(args, "json", False)
    if args.config or "smsgate.profiles" in sys.modules:  # set, or reset after an earlier main()
        from smsgate import profiles  # --config: the smsgate.toml of named gateways (imports tomllib)

        profiles.explicit_path = Path(args.config) if args.config else None
    from smsgate import logs

    logs.configure(args.log_format, args.log_level)
    try:
        if args.command not in _PLUGINLESS:  # every other command uses the installed plugins
            from smsgate.plugins import default_registry

            default_registry()
        _started()
        if args.command == "send":
            return _send(args, out)
        if args.command == "providers" and args.check:
            from smsgate import cli_plugins

            return cli_plugins.check(args, out)
        if args.command == "new-plugin":
            from smsgate import cli_plugins

            return cli_plugins.new_plugin(args, out)
        if args.command == "providers":
            return _providers(args, out)
        if args.command == "emulate":
            return _emulate(args, out)
        if args.command == "demo":
            from smsgate import demo

            return demo.run(out, providers=args.provider, as_json=want_json)
        if args.command == "gateways":
            from smsgate import cli_router

            return cli_router.run(args, out)
        if args.command == "campaign":
            from smsgate import cli_campaign

            return cli_campaign.main(args, out)
        if args.command in ("serve", "suppress", "inbound"):
            from smsgate import cli_serve

            return cli_serve.run(args, out)
        return _query(args, out)
    except (ValidationError, ConfigurationError) as error:
        return _fail(error, EXIT_USAGE, want_json, out)
    except AuthenticationError as error:
        return _fail(error, EXIT_USAGE, want_json, out, hint=CREDENTIALS_HINT)
    except (GatewayError, TransportError) as error:
        return _fail(error, EXIT_QUERY, want_json, out)
    except SmsgateError as error:
        return _fail(error, EXIT_INTERNAL, want_json, out)


def run() -> int:
    """The ``smsgate`` command and ``python -m smsgate``: :func:`main` in a process of its own.

    Start-up (the core and every plugin) makes some 30,000 objects, and they all live until the
    process exits: collecting meanwhile would free nothing. So the collector is off until
    start-up is over (:func:`_started`); then those objects go to its permanent generation
    (``gc.freeze``), which no later collection scans, not even the one at exit.
    """
    global _starting
    _starting = True
    gc.disable()
    try:
        return main()
    finally:
        _started()


def _started() -> None:
    """Start-up is over: the collector runs again, on what the command makes (see :func:`run`)."""
    global _starting
    if _starting:
        _starting = False
        gc.freeze()
        gc.enable()


def _fail(error: SmsgateError, code: int, want_json: bool, out: TextIO, *, hint: str = "") -> int:
    from smsgate import output

    if want_json:
        output.dump({"error": output.error(error)}, out)
    else:
        _note(f"{error}: {hint}" if hint else str(error))
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run())
