"""Shared fixtures: the SMSC emulator on loopback with a clock the tests move, and gateways to it
(``smsgate.testing``'s registry and ``Connector``, with retry sleeps that move the same clock)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import smsgate_smsc
from smsgate.gateway import Gateway
from smsgate.plugins import Registry
from smsgate.testing import Connector, registry_for
from smsgate_smsc.emulator import SmscEmulator


class Clock:
    """A settable clock shared by the emulator and the gateway's sleeps."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def registry() -> Registry:
    return registry_for(smsgate_smsc)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> Iterator[SmscEmulator]:
    with SmscEmulator() as emu:
        emu.clock = clock
        yield emu


@pytest.fixture
def connector(emulator: SmscEmulator, registry: Registry, clock: Clock) -> Iterator[Connector]:
    """``connector("option=value")``: a gateway to the emulator with extra DSN options."""
    with Connector(registry, emulator.dsn(), sleep=clock.advance) as connect:
        yield connect


@pytest.fixture
def gateway(connector: Connector) -> Gateway:
    return connector()
