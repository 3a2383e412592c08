"""The embedded SQLite store: stdlib ``sqlite3``, WAL, one writer at a time.

``synchronous=NORMAL`` (the default here) survives a crash of the process (kill -9) with every
committed transaction; ``durability="full"`` also survives a power loss, at a cost per commit.
WAL does not work on a network file system: keep the file on a local disk. The schema carries
its version in ``PRAGMA user_version`` and is migrated forward when opened.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from smsgate.errors import ConfigurationError
from smsgate.store.sql import HEALTH_COLUMNS, STATS_SQL, SqlStore, health_record, migrate, state_count

__all__ = ["HEALTH_COLUMNS", "MIGRATIONS", "STATS_SQL", "SqliteStore", "health_record", "state_count"]

#: Each migration takes the schema from version ``n`` (its index) to ``n + 1``.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sends (
        provider TEXT NOT NULL,
        key TEXT NOT NULL,
        digest TEXT NOT NULL,
        recipients TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at REAL NOT NULL,
        settled_at REAL,
        outcomes TEXT,
        PRIMARY KEY (provider, key)
    ) WITHOUT ROWID;
    CREATE TABLE campaigns (
        name TEXT PRIMARY KEY,
        gateway TEXT NOT NULL,
        provider TEXT NOT NULL,
        template TEXT NOT NULL,
        source TEXT NOT NULL,
        source_digest TEXT NOT NULL,
        total INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE recipients (
        campaign TEXT NOT NULL,
        row INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        text_digest TEXT NOT NULL,
        state TEXT NOT NULL,
        key TEXT,
        gateway_id TEXT,
        code TEXT,
        reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        sent_at REAL,
        settled_at REAL,
        delivered_at REAL,
        PRIMARY KEY (campaign, row)
    ) WITHOUT ROWID;
    CREATE INDEX recipients_state ON recipients (campaign, state, row);
    CREATE INDEX recipients_gateway_id ON recipients (campaign, gateway_id) WHERE gateway_id IS NOT NULL;
    """,
    """
    CREATE TABLE gateway_health (
        gateway TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        since REAL NOT NULL,
        retry_at REAL,
        opened INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_error_at REAL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX recipients_delivered ON recipients (campaign, state, delivered_at, settled_at)
        WHERE delivered_at IS NOT NULL;
    """,
    # The receiver's tables (smsgate.inbound). Files written before this migration may already
    # have the first three (the receiver created them itself then): IF NOT EXISTS keeps them.
    """
    CREATE TABLE IF NOT EXISTS inbound_v1_reports (
        gateway TEXT NOT NULL,
        ident TEXT NOT NULL,
        message_id TEXT NOT NULL,
        recipient TEXT,
        status TEXT NOT NULL,
        code TEXT,
        reason TEXT,
        at REAL,
        received_at REAL NOT NULL,
        handled INTEGER NOT NULL DEFAULT 0,
        rows INTEGER NOT NULL DEFAULT 0,
        raw TEXT NOT NULL,
        PRIMARY KEY (gateway, ident)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS inbound_v1_reports_id ON inbound_v1_reports (message_id);
    CREATE TABLE IF NOT EXISTS inbound_v1_messages (
        gateway TEXT NOT NULL,
        ident TEXT NOT NULL,
        message_id TEXT,
        sender TEXT NOT NULL,
        sender_key TEXT NOT NULL,
        recipient TEXT,
        text TEXT NOT NULL,
        opt_out INTEGER NOT NULL,
        at REAL,
        received_at REAL NOT NULL,
        handled INTEGER NOT NULL DEFAULT 0,
        raw TEXT NOT NULL,
        PRIMARY KEY (gateway, ident)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS inbound_v1_messages_sender ON inbound_v1_messages (sender_key);
    CREATE TABLE IF NOT EXISTS inbound_v1_suppressed (
        number_key TEXT PRIMARY KEY,
        number TEXT NOT NULL,
        reason TEXT NOT NULL,
        gateway TEXT,
        at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS inbound_v1_cursors (
        gateway TEXT PRIMARY KEY,
        cursor TEXT NOT NULL,
        at REAL NOT NULL
    ) WITHOUT ROWID;
    """,
)


class SqliteStore(SqlStore):
    """A :class:`~smsgate.store.Store` in one SQLite file (created with its directory)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: str = "normal",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if durability not in ("normal", "full"):
            raise ConfigurationError("store durability must be 'normal' or 'full'")
        self.path = Path(path)
        self.clock = clock
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0  # transactions open on the connection (the lock's holder's)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={durability.upper()}")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open the store {self.path}: {exc}") from None

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path}>"

    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self.transaction() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            what = f"the store {self.path} has schema version"
            migrate(db, MIGRATIONS, version, what, lambda n: db.execute(f"PRAGMA user_version={n}"))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: no SQLITE_BUSY half-way), committed on
        exit; inside another one (same thread), a savepoint."""
        with self._lock:
            nested = self._depth > 0
            name = f"sp{self._depth}"
            self._db.execute(f"SAVEPOINT {name}" if nested else "BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._db
            except BaseException:
                self._depth -= 1
                self._db.execute(f"ROLLBACK TO {name}" if nested else "ROLLBACK")
                if nested:
                    self._db.execute(f"RELEASE {name}")
                raise
            self._depth -= 1
            self._db.execute(f"RELEASE {name}" if nested else "COMMIT")

    def upsert(self, table: str, columns: str, key: str) -> str:
        marks = ", ".join("?" for _ in columns.split(","))
        return f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})"

    def close(self) -> None:
        with self._lock:
            self._db.close()
