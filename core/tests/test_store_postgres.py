"""The PostgreSQL store runs the store suite (a fresh schema per test), and its own concerns:
migrations shared with SQLite, claims with ``FOR UPDATE SKIP LOCKED`` and leases, fencing
tokens, the shared rate limit.

Needs psycopg (``smsgate[postgres]``; skipped without it) and PostgreSQL at
``$SMSGATE_TEST_POSTGRES`` (skipped when unreachable, failed on CI).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

import pytest

pytest.importorskip("psycopg", reason="psycopg is not installed (python -m pip install 'smsgate[postgres]')")

import psycopg
from psycopg import sql

from smsgate.errors import ConfigurationError
from smsgate.store import CampaignRecord, Row, RowRef, SendRecord, Store
from smsgate.store.postgres import PG_MIGRATIONS, TRACKS, LeaseLost, PostgresStore, Text, open_postgres, translate
from smsgate.store.sqlite import MIGRATIONS
from smsgate.testing import services
from smsgate.testing.store_suite import StoreSuite


@pytest.fixture(scope="module")
def pg_url() -> str:
    return services.require("postgres")


@pytest.fixture
def schemas(pg_url: str) -> Iterator[list[str]]:
    """Fresh schema names for one test; each is dropped afterwards."""
    made: list[str] = []
    yield made
    with psycopg.connect(pg_url, autocommit=True) as db:
        for name in made:
            db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def _fresh(schemas: list[str]) -> str:
    name = f"smsgate_test_{uuid.uuid4().hex[:12]}"
    schemas.append(name)
    return name


class TestPostgresStore(StoreSuite):
    @pytest.fixture(autouse=True)
    def _where(self, pg_url: str, schemas: list[str]) -> None:
        self.url = pg_url
        self.schemas = schemas

    def store(self) -> Store:
        return PostgresStore(self.url, schema=_fresh(self.schemas))

    def reopen(self, store: Store) -> Store | None:
        assert isinstance(store, PostgresStore)
        return PostgresStore(self.url, schema=store.schema)


@pytest.fixture
def store(pg_url: str, schemas: list[str]) -> Iterator[PostgresStore]:
    s = PostgresStore(pg_url, schema=_fresh(schemas))
    yield s
    s.close()


def _campaign(store: PostgresStore, name: str = "c1", rows: int = 10) -> None:
    store.save_campaign(CampaignRecord(name, "gw", "outbox", "Hi", "in.csv", "d", rows))
    store.add_rows(Row(name, n, f"+48500{n:06d}", f"t{n}") for n in range(1, rows + 1))


# -- schema ------------------------------------------------------------------------------------


def test_the_schema_is_sqlites_translated_plus_its_own(store: PostgresStore) -> None:
    assert store.versions == {"shared": len(MIGRATIONS), "postgres": len(PG_MIGRATIONS)}
    assert TRACKS["shared"] == tuple(translate(m) for m in MIGRATIONS)
    assert "WITHOUT ROWID" not in TRACKS["shared"][0] and "DOUBLE PRECISION" in TRACKS["shared"][0]


def test_opening_again_migrates_nothing_and_a_newer_schema_is_refused(
    pg_url: str, store: PostgresStore, schemas: list[str]
) -> None:
    PostgresStore(pg_url, schema=store.schema).close()  # already at the latest version
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute(
            sql.SQL("UPDATE {}.smsgate_schema SET version = version + 1 WHERE track = 'postgres'").format(
                sql.Identifier(str(store.schema))
            )
        )
    with pytest.raises(ConfigurationError, match="upgrade smsgate"):
        PostgresStore(pg_url, schema=store.schema)


def test_stores_opening_together_migrate_once(pg_url: str, schemas: list[str]) -> None:
    name = _fresh(schemas)
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            PostgresStore(pg_url, schema=name).close()
        except BaseException as exc:  # pragma: no cover - the failure is the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_url_selects_a_schema_and_a_bad_address_is_a_configuration_error(pg_url: str, schemas: list[str]) -> None:
    name = _fresh(schemas)
    store = open_postgres(f"{pg_url}?schema={name}")
    assert store.schema == name and "schema=" + name in repr(store)
    store.close()
    with pytest.raises(ConfigurationError, match="cannot open") as caught:
        PostgresStore("postgresql://u:hunter2@127.0.0.1:1/x", connect_timeout=1)
    assert "hunter2" not in str(caught.value)


def test_many_rows_go_in_pages(store: PostgresStore) -> None:
    store.save_campaign(CampaignRecord("big", "gw", "outbox", "Hi", "in.csv", "d", 25_000))
    rows = (Row("big", n, f"+48{n:09d}", "t") for n in range(1, 25_001))
    assert store.add_rows(rows, page=10_000) == 25_000
    assert store.counts("big") == {"planned": 25_000}


# -- claims ------------------------------------------------------------------------------------


def test_a_claim_takes_planned_rows_in_order_under_a_new_token(store: PostgresStore) -> None:
    _campaign(store)
    first = store.claim("c1", "w1", limit=4, lease=30)
    second = store.claim("c1", "w2", limit=4, lease=30)
    assert [r.row for r in first.rows] == [1, 2, 3, 4]
    assert [r.row for r in second.rows] == [5, 6, 7, 8]
    assert second.token > first.token
    assert store.claimable("c1") == 2
    assert store.leases("c1")[0] == 8
    assert store.claim("other", "w1", limit=4, lease=30).rows == ()


def test_settled_rows_are_never_claimed_and_released_rows_are_at_once(store: PostgresStore) -> None:
    _campaign(store, rows=3)
    store.set_rows("c1", [(1, "rejected", "invalid", "bad number")])
    claimed = store.claim("c1", "w1", limit=10, lease=30)
    assert [r.row for r in claimed.rows] == [2, 3]
    assert store.claim("c1", "w2", limit=10, lease=30).rows == ()
    assert store.release("c1", [2], claimed.token) == 1
    assert [r.row for r in store.claim("c1", "w2", limit=10, lease=30).rows] == [2]


def test_an_expired_lease_is_taken_over_and_fences_the_first_owner(store: PostgresStore) -> None:
    _campaign(store, rows=2)
    first = store.claim("c1", "w1", limit=2, lease=0.2)
    ref = first.refs[0]
    store.begin(SendRecord("p", "k1", "d", (ref.recipient,), "sending", 1.0), [ref])  # then w1 dies
    assert store.holds("c1", [1, 2], first.token)
    time.sleep(0.3)
    assert not store.holds("c1", [1, 2], first.token)
    second = store.claim("c1", "w2", limit=2, lease=30)
    assert [(r.row, r.state) for r in second.rows] == [(1, "sending"), (2, "planned")]
    assert store.renew("c1", [1, 2], first.token, 30) == []  # the first owner is fenced off
    assert store.renew("c1", [1, 2], second.token, 30) == [1, 2]
    assert store.holds("c1", [1, 2], second.token)


def test_a_renewed_lease_is_not_taken(store: PostgresStore) -> None:
    _campaign(store, rows=1)
    first = store.claim("c1", "w1", limit=1, lease=0.3)
    for _ in range(4):
        time.sleep(0.15)
        assert store.renew("c1", [1], first.token, 0.3) == [1]
        assert store.claim("c1", "w2", limit=1, lease=30).rows == ()


def test_a_settled_row_loses_its_lease(store: PostgresStore) -> None:
    _campaign(store, rows=1)
    claimed = store.claim("c1", "w1", limit=1, lease=30)
    ref = claimed.refs[0]
    store.begin(SendRecord("p", "k", "d", (ref.recipient,), "sending", 1.0), [ref])
    outcome = {"recipient": ref.recipient, "status": "accepted", "message_id": "m", "code": None, "reason": None}
    store.settle(SendRecord("p", "k", "d", (ref.recipient,), "done", 1.0, (outcome,)), [ref])
    assert store.renew("c1", [1], claimed.token, 30) == []
    assert store.leases("c1") == (0, None) and store.claimable("c1") == 0


def test_concurrent_claimers_never_get_the_same_row(pg_url: str, store: PostgresStore) -> None:
    """Eight claimers on their own connections race for 2,000 rows, chunk by chunk, and each
    holds its chunk's transaction a moment (the SKIP LOCKED path): every row exactly once."""
    _campaign(store, rows=2000)
    got: dict[str, list[int]] = {}
    barrier = threading.Barrier(8)

    def claimer(name: str) -> None:
        mine = PostgresStore(pg_url, schema=store.schema)
        taken: list[int] = []
        try:
            barrier.wait()
            while True:
                claimed = mine.claim("c1", name, limit=25, lease=300)
                if not claimed.rows:
                    break
                taken.extend(r.row for r in claimed.rows)
        finally:
            got[name] = taken
            mine.close()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [row for rows in got.values() for row in rows]
    assert len(every) == len(set(every)) == 2000
    assert sum(1 for rows in got.values() if rows) >= 2  # the work really was shared


