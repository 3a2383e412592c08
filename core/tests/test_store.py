"""The SQLite store runs the store suite; its own concerns: the path, migrations, the import."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from smsgate import Journal
from smsgate.errors import ConfigurationError
from smsgate.journal import import_journal
from smsgate.store import Store, default_path, open_store
from smsgate.store.sqlite import MIGRATIONS, SqliteStore
from smsgate.testing.store_suite import StoreSuite


class TestSqliteStore(StoreSuite):
    @pytest.fixture(autouse=True)
    def _where(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.made = 0

    def store(self) -> Store:
        self.made += 1
        return SqliteStore(self.dir / f"store-{self.made}.db")

    def reopen(self, store: Store) -> Store | None:
        assert isinstance(store, SqliteStore)
        return SqliteStore(store.path)


def test_the_default_path_follows_xdg(tmp_path: Path) -> None:
    assert default_path({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "smsgate" / "smsgate.db"
    assert default_path({"SMSGATE_STORE": str(tmp_path / "x.db")}) == tmp_path / "x.db"
    assert default_path({}).parts[-4:] == (".local", "share", "smsgate", "smsgate.db")


def test_a_new_store_is_at_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    store = open_store(tmp_path / "deep" / "s.db")
    assert isinstance(store, SqliteStore)
    assert store.version == len(MIGRATIONS)
    store.close()
    db = sqlite3.connect(tmp_path / "deep" / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_a_store_from_a_newer_smsgate_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(ConfigurationError, match="upgrade smsgate"):
        SqliteStore(tmp_path / "s.db")


def test_an_old_journal_file_is_imported_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    records = [
        {
            "state": "sending",
            "provider": "outbox",
            "key": "a",
            "digest": "d",
            "recipients": ["+48500600700"],
            "at": 5.0,
        },
        {
            "state": "done",
            "provider": "outbox",
            "key": "a",
            "digest": "d",
            "outcomes": [
                {"recipient": "+48500600700", "status": "accepted", "message_id": "m1", "code": None, "reason": None}
            ],
        },
        {
            "state": "sending",
            "provider": "outbox",
            "key": "b",
            "digest": "e",
            "recipients": ["+48500600701"],
            "at": 7.0,
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"state": "do')
    store = open_store(tmp_path / "s.db")
    assert import_journal(path, store) == 2
    assert import_journal(path, store) == 0
    journal = Journal.on(store)
    recorded = journal.recorded("outbox", "a")
    assert recorded is not None and recorded.outcomes[0].message_id == "m1"
    assert journal.interrupted("outbox", "b")
    assert journal.claim("outbox", "b", "e", ("+48500600701",), 99.0).interrupted_at == 7.0
    store.close()


def test_a_journal_takes_a_path_or_a_store(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        Journal()
    store = open_store(tmp_path / "s.db")
    with pytest.raises(TypeError):
        Journal(tmp_path / "j.jsonl", store=store)
    store.close()


def _fail_in_a_transaction(store: SqliteStore, name: str) -> None:
    from smsgate.store import CampaignRecord

    with store.transaction():
        store.save_campaign(CampaignRecord(name, "gw", "outbox", "t", "s", "d", 0))
        raise RuntimeError("failure after a write")


def test_a_nested_transaction_is_a_savepoint(tmp_path: Path) -> None:
    """What lets the receiver's store update campaign rows inside its own transaction."""
    from smsgate.store import CampaignRecord

    store = SqliteStore(tmp_path / "s.db")
    with store.transaction():
        store.save_campaign(CampaignRecord("kept", "gw", "outbox", "t", "s", "d", 0))
        with pytest.raises(RuntimeError):
            _fail_in_a_transaction(store, "undone")  # a savepoint, rolled back alone
        store.save_campaign(CampaignRecord("after", "gw", "outbox", "t", "s", "d", 0))
    other = SqliteStore(tmp_path / "s.db")
    assert sorted(c.name for c in other.campaigns()) == ["after", "kept"]
    other.close()
    with pytest.raises(RuntimeError):
        _fail_in_a_transaction(store, "gone")  # the outer transaction, rolled back
    assert store.campaign("gone") is None
    store.save_campaign(CampaignRecord("later", "gw", "outbox", "t", "s", "d", 0))  # still usable
    assert store.campaign("later") is not None
    store.close()
