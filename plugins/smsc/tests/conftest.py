"""Shared fixtures: the SMSC emulator on loopback with a clock the tests move, and gateways to it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import smsgate_smsc
from smsgate.gateway import Gateway, connect
from smsgate.plugins import Registry
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
    registry = Registry(load_entrypoints=False)
    registry.register(smsgate_smsc)
    return registry


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> Iterator[SmscEmulator]:
    with SmscEmulator() as emu:
        emu.clock = clock
        yield emu


@pytest.fixture
def open_gateway(registry: Registry, clock: Clock) -> Iterator[Callable[..., Gateway]]:
    """``open_gateway(dsn)``: a gateway whose retry sleeps move the shared clock."""
    opened: list[Gateway] = []

    def open_(dsn: str, **kwargs: Any) -> Gateway:
        kwargs.setdefault("sleep", clock.advance)
        gateway = connect(dsn, registry=registry, **kwargs)
        opened.append(gateway)
        return gateway

    yield open_
    for gateway in opened:
        gateway.close()


@pytest.fixture
def gateway(emulator: SmscEmulator, open_gateway: Callable[..., Gateway]) -> Gateway:
    return open_gateway(emulator.dsn())
