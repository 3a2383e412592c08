"""What gateways push to us: incoming messages (MO) and the record of every callback received.

``InboundMessage`` is what a provider's ``parse_inbound`` hook returns for an incoming SMS (a
reply, a STOP). :class:`InboundStore` is where the receiver (:mod:`smsgate.serve`) keeps what
arrives: every delivery report and incoming message once (a resent callback is recognised from
the store, across restarts), the suppression list (opt-outs), and, through the campaign
:class:`~smsgate.store.Store`, the delivery state of campaign rows.

Two implementations: :class:`MemoryInboundStore` (tests, embedding) and
:class:`SqliteInboundStore` (its ``inbound_v1_*`` tables in the store's SQLite file, created by
the store's own migrations: :data:`smsgate.store.sqlite.MIGRATIONS`; the campaign rows are
updated through the ``Store`` protocol, so ``campaign status`` counts delivered/undelivered).

Processing is two-phase, so that a failure never loses an event (:func:`take_report`,
:func:`take_inbound`, used by the receiver and by ``smsgate inbound fetch``): the event is
written first (``record_*`` returns whether it still needs handling), the opt-out keywords are
applied, the app hooks run, then it is marked handled (``mark_handled``). An event whose hooks
failed is processed again when the gateway resends it (or the next pull brings it); one
already handled is acknowledged and nothing else happens.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from smsgate.errors import SmsgateError
from smsgate.models import DeliveryReport, DeliveryStatus, mapping

if TYPE_CHECKING:
    from smsgate.gateway import Gateway
    from smsgate.suppression import Keywords

__all__ = [
    "DELIVERY_STATES",
    "CallbackRejectedError",
    "InboundMessage",
    "InboundStore",
    "MemoryInboundStore",
    "ReportEvent",
    "SqliteInboundStore",
    "Suppression",
    "delivery_state",
    "number_key",
    "pull",
    "take_inbound",
    "take_report",
]


class CallbackRejectedError(SmsgateError):
    """A callback that fails the gateway's own authenticity check (a signature or checksum that
    does not match): the receiver answers 403 and stores nothing. Raised by ``parse_inbound``
    (and, where a plugin adopts it, ``parse_delivery_report``)."""


@attrs.frozen
class InboundMessage:
    """One incoming SMS (mobile-originated), normalised.

    ``sender`` is the subscriber's number (``+digits`` where the gateway gives it
    internationally), ``recipient`` our number or short code it was sent to (when the gateway
    says), ``message_id`` the gateway's id of the incoming message (the de-duplication key),
    ``received_at`` when the gateway received it. ``opt_out`` is true when the gateway itself
    reports an opt-out (Octopush's STOP callback); STOP keywords in ``text`` are recognised by
    the receiver (:mod:`smsgate.suppression`). ``gateway`` is filled in by the receiver (a
    parser does not know under which name it is configured).
    """

    sender: str
    text: str
    recipient: str | None = None
    message_id: str | None = None
    received_at: datetime | None = None
    opt_out: bool = False
    gateway: str | None = None
    raw: Mapping[str, str] = attrs.field(factory=dict, converter=mapping, hash=False)

    def ident(self) -> str:
        """The de-duplication key: the gateway's id, else a digest of the content."""
        if self.message_id:  # an opt-out callback may share its message's id (Octopush)
            return f"{'stop' if self.opt_out else 'id'}:{self.message_id}"
        at = self.received_at.isoformat() if self.received_at else ""
        data = "\x1f".join((self.sender, self.recipient or "", self.text, at, str(self.opt_out)))
        return "sha:" + hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:32]


#: Delivery states of a campaign row, from a report's normalised status (others change nothing).
DELIVERY_STATES: Mapping[DeliveryStatus, str] = {
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.FAILED: "undelivered",
    DeliveryStatus.REJECTED: "undelivered",
    DeliveryStatus.EXPIRED: "expired",
}


def delivery_state(report: DeliveryReport) -> str | None:
    """The campaign row state a report sets: ``delivered``, ``undelivered``, ``expired`` or
    ``None`` (pending or unknown: nothing to record on the row)."""
    return DELIVERY_STATES.get(report.status)