def test_a_locked_row_is_skipped_not_waited_for(pg_url: str, store: PostgresStore) -> None:
    """A row locked by another transaction (mid-claim) is skipped at once."""
    _campaign(store, rows=2)
    with psycopg.connect(pg_url) as other:
        other.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(str(store.schema))))
        other.execute("SELECT row FROM recipients WHERE campaign = 'c1' AND row = 1 FOR UPDATE")
        started = time.monotonic()
        claimed = store.claim("c1", "w1", limit=2, lease=30)
        assert [r.row for r in claimed.rows] == [2]
        assert time.monotonic() - started < 2
        other.rollback()
    assert [r.row for r in store.claim("c1", "w2", limit=2, lease=30).rows] == [1]


def test_one_sweep_is_booked_at_a_time(store: PostgresStore) -> None:
    assert store.due_sweep("c1", 0.2)
    assert not store.due_sweep("c1", 0.2)
    time.sleep(0.3)
    assert store.due_sweep("c1", 0.2)


# -- the shared rate limit -----------------------------------------------------------------------


def _slots(calls: Sequence[Callable[[], float]]) -> list[float]:
    """When each reservation may be used: the time it was answered plus the wait it got."""
    slots = []
    for call in calls:
        wait = call()
        slots.append(time.monotonic() + wait)
    return slots


