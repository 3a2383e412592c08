"""The receiver's store (:class:`~smsgate.inbound.InboundStore`) in a SQL campaign store: its
``inbound_v1_*`` tables are among the store's migrations, and it runs on the store's own
connection, so a delivery report and the campaign rows it updates commit in one transaction.

Written once for both backends (:class:`~smsgate.store.inbound_sqlite.SqliteInboundStore`,
:class:`~smsgate.store.inbound_postgres.PostgresInboundStore`): queries use ``?`` and the
store's dialect methods (:class:`~smsgate.store.sql.SqlStore`).

**Once, under concurrency.** An event is inserted with ``ON CONFLICT DO NOTHING``; the inserted
row count says who stored it first. Several receivers (serve workers, on PostgreSQL) given the
same resent report at once: one inserts it and applies it to the campaign rows, the others wait
for its commit, find it, and apply nothing new (``record_delivery`` changes only rows not
already in the state). One still unhandled (its hooks failed) is applied again when resent
(rows settled since are updated) and reported as needing handling.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from smsgate.inbound import (
    InboundMessage,
    ReportEvent,
    Suppression,
    delivery_state,
    from_timestamp,
    number_key,
    report_ident,
    timestamp,
)
from smsgate.models import DeliveryReport
from smsgate.store.sql import SqlStore, iter_chunks

REPORT_COLUMNS = "gateway, ident, message_id, recipient, status, code, reason, at, received_at, handled, rows, raw"
MESSAGE_COLUMNS = (
    "gateway, ident, message_id, sender, sender_key, recipient, text, opt_out, at, received_at, handled, raw"
)
_TABLES = {"report": "inbound_v1_reports", "inbound": "inbound_v1_messages"}


class SqlInboundStore:
    """An :class:`~smsgate.inbound.InboundStore` on ``store``'s connection; delivery states reach
    the campaign rows through ``store.record_delivery`` (every campaign sending through that
    gateway or provider), in the report's transaction. ``owned``: :meth:`close` closes ``store``."""

    def __init__(self, store: SqlStore, *, owned: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._owned = owned

    def __repr__(self) -> str:
        return f"<{type(self).__name__} on {self.store!r}>"

    def _apply(self, gateway: str, provider: str, report: DeliveryReport) -> int:
        """Set the delivery state of the campaign rows with the report's gateway id (idempotent)."""
        state = delivery_state(report)
        if state is None:
            return 0
        changed = 0
        for campaign in self.store.campaigns():
            if campaign.gateway in (gateway, provider) or campaign.provider == provider:
                changed += self.store.record_delivery(
                    campaign.name, report.message_id, state, report.code, report.reason, recipient=report.recipient
                )
        return changed

    def _handled(self, db: Any, kind: str, gateway: str, ident: str) -> bool:
        found = self.store.execute(
            db, f"SELECT handled FROM {_TABLES[kind]} WHERE gateway = ? AND ident = ?", (gateway, ident)
        ).fetchone()
        return found is None or bool(found[0])

    def record_report(self, gateway: str, provider: str, report: DeliveryReport, *, handled: bool = False) -> bool:
        s, ident = self.store, report_ident(report)
        values = (
            gateway,
            ident,
            report.message_id,
            report.recipient,
            report.status.value,
            report.code,
            report.reason,
            timestamp(report.at),
            self.clock(),
            int(handled),
            0,
            json.dumps(dict(report.raw), ensure_ascii=False, default=str),
        )
        with s.transaction() as db:
            fresh = s.execute(db, s.insert_new("inbound_v1_reports", REPORT_COLUMNS, "gateway, ident"), values).rowcount
            if not fresh and self._handled(db, "report", gateway, ident):
                return False  # a resend of what is done: acknowledged, nothing more
            rows = self._apply(gateway, provider, report)
            if rows or (handled and not fresh):
                s.execute(
                    db,
                    "UPDATE inbound_v1_reports SET rows = rows + ?, handled = ? WHERE gateway = ? AND ident = ?",
                    (rows, int(handled), gateway, ident),
                )
        return True

    def record_inbound(self, message: InboundMessage, *, handled: bool = False) -> bool:
        s, gateway, ident = self.store, message.gateway or "", message.ident()
        values = (
            gateway,
            ident,
            message.message_id,
            message.sender,
            number_key(message.sender),
            message.recipient,
            message.text,
            int(message.opt_out),
            timestamp(message.received_at),
            self.clock(),
            int(handled),
            json.dumps(dict(message.raw), ensure_ascii=False, default=str),
        )
        with s.transaction() as db:
            if s.execute(db, s.insert_new("inbound_v1_messages", MESSAGE_COLUMNS, "gateway, ident"), values).rowcount:
                return True
            return not self._handled(db, "inbound", gateway, ident)

    def mark_handled(self, kind: str, gateway: str, ident: str) -> None:
        with self.store.transaction() as db:
            self.store.execute(
                db, f"UPDATE {_TABLES[kind]} SET handled = 1 WHERE gateway = ? AND ident = ?", (gateway, ident)
            )

    def reports(self, gateway: str | None = None, message_id: str | None = None) -> list[ReportEvent]:
        where, params = _where(gateway=gateway, message_id=message_id)
        found = self.store.read(
            "SELECT gateway, message_id, status, recipient, code, reason, at, received_at, handled, rows "
            f"FROM inbound_v1_reports{where} ORDER BY received_at, gateway, ident",
            params,
        )
        return [
            ReportEvent(str(g), str(mid), str(st), rc, code, reason, at, float(rat), bool(handled), int(rows))
            for g, mid, st, rc, code, reason, at, rat, handled, rows in found
        ]

    def inbound(self, gateway: str | None = None, sender: str | None = None) -> list[InboundMessage]:
        where, params = _where(gateway=gateway, sender_key=number_key(sender) if sender is not None else None)
        found = self.store.read(
            "SELECT sender, text, recipient, message_id, at, opt_out, gateway, raw "
            f"FROM inbound_v1_messages{where} ORDER BY received_at, gateway, ident",
            params,
        )
        return [
            InboundMessage(s, t, r, mid, from_timestamp(at), bool(o), g, json.loads(raw))
            for s, t, r, mid, at, o, g, raw in found
        ]

    # -- the suppression list ---------------------------------------------------------------

    def suppress(self, numbers: Iterable[str], reason: str = "manual", gateway: str | None = None) -> int:
        now = self.clock()
        keys = sorted({k for k in map(number_key, numbers) if k})  # one order: no deadlock between writers
        insert = self.store.insert_new("inbound_v1_suppressed", "number_key, number, reason, gateway, at", "number_key")
        with self.store.transaction() as db:
            return self.store.execute_many(db, insert, [(k, "+" + k, reason, gateway, now) for k in keys])

    def unsuppress(self, numbers: Iterable[str]) -> int:
        keys = sorted({number_key(n) for n in numbers})
        with self.store.transaction() as db:
            return self.store.execute_many(
                db, "DELETE FROM inbound_v1_suppressed WHERE number_key = ?", [(k,) for k in keys]
            )

    def suppressed(self, numbers: Iterable[str]) -> set[str]:
        given = list(numbers)
        found: set[str] = set()
        for chunk in iter_chunks(sorted({number_key(n) for n in given}), 500):
            marks = ", ".join("?" for _ in chunk)
            rows = self.store.read(f"SELECT number_key FROM inbound_v1_suppressed WHERE number_key IN ({marks})", chunk)
            found.update(str(r[0]) for r in rows)
        return {n for n in given if number_key(n) in found}

    def suppressions(self) -> list[Suppression]:
        rows = self.store.read("SELECT number, reason, gateway, at FROM inbound_v1_suppressed ORDER BY number")
        return [Suppression(str(n), str(r), g, float(a)) for n, r, g, a in rows]

    # -- pull cursors ---------------------------------------------------------------------------

    def cursor(self, gateway: str) -> str | None:
        found = self.store.read("SELECT cursor FROM inbound_v1_cursors WHERE gateway = ?", (gateway,))
        return str(found[0][0]) if found else None

    def save_cursor(self, gateway: str, cursor: str) -> None:
        with self.store.transaction() as db:
            self.store.execute(
                db,
                self.store.upsert("inbound_v1_cursors", "gateway, cursor, at", "gateway"),
                (gateway, cursor, self.clock()),
            )

    def close(self) -> None:
        if self._owned:
            self.store.close()


def _where(**equal: str | None) -> tuple[str, Sequence[Any]]:
    """`` WHERE a = ? AND ...`` for the given (not ``None``) values, with their parameters."""
    given = {k: v for k, v in equal.items() if v is not None}
    if not given:
        return "", ()
    return " WHERE " + " AND ".join(f"{k} = ?" for k in given), tuple(given.values())
