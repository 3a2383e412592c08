"""The PostgreSQL store: the same :class:`~smsgate.store.Store` as SQLite, shared by many workers.

Install it with ``python -m pip install "smsgate[postgres]"`` (psycopg 3). Open it with
:func:`open_postgres` or ``PostgresStore("postgresql://user@host:5432/db")``; ``schema`` puts
every table in one PostgreSQL schema (created when missing), so several stores can share a
database (the tests use a fresh schema per test).

**Schema.** The tables are SQLite's (:data:`smsgate.store.sqlite.MIGRATIONS`, translated: the
same columns, ``DOUBLE PRECISION`` for ``REAL``, no ``WITHOUT ROWID``), so a migration written
once serves both backends; PostgreSQL adds its own (:data:`PG_MIGRATIONS`): the lease columns
of claimed rows, a fencing-token sequence and the shared rate-limit table. Each track carries
its version in ``smsgate_schema`` and is migrated forward under an advisory lock when a store
opens, so workers starting together do not race.

**Claims** (what Celery workers use, beyond the ``Store`` protocol). A worker takes rows with
:meth:`PostgresStore.claim`: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks rows that are
``planned``, or ``sending`` with an expired lease (their worker died mid-request), and stamps
them in the same statement with the worker's name, a lease end and a **fencing token** (a new
value of a sequence, per claim). Two claimers never get the same row: the second skips rows the
first has locked and, once the first commits, sees their lease. The worker then renews the lease
(:meth:`PostgresStore.renew`, also its check before every request it writes: a lease that is no
longer held, or held under another token, stops the worker before it sends) and lets go with
:meth:`PostgresStore.release`. Lease times are the database server's clock, so workers' clocks
never disagree about them.

One connection per store, used by one thread at a time (a lock), each method one transaction.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import attrs

from smsgate.errors import ConfigurationError
from smsgate.store import PLANNED, SENDING, Row, RowRef, SendRecord
from smsgate.store.sql import ROW_COLUMNS, SqlStore, migrate, row, upsert_sql
from smsgate.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS

try:
    import psycopg
    from psycopg import sql
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError('the PostgreSQL store needs psycopg 3: python -m pip install "smsgate[postgres]"') from exc


def translate(migration: str) -> str:
    """A SQLite migration in PostgreSQL's dialect (the shared subset: types and table options)."""
    out = re.sub(r"\)\s*WITHOUT ROWID", ")", migration, flags=re.IGNORECASE)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", out)


#: PostgreSQL's own migrations, after the shared ones: leases, fencing tokens, rate limits.
PG_MIGRATIONS: tuple[str, ...] = (
    """
    ALTER TABLE recipients ADD COLUMN lease_owner TEXT;
    ALTER TABLE recipients ADD COLUMN lease_until DOUBLE PRECISION;
    ALTER TABLE recipients ADD COLUMN fence BIGINT;
    ALTER TABLE recipients ADD COLUMN body TEXT;
    ALTER TABLE recipients ADD COLUMN sender TEXT;
    ALTER TABLE recipients ADD COLUMN send_at TEXT;
    CREATE SEQUENCE smsgate_fence;
    CREATE INDEX recipients_claimable ON recipients (campaign, row) WHERE state IN ('planned', 'sending');
    CREATE TABLE smsgate_rates (
        gateway TEXT PRIMARY KEY,
        tat DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE smsgate_sweeps (
        campaign TEXT PRIMARY KEY,
        due DOUBLE PRECISION NOT NULL
    );
    """,
)

#: The tracks of ``smsgate_schema``: the migrations shared with SQLite, and PostgreSQL's own.
TRACKS: dict[str, tuple[str, ...]] = {
    "shared": tuple(translate(m) for m in SQLITE_MIGRATIONS),
    "postgres": PG_MIGRATIONS,
}

_NOW = "extract(epoch from clock_timestamp())::double precision"
_LOCK_ID = 0x5353_4741  # "SSGA": the advisory lock taken while migrating


