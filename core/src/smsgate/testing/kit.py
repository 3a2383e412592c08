"""Small helpers for provider tests: a registry holding one plugin, and gateways to an
emulator with extra DSN options that are all closed at the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smsgate.gateway import Gateway, connect
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