def report_ident(report: DeliveryReport) -> str:
    """A report's de-duplication key: gateway id, recipient and the gateway's status code (or
    the normalised status). Gateways resend reports; the same key is the same report."""
    return "\x1f".join((report.message_id, report.recipient or "", report.code or "", report.status.value))


def number_key(number: str) -> str:
    """The form numbers are compared in (suppression list): digits only, ``00`` prefix dropped,
    so ``+48 500-600-700``, ``0048500600700`` and ``48500600700`` are one number."""
    digits = "".join(c for c in number if "0" <= c <= "9")
    if number.strip().startswith("00") and digits.startswith("00"):
        digits = digits[2:]
    return digits


@attrs.frozen
class ReportEvent:
    """A stored delivery report."""

    gateway: str
    message_id: str
    status: str
    recipient: str | None
    code: str | None
    reason: str | None
    at: float | None
    received_at: float
    handled: bool
    rows: int = 0


@attrs.frozen
class Suppression:
    """A number on the suppression list: why (``keyword`` text, ``manual``, ``import``...), from
    which gateway, when."""

    number: str
    reason: str = "manual"
    gateway: str | None = None
    at: float = 0.0


class InboundStore(Protocol):
    """Where the receiver keeps what arrives. Every method is one durable transaction."""

    def record_report(self, gateway: str, provider: str, report: DeliveryReport, *, handled: bool = False) -> bool:
        """Keep ``report`` (once) and apply it to the campaign rows with its gateway id; returns
        True when it still needs handling (new, or its hooks failed last time). ``handled``:
        there is nothing more to do (no hooks), store it handled at once."""

    def record_inbound(self, message: InboundMessage, *, handled: bool = False) -> bool:
        """Keep ``message`` (once); True when it still needs handling."""

    def mark_handled(self, kind: str, gateway: str, ident: str) -> None:
        """Mark a report (``kind="report"``, ident :func:`report_ident`) or message
        (``"inbound"``, ``InboundMessage.ident()``) handled: its resends are only acknowledged."""

    def reports(self, gateway: str | None = None, message_id: str | None = None) -> list[ReportEvent]: ...

    def inbound(self, gateway: str | None = None, sender: str | None = None) -> list[InboundMessage]: ...

    # -- the suppression list ---------------------------------------------------------------
    def suppress(self, numbers: Iterable[str], reason: str = "manual", gateway: str | None = None) -> int:
        """Add numbers (normalised with :func:`number_key`); returns how many were new."""

    def unsuppress(self, numbers: Iterable[str]) -> int:
        """Remove numbers; returns how many were on the list."""

    def suppressed(self, numbers: Iterable[str]) -> set[str]:
        """Which of ``numbers`` (as given) are on the list."""

    def suppressions(self) -> list[Suppression]: ...

    # -- pull cursors (``smsgate inbound fetch``) ------------------------------------------
    def cursor(self, gateway: str) -> str | None:
        """Where the last pull of ``gateway``'s incoming messages stopped (``None``: never pulled)."""

    def save_cursor(self, gateway: str, cursor: str) -> None:
        """Remember ``cursor`` for ``gateway``'s next pull."""

    def close(self) -> None: ...


def take_report(
    store: InboundStore, gateway: str, provider: str, report: DeliveryReport, hooks: Sequence[Callable[..., Any]] = ()
) -> bool:
    """Keep ``report`` (once), run ``hooks`` (each called with the report), then mark it handled.
    False when it was already handled (a resend: nothing done). A hook that raises leaves the
    report stored but not handled, so its resend is processed again."""
    if not store.record_report(gateway, provider, report, handled=not hooks):
        return False
    if hooks:
        for hook in hooks:
            hook(report)
        store.mark_handled("report", gateway, report_ident(report))
    return True


def take_inbound(
    store: InboundStore, message: InboundMessage, keywords: Keywords, hooks: Sequence[Callable[..., Any]] = ()
) -> bool:
    """Keep ``message`` (once; ``message.gateway`` set), apply the opt-out ``keywords``
    (:func:`smsgate.suppression.apply`), run ``hooks`` (each called with the message), then mark
    it handled. False when it was already handled (nothing done); a hook that raises leaves it
    stored but not handled, so it is processed again when it comes again."""
    from smsgate import suppression

    if not store.record_inbound(message):
        return False
    suppression.apply(store, message, keywords)
    for hook in hooks:
        hook(message)
    store.mark_handled("inbound", message.gateway or "", message.ident())
    return True