class LeaseLost(BaseException):
    """The rows a worker was about to send are no longer leased to it (its lease expired, or
    another worker took them over): stop, send nothing more, write nothing for them.

    A ``BaseException``, like ``KeyboardInterrupt``: raised from a transport it goes through the
    engine (which turns every ``Exception`` of a transport into an outcome) and ``Gateway.send``
    (which leaves the journal record ``sending`` for whoever holds the rows now)."""


@attrs.frozen
class Text:
    """What a campaign row sends, kept for the workers (who may not have the input file)."""

    text: str
    sender: str | None = None
    send_at: str | None = None  # ISO 8601


@attrs.frozen
class Claimed:
    """Rows taken by one claim: ``token`` fences every write made under it."""

    owner: str
    token: int
    rows: tuple[Row, ...]

    @property
    def refs(self) -> tuple[RowRef, ...]:
        return tuple(RowRef(r.campaign, r.row, r.recipient) for r in self.rows)


class PostgresStore(SqlStore):
    """A :class:`~smsgate.store.Store` in a PostgreSQL database (``dsn``: a libpq URL or
    ``key=value`` string), tables in ``schema`` (default: the connection's search path)."""

    placeholder = "%s"
    settle_extra = ", lease_owner = NULL, lease_until = NULL, body = NULL"

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        clock: Callable[[], float] = time.time,
        connect_timeout: float = 10.0,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.clock = clock
        self._lock = threading.RLock()
        self._fence = threading.local()
        try:
            self._db = psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, int(connect_timeout)))
        except psycopg.Error as exc:
            raise ConfigurationError(f"cannot open the PostgreSQL store: {_safe(exc)}") from None
        try:
            self._migrate()
        except psycopg.Error as exc:
            self._db.close()
            raise ConfigurationError(f"cannot migrate the PostgreSQL store: {_safe(exc)}") from None

    def __repr__(self) -> str:
        info = self._db.info
        return f"<PostgresStore {info.host}:{info.port}/{info.dbname} schema={self.schema or 'default'}>"

    # -- plumbing ------------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._tx() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            if self.schema is not None:
                db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            db.execute("CREATE TABLE IF NOT EXISTS smsgate_schema (track TEXT PRIMARY KEY, version INTEGER NOT NULL)")
            for track, migrations in TRACKS.items():
                found = db.execute("SELECT version FROM smsgate_schema WHERE track = %s", (track,)).fetchone()

                def done(n: int, track: str = track) -> None:
                    db.execute(
                        "INSERT INTO smsgate_schema (track, version) VALUES (%s, %s) "
                        "ON CONFLICT (track) DO UPDATE SET version = EXCLUDED.version",
                        (track, n),
                    )

                migrate(db, migrations, int(found[0]) if found else 0, f"the store's {track} schema has version", done)
                done(len(migrations))  # the track is recorded even when it had nothing to run

    @property
    def versions(self) -> dict[str, int]:
        """The schema version of each track."""
        return {str(t): int(v) for t, v in self._read("SELECT track, version FROM smsgate_schema")}

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction, committed on exit (rolled back on an error); a nested one is a savepoint."""
        with self._lock, self._db.transaction():
            yield self._db

    _tx = transaction

    def _read(self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        """The rows of a query in psycopg's own placeholders."""
        with self._lock:
            return list(self._db.execute(query, params).fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def closed(self) -> bool:
        """Closed, or broken (the server went away): open a new store."""
        return bool(self._db.closed or self._db.broken)

    # -- what PostgreSQL does differently -----------------------------------------------------

    def upsert(self, table: str, columns: str, key: str) -> str:
        return upsert_sql(table, columns, key)

    def mark_sending(self, db: Any, record: SendRecord, rows: Sequence[RowRef], now: float) -> None:
        """Under :meth:`fenced` (a worker's send), only while the worker holds every row."""
        token: int | None = getattr(self._fence, "token", None)
        if not rows or token is None:
            super().mark_sending(db, record, rows, now)
            return
        held = db.execute(
            f"UPDATE recipients SET state = 'sending', key = %s, attempts = attempts + 1, sent_at = %s "
            f"WHERE campaign = %s AND row = ANY(%s) AND fence = %s AND lease_until >= {_NOW} RETURNING row",
            (record.key, now, rows[0].campaign, [r.row for r in rows], token),
        ).fetchall()
        if len(held) != len({(r.campaign, r.row) for r in rows}) or len({r.campaign for r in rows}) != 1:
            raise LeaseLost(f"rows of {record.key} are no longer leased under token {token}")

    def add_rows(self, rows: Iterable[Row], *, page: int = 10_000) -> int:
        """Rows go in pages of ``page``, each one ``INSERT ... SELECT FROM unnest(...)``."""
        now = self.clock()
        added = 0
        batch: list[Row] = []
        with self._tx() as db:
            for r in rows:
                batch.append(r)
                if len(batch) >= page:
                    added += _insert_rows(db, batch, now)
                    batch = []
            if batch:
                added += _insert_rows(db, batch, now)
        return added

    # -- claims (workers) ----------------------------------------------------------------------

    @contextmanager
    def fenced(self, token: int) -> Iterator[None]:
        """In this thread, :meth:`begin` marks rows ``sending`` only while they are leased under
        ``token`` (else it raises :class:`LeaseLost` and writes nothing)."""
        previous = getattr(self._fence, "token", None)
        self._fence.token = token
        try:
            yield
        finally:
            self._fence.token = previous

    def put_texts(self, campaign: str, texts: Iterable[tuple[int, Text]], *, page: int = 10_000) -> int:
        """Keep each row's text (and sender, time) for workers; rows already settled are skipped."""
        changed = 0
        batch: list[tuple[int, Text]] = []

        def flush(db: psycopg.Connection[Any]) -> int:
            cur = db.execute(
                "UPDATE recipients AS r SET body = t.body, sender = t.sender, send_at = t.send_at "
                "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS t(row, body, sender, send_at) "
                f"WHERE r.campaign = %s AND r.row = t.row AND r.state IN ('{PLANNED}', '{SENDING}')",
                (
                    [n for n, _ in batch],
                    [t.text for _, t in batch],
                    [t.sender for _, t in batch],
                    [t.send_at for _, t in batch],
                    campaign,
                ),
            )
            return max(0, cur.rowcount)

        with self._tx() as db:
            for item in texts:
                batch.append(item)
                if len(batch) >= page:
                    changed += flush(db)
                    batch = []
            if batch:
                changed += flush(db)
        return changed

    def texts(self, campaign: str, rows: Sequence[int]) -> dict[int, Text]:
        """The kept texts of ``rows`` (rows without one are missing)."""
        found = self._read(
            "SELECT row, body, sender, send_at FROM recipients WHERE campaign = %s AND row = ANY(%s) "
            "AND body IS NOT NULL",
            (campaign, list(rows)),
        )
        return {int(n): Text(str(body), sender, send_at) for n, body, sender, send_at in found}

    def rows_with_key(self, campaign: str, key: str) -> list[Row]:
        """The rows of ``campaign`` bound to send ``key``."""
        found = self._read(
            f"SELECT {ROW_COLUMNS} FROM recipients WHERE campaign = %s AND key = %s ORDER BY row", (campaign, key)
        )
        return [row(r) for r in found]

    def claim(self, campaign: str, owner: str, *, limit: int, lease: float) -> Claimed:
        """Take rows of ``campaign`` for ``lease`` seconds under a new fencing token: first the
        rows of sends left ``sending`` under an expired lease (a dead worker's: whole sends, every
        row of a key together, so it can be resumed as it was), then ``planned`` rows, up to
        ``limit`` in all. ``FOR UPDATE SKIP LOCKED`` (and, for a send's rows, a transaction-level
        advisory lock on its key, then a re-check of the lease): concurrent claimers never get
        the same row. An empty claim has no rows."""
        params = {"campaign": campaign, "owner": owner, "lease": float(lease)}
        expired = f"(lease_until IS NULL OR lease_until < {_NOW})"
        returning = ", ".join("r." + c.strip() for c in ROW_COLUMNS.split(","))
        taken: list[Any] = []
        with self._tx() as db:
            token = int(db.execute("SELECT nextval('smsgate_fence')").fetchone()[0])  # type: ignore[index]
            params["token"] = token
            keys = db.execute(
                f"SELECT key FROM recipients WHERE campaign = %(campaign)s AND state = '{SENDING}' "
                f"AND key IS NOT NULL AND {expired} GROUP BY key ORDER BY min(row) LIMIT %(limit)s",
                {**params, "limit": limit},
            ).fetchall()
            for (key,) in keys:
                if len(taken) >= limit:
                    break
                locked = db.execute(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", (f"{campaign}\x1f{key}",)
                ).fetchone()
                if not locked or not locked[0]:
                    continue  # another claimer is taking this send right now
                taken += db.execute(
                    f"UPDATE recipients AS r SET lease_owner = %(owner)s, lease_until = {_NOW} + %(lease)s, "
                    f"fence = %(token)s WHERE r.campaign = %(campaign)s AND r.key = %(key)s "
                    f"AND r.state = '{SENDING}' AND {expired.replace('lease_until', 'r.lease_until')} "
                    f"RETURNING {returning}",
                    {**params, "key": key},
                ).fetchall()
            if len(taken) < limit:
                taken += db.execute(
                    f"""
                    WITH picked AS (
                        SELECT campaign, row FROM recipients
                        WHERE campaign = %(campaign)s AND state = '{PLANNED}' AND {expired}
                        ORDER BY row
                        LIMIT %(limit)s
                        FOR UPDATE SKIP LOCKED
                    )
                    UPDATE recipients AS r
                    SET lease_owner = %(owner)s, lease_until = {_NOW} + %(lease)s, fence = %(token)s
                    FROM picked WHERE r.campaign = picked.campaign AND r.row = picked.row
                    RETURNING {returning}
                    """,
                    {**params, "limit": limit - len(taken)},
                ).fetchall()
        rows = tuple(sorted((row(r) for r in taken), key=lambda r: r.row))
        return Claimed(owner, token, rows)

    def renew(self, campaign: str, rows: Sequence[int], token: int, lease: float) -> list[int]:
        """Extend the lease of ``rows`` held under ``token`` to ``lease`` seconds from now;
        returns the rows still held (a row settled meanwhile, or taken over, is not)."""
        if not rows:
            return []
        with self._tx() as db:
            found = db.execute(
                f"UPDATE recipients SET lease_until = {_NOW} + %s "
                f"WHERE campaign = %s AND row = ANY(%s) AND fence = %s AND state IN ('{PLANNED}', '{SENDING}') "
                "RETURNING row",
                (float(lease), campaign, list(rows), token),
            ).fetchall()
        return sorted(int(r[0]) for r in found)

    def holds(self, campaign: str, rows: Sequence[int], token: int) -> bool:
        """Whether every one of ``rows`` is still leased under ``token`` (lease not expired)."""
        if not rows:
            return True
        found = self._read(
            f"SELECT count(*) FROM recipients WHERE campaign = %s AND row = ANY(%s) AND fence = %s "
            f"AND lease_until >= {_NOW}",
            (campaign, list(rows), token),
        )
        return int(found[0][0]) == len(set(rows))

    def release(self, campaign: str, rows: Sequence[int], token: int) -> int:
        """Give up the lease of ``rows`` held under ``token`` (they can be claimed at once)."""
        if not rows:
            return 0
        with self._tx() as db:
            cur = db.execute(
                "UPDATE recipients SET lease_owner = NULL, lease_until = NULL "
                "WHERE campaign = %s AND row = ANY(%s) AND fence = %s",
                (campaign, list(rows), token),
            )
            return max(0, cur.rowcount)

    def leases(self, campaign: str) -> tuple[int, float | None]:
        """Rows of ``campaign`` not settled yet and under a live lease, and when the first such
        lease ends (seconds from now)."""
        found = self._read(
            f"SELECT count(*), min(lease_until) - {_NOW} FROM recipients WHERE campaign = %s "
            f"AND state IN ('{PLANNED}', '{SENDING}') AND lease_until >= {_NOW}",
            (campaign,),
        )
        n, first = found[0]
        return int(n), None if first is None else float(first)

    def claimable(self, campaign: str) -> int:
        """Rows of ``campaign`` a claim would take now."""
        found = self._read(
            f"SELECT count(*) FROM recipients WHERE campaign = %s AND state IN ('{PLANNED}', '{SENDING}') "
            f"AND (lease_until IS NULL OR lease_until < {_NOW})",
            (campaign,),
        )
        return int(found[0][0])

    def due_sweep(self, campaign: str, delay: float) -> bool:
        """Book the one sweep of ``campaign`` due in ``delay`` seconds: ``True`` if none was
        booked for later than now (the caller enqueues it), ``False`` if one is pending."""
        with self._tx() as db:
            found = db.execute(
                f"INSERT INTO smsgate_sweeps (campaign, due) VALUES (%s, {_NOW} + %s) "
                f"ON CONFLICT (campaign) DO UPDATE SET due = EXCLUDED.due WHERE smsgate_sweeps.due < {_NOW} "
                "RETURNING due",
                (campaign, float(delay)),
            ).fetchall()
        return bool(found)

    # -- a rate limit shared by every worker -----------------------------------------------------

    def reserve(self, gateway: str, rate: float, burst: int = 1) -> float:
        """Reserve the next slot of ``gateway``'s shared limit of ``rate`` requests per second
        (``burst`` at once): the seconds to wait before using it (GCRA; never drops)."""
        if rate <= 0:
            return 0.0
        interval = 1.0 / rate
        tolerance = interval * max(0, burst - 1)
        with self._tx() as db:
            db.execute("INSERT INTO smsgate_rates (gateway, tat) VALUES (%s, 0) ON CONFLICT DO NOTHING", (gateway,))
            found = db.execute(
                f"UPDATE smsgate_rates SET tat = GREATEST(tat, {_NOW}) + %s WHERE gateway = %s RETURNING tat, {_NOW}",
                (interval, gateway),
            ).fetchone()
        assert found is not None
        tat, now = float(found[0]), float(found[1])
        return max(0.0, tat - interval - tolerance - now)


def open_postgres(url: str, *, schema: str | None = None) -> PostgresStore:
    """The PostgreSQL store at ``url`` (``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB``; a
    ``?schema=NAME`` option selects a schema), created and migrated."""
    base, _, query = url.partition("?")
    keep = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        if name == "schema":
            schema = value
        else:
            keep.append(part)
    dsn = base + ("?" + "&".join(keep) if keep else "")
    return PostgresStore(dsn, schema=schema)


def _insert_rows(db: psycopg.Connection[Any], batch: Sequence[Row], now: float) -> int:
    cur = db.execute(
        "INSERT INTO recipients (campaign, row, recipient, text_digest, state, code, reason, created_at) "
        "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], "
        "%s::text[], %s::double precision[]) ON CONFLICT (campaign, row) DO NOTHING",
        (
            [r.campaign for r in batch],
            [r.row for r in batch],
            [r.recipient for r in batch],
            [r.text_digest for r in batch],
            [r.state for r in batch],
            [r.code for r in batch],
            [r.reason for r in batch],
            [r.created_at or now for r in batch],
        ),
    )
    return max(0, cur.rowcount)


def _safe(exc: Exception) -> str:
    """An error's text without a password a DSN may carry."""
    return re.sub(r"(password=|://[^:/@]*:)[^@\s]*", r"\1***", str(exc).strip().splitlines()[0] if str(exc) else "")


__all__ = ["PG_MIGRATIONS", "TRACKS", "Claimed", "LeaseLost", "PostgresStore", "Text", "open_postgres", "translate"]
