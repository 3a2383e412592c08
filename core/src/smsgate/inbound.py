"""What gateways push to us: incoming messages (MO) and the record of every callback received.

``InboundMessage`` is what a provider's ``parse_inbound`` hook returns for an incoming SMS (a
reply, a STOP). :class:`InboundStore` is where the receiver (:mod:`smsgate.serve`) keeps what
arrives: every delivery report and incoming message once (a resent callback is recognised from
the store, across restarts), the suppression list (opt-outs), and, through the campaign
:class:`~smsgate.store.Store`, the delivery state of campaign rows.

Three implementations: :class:`MemoryInboundStore` (tests, embedding), and inside the campaign
store, on the store's connection (:mod:`smsgate.store.inbound_sql`), :class:`SqliteInboundStore` and
:class:`PostgresInboundStore` (``inbound_v1_*`` tables, created by the store's own migrations;
a report and the campaign rows it updates commit together, so ``campaign status`` counts
delivered/undelivered). :func:`open_inbound` gives the one inside a campaign store; every
implementation passes :mod:`smsgate.testing.inbound_suite`.

Processing is two-phase, so that a failure never loses an event (:func:`take_report`,
:func:`take_inbound`, used by the receiver and by ``smsgate inbound fetch``): the event is
written first (``record_*`` returns whether it still needs handling), the opt-out keywords are
applied, the app hooks run, then it is marked handled (``mark_handled``). An event whose hooks
failed is processed again when the gateway resends it (or the next pull brings it); one
already handled is acknowledged and nothing else happens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from smsgate.errors import SmsgateError
from smsgate.models import DeliveryReport, DeliveryStatus, mapping

if TYPE_CHECKING:
    from smsgate.gateway import Gateway
    from smsgate.store.inbound_postgres import PostgresInboundStore as PostgresInboundStore  # needs psycopg
    from smsgate.store.inbound_sqlite import SqliteInboundStore
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
    "from_timestamp",
    "number_key",
    "open_inbound",
    "pull",
    "take_inbound",
    "take_report",
    "timestamp",
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
        import hashlib  # here, not at the top: discovery does not need it

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


def timestamp(at: datetime | None) -> float | None:
    """``at`` as seconds since the epoch (how the stores keep times)."""
    return at.timestamp() if at is not None else None


def from_timestamp(value: float | None) -> datetime | None:
    """A stored time back as an aware UTC datetime."""
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def open_inbound(store: Any, *, owned: bool = False) -> InboundStore:
    """The :class:`InboundStore` inside a campaign store (its suppression list, its reports):
    :class:`SqliteInboundStore` on a SQLite store, :class:`PostgresInboundStore` on a
    PostgreSQL one, sharing the store's connection. Closing it closes the store when ``owned``
    (else it leaves the store open)."""
    from smsgate.store.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        from smsgate.store.inbound_sqlite import SqliteInboundStore

        return SqliteInboundStore(store=store, owned=owned)
    if type(store).__module__ == "smsgate.store.postgres":  # psycopg is imported only if in use
        from smsgate.store.inbound_postgres import PostgresInboundStore

        return PostgresInboundStore(store=store, owned=owned)
    raise TypeError(f"no inbound store for {type(store).__name__} (SQLite and PostgreSQL stores have one)")


def __getattr__(name: str) -> Any:
    """The SQL stores live with the campaign stores (:mod:`smsgate.store`); imported here on first use."""
    if name == "SqliteInboundStore":
        from smsgate.store.inbound_sqlite import SqliteInboundStore

        return SqliteInboundStore
    if name == "PostgresInboundStore":  # needs psycopg (smsgate[postgres])
        from smsgate.store.inbound_postgres import PostgresInboundStore

        return PostgresInboundStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
                timestamp(report.at),
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
