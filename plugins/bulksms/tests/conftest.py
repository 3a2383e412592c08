"""Shared fixtures: a registry holding only this plugin, a running emulator, gateways to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import smsgate_bulksms
from smsgate.gateway import Gateway, connect
from smsgate.plugins import Registry
from smsgate_bulksms.emulator import BulkSmsEmulator, ManualClock


@pytest.fixture
def clock() -> ManualClock:
    """A settable clock, 2026-01-01 00:00 UTC unless a test moves it."""
    return ManualClock(1_767_225_600.0)


@pytest.fixture
def registry() -> Registry:
    registry = Registry(load_entrypoints=False)
    registry.register(smsgate_bulksms)
    return registry


@pytest.fixture
def emulator() -> Iterator[BulkSmsEmulator]:
    with BulkSmsEmulator() as emulator:
        yield emulator


@pytest.fixture
def connect_to(emulator: BulkSmsEmulator, registry: Registry) -> Iterator[Callable[..., Gateway]]:
    """``connect_to("option=value&...")``: a gateway to the emulator with extra DSN options."""
    opened: list[Gateway] = []

    def make(options: str = "", **kwargs: object) -> Gateway:
        dsn = emulator.dsn() + ("&" + options if options else "")
        kwargs.setdefault("sleep", lambda _: None)
        gateway = connect(dsn, registry=registry, **kwargs)
        opened.append(gateway)
        return gateway

    yield make
    for gateway in opened:
        gateway.close()


@pytest.fixture
def gateway(connect_to: Callable[..., Gateway]) -> Gateway:
    return connect_to()


@pytest.fixture
def offline(registry: Registry) -> Iterator[Callable[..., Gateway]]:
    """``offline("host?options")``: a gateway whose requests are only built, never sent."""
    opened: list[Gateway] = []

    def make(where: str = "default", user: str = "john", secret: str = "abcd1234") -> Gateway:
        gateway = connect(f"bulksms://{user}:{secret}@{where}", registry=registry)
        opened.append(gateway)
        return gateway

    yield make
    for gateway in opened:
        gateway.close()
