"""The embedded SQLite store: stdlib ``sqlite3``, WAL, one writer at a time.

``synchronous=NORMAL`` (the default here) survives a crash of the process (kill -9) with every
committed transaction; ``durability="full"`` also survives a power loss, at a cost per commit.
WAL does not work on a network file system: keep the file on a local disk. The schema carries
its version in ``PRAGMA user_version`` and is migrated forward when opened.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smsgate.errors import ConfigurationError
from smsgate.store import DELIVERY, CampaignRecord, GatewayHealth, Row, RowRef, SendRecord, StateCount

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

_ROW_COLUMNS = (
    "campaign, row, recipient, text_digest, state, key, gateway_id, code, reason, attempts, "
    "created_at, sent_at, settled_at, delivered_at"
)


class SqliteStore:
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
        with self._tx() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise ConfigurationError(
                    f"the store {self.path} has schema version {version}, newer than this smsgate "
                    f"({len(MIGRATIONS)}): upgrade smsgate"
                )
            for n in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[n].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={n + 1}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: no SQLITE_BUSY half-way), committed on exit."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- the journal ---------------------------------------------------------------------------

    def send_record(self, provider: str, key: str) -> SendRecord | None:
        found = self._read(
            "SELECT provider, key, digest, recipients, state, started_at, outcomes, settled_at "
            "FROM sends WHERE provider = ? AND key = ?",
            (provider, key),
        )
        return _send(found[0]) if found else None

    def begin(self, record: SendRecord, rows: Sequence[RowRef] = ()) -> None:
        now = self.clock()
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO sends (provider, key, digest, recipients, state, started_at) "
                "VALUES (?, ?, ?, ?, 'sending', ?)",
                (record.provider, record.key, record.digest, json.dumps(record.recipients), record.started_at),
            )
            db.executemany(
                "UPDATE recipients SET state = 'sending', key = ?, attempts = attempts + 1, sent_at = ? "
                "WHERE campaign = ? AND row = ?",
                [(record.key, now, r.campaign, r.row) for r in rows],
            )

    def settle(self, record: SendRecord, rows: Sequence[RowRef] = ()) -> None:
        now = self.clock()
        by_recipient = {str(o["recipient"]): o for o in record.outcomes}
        updates: list[tuple[Any, ...]] = []
        for r in rows:
            o = by_recipient.get(r.recipient)
            if o is None:
                updates.append(("unknown", None, None, "no outcome for this recipient", now, r.campaign, r.row))
            else:
                updates.append(
                    (o["status"], o.get("message_id"), o.get("code"), o.get("reason"), now, r.campaign, r.row)
                )
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO sends "
                "(provider, key, digest, recipients, state, started_at, settled_at, outcomes) "
                "VALUES (?, ?, ?, ?, 'done', ?, ?, ?)",
                (
                    record.provider,
                    record.key,
                    record.digest,
                    json.dumps(record.recipients),
                    record.started_at,
                    record.settled_at if record.settled_at is not None else now,
                    json.dumps(list(map(dict, record.outcomes)), sort_keys=True),
                ),
            )
            db.executemany(
                "UPDATE recipients SET state = ?, gateway_id = ?, code = ?, reason = ?, settled_at = ? "
                "WHERE campaign = ? AND row = ?",
                updates,
            )

    def import_sends(self, records: Iterable[SendRecord]) -> int:
        added = 0
        with self._tx() as db:
            for r in records:
                cur = db.execute(
                    "INSERT OR IGNORE INTO sends "
                    "(provider, key, digest, recipients, state, started_at, settled_at, outcomes) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r.provider,
                        r.key,
                        r.digest,
                        json.dumps(r.recipients),
                        r.state,
                        r.started_at,
                        r.settled_at,
                        json.dumps(list(map(dict, r.outcomes)), sort_keys=True) if r.state == "done" else None,
                    ),
                )
                added += cur.rowcount
        return added

    # -- campaigns -----------------------------------------------------------------------------

    def campaign(self, name: str) -> CampaignRecord | None:
        found = self._read(f"SELECT {_CAMPAIGN_COLUMNS} FROM campaigns WHERE name = ?", (name,))
        return CampaignRecord(*found[0]) if found else None

    def campaigns(self) -> list[CampaignRecord]:
        return [
            CampaignRecord(*r) for r in self._read(f"SELECT {_CAMPAIGN_COLUMNS} FROM campaigns ORDER BY created_at")
        ]

    def save_campaign(self, campaign: CampaignRecord) -> None:
        c = campaign
        stamps = (c.created_at or self.clock(), self.clock())
        with self._tx() as db:
            db.execute(
                f"INSERT OR REPLACE INTO campaigns ({_CAMPAIGN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (c.name, c.gateway, c.provider, c.template, c.source, c.source_digest, c.total, c.state, *stamps),
            )

    def add_rows(self, rows: Iterable[Row]) -> int:
        now = self.clock()
        values = [
            (r.campaign, r.row, r.recipient, r.text_digest, r.state, r.code, r.reason, r.created_at or now)
            for r in rows
        ]
        with self._tx() as db:
            cur = db.executemany(
                "INSERT OR IGNORE INTO recipients "
                "(campaign, row, recipient, text_digest, state, code, reason, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return max(0, int(cur.rowcount))

    def rows(self, campaign: str, *, after: int = 0, limit: int | None = None) -> list[Row]:
        sql = f"SELECT {_ROW_COLUMNS} FROM recipients WHERE campaign = ? AND row > ? ORDER BY row"
        params: list[Any] = [campaign, after]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [Row(*r) for r in self._read(sql, params)]

    def rows_in_state(self, campaign: str, state: str, *, after: int = 0, limit: int | None = None) -> list[Row]:
        sql = f"SELECT {_ROW_COLUMNS} FROM recipients WHERE campaign = ? AND state = ? AND row > ? ORDER BY row"
        params: list[Any] = [campaign, state, after]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [Row(*r) for r in self._read(sql, params)]

    def counts(self, campaign: str) -> dict[str, int]:
        found = self._read("SELECT state, COUNT(*) FROM recipients WHERE campaign = ? GROUP BY state", (campaign,))
        return {str(state): int(n) for state, n in found}

    def set_rows(self, campaign: str, updates: Sequence[tuple[int, str, str | None, str | None]]) -> None:
        now = self.clock()
        with self._tx() as db:
            db.executemany(
                "UPDATE recipients SET state = ?, code = ?, reason = ?, settled_at = ? WHERE campaign = ? AND row = ?",
                [(state, code, reason, now, campaign, row) for row, state, code, reason in updates],
            )

    def record_delivery(self, campaign: str, gateway_id: str, state: str, code: str | None, reason: str | None) -> int:
        if state not in DELIVERY:
            raise ValueError(f"not a delivery state: {state!r}")
        with self._tx() as db:
            cur = db.execute(
                "UPDATE recipients SET state = ?, code = COALESCE(?, code), reason = COALESCE(?, reason), "
                "delivered_at = ? WHERE campaign = ? AND gateway_id = ? AND state != ?",
                (state, code, reason, self.clock(), campaign, gateway_id, state),
            )
            return int(cur.rowcount)

    # -- observability ---------------------------------------------------------------------------

    def stats(self) -> list[StateCount]:
        return [state_count(r) for r in self._read(STATS_SQL)]

    def save_gateway_health(self, health: GatewayHealth) -> None:
        h = health
        with self._tx() as db:
            db.execute(
                f"INSERT OR REPLACE INTO gateway_health ({HEALTH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (h.gateway, h.state, h.since, h.retry_at, h.opened, h.last_error, h.last_error_at, self.clock()),
            )

    def gateway_health(self) -> list[GatewayHealth]:
        return [health_record(r) for r in self._read(f"SELECT {HEALTH_COLUMNS} FROM gateway_health ORDER BY gateway")]


_CAMPAIGN_COLUMNS = "name, gateway, provider, template, source, source_digest, total, state, created_at, updated_at"

#: :meth:`Store.stats` in one statement, both backends: row counts from the ``recipients_state``
#: index, lag from the partial ``recipients_delivered`` index (no table row is read).
STATS_SQL = """
SELECT c.name, c.gateway, c.state, c.total, c.updated_at, n.state, n.rows, n.lag_count, n.lag_sum
FROM campaigns AS c LEFT JOIN (
    SELECT campaign, state, SUM(rows) AS rows, SUM(lag_count) AS lag_count, SUM(lag_sum) AS lag_sum FROM (
        SELECT campaign, state, COUNT(*) AS rows, 0 AS lag_count, 0.0 AS lag_sum
        FROM recipients GROUP BY campaign, state
        UNION ALL
        SELECT campaign, state, 0, COUNT(*),
               SUM(CASE WHEN delivered_at < settled_at THEN 0.0 ELSE delivered_at - settled_at END)
        FROM recipients WHERE delivered_at IS NOT NULL AND settled_at IS NOT NULL GROUP BY campaign, state
    ) AS u GROUP BY campaign, state
) AS n ON n.campaign = c.name
"""
HEALTH_COLUMNS = "gateway, state, since, retry_at, opened, last_error, last_error_at, updated_at"


def state_count(r: Sequence[Any]) -> StateCount:
    """A line of :data:`STATS_SQL` as a :class:`~smsgate.store.StateCount`."""
    name, gateway, campaign_state, total, updated_at, state, rows, lag_count, lag_sum = r
    return StateCount(
        str(name),
        str(gateway),
        str(campaign_state),
        int(total),
        float(updated_at),
        None if state is None else str(state),
        int(rows or 0),
        int(lag_count or 0),
        float(lag_sum or 0.0),
    )


def health_record(r: Sequence[Any]) -> GatewayHealth:
    gateway, state, since, retry_at, opened, last_error, last_error_at, updated_at = r
    return GatewayHealth(
        str(gateway),
        str(state),
        float(since),
        None if retry_at is None else float(retry_at),
        int(opened),
        last_error,
        None if last_error_at is None else float(last_error_at),
        float(updated_at),
    )


def _send(row: Sequence[Any]) -> SendRecord:
    provider, key, digest, recipients, state, started_at, outcomes, settled_at = row
    return SendRecord(
        str(provider),
        str(key),
        str(digest),
        tuple(json.loads(recipients)),
        str(state),
        float(started_at),
        tuple(json.loads(outcomes)) if outcomes else (),
        settled_at,
    )
