"""Settings from the environment, the enqueue guard, and ``smsgate-celery status``."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PlanFn, Sent, write_input

import smsgate
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.campaign import Campaign
from smsgate.errors import ConfigurationError
from smsgate.store.postgres import PostgresStore
from smsgate.store.sqlite import SqliteStore
from smsgate_celery import cli
from smsgate_celery.engine import enqueue
from smsgate_celery.settings import Settings, parse_rates


def test_settings_come_from_the_environment() -> None:
    s = Settings.from_env({"SMSGATE_RATES": "shop=10, promo=2.5", "SMSGATE_CHUNK": "20", "SMSGATE_QUEUE": "q"})
    assert s.broker == "redis://127.0.0.1:6379/0" and s.rates == {"shop": 10.0, "promo": 2.5}
    assert (s.chunk, s.queue, s.lease) == (20, "q", 120.0)
    with pytest.raises(ConfigurationError, match="PostgreSQL store"):
        s.store_url()
    assert Settings(store="postgresql://u@h/db").store_url() == "postgresql://u@h/db"


@pytest.mark.parametrize("bad", ["shop", "=3", "shop=0", "shop=x"])
def test_a_bad_rate_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rates(bad)
    with pytest.raises(ConfigurationError):
        Settings.from_env({"SMSGATE_RATES": bad})


def test_enqueue_needs_the_postgresql_store(tmp_path: Path, emulator: OutboxEmulator) -> None:
    store = SqliteStore(tmp_path / "s.db")
    try:
        with smsgate.connect(emulator.dsn()) as gw:
            campaign = Campaign(gw, store, "c", write_input(tmp_path / "in.csv", 3), "Hi {name}")
            with pytest.raises(ConfigurationError, match="PostgreSQL"):
                enqueue(campaign, app=Sent())  # type: ignore[arg-type]
    finally:
        store.close()


def test_enqueue_plans_keeps_texts_and_sends_one_task_per_chunk(store: PostgresStore, plan: PlanFn) -> None:
    name = plan(120)  # chunks of 50: 3 tasks
    assert store.counts(name) == {"planned": 120}
    assert store.claimable(name) == 120
    assert len(store.texts(name, list(range(1, 121)))) == 120
    record = store.campaign(name)
    assert record is not None and record.gateway == "shop" and record.state == "running"


def test_status_reads_the_shared_store(
    pg_url: str, schema: str, store: PostgresStore, plan: PlanFn, capsys: pytest.CaptureFixture[str]
) -> None:
    name = plan(5)
    assert cli.main(["--store", f"{pg_url}?schema={schema}", "status", name, "--json"]) == 0
    assert '"planned": 5' in capsys.readouterr().out
    assert cli.main(["--store", f"{pg_url}?schema={schema}", "wait", name, "--timeout", "0"]) == 1
    assert cli.main(["--store", f"{pg_url}?schema={schema}", "status", "nope"]) == 2
