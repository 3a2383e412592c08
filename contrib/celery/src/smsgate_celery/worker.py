"""What a worker does with a chunk of a campaign, without Celery (Celery only calls it).

1. **Claim** rows in the PostgreSQL store (:meth:`~smsgate.store.postgres.PostgresStore.claim`:
   ``FOR UPDATE SKIP LOCKED``, a lease, a fencing token): first whole sends a dead worker left
   ``sending``, then ``planned`` rows.
2. **Send** them through the campaign's named gateway, whose journal is the store's
   (``Journal.on(store)``). Planned rows with the same text share a request, under the key the
   local ``smsgate campaign run`` would derive (``cmp/NAME/m/FIRST_ROW/DIGEST``); a dead
   worker's send is sent again *as it was* (same rows, same key, same content), so the journal
   finds it ``sending`` and resumes it by the delivery rules: resent under the gateway's de-dup
   key while its window is open, else looked up, else ``unknown``. Never a blind resend.
3. **Fence** every write: the rows are marked ``sending`` only while their lease is held under
   this claim's token (in the same transaction), and before every request it writes the
   transport makes sure the request ends inside the lease: when the last confirmation of the
   lease (the claim, a renewal) leaves too little room, it renews and checks it; a lost lease raises
   :class:`~smsgate.store.postgres.LeaseLost`, which stops the worker before it sends. A
   heartbeat renews the lease while the worker waits (back-off, look-up delay, rate limit).
   The lease is longer than one attempt can last (``attempt_timeout``), so it cannot expire
   under a request that is still being written or read while the worker lives.
4. **Rate**: every request first reserves a slot of the gateway's limit, shared by all workers
   through the store (:meth:`~smsgate.store.postgres.PostgresStore.reserve`).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

import smsgate
from smsgate import suppression
from smsgate.campaign import distinct_chunks, settle_rows
from smsgate.errors import SmsgateError
from smsgate.gateway import Gateway
from smsgate.journal import Journal
from smsgate.models import HttpRequest, HttpResponse, Message, Outcome, SendResult, Status
from smsgate.store import PLANNED, SENDING, CampaignRecord, Row, RowRef
from smsgate.store.postgres import LeaseLost, PostgresStore, Text

log = logging.getLogger("smsgate.celery")

#: Seconds a claim's lease lasts at least (longer where one attempt may last longer).
DEFAULT_LEASE = 120.0
#: Rows a chunk claims.
DEFAULT_CHUNK = 100

_LEASE: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("smsgate_celery_lease", default=None)


def owner_name() -> str:
    """This worker process, as it appears in ``lease_owner``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """The rows one claim holds, renewed by a heartbeat and before every request."""

    def __init__(
        self,
        store: PostgresStore,
        campaign: str,
        token: int,
        rows: Sequence[int],
        seconds: float,
        *,
        attempt: float = 0.0,
        confirmed: float | None = None,
    ) -> None:
        self.store = store
        self.campaign = campaign
        self.token = token
        self.seconds = seconds
        self.attempt = attempt  # the longest one attempt may last (its timeout)
        # when the lease of every held row was last confirmed (monotonic, taken *before* asking)
        self.confirmed = time.monotonic() if confirmed is None else confirmed
        self.held = list(rows)  # rows not settled yet
        self.current: list[int] = []  # the rows of the request being sent
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def safe(self, now: float | None = None) -> bool:
        """Whether an attempt starting now ends inside the lease as last confirmed: the lease
        ends at least ``seconds`` after :attr:`confirmed` (the database set it later), so an
        attempt that starts before ``confirmed + seconds - attempt - 1`` cannot outlive it."""
        now = time.monotonic() if now is None else now
        return now - self.confirmed + self.attempt + 1.0 < self.seconds

    def check(self) -> None:
        """Before a request is written: make sure it ends inside the lease. Where the last
        confirmation leaves no such room, renew the current request's rows; raise
        :class:`LeaseLost` if any is gone (or the store cannot say)."""
        if self.lost.is_set():
            raise LeaseLost(f"campaign {self.campaign}: the lease of token {self.token} was lost")
        if not self.current or self.safe():
            return
        asked = time.monotonic()
        try:
            renewed = set(self.store.renew(self.campaign, self.current, self.token, self.seconds))
        except Exception as exc:  # the store is away: we cannot know the rows are ours, so stop
            self.lost.set()
            raise LeaseLost(f"campaign {self.campaign}: the lease cannot be checked ({type(exc).__name__})") from None
        if not set(self.current) <= renewed:
            self.lost.set()
            raise LeaseLost(f"campaign {self.campaign}: rows {sorted(set(self.current) - renewed)} were taken over")
        if set(self.held) <= renewed:
            self.confirmed = asked

    def start(self) -> None:
        self._beat = threading.Thread(target=self._heartbeat, name="smsgate-lease", daemon=True)
        self._beat.start()

    def stop(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            asked = time.monotonic()
            try:
                renewed = set(self.store.renew(self.campaign, self.held, self.token, self.seconds))
            except Exception as exc:  # the database is away: the request-time check decides
                log.warning("smsgate: lease heartbeat failed: %s", type(exc).__name__)
                continue
            if self.current and not set(self.current) <= renewed:
                self.lost.set()
            elif not self.lost.is_set():
                self.confirmed = asked
            self.held = [r for r in self.held if r in renewed]


class FencedTransport:
    """Wraps a gateway's transport: before each request, the shared rate limit, then the
    current lease's check (so a worker that lost its rows never writes)."""

    def __init__(
        self,
        inner: Any,
        store: PostgresStore,
        limit_name: str,
        rate: float | None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self.store = store
        self.limit_name = limit_name
        self.rate = rate
        self.sleep = sleep

    def send(self, request: HttpRequest) -> HttpResponse:
        lease = _LEASE.get()
        if self.rate:
            wait = self.store.reserve(self.limit_name, self.rate)
            if wait > 0:
                self.sleep(wait)
        if lease is not None:
            lease.check()
        response: HttpResponse = self.inner.send(request)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@attrs.frozen
class Unit:
    """One request: rows sharing a text (``m``) or a dead worker's personalised request (``p``)."""

    kind: str
    key: str
    rows: tuple[Row, ...]
    text: Text
    resumed: bool = False


@attrs.define
class ChunkResult:
    claimed: int = 0
    settled: int = 0
    requests: int = 0
    lost: bool = False
    counts: dict[str, int] = attrs.Factory(dict)


class Gateways:
    """One gateway per name per process, on the store's journal, with the fenced transport."""

    def __init__(
        self,
        store: PostgresStore,
        rates: Mapping[str, float] | None = None,
        connect: Callable[[str], Gateway] | None = None,
    ) -> None:
        self.store = store
        self.rates = dict(rates or {})
        self.connect = connect or (lambda name: smsgate.connect(name))
        self._open: dict[str, Gateway] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Gateway:
        with self._lock:
            gateway = self._open.get(name)
            if gateway is None:
                gateway = self.connect(name)
                gateway.journal = Journal.on(self.store)
                gateway.engine.transport = FencedTransport(
                    gateway.engine.transport, self.store, name, self.rates.get(name)
                )
                self._open[name] = gateway
            return gateway

    def close(self) -> None:
        with self._lock:
            for gateway in self._open.values():
                gateway.close()
            self._open.clear()


def lease_for(gateway: Gateway, minimum: float = DEFAULT_LEASE) -> float:
    """A lease no attempt can outlast: at least three attempts' time."""
    opts = gateway.options
    attempt = opts.attempt_timeout or (opts.connect_timeout + opts.read_timeout)
    return max(minimum, 3 * attempt)


def unit_key(campaign: str, kind: str, rows: Sequence[Row]) -> str:
    """The key of a request of ``rows`` (the local campaign's derivation, so either can resume
    the other's sends)."""
    h = hashlib.sha256("\x1e".join(f"{r.row}\x1f{r.recipient}\x1f{r.text_digest}" for r in rows).encode())
    return f"cmp/{campaign}/{kind}/{rows[0].row}/{h.hexdigest()[:12]}"


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def plan_units(
    campaign: str, rows: Sequence[Row], texts: Mapping[int, Text], batch: int
) -> tuple[list[Unit], list[Row]]:
    """The requests for claimed ``rows``: sends left ``sending`` as they were (by key), planned
    rows grouped by text in chunks of ``batch`` distinct numbers. Also the rows that cannot be
    sent (no text kept for them, or a text that does not match the row's digest)."""
    units: list[Unit] = []
    bad: list[Row] = []
    inflight: dict[str, list[Row]] = defaultdict(list)
    groups: dict[Text, list[Row]] = defaultdict(list)
    for r in rows:
        t = texts.get(r.row)
        if t is None or text_digest(t.text) != r.text_digest:
            bad.append(r)
        elif r.state == SENDING and r.key:
            inflight[r.key].append(r)
        elif r.state == PLANNED:
            groups[t].append(r)
    for key, members in inflight.items():
        kind = key.split("/")[-3] if key.count("/") >= 3 else "m"
        units.append(Unit(kind, key, tuple(members), texts[members[0].row], resumed=True))
    for t, members in groups.items():
        for chunk in distinct_chunks(members, max(1, batch)):
            units.append(Unit("m", unit_key(campaign, "m", chunk), tuple(chunk), t))
    units.sort(key=lambda u: u.rows[0].row)
    return units, bad


def run_chunk(
    store: PostgresStore,
    gateways: Gateways,
    campaign: str,
    *,
    owner: str | None = None,
    limit: int = DEFAULT_CHUNK,
    lease: float = DEFAULT_LEASE,
) -> ChunkResult:
    """Claim up to ``limit`` rows of ``campaign`` and send them (see the module docstring)."""
    record = store.campaign(campaign)
    if record is None:
        raise SmsgateError(f"no campaign named {campaign!r} in the store", code="unknown-campaign")
    gateway = gateways.get(record.gateway)
    seconds = lease_for(gateway, lease)
    asked = time.monotonic()
    claimed = store.claim(campaign, owner or owner_name(), limit=limit, lease=seconds)
    result = ChunkResult(claimed=len(claimed.rows))
    if not claimed.rows:
        return result
    caps, opts = gateway.spec.capabilities, gateway.options
    batch = max(1, min(caps.max_recipients, opts.batch_size or caps.batch_size or caps.max_recipients))
    texts = store.texts(campaign, [r.row for r in claimed.rows])
    units, bad = plan_units(campaign, claimed.rows, texts, batch)
    _refuse(store, campaign, bad)
    attempt = opts.attempt_timeout or (opts.connect_timeout + opts.read_timeout)
    held = Lease(
        store, campaign, claimed.token, [r.row for r in claimed.rows], seconds, attempt=attempt, confirmed=asked
    )
    held.start()
    reset = _LEASE.set(held)
    try:
        with store.fenced(claimed.token):
            for unit in units:
                held.current = [r.row for r in unit.rows]
                try:
                    sent = _send(store, gateway, record, unit)
                except LeaseLost as lost:
                    log.warning("smsgate: campaign %s: %s; stopping this chunk", campaign, lost)
                    result.lost = True
                    break
                result.requests += sent.requests
                result.settled += len(unit.rows)
                for o in sent.outcomes:
                    result.counts[o.status.value] = result.counts.get(o.status.value, 0) + 1
                held.held = [r for r in held.held if r not in held.current]
    finally:
        _LEASE.reset(reset)
        held.stop()
    if not result.lost:  # rows left unsent (none, normally) can be claimed again at once
        store.release(campaign, held.held, claimed.token)
    return result


def _refuse(store: PostgresStore, campaign: str, rows: Sequence[Row]) -> None:
    """Rows whose text the store does not have: planned ones are rejected (never sent);
    a send in flight without its text cannot be resumed: left as it is, for a person."""
    planned = [r for r in rows if r.state == PLANNED]
    if planned:
        reason = "no text for this row in the store (enqueue the campaign with smsgate-celery)"
        store.set_rows(campaign, [(r.row, "rejected", "no-text", reason) for r in planned])
    for r in rows:
        if r.state == SENDING:
            log.error("smsgate: campaign %s row %d: in flight without its text; left sending", campaign, r.row)


def _send(store: PostgresStore, gateway: Gateway, record: CampaignRecord, unit: Unit) -> SendResult:
    refs = [RowRef(r.campaign, r.row, r.recipient) for r in unit.rows]
    journal = gateway.journal
    assert journal is not None
    provider = gateway.name
    if unit.kind == "p":  # a local run's personalised request, interrupted: no resume path
        digest = unit.key.rsplit("/", 1)[-1]
        recipients = tuple(r.recipient for r in unit.rows)
        journal.bind(provider, unit.key, refs)
        claim = journal.claim(provider, unit.key, digest, recipients, time.time())
        if claim.recorded is not None:
            settle_rows(store, claim.recorded, refs)
            return claim.recorded
        reason = "interrupted during a personalised request: not resent (it may have been sent)"
        outcomes = tuple(Outcome(r, Status.UNKNOWN, code="interrupted", reason=reason) for r in recipients)
        result = SendResult(provider, unit.key, outcomes)
        journal.done(result, digest)
        return result
    unit, refused = _without_suppressed(store, record.name, unit)
    if not unit.rows:
        return SendResult(provider, unit.key, refused)
    refs = [RowRef(r.campaign, r.row, r.recipient) for r in unit.rows]
    t = unit.text
    when = datetime.fromisoformat(t.send_at) if t.send_at else None
    message = Message(tuple(r.recipient for r in unit.rows), t.text, t.sender, when, key=unit.key)
    journal.bind(provider, unit.key, refs)
    try:
        result = gateway.send(message)
    except SmsgateError as error:  # refused before anything was sent (plan, key conflict)
        journal.abandon(provider, unit.key)
        outcomes = tuple(
            Outcome(r, Status.REJECTED, code=error.code or "invalid", reason=str(error)) for r in message.to
        )
        result = SendResult(provider, unit.key, outcomes, error)
        settle_rows(store, result, refs)
        return _with(result, refused)
    if result.replayed:  # settled earlier, the rows' update lost: copy it to the rows
        settle_rows(store, result, refs)
    return _with(result, refused)


def _without_suppressed(store: PostgresStore, campaign: str, unit: Unit) -> tuple[Unit, tuple[Outcome, ...]]:
    """The unit less the recipients on the store's suppression list (where ``smsgate serve``
    puts opt-outs), their rows recorded ``rejected``/``suppressed`` before anything is sent. A
    resumed request is left whole: it may have been taken, and only its own key can tell."""
    check = None if unit.resumed else suppression.in_store(store)
    found = check([r.recipient for r in unit.rows]) if check is not None else set()
    if not found:
        return unit, ()
    out = [r for r in unit.rows if r.recipient in found]
    store.set_rows(campaign, [(r.row, "rejected", suppression.CODE, suppression.REASON) for r in out])
    refused = tuple(
        Outcome(r.recipient, Status.REJECTED, code=suppression.CODE, reason=suppression.REASON) for r in out
    )
    rows = tuple(r for r in unit.rows if r.recipient not in found)
    key = unit_key(campaign, unit.kind, rows) if rows else unit.key
    return Unit(unit.kind, key, rows, unit.text), refused


def _with(result: SendResult, refused: tuple[Outcome, ...]) -> SendResult:
    return attrs.evolve(result, outcomes=result.outcomes + refused) if refused else result


def finished(store: PostgresStore, campaign: str) -> bool:
    """Whether every row of ``campaign`` is settled (none ``planned`` or ``sending``)."""
    counts = store.counts(campaign)
    return not counts.get(PLANNED) and not counts.get(SENDING)


__all__ = [
    "DEFAULT_CHUNK",
    "DEFAULT_LEASE",
    "ChunkResult",
    "FencedTransport",
    "Gateways",
    "Lease",
    "Unit",
    "finished",
    "lease_for",
    "owner_name",
    "plan_units",
    "run_chunk",
    "unit_key",
]
