"""``smsgate gateways``: each configured gateway's health (circuit state, last error, counts).

The gateways come from the configuration file (``smsgate.toml``: every ``[gateways.NAME]``, or
those of the routers and gateways named on the command line) and from ``--gateway NAME=DSN``.
The state shown is either a snapshot a running process saved (``--state FILE``: a router with
``health_file`` writes one) or, by default, a fresh probe: a balance query to each gateway that
has one (a read: nothing is sent), recorded in a breaker like a send would be.

Exit codes: 0 when every gateway is healthy (closed circuit, probe answered or not probed),
5 when one is open or half-open or its probe failed, 2 for bad usage or configuration.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from smsgate.errors import ConfigurationError, SmsgateError

EXIT_OK, EXIT_USAGE, EXIT_UNHEALTHY = 0, 2, 5


def add_parser(sub: Any, json_help: str) -> None:
    """Register ``gateways`` on the CLI's sub-parsers."""
    parser = sub.add_parser("gateways", help="show each gateway's health: circuit state, last error, counts")
    parser.add_argument("names", nargs="*", metavar="NAME", help="gateways or routers of smsgate.toml (default: all)")
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,  # keeps `smsgate --config PATH gateways` (the global option)
        help="configuration file (default: $SMSGATE_CONFIG, ./smsgate.toml)",
    )
    parser.add_argument(
        "--gateway",
        action="append",
        default=[],
        metavar="NAME=DSN",
        help="a gateway not in the configuration file (repeatable)",
    )
    parser.add_argument("--state", metavar="FILE", help="show the health snapshot a running router saved (no probe)")
    parser.add_argument("--no-probe", action="store_true", help="list the gateways without querying them")
    parser.add_argument("--json", action="store_true", help=json_help)


def _gateways(args: argparse.Namespace) -> dict[str, str]:
    """Gateway name -> DSN, in the order given (config file first)."""
    from smsgate import profiles

    found: dict[str, str] = {}
    for item in args.gateway:
        name, sep, dsn = item.partition("=")
        if not sep or not name or "://" not in dsn:
            raise ConfigurationError(f"--gateway {item.split('://')[0]!r}...: must look like NAME=scheme://...")
        found[name] = dsn
    path = getattr(args, "config", None)
    try:
        config = profiles.ConfigFile.load(path)
    except ConfigurationError:
        if path is not None or not found:
            raise
        return found
    wanted: list[str] = []
    for name in args.names or [*config.gateways, *config.routers]:
        if name in config.routers:
            wanted.extend(_router_gateways(config.routers[name]))
        elif name in config.gateways or name in found:
            wanted.append(name)
        else:
            known = ", ".join(config.names()) or "none"
            raise ConfigurationError(f"no gateway or router named {name!r} (known: {known})")
    out = {name: config.dsn(name) for name in dict.fromkeys(wanted) if name not in found}
    out.update(found)
    return out


def _router_gateways(section: Mapping[str, Any]) -> list[str]:
    names: list[str] = [*_list(section.get("gateways")), *_list(section.get("default"))]
    for rule in section.get("rules", []) or []:
        if isinstance(rule, Mapping):
            names.extend([*_list(rule.get("gateways")), *_list(rule.get("primary")), *_list(rule.get("fallbacks"))])
    return list(dict.fromkeys(names))


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _probe(names: Mapping[str, str], no_probe: bool) -> list[dict[str, Any]]:
    from smsgate.gateway import connect
    from smsgate.health import Health

    health = Health()
    rows: list[dict[str, Any]] = []
    for name, dsn in names.items():
        breaker = health.breaker(name)
        probe = "not probed"
        provider = dsn.partition("://")[0]
        try:
            gateway = connect(dsn)
        except SmsgateError as error:
            breaker.failure(str(error))
            probe = "configuration error"
        else:
            with gateway:
                provider = gateway.name
                if no_probe:
                    pass
                elif "balance" not in gateway.spec.capabilities.operations:
                    probe = "not probed (no balance query)"
                else:
                    try:
                        balance = gateway.balance()
                    except SmsgateError as error:
                        breaker.failure(str(error))
                        probe = "failed"
                    else:
                        breaker.success()
                        probe = f"answered (balance {balance.amount}{' ' + balance.unit if balance.unit else ''})"
        rows.append({**breaker.snapshot(), "provider": provider, "probe": probe})
    return rows


def _when(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """``smsgate gateways``; returns the exit code."""
    from smsgate import output
    from smsgate.health import Health

    if args.state:
        try:
            rows = Health.load(Path(args.state))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"--state {args.state}: cannot read a health snapshot ({exc})") from None
        if args.names:
            rows = [r for r in rows if r.get("gateway") in set(args.names)]
    else:
        names = _gateways(args)
        if not names:
            raise ConfigurationError(
                "no gateway to show: add [gateways.NAME] to smsgate.toml, or give --gateway NAME=DSN"
            )
        rows = _probe(names, args.no_probe)
    unhealthy = any(r.get("state") != "closed" or r.get("probe") in ("failed", "configuration error") for r in rows)
    if args.json:
        output.dump({"gateways": rows, "healthy": not unhealthy}, out)
    else:
        headers = ["gateway", "provider", "state", "ok", "failed", "skipped", "last error"]
        if not args.state:
            headers.insert(3, "probe")
        table: list[list[str]] = []
        for r in rows:
            last = r.get("last_error") or "-"
            if r.get("last_error_at"):
                last = f"{last} (at {_when(r['last_error_at'])})"
            row = [
                str(r.get("gateway")),
                str(r.get("provider", "-")),
                str(r.get("state")),
                str(r.get("successes", 0)),
                str(r.get("failures", 0)),
                str(r.get("skipped", 0)),
                last,
            ]
            if not args.state:
                row.insert(3, str(r.get("probe")))
            table.append(row)
        out.write(output.table(headers, table) + "\n")
    return EXIT_UNHEALTHY if unhealthy else EXIT_OK


def names_of(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The gateway names of snapshot rows (for scripts and tests)."""
    return [str(r.get("gateway")) for r in rows]
