"""Workers on the PostgreSQL store, without a broker: claims, resumes, fencing, the shared limit.

Each "worker" here has its own store connection and gateway, as a Celery worker process has; the
outbox emulator counts what the gateway really took, per recipient. A worker "killed
mid-request" writes its request (the gateway takes it) and then dies before reading the reply:
its rows stay ``sending`` under a lease that expires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import PlanFn

import smsgate
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.gateway import Gateway
from smsgate.models import HttpRequest, HttpResponse
from smsgate.plugins import Registry
from smsgate.store.postgres import LeaseLost, PostgresStore
from smsgate_celery import worker as worker_module
from smsgate_celery.worker import Gateways, lease_for, run_chunk

FAST = "connect_timeout=0.2&read_timeout=0.2"  # a lease of 3 attempts: 1.2 s


class Killed(BaseException):
    """The process died (kill -9): nothing after this point runs."""


class KillAfterWrite:
    """A transport that delivers the first send request, then dies before the reply."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.armed = True

    def send(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = self.inner.send(request)
        if self.armed and request.url.endswith("/v1/send"):
            self.armed = False
            raise Killed
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _dsn(emulator: OutboxEmulator, scheme: str = "outbox") -> str:
    return emulator.dsn().replace("outbox://", f"{scheme}://", 1) + "&" + FAST


def _drain(store: PostgresStore, gateways: Gateways, name: str, **kw: Any) -> int:
    sent = 0
    while True:
        done = run_chunk(store, gateways, name, **kw)
        if not done.claimed:
            return sent
        sent += done.settled


def _taken(emulator: OutboxEmulator, rows: int) -> list[int]:
    return [emulator.taken_for(f"+48500{n:06d}") for n in range(1, rows + 1)]


def test_one_worker_sends_a_campaign_chunk_by_chunk(
    store: PostgresStore, emulator: OutboxEmulator, plan: PlanFn, connect_to: Callable[[str], Gateway]
) -> None:
    name = plan(120, repeat_text=4)  # texts shared by 4 rows: 30 requests of 4 recipients
    gateways = Gateways(store, connect=connect_to)
    try:
        assert _drain(store, gateways, name, limit=50) == 120
    finally:
        gateways.close()
    assert store.counts(name) == {"accepted": 120}
    assert _taken(emulator, 120) == [1] * 120
    requests = len([r for r in emulator.requests if r.path == "/v1/send"])
    assert 30 <= requests <= 33  # a text that straddles two chunks takes two requests
    keys = {r.key for r in store.rows(name)}
    assert len(keys) == requests and all(k is not None and k.startswith(f"cmp/{name}/m/") for k in keys)
    assert store.texts(name, list(range(1, 121))) == {}  # texts are dropped once settled


def test_four_workers_share_a_campaign_and_send_nothing_twice(
    pg_url: str, store: PostgresStore, emulator: OutboxEmulator, plan: PlanFn, connect_to: Callable[[str], Gateway]
) -> None:
    name = plan(400)
    done: dict[str, int] = {}

    def one(n: int) -> None:
        mine = PostgresStore(pg_url, schema=store.schema)
        gateways = Gateways(mine, connect=connect_to)
        try:
            done[f"w{n}"] = _drain(mine, gateways, name, owner=f"w{n}", limit=20)
        finally:
            gateways.close()
            mine.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(done.values()) == 400 and sum(1 for v in done.values() if v) >= 2
    assert store.counts(name) == {"accepted": 400}
    assert _taken(emulator, 400) == [1] * 400


def _killed_worker(store: PostgresStore, registry: Registry, dsn: str, name: str) -> None:
    def connect(_: str) -> Gateway:
        gw = smsgate.connect(dsn, registry=registry)
        gw.engine.transport = KillAfterWrite(gw.engine.transport)
        return gw

    gateways = Gateways(store, connect=connect)
    with pytest.raises(Killed):
        run_chunk(store, gateways, name, owner="dead", limit=10, lease=0.1)


@pytest.mark.parametrize(
    ("scheme", "state", "why"),
    [
        ("outbox", "accepted", "resent under the de-dup key: the gateway replays its first reply"),
        ("lookup", "accepted", "looked up: the gateway has it"),
        ("nodedup", "unknown", "neither: unknown, never a blind resend"),
    ],
)
def test_a_dead_workers_send_is_taken_over_by_the_rules(
    pg_url: str,
    store: PostgresStore,
    emulator: OutboxEmulator,
    plan: PlanFn,
    registry: Registry,
    scheme: str,
    state: str,
    why: str,
) -> None:
    name = plan(10, repeat_text=10)  # one text: one request of 10 recipients
    dsn = _dsn(emulator, scheme)
    _killed_worker(store, registry, dsn, name)
    assert store.counts(name) == {"sending": 10} and _taken(emulator, 10) == [1] * 10
    other = PostgresStore(pg_url, schema=store.schema)
    gateways = Gateways(other, connect=lambda _: smsgate.connect(dsn, registry=registry))
    try:
        assert run_chunk(other, gateways, name, owner="early", limit=10, lease=0.1).claimed == 0  # leased
        time.sleep(1.3)  # the dead worker's lease ends
        done = run_chunk(other, gateways, name, owner="heir", limit=10, lease=0.1)
    finally:
        gateways.close()
        other.close()
    assert done.claimed == 10, why
    assert store.counts(name) == {state: 10}, why
    assert _taken(emulator, 10) == [1] * 10, why  # never twice
    rows = store.rows(name)
    assert all(r.attempts == 2 for r in rows)
    if state == "unknown":
        assert all(r.reason and "de-duplication" in r.reason for r in rows)


def test_a_worker_that_lost_its_lease_while_alive_writes_nothing(
    pg_url: str,
    store: PostgresStore,
    emulator: OutboxEmulator,
    plan: PlanFn,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first worker marked its rows ``sending`` and then the whole process stalled (a
    pause, swap, a long GC: its heartbeat stalls too) past its lease; another worker took the
    send over and resumed it. When the first wakes up, its request is fenced off before
    anything is written: the gateway never gets a second copy."""
    monkeypatch.setattr(worker_module.Lease, "start", lambda self: None)  # the stalled process beats no heart
    name = plan(4, repeat_text=4)
    dsn = _dsn(emulator, "nodedup")  # no de-dup key: a second write would be a second SMS
    stalled, resume = threading.Event(), threading.Event()

    class Stall:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def send(self, request: HttpRequest) -> HttpResponse:
            stalled.set()
            resume.wait(20)
            response: HttpResponse = self.inner.send(request)
            return response

    first_store = PostgresStore(pg_url, schema=store.schema)
    first = Gateways(first_store, connect=lambda _: smsgate.connect(dsn, registry=registry))
    gw = first.get("shop")
    gw.engine.transport = Stall(gw.engine.transport)  # stalls before the fence check
    out: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: out.update(first=run_chunk(first_store, first, name, owner="first", limit=4, lease=2))
    )
    thread.start()
    try:
        assert stalled.wait(10)
        assert store.counts(name) == {"sending": 4}
        heir = Gateways(store, connect=lambda _: smsgate.connect(dsn, registry=registry))
        try:
            deadline = time.monotonic() + 10
            while (done := run_chunk(store, heir, name, owner="heir", limit=4, lease=2)).claimed == 0:
                assert time.monotonic() < deadline
                time.sleep(0.2)  # until the first worker's lease ends
        finally:
            heir.close()
    finally:
        resume.set()
        thread.join()
        first.close()
        first_store.close()
    assert done.claimed == 4 and out["first"].lost
    assert store.counts(name) == {"unknown": 4}  # the heir cannot know: no de-dup, no lookup
    assert _taken(emulator, 4) == [0] * 4  # nobody wrote: the first was fenced off, the heir did not resend
    assert [r.path for r in emulator.requests] == []


def test_a_request_inside_a_fresh_lease_costs_no_extra_round_trip() -> None:
    lease = worker_module.Lease(None, "c", 1, [1], 30.0, attempt=5.0, confirmed=100.0)  # type: ignore[arg-type]
    assert lease.safe(now=110.0)  # 10 + 5 + 1 < 30: the attempt ends inside the lease
    assert not lease.safe(now=125.0)  # it might not: renew first


def test_a_lease_lost_before_the_rows_are_marked_sends_nothing(
    store: PostgresStore, emulator: OutboxEmulator, plan: PlanFn
) -> None:
    name = plan(2, repeat_text=2)
    claimed = store.claim(name, "first", limit=2, lease=30)
    store.release(name, [1, 2], claimed.token)
    store.claim(name, "heir", limit=2, lease=30)
    with smsgate.connect(_dsn(emulator)) as gw:
        from smsgate.journal import Journal
        from smsgate.models import Message
        from smsgate.store import RowRef

        gw.journal = Journal.on(store)
        gw.journal.bind(gw.name, "k", [RowRef(name, r.row, r.recipient) for r in claimed.rows])
        with store.fenced(claimed.token), pytest.raises(LeaseLost):
            gw.send(Message([r.recipient for r in claimed.rows], "Hi n0", key="k"))
    assert store.counts(name) == {"planned": 2} and store.send_record(gw.name, "k") is None
    assert emulator.requests == []


def test_the_rate_limit_is_shared_by_every_worker(
    pg_url: str, store: PostgresStore, emulator: OutboxEmulator, plan: PlanFn, connect_to: Callable[[str], Gateway]
) -> None:
    name = plan(20)  # 20 requests
    took: dict[str, float] = {}

    def one(n: int) -> None:
        mine = PostgresStore(pg_url, schema=store.schema)
        gateways = Gateways(mine, rates={"shop": 20.0}, connect=connect_to)
        try:
            _drain(mine, gateways, name, owner=f"w{n}", limit=2)
        finally:
            gateways.close()
            mine.close()

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took["all"] = time.monotonic() - started
    assert store.counts(name) == {"accepted": 20}
    # 20 requests at 20/s shared by 3 workers: at least 19 intervals of 50 ms
    assert took["all"] >= 0.9


def test_a_lease_outlasts_an_attempt(emulator: OutboxEmulator) -> None:
    with smsgate.connect(emulator.dsn() + "&connect_timeout=5&read_timeout=30") as gw:
        assert lease_for(gw, 10) == 105.0
        assert lease_for(gw, 200) == 200.0


def test_lease_lost_is_not_an_exception() -> None:
    assert not issubclass(LeaseLost, Exception)  # it passes the engine's `except Exception`


def test_a_suppressed_number_is_refused_before_anything_is_sent(
    store: PostgresStore, emulator: OutboxEmulator, plan: PlanFn, connect_to: Callable[[str], Gateway]
) -> None:
    """An opt-out that `smsgate serve` kept in the same store stops the workers' sends too."""
    from smsgate.inbound import open_inbound

    name = plan(8, repeat_text=4)
    stop = [r.recipient for r in store.rows(name)][1::4]  # one number of each shared-text request
    assert open_inbound(store).suppress(stop, "STOP") == 2
    gateways = Gateways(store, connect=connect_to)
    try:
        assert _drain(store, gateways, name, limit=50) == 8
    finally:
        gateways.close()
    assert store.counts(name) == {"accepted": 6, "rejected": 2}
    refused = [r for r in store.rows(name) if r.state == "rejected"]
    assert [r.recipient for r in refused] == stop and {r.code for r in refused} == {"suppressed"}
    sent = {str(m.to) for m in emulator.messages}
    assert not any(number in sent for number in stop) and len(emulator.messages) == 6
