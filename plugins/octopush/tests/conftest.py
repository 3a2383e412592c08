"""Shared fixtures: a registry holding only this plugin, the emulator, gateways to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from octopush_support import DSN

import smsgate_octopush
from smsgate.gateway import Gateway, connect
from smsgate.plugins import Registry
from smsgate_octopush.emulator import OctopushEmulator


@pytest.fixture
def registry() -> Registry:
    registry = Registry(load_entrypoints=False)
    registry.register(smsgate_octopush)
    return registry


@pytest.fixture
def emulator() -> Iterator[OctopushEmulator]:
    with OctopushEmulator() as emulator:
        yield emulator


@pytest.fixture
def offline(registry: Registry) -> Callable[..., Gateway]:
    """A gateway to the production hosts, for building requests only (nothing is sent)."""

    def make(options: str = "", dsn: str = DSN) -> Gateway:
        return connect(dsn + (f"?{options}" if options else ""), registry=registry)

    return make


@pytest.fixture
def online(registry: Registry, emulator: OctopushEmulator) -> Iterator[Callable[..., Gateway]]:
    """A gateway to the emulator (``api`` and extra DSN options), retrying without sleeping."""
    opened: list[Gateway] = []

    def make(api: str = "legacy", options: str = "", **kwargs: Any) -> Gateway:
        dsn = emulator.dsn(api) + (f"&{options}" if options else "")
        kwargs.setdefault("sleep", lambda _: None)
        gateway = connect(dsn, registry=registry, **kwargs)
        opened.append(gateway)
        return gateway

    yield make
    for gateway in opened:
        gateway.close()
