"""Every inbound store runs the inbound store suite (:mod:`smsgate.testing.inbound_suite`): in
memory, in a SQLite campaign store, in a PostgreSQL campaign store (a fresh schema per test;
skipped with a line naming PostgreSQL when it does not answer, failed on CI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smsgate.inbound import InboundStore, MemoryInboundStore, SqliteInboundStore, open_inbound
from smsgate.store import Store
from smsgate.store.sqlite import SqliteStore
from smsgate.testing import services
from smsgate.testing.inbound_suite import DurableInboundStoreSuite, InboundStoreSuite, Pair


class TestMemoryInboundStore(InboundStoreSuite):
    def stores(self) -> Pair:
        return None, MemoryInboundStore()


class TestSqliteInboundStore(DurableInboundStoreSuite):
    @pytest.fixture(autouse=True)
    def _where(self, tmp_path: Path) -> None:
        self.path = tmp_path / "smsgate.db"

    def stores(self) -> Pair:
        store = SqliteStore(self.path)
        return store, SqliteInboundStore(store=store)

    def reopen(self, store: Store | None, inbound: InboundStore) -> Pair:
        return self.stores()


@pytest.fixture(scope="module")
def pg_url() -> str:
    # core alone (nox -s tests_core) runs without the postgres extra: its absence skips, even on CI
    pytest.importorskip("psycopg", reason="psycopg is not installed (python -m pip install 'smsgate[postgres]')")
    return services.require("postgres")


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    with services.scratch_schema(pg_url) as name:
        yield name


class TestPostgresInboundStore(DurableInboundStoreSuite):
    @pytest.fixture(autouse=True)
    def _where(self, pg_url: str, pg_schema: str) -> None:
        self.url = f"{pg_url}?schema={pg_schema}"

    def stores(self) -> Pair:
        from smsgate.store import open_store

        store = open_store(self.url)
        return store, open_inbound(store)

    def reopen(self, store: Store | None, inbound: InboundStore) -> Pair:
        return self.stores()


def test_open_inbound_gives_the_store_inside_a_campaign_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    inbound = open_inbound(store)
    assert isinstance(inbound, SqliteInboundStore) and inbound.store is store
    inbound.close()  # shared: the campaign store stays open
    assert store.counts("c") == {}
    store.close()
    with pytest.raises(TypeError, match="no inbound store"):
        open_inbound(object())


def test_a_sqlite_inbound_store_is_given_one_file(tmp_path: Path) -> None:
    alone = SqliteInboundStore(tmp_path / "alone.db")  # opens (and migrates) its own store
    alone.suppress(["+48500600700"])
    alone.close()
    store = SqliteStore(tmp_path / "alone.db")
    assert SqliteInboundStore(tmp_path / "alone.db", store=store).suppressed(["+48500600700"]) == {"+48500600700"}
    with pytest.raises(ValueError, match="not another file"):
        SqliteInboundStore(tmp_path / "other.db", store=store)
    with pytest.raises(ValueError, match="MemoryInboundStore"):
        SqliteInboundStore(":memory:")
    with pytest.raises(TypeError, match="needs a SqliteStore"):
        SqliteInboundStore(store=object())
    store.close()


def test_a_postgres_url_alone_opens_its_own_store(pg_url: str, pg_schema: str) -> None:
    from smsgate.inbound import PostgresInboundStore

    inbound = PostgresInboundStore(f"{pg_url}?schema={pg_schema}")
    inbound.suppress(["+48500600700"])
    assert "smsgate_test_" in repr(inbound) and "@" not in repr(inbound)
    inbound.close()  # its own store: closed with it
    assert getattr(inbound.store, "closed", False)
    with pytest.raises(ValueError, match="URL or a store"):
        PostgresInboundStore()
