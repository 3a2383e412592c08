"""Shared fixtures, on ``smsgate.testing``'s kit: a registry with only this plugin, offline
gateways (``preview``/``prepare`` only), the emulator and gateways to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from serwersms_support import INVALID

import smsgate_serwersms
from smsgate.gateway import Gateway
from smsgate.plugins import Registry
from smsgate.testing.kit import Connector, registry_for
from smsgate_serwersms.emulator import SerwerSmsEmulator


@pytest.fixture
def registry() -> Registry:
    return registry_for(smsgate_serwersms)


@pytest.fixture
def offline(registry: Registry) -> Iterator[Callable[..., Gateway]]:
    """``offline(options, credentials="user:pa55word")``: a gateway to the default host for
    building requests only; nothing is sent."""
    connectors: list[Connector] = []

    def make(options: str = "", credentials: str = "user:pa55word") -> Gateway:
        connectors.append(Connector(registry, f"serwersms://{credentials}@default"))
        return connectors[-1](options)

    yield make
    for connector in connectors:
        connector.close()


@pytest.fixture
def emulator() -> Iterator[SerwerSmsEmulator]:
    with SerwerSmsEmulator(invalid={INVALID}) as emu:
        yield emu


@pytest.fixture
def connector(emulator: SerwerSmsEmulator, registry: Registry) -> Iterator[Connector]:
    """``connector("option=value")``: gateways to the emulator (password DSN), closed at the end."""
    with Connector(registry, emulator.dsn()) as connector:
        yield connector


@pytest.fixture
def gateway(connector: Connector) -> Gateway:
    return connector()
