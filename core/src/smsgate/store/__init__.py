"""The store: what was sent, per key and per recipient, kept across process restarts.

One small interface (:class:`Store`) with an embedded SQLite backend
(:class:`~smsgate.store.sqlite.SqliteStore`, the default) so that a PostgreSQL backend can pass
the same test suite (:mod:`smsgate.testing.store_suite`). It holds two things:

- **sends**, the journal: one record per (provider, idempotency key) — ``sending`` before the
  first request is written, ``done`` with every recipient's outcome after the last reply is read.
  :class:`smsgate.Journal` runs on it (``Journal.on(store)``).
- **campaign rows**: one per input row — campaign, row number, key, recipient, rendered-text
  digest, state (``planned`` → ``sending`` → ``accepted``/``scheduled``/``rejected``/``unknown``
  → ``delivered``/``undelivered``/``expired``), gateway id, code, reason, attempts, times.

A send's record and its rows change in one transaction, committed before the request is written
(``begin``) and after its reply is read (``settle``). Secrets are never stored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

#: Row states, in their order of progress.
PLANNED, SENDING = "planned", "sending"
SETTLED = ("accepted", "scheduled", "rejected", "unknown")
DELIVERY = ("delivered", "undelivered", "expired")
STATES = (PLANNED, SENDING, *SETTLED, *DELIVERY)


@attrs.frozen
class SendRecord:
    """A journal record: a send of ``key`` at ``provider``, ``sending`` or ``done``.

    ``outcomes`` (when done) are plain dicts: ``recipient``, ``status``, ``message_id``,
    ``code``, ``reason``.
    """

    provider: str
    key: str
    digest: str
    recipients: tuple[str, ...]
    state: str
    started_at: float
    outcomes: tuple[Mapping[str, Any], ...] = ()
    settled_at: float | None = None


@attrs.frozen
class RowRef:
    """A campaign row bound to a send: its outcome is the outcome of ``recipient``."""

    campaign: str
    row: int
    recipient: str


@attrs.frozen
class Row:
    """One campaign row as stored."""

    campaign: str
    row: int
    recipient: str
    text_digest: str
    state: str = PLANNED
    key: str | None = None
    gateway_id: str | None = None
    code: str | None = None
    reason: str | None = None
    attempts: int = 0
    created_at: float = 0.0
    sent_at: float | None = None
    settled_at: float | None = None
    delivered_at: float | None = None


@attrs.frozen
class CampaignRecord:
    """A campaign: its name, where it sends and what from. ``gateway`` is a configured name
    or a provider name, never a DSN (no secrets in the store)."""

    name: str
    gateway: str
    provider: str
    template: str
    source: str
    source_digest: str
    total: int
    state: str = "planned"
    created_at: float = 0.0
    updated_at: float = 0.0


@attrs.frozen
class StateCount:
    """One line of :meth:`Store.stats`: the rows of ``campaign`` in ``state`` (``None``, with
    ``rows`` 0: a campaign without rows); ``lag_count`` of them have a delivery status, which
    came ``lag_sum`` seconds in all after the gateway's replies."""

    campaign: str
    gateway: str
    campaign_state: str
    total: int
    updated_at: float
    state: str | None
    rows: int
    lag_count: int = 0
    lag_sum: float = 0.0


@attrs.frozen
class GatewayHealth:
    """A gateway's circuit breaker as a router published it (:meth:`Store.save_gateway_health`):
    ``state`` ``closed``/``open``/``half-open`` since ``since``; an open circuit lets a probe
    through from ``retry_at``. ``last_error`` is masked (no secrets, no numbers)."""

    gateway: str
    state: str
    since: float
    retry_at: float | None = None
    opened: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    updated_at: float = 0.0


