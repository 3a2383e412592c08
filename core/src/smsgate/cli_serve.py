"""``smsgate serve`` (the receiver), ``smsgate suppress`` (the suppression list) and
``smsgate inbound`` (incoming messages kept in the store: ``list``; ``fetch`` pulls them from a
gateway that keeps them, processed exactly as the receiver processes a push).

Gateways come from ``smsgate.toml`` (every ``[gateways.NAME]``, or those named with
``--gateway NAME``) or from ``--gateway NAME=DSN``. Who may call each one is set in the file::

    [gateways.shop]
    dsn = "octopush://...@default"
    [gateways.shop.receive]
    token = "${SHOP_CALLBACK_TOKEN}"     # the URL is /shop/<token>/...
    basic = "octopush:${SHOP_CALLBACK_PASSWORD}"
    allow = ["203.0.113.0/24"]

or with ``--token NAME=TOKEN``, ``--basic NAME=USER:PASSWORD`` and ``--allow NAME=CIDR`` (a
value ``env:VAR`` is read from the environment, so no secret need be on the command line).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from smsgate.errors import ConfigurationError

COMMANDS = ("serve", "suppress", "inbound")


def _pair(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{value!r} must look like NAME=VALUE")
    return name.strip(), rest


def _secret(value: str, where: str) -> str:
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ConfigurationError(f"{where}: environment variable {name} is not set")
        return os.environ[name]
    return value


def add_parsers(sub: Any) -> None:
    """Add ``serve``, ``suppress`` and ``inbound`` to the ``smsgate`` sub-commands."""
    store_help = "the store: a SQLite file or a postgresql:// URL (default: $SMSGATE_STORE or the per-user store)"
    serve = sub.add_parser("serve", help="receive delivery reports and incoming messages (needs smsgate[serve])")
    serve.add_argument(
        "--gateway",
        action="append",
        default=[],
        metavar="NAME[=DSN]",
        help="a gateway to serve: a name from smsgate.toml, or NAME=DSN (default: every gateway in the file)",
    )
    serve.add_argument("--config", metavar="PATH", help="smsgate.toml to read (default: the usual search)")
    serve.add_argument(
        "--token",
        action="append",
        type=_pair,
        default=[],
        metavar="NAME=TOKEN",
        help="secret path token of a gateway (env:VAR reads it from the environment)",
    )
    serve.add_argument(
        "--basic",
        action="append",
        type=_pair,
        default=[],
        metavar="NAME=USER:PASSWORD",
        help="HTTP Basic credentials the gateway must send (env:VAR reads them)",
    )
    serve.add_argument(
        "--allow",
        action="append",
        type=_pair,
        default=[],
        metavar="NAME=CIDR",
        help="an address range the gateway calls from (repeatable; default: any)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    serve.add_argument("--store", metavar="PATH_OR_URL", help=store_help)
    serve.add_argument("--threads", type=int, default=4, help="worker threads (default: 4)")
    serve.add_argument(
        "--trusted-proxy",
        metavar="ADDRESS",
        help="your reverse proxy's address: client addresses (allow-lists) then come from its X-Forwarded-For",
    )
    serve.add_argument("--timeout", type=int, default=10, help="seconds before an idle or slow client is dropped")
    serve.add_argument("--max-body", type=int, default=64 * 1024, help="largest body accepted, bytes (413 above)")
    serve.add_argument(
        "--metrics-token",
        metavar="TOKEN",
        default=os.environ.get("SMSGATE_METRICS_TOKEN"),
        help="require 'Authorization: Bearer TOKEN' on /metrics and /dashboard (a browser may use "
        "/dashboard?token=TOKEN; default: $SMSGATE_METRICS_TOKEN; none: open)",
    )
    serve.add_argument(
        "--metrics-campaigns",
        type=int,
        default=20,
        metavar="N",
        help="campaigns exported on /metrics, the most recently updated (default: 20)",
    )
    _keyword_options(serve)

    suppress = sub.add_parser("suppress", help="the suppression list (numbers never sent to)")
    actions = suppress.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="add, remove, list or import"
    )
    for name, text in (("add", "put numbers on the list"), ("remove", "take numbers off the list")):
        action = actions.add_parser(name, help=text)
        action.add_argument("number", nargs="+", help="phone numbers (E.164, or with 00)")
        action.add_argument("--reason", default="manual", help="why (kept with the number)")
        action.add_argument("--store", metavar="PATH_OR_URL", help=store_help)
    listing = actions.add_parser("list", help="show the list")
    listing.add_argument("--json", action="store_true", help="machine-readable JSON output")
    listing.add_argument("--store", metavar="PATH_OR_URL", help=store_help)
    imported = actions.add_parser("import", help="add the numbers of a file (one per line, or a CSV's first column)")
    imported.add_argument("path", help="file to read ('-' for standard input)")
    imported.add_argument("--reason", default="import", help="why (kept with each number)")
    imported.add_argument("--store", metavar="PATH_OR_URL", help=store_help)

    inbound = sub.add_parser("inbound", help="incoming messages: list what was kept, fetch (pull) from a gateway")
    inbound_actions = inbound.add_subparsers(dest="action", required=True, metavar="ACTION", help="list or fetch")
    fetch = inbound_actions.add_parser(
        "fetch", help="pull incoming messages from a gateway that keeps them (BulkSMS, SerwerSMS, SMSC) into the store"
    )
    fetch.add_argument("gateway", metavar="GATEWAY_OR_PROFILE", help="a gateway name from smsgate.toml, or a DSN")
    fetch.add_argument("--json", action="store_true", help="machine-readable JSON output")
    fetch.add_argument("--store", metavar="PATH_OR_URL", help=store_help)
    fetch.add_argument("--max-pages", type=int, default=100, help="stop after this many requests (default: 100)")
    _keyword_options(fetch)
    shown = inbound_actions.add_parser("list", help="list incoming messages")
    shown.add_argument("--gateway", help="only this gateway")
    shown.add_argument("--sender", help="only this sender")
    shown.add_argument("--json", action="store_true", help="machine-readable JSON output")
    shown.add_argument("--store", metavar="PATH_OR_URL", help=store_help)


def _keyword_options(parser: Any) -> None:
    parser.add_argument(
        "--languages", metavar="LANGS", help="opt-out keyword languages, comma-separated (default: all known)"
    )
    parser.add_argument(
        "--stop-word", action="append", default=[], metavar="WORD", help="an extra opt-out keyword (repeatable)"
    )


def _keywords(args: argparse.Namespace) -> Any:
    from smsgate.suppression import Keywords

    languages = tuple(x.strip() for x in args.languages.split(",") if x.strip()) if args.languages else None
    return Keywords(languages, tuple(args.stop_word))


def _inbound_store(path: str | None) -> Any:
    """The receiver's store inside the campaign store at ``path`` (a SQLite file or a
    ``postgresql://`` URL; default: ``$SMSGATE_STORE``, else the per-user file); closing it
    closes the campaign store (its ``.store``) too."""
    from smsgate.inbound import open_inbound
    from smsgate.store import open_store

    return open_inbound(open_store(path or None), owned=True)


def _where(store: Any) -> str:
    """Where a campaign store is, for people (no password)."""
    path = getattr(store, "path", None)
    return str(path) if path is not None else repr(store).strip("<>")


def _numbers(path: str) -> Iterator[str]:
    stream: TextIO = sys.stdin if path == "-" else open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
    try:
        for row in csv.reader(stream):
            if row and row[0].strip() and not row[0].lstrip().startswith("#"):
                value = row[0].strip()
                if any(c.isdigit() for c in value):
                    yield value
    finally:
        if stream is not sys.stdin:
            stream.close()


def routes_from(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> list[Any]:
    """The routes ``smsgate serve`` was asked for (connected gateways with their access rules)."""
    from smsgate import profiles
    from smsgate.gateway import connect
    from smsgate.serve import Route

    config = (
        profiles.ConfigFile.load(args.config, env) if (args.config or not all("=" in g for g in args.gateway)) else None
    )
    wanted: list[tuple[str, str]] = []
    for given in args.gateway:
        name, sep, dsn = given.partition("=")
        wanted.append((name.strip(), dsn if sep else ""))
    if not wanted:
        if config is None or not config.gateways:
            raise ConfigurationError("no gateway to serve: give --gateway NAME=DSN or [gateways.NAME] in smsgate.toml")
        wanted = [(name, "") for name in sorted(config.gateways)]
    tokens, basics = dict(args.token), dict(args.basic)
    allows: dict[str, list[str]] = {}
    for name, cidr in args.allow:
        allows.setdefault(name, []).append(cidr)
    routes = []
    for name, dsn in wanted:
        receive: Mapping[str, Any] = {}
        if config is not None and name in config.gateways:
            receive = config.gateways[name].get("receive", {}) or {}
            dsn = dsn or config.dsn(name)
        if not dsn:
            raise ConfigurationError(f"no DSN for gateway {name!r}")
        where = f"[gateways.{name}.receive]"
        token = tokens.get(name)
        token = _secret(token, f"--token {name}") if token else receive.get("token")
        token = profiles.substitute(str(token), env, where=where) if token else None
        basic_text = basics.get(name)
        basic_text = _secret(basic_text, f"--basic {name}") if basic_text else receive.get("basic")
        basic = None
        if basic_text:
            user, sep, password = profiles.substitute(str(basic_text), env, where=where).partition(":")
            if not sep:
                raise ConfigurationError(f"{where}: basic must be USER:PASSWORD")
            basic = (user, password)
        allow = allows.get(name) or list(receive.get("allow", []))
        try:
            routes.append(Route(name, connect(dsn), token=token, basic=basic, allow=tuple(allow)))
        except ValueError as exc:
            raise ConfigurationError(f"gateway {name}: bad allow-list entry: {exc}") from None
    return routes


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``serve``, ``suppress`` or ``inbound``; returns the exit code."""
    if args.command == "serve":
        return _serve(args, out)
    store = _inbound_store(args.store)
    try:
        if args.command == "suppress":
            return _suppress(args, store, out)
        if args.action == "fetch":
            return _fetch(args, store, out)
        return _inbound(args, store, out)
    finally:
        store.close()


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    from smsgate import serve

    routes = routes_from(args)
    store = _inbound_store(args.store)  # its .store is the campaign store (same file or database)
    receiver = serve.Receiver(
        routes,
        store,
        keywords=_keywords(args),
        max_body=args.max_body,
        metrics_token=args.metrics_token,
        metrics_campaigns=args.metrics_campaigns,
        campaign_store=store.store,
    )
    server = serve.create(
        receiver,
        args.host,
        args.port,
        threads=args.threads,
        timeout=args.timeout,
        max_body=args.max_body,
        trusted_proxy=args.trusted_proxy,
    )
    for route in routes:
        path = f"/{route.name}/{'<token>/' if route.token else ''}"
        auth = (
            ", ".join(
                x
                for x in (
                    "path token" if route.token else "",
                    "basic auth" if route.basic else "",
                    "allow-list" if route.allow else "",
                )
                if x
            )
            or "NO AUTHENTICATION"
        )
        print(f"{route.name} ({route.gateway.name}): {server.url}{path}dlr and {path}inbound [{auth}]", file=out)
    dashboard = f"{server.url}/dashboard{'?token=<metrics token>' if args.metrics_token else ''}"
    print(
        f"smsgate serve: listening on {server.url} (store {_where(store.store)}; dashboard {dashboard}); Ctrl-C stops",
        file=out,
        flush=True,
    )
    import signal

    signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return 0


