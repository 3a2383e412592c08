"""Shared fixtures: the routesms plugin in a fresh registry, its emulator over loopback, gateways
to it (``smsgate.testing``'s ``registry_for`` and ``Connector``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import smsgate_routesms
from smsgate.gateway import Gateway
from smsgate.plugins import Registry
from smsgate.testing import Connector, registry_for
from smsgate_routesms.emulator import RoutesmsEmulator

FIXTURES = Path(__file__).parent / "fixtures"
#: A made-up white-label account for previews (nothing is sent); the password needs encoding.
OFFLINE_DSN = "routesms://shop:pa%2Bss%20word@{host}"


class Sleeps(list[float]):
    """Records the waits the retry engine asked for, instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def registry() -> Registry:
    return registry_for(smsgate_routesms)


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
def connector(registry: Registry, sleeps: Sleeps) -> Iterator[Callable[[str], Connector]]:
    """``connector(dsn)``: a ``Connector`` to ``dsn`` recording its sleeps; all closed at the end."""
    opened: list[Connector] = []

    def make(dsn: str) -> Connector:
        # The bound method, not the list: Connector takes ``sleep or <no-op>``, and an empty
        # recorder is falsy.
        opened.append(Connector(registry, dsn, sleep=sleeps.__call__))
        return opened[-1]

    yield make
    for each in opened:
        each.close()


@pytest.fixture
def connect_to(connector: Callable[[str], Connector]) -> Callable[..., Gateway]:
    """``connect_to(emulator, "option=value&...")``: a gateway to that emulator."""

    def open_gateway(emulator: RoutesmsEmulator, options: str = "") -> Gateway:
        return connector(emulator.dsn())(options)

    return open_gateway


@pytest.fixture
def gateway(emulator: RoutesmsEmulator, connect_to: Callable[..., Gateway]) -> Gateway:
    return connect_to(emulator)


@pytest.fixture
def offline(connector: Callable[[str], Connector]) -> Callable[..., Gateway]:
    """A gateway to a made-up white-label host, for previews (nothing is sent)."""

    def open_gateway(options: str = "sender=Shop&tls=false", host: str = "smsplus.example.net:8080") -> Gateway:
        return connector(OFFLINE_DSN.format(host=host))(options)

    return open_gateway
