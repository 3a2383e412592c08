"""What the SQLite and PostgreSQL stores share: every query of the :class:`~smsgate.store.Store`
protocol, written once, and the dialect differences as small methods.

A backend (:class:`~smsgate.store.sqlite.SqliteStore`, :class:`~smsgate.store.postgres.PostgresStore`)
provides the connection (:meth:`SqlStore.transaction`, :meth:`SqlStore.read`), its placeholder
(``?`` or ``%s``: queries here are written with ``?``) and its upsert syntax; it overrides what
only it does (PostgreSQL's leases when rows are marked ``sending`` or settle, its paged
``unnest`` insert of rows). The receiver's stores (:mod:`smsgate.store.inbound_sql`) run on the
same connection, so a delivery report and the campaign rows it updates commit together.
"""

from __future__ import annotations

import abc
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from smsgate.errors import ConfigurationError
from smsgate.store import DELIVERY, CampaignRecord, GatewayHealth, Row, RowRef, SendRecord, StateCount

ROW_COLUMNS = (
    "campaign, row, recipient, text_digest, state, key, gateway_id, code, reason, attempts, "
    "created_at, sent_at, settled_at, delivered_at"
)
CAMPAIGN_COLUMNS = "name, gateway, provider, template, source, source_digest, total, state, created_at, updated_at"
SEND_COLUMNS = "provider, key, digest, recipients, state, started_at, outcomes, settled_at"
HEALTH_COLUMNS = "gateway, state, since, retry_at, opened, last_error, last_error_at, updated_at"

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


