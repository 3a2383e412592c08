"""Shared fixtures: the routesms plugin in a fresh registry, its emulator over loopback, a gateway."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import smsgate_routesms
from smsgate import connect
from smsgate.gateway import Gateway
from smsgate.plugins import Registry
from smsgate_routesms.emulator import RoutesmsEmulator

FIXTURES = Path(__file__).parent / "fixtures"


class Sleeps(list[float]):
    """Records the waits the retry engine asked for, instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def registry() -> Registry:
    registry = Registry(load_entrypoints=False)
    registry.register(smsgate_routesms)
    return registry


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., RoutesmsEmulator]]:
    """Start emulators with given knobs; all are stopped at the end of the test."""
    running: list[RoutesmsEmulator] = []

    def start(**kwargs: Any) -> RoutesmsEmulator:
        emulator = RoutesmsEmulator(**kwargs).start()
        running.append(emulator)
        return emulator

    yield start
    for emulator in running:
        emulator.stop()


@pytest.fixture
def emulator(start_emulator: Callable[..., RoutesmsEmulator]) -> RoutesmsEmulator:
    return start_emulator()


@pytest.fixture
def connect_to(registry: Registry, sleeps: Sleeps) -> Iterator[Callable[..., Gateway]]:
    """``connect_to(emulator, "option=value&...")``: a gateway to that emulator (closed at the end)."""
    opened: list[Gateway] = []

    def open_gateway(emulator: RoutesmsEmulator, options: str = "") -> Gateway:
        dsn = emulator.dsn() + (f"&{options}" if options else "")
        gateway = connect(dsn, registry=registry, sleep=sleeps)
        opened.append(gateway)
        return gateway

    yield open_gateway
    for gateway in opened:
        gateway.close()


@pytest.fixture
def gateway(emulator: RoutesmsEmulator, connect_to: Callable[..., Gateway]) -> Gateway:
    return connect_to(emulator)


@pytest.fixture
def offline(registry: Registry) -> Iterator[Callable[..., Gateway]]:
    """A gateway to a made-up white-label host, for previews (nothing is sent)."""
    opened: list[Gateway] = []

    def open_gateway(options: str = "sender=Shop&tls=false", host: str = "smsplus.example.net:8080") -> Gateway:
        dsn = f"routesms://shop:pa%2Bss%20word@{host}" + (f"?{options}" if options else "")
        gateway = connect(dsn, registry=registry)
        opened.append(gateway)
        return gateway

    yield open_gateway
    for gateway in opened:
        gateway.close()
