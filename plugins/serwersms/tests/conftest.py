"""Shared fixtures: a registry with only this plugin, offline gateways, the emulator, replies."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from serwersms_support import INVALID

import smsgate_serwersms
from smsgate.gateway import Gateway, connect
from smsgate.plugins import Registry
from smsgate_serwersms.emulator import SerwerSmsEmulator


@pytest.fixture
def registry() -> Registry:
    registry = Registry(load_entrypoints=False)
    registry.register(smsgate_serwersms)
    return registry


@pytest.fixture
def offline(registry: Registry) -> Iterator[Callable[[str], Gateway]]:
    """Gateways for building requests only (``preview``/``prepare``): nothing is sent."""
    opened: list[Gateway] = []

    def make(options: str = "", credentials: str = "user:pa55word") -> Gateway:
        dsn = f"serwersms://{credentials}@default" + (f"?{options}" if options else "")
        gateway = connect(dsn, registry=registry, sleep=lambda _: None)
        opened.append(gateway)
        return gateway

    yield make
    for gateway in opened:
        gateway.close()


@pytest.fixture
def emulator() -> Iterator[SerwerSmsEmulator]:
    with SerwerSmsEmulator(invalid={INVALID}) as emu:
        yield emu


@pytest.fixture
def gateway(emulator: SerwerSmsEmulator, registry: Registry) -> Iterator[Gateway]:
    with connect(emulator.dsn(), registry=registry, sleep=lambda _: None) as gw:
        yield gw