class SqlStore(abc.ABC):
    """The shared body of the SQL stores. A subclass sets ``clock``, ``_lock`` and ``_db`` and provides
    the abstract :meth:`transaction`, :meth:`close` and :meth:`upsert` (and may override :meth:`insert_new`)."""

    #: The driver's parameter placeholder (queries here are written with ``?``).
    placeholder = "?"
    #: What else a row's settling clears (PostgreSQL: its lease and kept text).
    settle_extra = ""
    clock: Callable[[], float]
    _lock: threading.RLock
    _db: Any  # the driver's connection (autocommit: transactions are explicit)

    # -- the dialect ---------------------------------------------------------------------------

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Any]:
        """One transaction on the store's connection (a nested one is a savepoint), committed on
        exit; yields the connection (``execute(sql, params)`` → a cursor)."""

    def read(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query (written with ``?``)."""
        with self._lock:
            return list(self._db.execute(self.q(query), params).fetchall())

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def q(self, query: str) -> str:
        """``query`` in the driver's placeholders."""
        return query if self.placeholder == "?" else query.replace("?", self.placeholder)

    def execute(self, db: Any, query: str, params: Sequence[Any] = ()) -> Any:
        """Run ``query`` (written with ``?``) on ``db`` (a connection in a transaction)."""
        return db.execute(self.q(query), params)

    def execute_many(self, db: Any, query: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run ``query`` once per parameter row; returns the rows changed in all."""
        if not rows:
            return 0
        cur = db.cursor()
        try:
            cur.executemany(self.q(query), rows)
            return max(0, int(cur.rowcount))
        finally:
            cur.close()

    @abc.abstractmethod
    def upsert(self, table: str, columns: str, key: str) -> str:
        """An insert of ``columns`` into ``table`` that replaces the row with the same ``key``."""

    def insert_new(self, table: str, columns: str, key: str) -> str:
        """An insert of ``columns`` into ``table`` that does nothing when ``key`` is taken."""
        marks = ", ".join("?" for _ in columns.split(","))
        return f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT ({key}) DO NOTHING"

    # -- the journal ---------------------------------------------------------------------------

    def send_record(self, provider: str, key: str) -> SendRecord | None:
        found = self.read(f"SELECT {SEND_COLUMNS} FROM sends WHERE provider = ? AND key = ?", (provider, key))
        return send_record(found[0]) if found else None

    def begin(self, record: SendRecord, rows: Sequence[RowRef] = ()) -> None:
        now = self.clock()
        with self.transaction() as db:
            self._put_send(db, record, "sending", None, None)
            self.mark_sending(db, record, rows, now)

    def _put_send(self, db: Any, record: SendRecord, state: str, settled_at: float | None, outcomes: Any) -> None:
        """Create or replace the journal record of ``record``'s key."""
        columns = "provider, key, digest, recipients, state, started_at, settled_at, outcomes"
        values = (record.provider, record.key, record.digest, json.dumps(record.recipients), state, record.started_at)
        self.execute(db, self.upsert("sends", columns, "provider, key"), (*values, settled_at, outcomes))

    def mark_sending(self, db: Any, record: SendRecord, rows: Sequence[RowRef], now: float) -> None:
        """Mark ``rows`` ``sending`` under ``record.key`` (attempts + 1), in :meth:`begin`'s transaction."""
        self.execute_many(
            db,
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
        with self.transaction() as db:
            settled = record.settled_at if record.settled_at is not None else now
            outcomes = json.dumps(list(map(dict, record.outcomes)), sort_keys=True)
            self._put_send(db, record, "done", settled, outcomes)
            self.execute_many(
                db,
                "UPDATE recipients SET state = ?, gateway_id = ?, code = ?, reason = ?, settled_at = ?"
                f"{self.settle_extra} WHERE campaign = ? AND row = ?",
                updates,
            )

    def import_sends(self, records: Iterable[SendRecord]) -> int:
        values = [
            (
                r.provider,
                r.key,
                r.digest,
                json.dumps(r.recipients),
                r.state,
                r.started_at,
                r.settled_at,
                json.dumps(list(map(dict, r.outcomes)), sort_keys=True) if r.state == "done" else None,
            )
            for r in records
        ]
        insert = self.insert_new(
            "sends", "provider, key, digest, recipients, state, started_at, settled_at, outcomes", "provider, key"
        )
        with self.transaction() as db:
            return sum(max(0, int(self.execute(db, insert, v).rowcount)) for v in values)

    # -- campaigns -----------------------------------------------------------------------------

    def campaign(self, name: str) -> CampaignRecord | None:
        found = self.read(f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE name = ?", (name,))
        return CampaignRecord(*found[0]) if found else None

    def campaigns(self) -> list[CampaignRecord]:
        found = self.read(f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY created_at, name")
        return [CampaignRecord(*r) for r in found]

    def save_campaign(self, campaign: CampaignRecord) -> None:
        c = campaign
        now = self.clock()
        values = (c.name, c.gateway, c.provider, c.template, c.source, c.source_digest, c.total, c.state)
        with self.transaction() as db:
            self.execute(db, self.upsert("campaigns", CAMPAIGN_COLUMNS, "name"), (*values, c.created_at or now, now))

    def add_rows(self, rows: Iterable[Row]) -> int:
        now = self.clock()
        values = [
            (r.campaign, r.row, r.recipient, r.text_digest, r.state, r.code, r.reason, r.created_at or now)
            for r in rows
        ]
        insert = self.insert_new(
            "recipients", "campaign, row, recipient, text_digest, state, code, reason, created_at", "campaign, row"
        )
        with self.transaction() as db:
            return self.execute_many(db, insert, values)

    def rows(self, campaign: str, *, after: int = 0, limit: int | None = None) -> list[Row]:
        return self._rows("campaign = ? AND row > ?", [campaign, after], limit)

    def rows_in_state(self, campaign: str, state: str, *, after: int = 0, limit: int | None = None) -> list[Row]:
        return self._rows("campaign = ? AND state = ? AND row > ?", [campaign, state, after], limit)

    def _rows(self, where: str, params: list[Any], limit: int | None) -> list[Row]:
        query = f"SELECT {ROW_COLUMNS} FROM recipients WHERE {where} ORDER BY row"
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        return [row(r) for r in self.read(query, params)]

    def counts(self, campaign: str) -> dict[str, int]:
        found = self.read("SELECT state, COUNT(*) FROM recipients WHERE campaign = ? GROUP BY state", (campaign,))
        return {str(state): int(n) for state, n in found}

    def set_rows(self, campaign: str, updates: Sequence[tuple[int, str, str | None, str | None]]) -> None:
        now = self.clock()
        with self.transaction() as db:
            self.execute_many(
                db,
                "UPDATE recipients SET state = ?, code = ?, reason = ?, settled_at = ? WHERE campaign = ? AND row = ?",
                [(state, code, reason, now, campaign, n) for n, state, code, reason in updates],
            )

    def record_delivery(
        self,
        campaign: str,
        gateway_id: str,
        state: str,
        code: str | None,
        reason: str | None,
        *,
        recipient: str | None = None,
    ) -> int:
        if state not in DELIVERY:
            raise ValueError(f"not a delivery state: {state!r}")
        sql = (
            "UPDATE recipients SET state = ?, code = COALESCE(?, code), reason = COALESCE(?, reason), "
            "delivered_at = ? WHERE campaign = ? AND gateway_id = ? AND state != ?"
        )
        params: tuple[Any, ...] = (state, code, reason, self.clock(), campaign, gateway_id, state)
        digits = "".join(c for c in recipient or "" if c.isdigit())
        with self.transaction() as db:
            if not digits:
                return max(0, int(self.execute(db, sql, params).rowcount))
            # one recipient of a request that shares its id (BulkSMS batches): that row only
            changed = int(self.execute(db, sql + " AND recipient = ?", (*params, "+" + digits)).rowcount)
            if changed <= 0:  # the number in another format: the id's row, when it has just one
                only = " AND (SELECT COUNT(*) FROM recipients WHERE campaign = ? AND gateway_id = ?) = 1"
                changed = int(self.execute(db, sql + only, (*params, campaign, gateway_id)).rowcount)
            return max(0, changed)

    # -- observability ---------------------------------------------------------------------------

    def stats(self) -> list[StateCount]:
        return [state_count(r) for r in self.read(STATS_SQL)]

    def save_gateway_health(self, health: GatewayHealth) -> None:
        h = health
        with self.transaction() as db:
            self.execute(
                db,
                self.upsert("gateway_health", HEALTH_COLUMNS, "gateway"),
                (h.gateway, h.state, h.since, h.retry_at, h.opened, h.last_error, h.last_error_at, self.clock()),
            )

    def gateway_health(self) -> list[GatewayHealth]:
        return [health_record(r) for r in self.read(f"SELECT {HEALTH_COLUMNS} FROM gateway_health ORDER BY gateway")]


def migrate(db: Any, migrations: Sequence[str], version: int, what: str, done: Callable[[int], object]) -> None:
    """Run ``migrations`` from ``version`` on, calling ``done(n)`` after the n-th; a schema newer
    than this smsgate (``what``: "the store X has schema version") is refused."""
    if version > len(migrations):
        raise ConfigurationError(f"{what} {version}, newer than this smsgate ({len(migrations)}): upgrade smsgate")
    for n in range(version, len(migrations)):
        for statement in migrations[n].split(";"):
            if statement.strip():
                db.execute(statement)
        done(n + 1)


def upsert_sql(table: str, columns: str, key: str) -> str:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` of every other column (PostgreSQL; SQLite
    3.24+ reads it too)."""
    names = [c.strip() for c in columns.split(",")]
    keys = {k.strip() for k in key.split(",")}
    marks = ", ".join("?" for _ in names)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c not in keys)
    return f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {updates}"


def row(r: Sequence[Any]) -> Row:
    values = list(r)
    values[9] = int(values[9])
    return Row(*values)


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


def send_record(r: Sequence[Any]) -> SendRecord:
    provider, key, digest, recipients, state, started_at, outcomes, settled_at = r
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


def iter_chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``values`` in slices of ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
