"""Real Celery workers (separate processes) on a real broker, Redis and RabbitMQ, with the
store in PostgreSQL: a campaign enqueued is sent once per recipient, even when workers are
killed with SIGKILL mid-run.

Needs PostgreSQL and the broker of each test (skipped with a line naming it when one does not
answer, failed on CI).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import write_input

import smsgate
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.campaign import Campaign
from smsgate.journal import Journal
from smsgate.store import PLANNED, SENDING
from smsgate.store.postgres import PostgresStore
from smsgate.testing import services
from smsgate_celery.app import make_app
from smsgate_celery.engine import enqueue
from smsgate_celery.settings import Settings

BROKERS = [pytest.param("redis", id="redis"), pytest.param("rabbitmq", id="rabbitmq")]
FAST = "connect_timeout=0.5&read_timeout=1"  # a lease of 3 attempts: 4.5 s


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest) -> str:
    return services.require(str(request.param))


class Workers:
    """Celery worker processes (each its own session: killed as a group, children too)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        argv = [sys.executable, "-m", "celery", "-A", "smsgate_celery", "worker", "-Q", self.env["SMSGATE_QUEUE"]]
        argv += ["-c", str(concurrency), "-n", f"w{n}-{uuid.uuid4().hex[:6]}@%h", "-l", "warning"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        with self.log.open("ab") as out:
            proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=out, start_new_session=True)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its pool children, no goodbye
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(proc)


@pytest.fixture
def setup(
    tmp_path: Path, pg_url: str, schema: str, store: PostgresStore, broker: str
) -> Iterator[Callable[[OutboxEmulator], tuple[Workers, Settings]]]:
    queue = f"smsgate-test-{uuid.uuid4().hex[:8]}"
    made: list[tuple[Workers, Settings]] = []

    def make(emulator: OutboxEmulator) -> tuple[Workers, Settings]:
        config = tmp_path / "smsgate.toml"
        config.write_text(f'[gateways.shop]\ndsn = "{emulator.dsn()}&{FAST}"\n', encoding="utf-8")
        settings = Settings(broker=broker, store=f"{pg_url}?schema={schema}", lease=1.0, chunk=20, queue=queue)
        env = dict(os.environ)
        env.update(
            SMSGATE_BROKER=broker,
            SMSGATE_STORE=settings.store or "",
            SMSGATE_CONFIG=str(config),
            SMSGATE_QUEUE=queue,
            SMSGATE_CHUNK="20",
            SMSGATE_LEASE="1",
        )
        workers = Workers(env, tmp_path / "workers.log")
        made.append((workers, settings))
        return workers, settings

    yield make
    for workers, settings in made:
        workers.stop()
        app = make_app(settings)
        try:
            with app.connection_for_write() as conn:
                getattr(conn.default_channel, "queue_delete")(queue)  # noqa: B009 - not in the stubs
        except Exception:  # best effort: a test queue left behind is empty or nearly
            pass
    log = tmp_path / "workers.log"
    if log.exists():
        text = log.read_text(errors="replace")
        print(text[-4000:])


def _enqueue(tmp_path: Path, store: PostgresStore, emulator: OutboxEmulator, settings: Settings, rows: int) -> str:
    source = write_input(tmp_path / "in.csv", rows)
    with smsgate.connect(emulator.dsn()) as gw:
        gw.journal = Journal.on(store)
        campaign = Campaign(gw, store, "spring", source, "Hi {name}", gateway_name="shop")
        tasks = enqueue(campaign, app=make_app(settings))
    assert tasks == -(-rows // settings.chunk)
    return campaign.name


def _wait(store: PostgresStore, name: str, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        counts = store.counts(name)
        if not counts.get(PLANNED) and not counts.get(SENDING):
            return counts
        if time.monotonic() > deadline:
            pytest.fail(f"campaign not finished after {timeout} s: {counts}")
        time.sleep(0.3)


def test_workers_send_an_enqueued_campaign_once(
    tmp_path: Path, store: PostgresStore, setup: Callable[[OutboxEmulator], tuple[Workers, Settings]]
) -> None:
    with OutboxEmulator() as emulator:
        workers, settings = setup(emulator)
        name = _enqueue(tmp_path, store, emulator, settings, 200)
        workers.start(concurrency=2)
        workers.start(concurrency=1)
        assert _wait(store, name, 90) == {"accepted": 200}
        assert [emulator.taken_for(f"+48500{n:06d}") for n in range(1, 201)] == [1] * 200
        owners = {r[0] for r in store._read("SELECT DISTINCT lease_owner FROM recipients")}
        assert owners == {None}  # settled rows hold no lease
        deadline = time.monotonic() + 20
        while (record := store.campaign(name)) is not None and record.state != "finished":
            assert time.monotonic() < deadline, "the last task did not mark the campaign finished"
            time.sleep(0.3)


def test_workers_killed_mid_run_lose_nothing_and_send_nothing_twice(
    tmp_path: Path, store: PostgresStore, setup: Callable[[OutboxEmulator], tuple[Workers, Settings]]
) -> None:
    """Every reply takes 50 ms; two workers start, one is killed with SIGKILL (with its pool
    children) mid-run, twice; a fresh worker takes over. The outbox de-duplicates by key, so a
    send the dead worker may have made is resent under its key: taken once."""
    with OutboxEmulator(latency=0.05) as emulator:
        workers, settings = setup(emulator)
        name = _enqueue(tmp_path, store, emulator, settings, 300)
        victim = workers.start(concurrency=2)
        workers.start(concurrency=1)
        for _ in range(2):
            deadline = time.monotonic() + 30
            while store.counts(name).get(SENDING, 0) == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            workers.kill(victim)
            victim = workers.start(concurrency=2)
        counts = _wait(store, name, 120)
        taken = [emulator.taken_for(f"+48500{n:06d}") for n in range(1, 301)]
    assert counts == {"accepted": 300}
    assert max(taken) == 1 and min(taken) == 1  # 0 duplicates, 0 lost