class Store(Protocol):
    """What the journal and campaigns need from a backend. Every method is one transaction
    (thread-safe); a method returning means it is durable."""

    # -- the journal ---------------------------------------------------------------------------
    def send_record(self, provider: str, key: str) -> SendRecord | None:
        """The record of ``key``, if any."""

    def begin(self, record: SendRecord, rows: Sequence[RowRef] = ()) -> None:
        """Record ``record`` (state ``sending``, replacing an interrupted one) and mark ``rows``
        ``sending`` under its key (attempts + 1)."""

    def settle(self, record: SendRecord, rows: Sequence[RowRef] = ()) -> None:
        """Record ``record`` (state ``done``) and set each row's outcome from the outcome of its
        recipient."""

    def import_sends(self, records: Iterable[SendRecord]) -> int:
        """Add records not already present (a one-time import); returns how many were added."""

    # -- campaigns -----------------------------------------------------------------------------
    def campaign(self, name: str) -> CampaignRecord | None: ...

    def campaigns(self) -> list[CampaignRecord]: ...

    def save_campaign(self, campaign: CampaignRecord) -> None:
        """Create or replace the campaign's record (not its rows)."""

    def add_rows(self, rows: Iterable[Row]) -> int:
        """Add rows not already present (state ``planned``); returns how many were added."""

    def rows(self, campaign: str, *, after: int = 0, limit: int | None = None) -> list[Row]:
        """Rows of ``campaign`` with a number above ``after``, in row order."""

    def rows_in_state(self, campaign: str, state: str, *, after: int = 0, limit: int | None = None) -> list[Row]:
        """Rows of ``campaign`` in ``state`` with a number above ``after``, in row order."""

    def counts(self, campaign: str) -> dict[str, int]:
        """Rows of ``campaign`` per state."""

    def set_rows(self, campaign: str, updates: Sequence[tuple[int, str, str | None, str | None]]) -> None:
        """Set ``(row, state, code, reason)`` for rows that never reached a gateway (invalid)."""

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
        """Record a delivery status (``delivered``/``undelivered``/``expired``) for the rows
        with ``gateway_id`` (and, given ``recipient``, that number only: compared by its digits,
        rows hold E.164); returns how many rows changed."""

    # -- observability ---------------------------------------------------------------------------
    def stats(self) -> list[StateCount]:
        """Every campaign's rows per state, with their delivery-report lag, in one aggregate
        query over indexes only (what ``/metrics`` reads at each scrape)."""

    def save_gateway_health(self, health: GatewayHealth) -> None:
        """Create or replace the published state of ``health.gateway``'s circuit breaker."""

    def gateway_health(self) -> list[GatewayHealth]:
        """Every published circuit breaker state, by gateway name."""

    def close(self) -> None: ...


def default_path(env: Mapping[str, str] | None = None) -> Path:
    """The per-user store: ``$XDG_DATA_HOME/smsgate/smsgate.db`` (``~/.local/share/...``;
    ``%LOCALAPPDATA%\\smsgate`` on Windows); ``$SMSGATE_STORE`` overrides it."""
    env = os.environ if env is None else env
    if env.get("SMSGATE_STORE"):
        return Path(env["SMSGATE_STORE"]).expanduser()
    if os.name == "nt" and env.get("LOCALAPPDATA"):
        base = Path(env["LOCALAPPDATA"])
    else:
        base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "smsgate" / "smsgate.db"


def open_store(path: str | os.PathLike[str] | None = None) -> Store:
    """The SQLite store at ``path`` (default: :func:`default_path`), created and migrated; a
    ``postgresql://`` URL (given, or in ``$SMSGATE_STORE``) opens the PostgreSQL store instead
    (:mod:`smsgate.store.postgres`, ``python -m pip install "smsgate[postgres]"``)."""
    target = os.environ.get("SMSGATE_STORE") if path is None else path
    if isinstance(target, str) and target.startswith(("postgresql://", "postgres://")):
        from smsgate.store.postgres import open_postgres

        return open_postgres(target)
    from smsgate.store.sqlite import SqliteStore

    return SqliteStore(default_path() if path is None else path)


def iter_rows(store: Store, campaign: str, *, page: int = 5000) -> Iterator[Row]:
    """Every row of ``campaign`` in row order, read a page at a time (memory stays flat)."""
    after = 0
    while True:
        chunk = store.rows(campaign, after=after, limit=page)
        yield from chunk
        if len(chunk) < page:
            return
        after = chunk[-1].row


__all__ = [
    "DELIVERY",
    "PLANNED",
    "SENDING",
    "SETTLED",
    "STATES",
    "CampaignRecord",
    "GatewayHealth",
    "Row",
    "RowRef",
    "SendRecord",
    "StateCount",
    "Store",
    "default_path",
    "iter_rows",
    "open_store",
]
