"""Small helpers for provider tests: a registry holding one plugin, gateways to an emulator
with extra DSN options that are all closed at the end, and one fake clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from smsgate.errors import SmsgateError
from smsgate.gateway import Gateway, connect
from smsgate.models import HttpRequest
from smsgate.plugins import Registry


def registry_for(*plugins: object) -> Registry:
    """A registry with only ``plugins`` (no entry points): what a plugin's tests run against."""
    registry = Registry(load_entrypoints=False)
    for plugin in plugins:
        registry.register(plugin)
    return registry


class Connector:
    """``connector("option=value&...")`` opens a gateway to ``dsn`` with extra options; retries
    do not really sleep unless ``sleep`` is given. ``close()`` closes every gateway it opened."""

    def __init__(self, registry: Registry, dsn: str, *, sleep: Callable[[float], None] | None = None) -> None:
        self.registry = registry
        self.dsn = dsn
        self.sleep = sleep if sleep is not None else (lambda _: None)
        self.opened: list[Gateway] = []

    def __call__(self, options: str = "", **kwargs: Any) -> Gateway:
        dsn = self.dsn
        if options:
            dsn += ("&" if "?" in dsn else "?") + options.lstrip("?&")
        kwargs.setdefault("sleep", self.sleep)
        gateway = connect(dsn, registry=self.registry, **kwargs)
        self.opened.append(gateway)
        return gateway

    def close(self) -> None:
        for gateway in self.opened:
            gateway.close()
        self.opened.clear()

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeClock:
    """Virtual time that stands still until moved, shared by an emulator (``emulator.clock =
    clock``) and a gateway (``connect(..., clock=clock, sleep=clock.sleep)``). ``sleep`` moves
    it and records the wait in ``slept``; ``advance`` only moves it; ``now`` may be set."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time())) if now is None else now  # whole seconds: what gateways write
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def error_of(call: Callable[[], object]) -> SmsgateError | None:
    """The smsgate error ``call()`` raised, ``None`` if none; any other exception propagates
    (what a parser fuzz test asserts: unreadable input is an smsgate error, never a crash)."""
    try:
        call()
    except SmsgateError as exc:
        return exc
    return None


def nested(depth: int, opener: str) -> str:
    """JSON nested ``depth`` levels deep: ``[[[...]]]`` (``opener="["``) or ``{"a":{"a":...}}``
    (``opener='{"a":'``), for parsers that must refuse it rather than hit the recursion limit."""
    closer = "]" if opener == "[" else "}"
    inner = "0" if opener != "[" else ""
    return opener * depth + inner + closer * depth


def nested_callbacks(
    url: str, report: Mapping[str, str], field: str, nesting: str, content_type: str
) -> list[HttpRequest]:
    """A delivery-report callback to ``url`` in three hostile forms: the JSON ``report`` with
    ``field`` set to the raw JSON ``nesting``, ``nesting`` as the whole body (both POSTed with
    ``content_type``, none when empty), and a GET whose first field of ``report`` is ``nesting``."""
    headers = (("Content-Type", content_type),) if content_type else ()
    pairs = [f'"{k}":"{v}"' for k, v in report.items() if k != field]
    document = "{" + ",".join([*pairs, f'"{field}":{nesting}']) + "}"
    first, *rest = report
    query = urlencode({first: nesting, **{k: report[k] for k in rest}})
    return [
        HttpRequest("POST", url, headers, document.encode()),
        HttpRequest("POST", url, headers, nesting.encode()),
        HttpRequest("GET", f"{url}?{query}"),
    ]
