"""Shared fixtures: a registry holding only this plugin, a running emulator, gateways to it
(``smsgate.testing``'s ``registry_for`` and ``Connector``, which close every gateway they open)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

import smsgate_bulksms
from smsgate.gateway import Gateway
from smsgate.plugins import Registry
from smsgate.testing import Connector, registry_for
from smsgate_bulksms.emulator import BulkSmsEmulator, ManualClock


@pytest.fixture
def clock() -> ManualClock:
    """A settable clock, 2026-01-01 00:00 UTC unless a test moves it."""
    return ManualClock(1_767_225_600.0)


@pytest.fixture
def registry() -> Registry:
    return registry_for(smsgate_bulksms)


@pytest.fixture
def emulator() -> Iterator[BulkSmsEmulator]:
    with BulkSmsEmulator() as emulator:
        yield emulator


@pytest.fixture
def connect_to(emulator: BulkSmsEmulator, registry: Registry) -> Iterator[Connector]:
    """``connect_to("option=value&...")``: a gateway to the emulator with extra DSN options."""
    with Connector(registry, emulator.dsn()) as connector:
        yield connector


@pytest.fixture
def gateway(connect_to: Connector) -> Gateway:
    return connect_to()


@pytest.fixture
def gateway_to(registry: Registry) -> Iterator[Callable[..., Gateway]]:
    """``gateway_to(emulator, "option=value&...")``: a gateway to an emulator a test started
    itself (with its own knobs)."""
    with ExitStack() as stack:

        def make(emulator: BulkSmsEmulator, options: str = "", **kwargs: object) -> Gateway:
            return stack.enter_context(Connector(registry, emulator.dsn()))(options, **kwargs)

        yield make


@pytest.fixture
def offline(registry: Registry) -> Iterator[Callable[..., Gateway]]:
    """``offline("host?options")``: a gateway whose requests are only built, never sent."""
    with ExitStack() as stack:

        def make(where: str = "default", user: str = "john", secret: str = "abcd1234") -> Gateway:
            return stack.enter_context(Connector(registry, f"bulksms://{user}:{secret}@{where}"))()

        yield make