def _suppress(args: argparse.Namespace, store: Any, out: TextIO) -> int:
    if args.action == "add":
        added = store.suppress(args.number, reason=args.reason)
        print(f"{added} added ({len(args.number) - added} already on the list)", file=out)
    elif args.action == "remove":
        removed = store.unsuppress(args.number)
        print(f"{removed} removed", file=out)
    elif args.action == "import":
        numbers = list(_numbers(args.path))
        added = store.suppress(numbers, reason=args.reason)
        print(f"{added} added from {len(numbers)} numbers", file=out)
    else:
        entries = store.suppressions()
        if args.json:
            json.dump(
                [{"number": s.number, "reason": s.reason, "gateway": s.gateway, "at": s.at} for s in entries], out
            )
            out.write("\n")
        else:
            for s in entries:
                print(f"{s.number}\t{s.reason}\t{s.gateway or ''}", file=out)
    return 0


def _row(m: Any) -> dict[str, Any]:
    return {
        "gateway": m.gateway,
        "sender": m.sender,
        "recipient": m.recipient,
        "text": m.text,
        "message_id": m.message_id,
        "received_at": m.received_at.isoformat() if m.received_at else None,
        "opt_out": m.opt_out,
    }


def _fetch(args: argparse.Namespace, store: Any, out: TextIO) -> int:
    """Pull into the store (:func:`smsgate.inbound.pull`: each message once, opt-outs and app
    hooks as for a push, the cursor kept per gateway) and show what came."""
    from smsgate import output
    from smsgate.gateway import Gateway, connect
    from smsgate.inbound import pull

    with connect(args.gateway) as gateway:
        if not isinstance(gateway, Gateway):  # a router of smsgate.toml: pull from its gateways instead
            raise ConfigurationError(f"{args.gateway!r} is a router: fetch from one of its gateways by name")
        name = gateway.name if "://" in args.gateway else args.gateway
        hooks = [lambda m: gateway.hooks.on_inbound(m, name)] if gateway.hooks.listens("on_inbound") else []
        fetched = pull(gateway, store, name, _keywords(args), hooks, max_pages=args.max_pages)
    new = sum(1 for _, fresh in fetched if fresh)
    if args.json:
        rows = [{**_row(m), "new": fresh} for m, fresh in fetched]
        document = {
            "gateway": name,
            "fetched": len(fetched),
            "new": new,
            "cursor": store.cursor(name),
            "messages": rows,
        }
        json.dump(document, out, ensure_ascii=False)
        out.write("\n")
        return 0
    if fetched:
        cells = [
            [
                m.received_at.isoformat() if m.received_at else "-",
                m.sender,
                m.text.replace("\n", " "),
                "new" if f else "seen",
            ]
            for m, f in fetched
        ]
        print(output.table(["received", "sender", "text", ""], cells), file=out)
    print(f"{name}: {len(fetched)} fetched, {new} new (cursor {store.cursor(name) or '-'})", file=out)
    return 0


def _inbound(args: argparse.Namespace, store: Any, out: TextIO) -> int:
    messages = store.inbound(args.gateway, args.sender)
    if args.json:
        json.dump([_row(m) for m in messages], out, ensure_ascii=False)
        out.write("\n")
    else:
        for m in messages:
            when = m.received_at.isoformat() if m.received_at else "-"
            print(f"{when}\t{m.gateway}\t{m.sender}\t{m.text}", file=out)
    return 0