def test_the_rate_limit_is_shared_by_every_handle(pg_url: str, store: PostgresStore) -> None:
    other = PostgresStore(pg_url, schema=store.schema)
    try:
        calls = [lambda s=s: s.reserve("gw", rate=10.0) for s in (store, other, store, other, store)]
        slots = _slots(calls)
        # one slot every 0.1 s, in turn, whichever handle asks
        gaps = [b - a for a, b in itertools.pairwise(slots)]
        assert all(0.06 <= g <= 0.14 for g in gaps), gaps
        assert store.reserve("another", rate=10.0) < 0.05
        assert store.reserve("gw", rate=0) == 0.0
    finally:
        other.close()


def test_a_burst_goes_at_once_then_the_rate_holds(store: PostgresStore) -> None:
    waits = [store.reserve("gw", rate=5.0, burst=3) for _ in range(3)]
    assert all(w < 0.05 for w in waits)
    slots = _slots([lambda: store.reserve("gw", rate=5.0, burst=3) for _ in range(2)])
    assert 0.12 <= slots[1] - slots[0] <= 0.28


def test_rows_keep_their_refs(store: PostgresStore) -> None:
    _campaign(store, rows=1)
    claimed = store.claim("c1", "w1", limit=1, lease=30)
    assert claimed.refs == (RowRef("c1", 1, "+48500000001"),)


def test_a_dead_workers_send_is_claimed_whole(store: PostgresStore) -> None:
    """Rows left ``sending`` come back together, all the rows of a key in one claim, before
    planned rows, so the send can be resumed as it was."""
    _campaign(store, rows=6)
    dead = store.claim("c1", "dead", limit=6, lease=0.2)
    refs = dead.refs
    with store.fenced(dead.token):
        store.begin(SendRecord("p", "k-a", "d", (), "sending", 1.0), [refs[1], refs[3], refs[4]])
        store.begin(SendRecord("p", "k-b", "d", (), "sending", 1.0), [refs[5]])
    time.sleep(0.3)
    first = store.claim("c1", "heir", limit=2, lease=30)  # a whole send, even past the limit
    assert [(r.row, r.key) for r in first.rows] == [(2, "k-a"), (4, "k-a"), (5, "k-a")]
    second = store.claim("c1", "heir2", limit=2, lease=30)  # the other send, then a planned row
    assert [(r.row, r.key, r.state) for r in second.rows] == [(1, None, "planned"), (6, "k-b", "sending")]


def test_a_fenced_begin_needs_the_lease(store: PostgresStore) -> None:
    _campaign(store, rows=2)
    claimed = store.claim("c1", "w1", limit=2, lease=30)
    store.release("c1", [2], claimed.token)
    store.claim("c1", "w2", limit=2, lease=30)  # takes row 2
    with store.fenced(claimed.token), pytest.raises(LeaseLost):
        store.begin(SendRecord("p", "k", "d", (), "sending", 1.0), list(claimed.refs))
    assert store.send_record("p", "k") is None  # nothing written: one transaction
    assert store.counts("c1") == {"planned": 2}
    with store.fenced(claimed.token):
        store.begin(SendRecord("p", "k1", "d", (), "sending", 1.0), [claimed.refs[0]])
    assert [r.state for r in store.rows("c1")] == ["sending", "planned"]


def test_texts_are_kept_for_workers_until_settled(store: PostgresStore) -> None:
    _campaign(store, rows=3)
    assert store.put_texts("c1", [(1, Text("Hi 1")), (2, Text("Hi 2", "Shop", "2030-01-01T10:00:00+00:00"))]) == 2
    assert store.texts("c1", [1, 2, 3]) == {1: Text("Hi 1"), 2: Text("Hi 2", "Shop", "2030-01-01T10:00:00+00:00")}
    ref = RowRef("c1", 1, "+48500000001")
    store.begin(SendRecord("p", "k", "d", (), "sending", 1.0), [ref])
    outcome = {"recipient": ref.recipient, "status": "accepted", "message_id": "m", "code": None, "reason": None}
    store.settle(SendRecord("p", "k", "d", (), "done", 1.0, (outcome,)), [ref])
    assert set(store.texts("c1", [1, 2, 3])) == {2}
    assert [r.row for r in store.rows_with_key("c1", "k")] == [1]
