"""Shared fixtures: a registry holding only this plugin, the emulator, gateways to it (the core's
``registry_for`` and ``Connector``, which close every gateway they opened)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from octopush_support import DSN

import smsgate_octopush
from smsgate.gateway import Gateway
from smsgate.plugins import Registry
from smsgate.testing import Connector, registry_for
from smsgate_octopush.emulator import OctopushEmulator


@pytest.fixture
def registry() -> Registry:
    return registry_for(smsgate_octopush)


@pytest.fixture
def emulator() -> Iterator[OctopushEmulator]:
    with OctopushEmulator() as emulator:
        yield emulator


@pytest.fixture
def offline(registry: Registry) -> Iterator[Callable[..., Gateway]]:
    """``offline("options", dsn=...)``: a gateway to the production hosts (or ``dsn``), for
    building requests only (nothing is sent)."""
    connectors: dict[str, Connector] = {}

    def make(options: str = "", dsn: str = DSN) -> Gateway:
        return connectors.setdefault(dsn, Connector(registry, dsn))(options)

    yield make
    for connector in connectors.values():
        connector.close()


@pytest.fixture
def online(registry: Registry, emulator: OctopushEmulator) -> Iterator[Callable[..., Gateway]]:
    """``online(api, "options")``: a gateway to the emulator, retrying without sleeping."""
    with Connector(registry, emulator.dsn("legacy")) as legacy, Connector(registry, emulator.dsn("v1")) as v1:

        def make(api: str = "legacy", options: str = "", **kwargs: Any) -> Gateway:
            return (v1 if api == "v1" else legacy)(options, **kwargs)

        yield make
