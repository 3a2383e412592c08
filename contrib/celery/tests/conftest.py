"""Fixtures: a PostgreSQL store in a fresh schema, the outbox emulator, campaigns planned in it.

PostgreSQL (``$SMSGATE_TEST_POSTGRES``), Redis (``$SMSGATE_TEST_REDIS``) and RabbitMQ
(``$SMSGATE_TEST_RABBITMQ``) are the real services: a test that needs one that does not answer
is skipped with a line naming it, and fails on CI (``CI`` set).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import smsgate
from smsgate.builtin import outbox
from smsgate.builtin.outbox import variant
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.campaign import Campaign
from smsgate.gateway import Gateway
from smsgate.journal import Journal
from smsgate.plugins import Registry
from smsgate.store.postgres import PostgresStore
from smsgate.testing import services
from smsgate_celery.engine import enqueue


@pytest.fixture(scope="session")
def pg_url() -> str:
    return services.require("postgres")


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    with services.scratch_schema(pg_url, "smsgate_celery") as name:
        yield name


@pytest.fixture
def store(pg_url: str, schema: str) -> Iterator[PostgresStore]:
    s = PostgresStore(pg_url, schema=schema)
    yield s
    s.close()


@pytest.fixture
def emulator() -> Iterator[OutboxEmulator]:
    with OutboxEmulator() as emulator:
        yield emulator


class Sent:
    """A stand-in Celery app for enqueue: keeps what would have been sent."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, Any, Any]] = []

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> None:
        self.tasks.append((name, args, kwargs))

    class conf:  # mimics app.conf
        smsgate = None


def write_input(path: Path, rows: int, *, repeat_text: int = 1) -> Path:
    """A CSV of ``rows`` numbers; every ``repeat_text`` rows share a text (a shared request)."""
    lines = ["phone,name"] + [f"+48500{n:06d},n{(n - 1) // repeat_text}" for n in range(1, rows + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


PlanFn = Callable[..., str]


@pytest.fixture
def plan(tmp_path: Path, store: PostgresStore, emulator: OutboxEmulator) -> PlanFn:
    """Plan a campaign of ``rows`` rows in the store (texts kept) as ``enqueue`` does; returns
    its name. Nothing is sent."""

    def make(rows: int, name: str = "spring", repeat_text: int = 1, gateway: str = "shop") -> str:
        source = write_input(tmp_path / f"{name}.csv", rows, repeat_text=repeat_text)
        with smsgate.connect(emulator.dsn()) as gw:
            gw.journal = Journal.on(store)
            campaign = Campaign(gw, store, name, source, "Hi {name}", gateway_name=gateway)
            enqueue(campaign, app=Sent(), chunk=50)  # type: ignore[arg-type]
        return name

    return make


@pytest.fixture
def connect_to(emulator: OutboxEmulator) -> Callable[[str], Gateway]:
    return lambda name: smsgate.connect(emulator.dsn())


@pytest.fixture
def registry() -> Registry:
    """The outbox, and variants: ``nodedup`` (nothing against doubt), ``lookup`` (a lookup only)."""
    registry = Registry(load_entrypoints=False)
    registry.register(outbox)
    registry.register(variant("nodedup", dedup=None, operations=frozenset({"send", "status", "balance"})))
    registry.register(variant("lookup", dedup=None))
    return registry