def _ts(at: datetime | None) -> float | None:
    return at.timestamp() if at is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def pull(
    gateway: Gateway,
    store: InboundStore,
    name: str,
    keywords: Keywords,
    hooks: Sequence[Callable[..., Any]] = (),
    *,
    max_pages: int = 100,
) -> list[tuple[InboundMessage, bool]]:
    """``smsgate inbound fetch``: pull ``gateway``'s incoming messages after the cursor kept for
    ``name``, :func:`take_inbound` each (as ``gateway=name``), and keep the new cursor after each
    page, while the gateway says there is more (at most ``max_pages`` requests). Returns every
    message pulled, with whether it was new."""
    cursor = store.cursor(name)
    pulled: list[tuple[InboundMessage, bool]] = []
    for _ in range(max(1, max_pages)):
        inbox = gateway.fetch_inbound(cursor)
        for message in inbox.messages:
            message = attrs.evolve(message, gateway=name)
            pulled.append((message, take_inbound(store, message, keywords, hooks)))
        if inbox.cursor is not None and inbox.cursor != cursor:
            store.save_cursor(name, inbox.cursor)
        if not inbox.more or inbox.cursor in (None, cursor):
            break
        cursor = inbox.cursor
    return pulled


# -- in memory ----------------------------------------------------------------------------------


