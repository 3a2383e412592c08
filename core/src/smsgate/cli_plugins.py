"""``smsgate new-plugin NAME`` (a complete provider distribution) and ``smsgate providers --check``
(each installed plugin's self-checks: spec, hooks, hook-spec version, handlers, emulator)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parsers(sub: Any) -> None:
    """Register ``new-plugin`` on the CLI's subparsers."""
    new = sub.add_parser(
        "new-plugin",
        help="generate a provider plugin distribution that passes the contract suite",
        description="Generate smsgate-NAME: pyproject (entry point), the hooks on a Handlers table, a "
        "CodeTable, settings, an emulator, the contract test, a README and a noxfile. It works as "
        "generated (an invented JSON gateway): replace the wire format with your gateway's.",
    )
    new.add_argument("name", help="provider name: the DSN scheme, lowercase letters and digits (acmesms)")
    new.add_argument("--dir", metavar="D", help="where to create it (default: ./smsgate-NAME)")


def new_plugin(args: argparse.Namespace, out: TextIO) -> int:
    from smsgate import scaffold

    try:
        name = scaffold.check_name(args.name)
    except ValueError as error:
        out.write(f"smsgate: {error}\n")
        return EXIT_USAGE
    target = Path(args.dir) if args.dir else Path(f"smsgate-{name.replace('_', '-')}")
    try:
        files = scaffold.write(name, target)
    except FileExistsError as error:
        out.write(f"smsgate: {error}\n")
        return EXIT_USAGE
    out.write(f"created {target} ({len(files)} files): the smsgate-{name} provider\n")
    out.write(
        f"next:\n  cd {target}\n  nox                       # its contract suite, against the installed core\n"
        f"  smsgate emulate {name}     # after `pip install -e .`\n"
        "then replace the invented wire format (request.py, reply.py, codes.py, emulator.py) with your "
        "gateway's; docs/writing-a-provider.md walks through it\n"
    )
    return EXIT_OK


# -- providers --check ------------------------------------------------------------------------


class Check(NamedTuple):  # not attrs: `smsgate --help` imports this module, attrs costs ~20 ms
    name: str
    ok: bool
    detail: str = ""


CHECKS = ("spec", "hooks", "hook-version", "handlers", "emulator")


def self_checks(provider: Any) -> list[Check]:
    """Every self-check of one installed provider (a ``smsgate.plugins.Provider``)."""
    return [c(provider) for c in (_spec, _hooks, _version, _handlers, _emulator)]


def _guard(name: str) -> Callable[[Callable[[Any], str | None]], Callable[[Any], Check]]:
    def wrap(function: Callable[[Any], str | None]) -> Callable[[Any], Check]:
        def run(provider: Any) -> Check:
            try:
                problem = function(provider)
            except Exception as exc:  # a check that crashes is a failed check
                problem = f"{type(exc).__name__}: {exc}"
            return Check(name, problem is None, problem or "")

        return run

    return wrap


@_guard("spec")
def _spec(provider: Any) -> str | None:
    import attrs

    spec = provider.spec
    if not attrs.has(spec.settings):
        return "settings is not an attrs class"
    fields = attrs.fields_dict(spec.settings)
    missing = [n for n in spec.credentials if n is not None and n not in fields]
    if missing:
        return f"credential field(s) {missing} are not settings"
    caps = spec.capabilities
    if min(caps.max_recipients, caps.max_parts, caps.max_connections) < 1:
        return "max_recipients, max_parts and max_connections must be >= 1"
    if "send" not in caps.operations:
        return "operations lacks 'send'"
    if caps.dedup is not None and not (caps.dedup_window or 0) > 0:
        return f"dedup={caps.dedup!r} without dedup_window"
    return None


@_guard("hooks")
def _hooks(provider: Any) -> str | None:
    from smsgate.plugins import Registry

    registry = Registry(load_entrypoints=False, env={})
    registry.register(provider.plugin)
    pm = registry.hooks(provider.spec.name).pm
    absent = [
        name
        for name in ("provider_spec", "build_request", "parse_response")
        if not any(impl.plugin is provider.plugin for impl in getattr(pm.hook, name).get_hookimpls())
    ]
    return f"missing hookimpl(s): {', '.join(absent)}" if absent else None


@_guard("hook-version")
def _version(provider: Any) -> str | None:
    from smsgate import hookspecs

    return hookspecs.incompatibility(provider.plugin)


@_guard("handlers")
def _handlers(provider: Any) -> str | None:
    from smsgate.handlers import Handlers

    namespace = vars(provider.plugin) if hasattr(provider.plugin, "__dict__") else {}
    tables = [v for v in namespace.values() if isinstance(v, Handlers)]
    if not tables:
        return None  # hooks written by hand: nothing to compare
    implemented = frozenset().union(*(t.operations for t in tables))
    declared = provider.spec.capabilities.operations - {"personalised"}
    if declared - implemented:
        return f"operations {sorted(declared - implemented)} declared but no build+parse handler"
    if implemented - declared:
        return f"handlers for {sorted(implemented - declared)} not declared in capabilities.operations"
    return None


@_guard("emulator")
def _emulator(provider: Any) -> str | None:
    from smsgate.emulator import Emulator
    from smsgate.plugins import emulator_class

    cls = emulator_class(provider.spec)
    if not (isinstance(cls, type) and issubclass(cls, Emulator)):
        return f"{provider.spec.emulator} is not an smsgate.emulator.Emulator"
    dedup = getattr(cls, "dedup", None)
    if dedup is not None and dedup != provider.spec.capabilities.dedup:
        return f"the emulator de-duplicates by {dedup!r}, the spec declares {provider.spec.capabilities.dedup!r}"
    return None


def check(args: argparse.Namespace, out: TextIO) -> int:
    """``smsgate providers --check``: a table (or ``--json``) of every plugin's self-checks."""
    from smsgate import output
    from smsgate.plugins import default_registry

    registry = default_registry()
    results = {name: self_checks(p) for name, p in sorted(registry.providers.items())}
    failures = [{"name": f.name, "group": f.group, "error": f.error} for f in registry.failures]
    ok = all(c.ok for checks in results.values() for c in checks) and not failures
    if getattr(args, "json", False):
        document = {
            "ok": ok,
            "providers": {n: {c.name: {"ok": c.ok, "detail": c.detail} for c in cs} for n, cs in results.items()},
            "failures": failures,
        }
        output.dump(document, out)
    else:
        rows = [[name, *("ok" if c.ok else "FAIL" for c in checks)] for name, checks in results.items()]
        out.write(output.table(["provider", *CHECKS], rows) + "\n")
        for line in _problems(results):
            out.write(line + "\n")
        for f in failures:
            out.write(f"failed to load {f['name']}: {f['error']}\n")
    return EXIT_OK if ok else EXIT_FAILED


def _problems(results: dict[str, list[Check]]) -> Iterator[str]:
    for name, checks in results.items():
        for c in checks:
            if not c.ok:
                yield f"{name}: {c.name}: {c.detail}"
