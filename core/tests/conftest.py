"""Fixtures for the core's tests: a fresh registry and the outbox gateway over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from core_kit import Sleeps, dsn_for

from smsgate import connect
from smsgate.builtin import outbox
from smsgate.builtin.outbox import variant
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.gateway import Gateway
from smsgate.plugins import Registry

# The example plugin is a distribution of its own: its tests run from test_contract_mutants.py.
collect_ignore = ["example_plugin"]


@pytest.fixture
def registry() -> Registry:
    registry = Registry(load_entrypoints=False)
    registry.register(outbox)
    registry.register(variant("nodedup", dedup=None, operations=frozenset({"send", "status", "balance"})))
    registry.register(variant("lookup", dedup=None))
    registry.register(variant("tiny", max_recipients=2, max_parts=2, flash=False, scheduling=False))
    return registry


@pytest.fixture
def emulator() -> Iterator[OutboxEmulator]:
    with OutboxEmulator() as emulator:
        yield emulator


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def gateway(emulator: OutboxEmulator, registry: Registry, sleeps: Sleeps) -> Iterator[Gateway]:
    with connect(dsn_for(emulator), registry=registry, sleep=sleeps, clock=sleeps.clock) as gateway:
        yield gateway