class MemoryInboundStore:
    """An :class:`InboundStore` in memory (tests, embedding). ``deliveries`` collects what
    would update campaign rows: ``(gateway, message_id, state, code, reason)``."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._reports: dict[tuple[str, str], ReportEvent] = {}
        self._inbound: dict[tuple[str, str], tuple[InboundMessage, bool]] = {}
        self._suppressed: dict[str, Suppression] = {}
        self._cursors: dict[str, str] = {}
        self.deliveries: list[tuple[str, str, str, str | None, str | None]] = []

    def record_report(self, gateway: str, provider: str, report: DeliveryReport, *, handled: bool = False) -> bool:
        key = (gateway, report_ident(report))
        with self._lock:
            known = self._reports.get(key)
            if known is not None:
                return not known.handled
            state = delivery_state(report)
            if state is not None:
                self.deliveries.append((gateway, report.message_id, state, report.code, report.reason))
            self._reports[key] = ReportEvent(
                gateway,
                report.message_id,
                report.status.value,
                report.recipient,
                report.code,
                report.reason,
                _ts(report.at),
                self.clock(),
                handled,
            )
            return True

    def record_inbound(self, message: InboundMessage, *, handled: bool = False) -> bool:
        key = (message.gateway or "", message.ident())
        with self._lock:
            known = self._inbound.get(key)
            if known is not None:
                return not known[1]
            self._inbound[key] = (message, handled)
            return True

    def mark_handled(self, kind: str, gateway: str, ident: str) -> None:
        with self._lock:
            if kind == "report" and (gateway, ident) in self._reports:
                self._reports[(gateway, ident)] = attrs.evolve(self._reports[(gateway, ident)], handled=True)
            elif kind == "inbound" and (gateway, ident) in self._inbound:
                self._inbound[(gateway, ident)] = (self._inbound[(gateway, ident)][0], True)

    def reports(self, gateway: str | None = None, message_id: str | None = None) -> list[ReportEvent]:
        with self._lock:
            return [
                r
                for r in self._reports.values()
                if (gateway is None or r.gateway == gateway) and (message_id is None or r.message_id == message_id)
            ]

    def inbound(self, gateway: str | None = None, sender: str | None = None) -> list[InboundMessage]:
        with self._lock:
            return [
                m
                for m, _ in self._inbound.values()
                if (gateway is None or m.gateway == gateway)
                and (sender is None or number_key(m.sender) == number_key(sender))
            ]

    def suppress(self, numbers: Iterable[str], reason: str = "manual", gateway: str | None = None) -> int:
        added = 0
        with self._lock:
            for n in numbers:
                key = number_key(n)
                if key and key not in self._suppressed:
                    self._suppressed[key] = Suppression("+" + key, reason, gateway, self.clock())
                    added += 1
        return added

    def unsuppress(self, numbers: Iterable[str]) -> int:
        with self._lock:
            return sum(self._suppressed.pop(number_key(n), None) is not None for n in numbers)

    def suppressed(self, numbers: Iterable[str]) -> set[str]:
        with self._lock:
            return {n for n in numbers if number_key(n) in self._suppressed}

    def suppressions(self) -> list[Suppression]:
        with self._lock:
            return sorted(self._suppressed.values(), key=lambda s: s.number)

    def cursor(self, gateway: str) -> str | None:
        with self._lock:
            return self._cursors.get(gateway)

    def save_cursor(self, gateway: str, cursor: str) -> None:
        with self._lock:
            self._cursors[gateway] = cursor

    def close(self) -> None:
        pass


# -- SQLite ----------------------------------------------------------------------------------------


class SqliteInboundStore:
    """An :class:`InboundStore` in a SQLite file: by default the campaign store's own file
    (``store.path``), in its ``inbound_v1_*`` tables (created by the store's migrations: given a
    ``path`` alone, the file is opened as a store once to migrate it). Delivery states reach
    campaign rows through ``store.record_delivery`` (every campaign sending through that
    gateway or provider)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        store: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if path is None:
            if store is None or getattr(store, "path", None) is None:
                raise ValueError("SqliteInboundStore needs a path or a store with a path")
            path = store.path
        if str(path) == ":memory:":
            raise ValueError("SqliteInboundStore needs a file (in memory: MemoryInboundStore)")
        self.path = Path(path)
        self.store = store
        self.clock = clock
        if store is None or Path(getattr(store, "path", "")) != self.path:
            from smsgate.store.sqlite import SqliteStore

            SqliteStore(self.path).close()  # the inbound tables are among the store's migrations
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    def __repr__(self) -> str:
        return f"<SqliteInboundStore {self.path}>"

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
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

    def _apply(self, gateway: str, provider: str, report: DeliveryReport) -> int:
        """Set the delivery state of the campaign rows with the report's gateway id (idempotent)."""
        state = delivery_state(report)
        if state is None or self.store is None:
            return 0
        changed = 0
        for campaign in self.store.campaigns():
            if campaign.gateway in (gateway, provider) or campaign.provider == provider:
                changed += int(
                    self.store.record_delivery(campaign.name, report.message_id, state, report.code, report.reason)
                )
        return changed

    def record_report(self, gateway: str, provider: str, report: DeliveryReport, *, handled: bool = False) -> bool:
        ident = report_ident(report)
        found = self._read("SELECT handled FROM inbound_v1_reports WHERE gateway = ? AND ident = ?", (gateway, ident))
        if found and found[0][0]:
            return False
        # The rows first (idempotent), then the event: a crash in between leaves no event, and
        # the gateway's resend applies both.
        rows = self._apply(gateway, provider, report)
        with self._tx() as db:
            db.execute(
                "INSERT INTO inbound_v1_reports (gateway, ident, message_id, recipient, status, code, reason, at, "
                "received_at, handled, rows, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (gateway, ident) DO UPDATE SET rows = rows + excluded.rows, "
                "handled = MAX(handled, excluded.handled)",
                (
                    gateway,
                    ident,
                    report.message_id,
                    report.recipient,
                    report.status.value,
                    report.code,
                    report.reason,
                    _ts(report.at),
                    self.clock(),
                    int(handled),
                    rows,
                    json.dumps(dict(report.raw), ensure_ascii=False, default=str),
                ),
            )
        return True

    def record_inbound(self, message: InboundMessage, *, handled: bool = False) -> bool:
        gateway, ident = message.gateway or "", message.ident()
        with self._tx() as db:
            found = db.execute(
                "SELECT handled FROM inbound_v1_messages WHERE gateway = ? AND ident = ?", (gateway, ident)
            ).fetchall()
            if found:
                return not found[0][0]
            db.execute(
                "INSERT INTO inbound_v1_messages (gateway, ident, message_id, sender, sender_key, recipient, text, "
                "opt_out, at, received_at, handled, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    gateway,
                    ident,
                    message.message_id,
                    message.sender,
                    number_key(message.sender),
                    message.recipient,
                    message.text,
                    int(message.opt_out),
                    _ts(message.received_at),
                    self.clock(),
                    int(handled),
                    json.dumps(dict(message.raw), ensure_ascii=False, default=str),
                ),
            )
        return True

    def mark_handled(self, kind: str, gateway: str, ident: str) -> None:
        table = {"report": "inbound_v1_reports", "inbound": "inbound_v1_messages"}[kind]
        with self._tx() as db:
            db.execute(f"UPDATE {table} SET handled = 1 WHERE gateway = ? AND ident = ?", (gateway, ident))

    def reports(self, gateway: str | None = None, message_id: str | None = None) -> list[ReportEvent]:
        sql = (
            "SELECT gateway, message_id, status, recipient, code, reason, at, received_at, handled, rows "
            "FROM inbound_v1_reports WHERE (? IS NULL OR gateway = ?) AND (? IS NULL OR message_id = ?) "
            "ORDER BY received_at"
        )
        found = self._read(sql, (gateway, gateway, message_id, message_id))
        return [
            ReportEvent(str(g), str(mid), str(st), rc, code, reason, at, float(rat), bool(handled), int(rows))
            for g, mid, st, rc, code, reason, at, rat, handled, rows in found
        ]

    def inbound(self, gateway: str | None = None, sender: str | None = None) -> list[InboundMessage]:
        key = number_key(sender) if sender is not None else None
        sql = (
            "SELECT sender, text, recipient, message_id, at, opt_out, gateway, raw FROM inbound_v1_messages "
            "WHERE (? IS NULL OR gateway = ?) AND (? IS NULL OR sender_key = ?) ORDER BY received_at"
        )
        return [
            InboundMessage(s, t, r, mid, _dt(at), bool(o), g, json.loads(raw))
            for s, t, r, mid, at, o, g, raw in self._read(sql, (gateway, gateway, key, key))
        ]

    def suppress(self, numbers: Iterable[str], reason: str = "manual", gateway: str | None = None) -> int:
        now = self.clock()
        values = [(k, "+" + k, reason, gateway, now) for k in {number_key(n) for n in numbers} if k]
        with self._tx() as db:
            cur = db.executemany(
                "INSERT OR IGNORE INTO inbound_v1_suppressed (number_key, number, reason, gateway, at) "
                "VALUES (?, ?, ?, ?, ?)",
                values,
            )
            return max(0, int(cur.rowcount))

    def unsuppress(self, numbers: Iterable[str]) -> int:
        with self._tx() as db:
            cur = db.executemany(
                "DELETE FROM inbound_v1_suppressed WHERE number_key = ?", [(number_key(n),) for n in numbers]
            )
            return max(0, int(cur.rowcount))

    def suppressed(self, numbers: Iterable[str]) -> set[str]:
        given = list(numbers)
        keys = {number_key(n) for n in given}
        if not keys:
            return set()
        found: set[str] = set()
        ordered = sorted(keys)
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._read(f"SELECT number_key FROM inbound_v1_suppressed WHERE number_key IN ({marks})", chunk)
            found.update(str(r[0]) for r in rows)
        return {n for n in given if number_key(n) in found}

    def suppressions(self) -> list[Suppression]:
        rows = self._read("SELECT number, reason, gateway, at FROM inbound_v1_suppressed ORDER BY number")
        return [Suppression(str(n), str(r), g, float(a)) for n, r, g, a in rows]

    def cursor(self, gateway: str) -> str | None:
        found = self._read("SELECT cursor FROM inbound_v1_cursors WHERE gateway = ?", (gateway,))
        return str(found[0][0]) if found else None

    def save_cursor(self, gateway: str, cursor: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO inbound_v1_cursors (gateway, cursor, at) VALUES (?, ?, ?) "
                "ON CONFLICT (gateway) DO UPDATE SET cursor = excluded.cursor, at = excluded.at",
                (gateway, cursor, self.clock()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
