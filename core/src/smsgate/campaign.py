"""Campaigns: many personalised messages from a file, validated first, sent within a rate
limit, resumable after a crash, tracked to delivery. The store (:mod:`smsgate.store`) is the
memory: every row is ``planned`` before anything is sent, a request's rows are ``sending``
(committed) before it is written and settled (committed) after its reply is read.

Keys are derived from the campaign's name and the rows a request carries, so running the same
campaign again continues it: settled rows are skipped, and rows a killed process left
``sending`` are sent again *with the same content and key*, which the journal resumes by the
delivery rules (resent under the gateway's de-dup key, looked up, or settled ``unknown``).
Rows of an interrupted personalised request (the gateway's bulk endpoint for different texts)
are resumed the same way, batch by batch, through the engine.

>>> from smsgate import Campaign, connect                             # doctest: +SKIP
>>> from smsgate.store import open_store
>>> with connect("shop") as gateway:
...     campaign = Campaign(gateway, open_store(), "spring", "customers.csv", "Hi {first_name}!")
...     summary = campaign.validate()
...     if not summary.errors:
...         totals = campaign.run()
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Protocol, TypeVar

import attrs

from smsgate import suppression
from smsgate.campaign_input import (
    Checker,
    Entry,
    Invalid,
    Template,
    header,
    number_column,
    read_rows,
    source_digest,
)
from smsgate.errors import (
    AuthenticationError,
    ConfigurationError,
    InsufficientCreditError,
    SmsgateError,
)
from smsgate.gateway import Gateway
from smsgate.gateway import _match as match_outcomes  # the receipt's outcomes in batch order
from smsgate.journal import Journal, outcome_records
from smsgate.models import DeliveryStatus, Message, Outcome, Send, SendResult, Status
from smsgate.plan import plan_personalised
from smsgate.ratelimit import Rate, TokenBucket
from smsgate.rules import Progress as RulesProgress
from smsgate.store import PLANNED, SENDING, CampaignRecord, Row, RowRef, SendRecord, Store, iter_rows

log = logging.getLogger("smsgate.campaign")

#: Rows gathered before grouping them into requests (identical texts share a request).
WINDOW = 2000
#: Rows written to the store per transaction while planning.
PLAN_CHUNK = 5000

_DELIVERY = {
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.FAILED: "undelivered",
    DeliveryStatus.REJECTED: "undelivered",
    DeliveryStatus.EXPIRED: "expired",
}


@attrs.frozen
class Summary:
    """What validation found: counts, the first errors ``(row, reason)``, and an estimated
    cost where the gateway quotes prices."""

    rows: int
    valid: int
    parts: int
    encodings: dict[str, int]
    scheduled: int
    errors: tuple[tuple[int, str], ...]
    invalid: int
    cost: Decimal | None = None
    cost_unit: str | None = None


@attrs.frozen
class Progress:
    """A snapshot while sending: rows per state, rows settled by this run, rate and ETA."""

    total: int
    counts: dict[str, int]
    settled_now: int
    elapsed: float
    stopping: bool = False

    @property
    def remaining(self) -> int:
        return self.counts.get(PLANNED, 0) + self.counts.get(SENDING, 0)

    @property
    def rate(self) -> float:
        return self.settled_now / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        return self.remaining / self.rate if self.rate > 0 else None


@attrs.frozen
class _Unit:
    """One call to the gateway: rows sharing a text (``kind`` ``m``, one message) or a
    personalised request (``p``)."""

    kind: str
    key: str
    entries: tuple[Entry, ...]
    resumed: bool = False


def default_name(source: str | os.PathLike[str], template: str, gateway: str) -> str:
    """A campaign's name from its input file's contents, the template and the gateway."""
    h = hashlib.sha256(f"{source_digest(source)}\x1f{template}\x1f{gateway}".encode()).hexdigest()
    return f"{Path(source).stem}-{h[:8]}"


class Campaign:
    """A campaign: ``source`` (CSV with a header row, or JSON lines) rendered through
    ``template`` and sent through ``gateway``, recorded in ``store`` under ``name``.

    The gateway's journal is set to the store's (``Journal.on(store)``) when it has none.
    ``progress`` is called from the sending thread after each request settles. ``rate`` limits
    messages (or requests) per second; ``skip_invalid`` records invalid rows ``rejected``
    instead of refusing to run; ``batch=False`` sends one request per message (no grouping of
    identical texts, no personalised requests).
    """

    def __init__(
        self,
        gateway: Gateway,
        store: Store,
        name: str | None,
        source: str | os.PathLike[str],
        template: str,
        *,
        gateway_name: str | None = None,
        to_column: str | None = None,
        sender: str | None = None,
        send_at: datetime | None = None,
        rate: Rate | None = None,
        skip_invalid: bool = False,
        concurrency: int | None = None,
        batch: bool = True,
        progress: Callable[[Progress], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.source = Path(source)
        self.template = Template(template)
        self.gateway_name = gateway_name or gateway.name
        self.name = name or default_name(self.source, template, self.gateway_name)
        if not self.name.isprintable() or not self.name.strip():
            raise ConfigurationError("a campaign name must be printable and not blank")
        columns = header(self.source)
        self.to_column = number_column(columns, to_column)
        if columns is not None:
            missing = [f for f in self.template.fields if f not in columns]
            if missing:
                raise ConfigurationError(
                    f"template variable(s) {', '.join(missing)} are not columns of {self.source.name} "
                    f"(columns: {', '.join(columns)})"
                )
        self.sender = sender
        self.send_at = send_at
        self.rate = rate
        self.skip_invalid = skip_invalid
        self.batch = batch
        self.concurrency = max(1, min(concurrency or gateway.max_connections, gateway.max_connections))
        self.progress = progress
        self.clock = clock
        if gateway.journal is None:
            gateway.journal = Journal.on(store)
        elif gateway.journal.store is not store:
            raise ConfigurationError("the gateway's journal must be on the campaign's store (Journal.on(store))")
        self.journal: Journal = gateway.journal
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._settled_now = 0
        self._started = 0.0
        self._halt: SmsgateError | None = None
        self._validated = False

    # -- validation ----------------------------------------------------------------------------

    def _checker(self) -> Checker:
        return Checker(
            self.gateway,
            self.template,
            self.to_column,
            sender=self.sender,
            send_at=self.send_at,
            now=datetime.now(timezone.utc),
        )

    def _entries(self, *, checked: bool = True) -> Iterator[Entry | Invalid]:
        """Each row checked against the gateway, or (``checked=False``, for input validated
        already) only rendered and its number normalised."""
        checker = self._checker()
        check = checker.check if checked else checker.quick
        for n, row in read_rows(self.source):
            yield check(n, row)

    def validate(self, *, max_errors: int = 10, quote: bool = True) -> Summary:
        """Check every row (streamed: memory stays flat) and count what would be sent."""
        rows = valid = parts = scheduled = invalid = 0
        encodings: Counter[str] = Counter()
        errors: list[tuple[int, str]] = []
        samples: dict[tuple[str, int], Entry] = {}
        per_class: Counter[tuple[str, int]] = Counter()
        for item in self._entries():
            rows += 1
            if isinstance(item, Invalid):
                invalid += 1
                if len(errors) < max_errors:
                    errors.append((item.row, item.reason))
                continue
            valid += 1
            parts += item.parts
            encodings[item.encoding] += 1
            scheduled += item.send_at is not None
            cls = (item.encoding, item.parts)
            samples.setdefault(cls, item)
            per_class[cls] += 1
        cost, unit = self._estimate(samples, per_class) if quote else (None, None)
        self._validated = invalid == 0
        return Summary(rows, valid, parts, dict(encodings), scheduled, tuple(errors), invalid, cost, unit)

    def _estimate(
        self, samples: dict[tuple[str, int], Entry], counts: Counter[tuple[str, int]]
    ) -> tuple[Decimal | None, str | None]:
        """Quote one message per (encoding, parts) class and multiply; ``None`` without quotes."""
        if "quote" not in self.gateway.spec.capabilities.operations or not samples:
            return None, None
        total, unit = Decimal(0), None
        try:
            for cls, entry in samples.items():
                price = self.gateway.quote(Message(entry.recipient, entry.text, entry.sender, entry.send_at))
                total += price.cost * counts[cls]
                unit = unit or price.unit
        except SmsgateError as error:
            log.info("smsgate: %s: no cost estimate: %s", self.gateway.name, error)
            return None, None
        return total, unit

    # -- running -------------------------------------------------------------------------------

    def _existing(self, digest: str) -> CampaignRecord | None:
        """The campaign's record, if it exists; refused when it was made from other input."""
        found = self.store.campaign(self.name)
        if found is not None and (found.source_digest != digest or found.template != self.template.text):
            raise ConfigurationError(
                f"campaign {self.name!r} exists with another input or template: give another --name "
                "(or run the original input again to continue it)"
            )
        if found is not None and found.provider != self.gateway.name:
            raise ConfigurationError(
                f"campaign {self.name!r} was sent through {found.provider}, not {self.gateway.name}"
            )
        return found

    def _record(self, digest: str, total: int) -> CampaignRecord:
        found = self._existing(digest)
        record = CampaignRecord(
            self.name,
            self.gateway_name,
            self.gateway.name,
            self.template.text,
            str(self.source.resolve()),
            digest,
            total,
            "running",
            found.created_at if found is not None else 0.0,
        )
        self.store.save_campaign(record)
        return record

    def plan(self) -> CampaignRecord:
        """Record the campaign and every row as ``planned`` (rows already recorded are kept).
        Raises ``ConfigurationError`` when rows are invalid and ``skip_invalid`` is off."""
        digest = source_digest(self.source)
        found = self._existing(digest)
        if (
            found is not None
            and found.source_digest == digest
            and sum(self.store.counts(self.name).values()) == found.total
        ):
            return self._record(digest, found.total)
        if not self.skip_invalid and not self._validated:
            summary = self.validate(max_errors=1, quote=False)
            if summary.errors:
                row, reason = summary.errors[0]
                raise ConfigurationError(f"row {row}: {reason} (nothing sent; see skip_invalid)")
        chunk: list[Row] = []
        total = 0
        for item in self._entries(checked=not self._validated):
            total += 1
            if isinstance(item, Invalid):
                if not self.skip_invalid:
                    raise ConfigurationError(f"row {item.row}: {item.reason} (the input changed while planning)")
                chunk.append(Row(self.name, item.row, "", "", "rejected", code="invalid", reason=item.reason))
            else:
                chunk.append(Row(self.name, item.row, item.recipient, item.text_digest))
            if len(chunk) >= PLAN_CHUNK:  # one transaction per chunk
                self.store.add_rows(chunk)
                chunk.clear()
        record = self._record(digest, total)
        self.store.add_rows(chunk)
        return record

    def run(self, *, stop: threading.Event | None = None) -> dict[str, int]:
        """Send every row not yet settled; returns rows per state. ``stop`` (set from another
        thread or a signal handler) ends it cleanly: in-flight requests finish and are recorded.
        A failure that fails every request of the account (credentials, credit) stops it too."""
        stop = stop or threading.Event()
        record = self.plan()
        self._counts = Counter(self.store.counts(self.name))
        self._started = self.clock()
        self._settled_now = 0
        bucket = TokenBucket(self.rate.per_second) if self.rate else None
        window: set[Future[None]] = set()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"smsgate-campaign-{self.gateway.name}") as pool:
            for unit in self._units():
                if stop.is_set() or self._halt is not None:
                    break
                if bucket is not None:
                    bucket.take(len(unit.entries) if self.rate and self.rate.unit == "message" else 1)
                window.add(pool.submit(self._send, unit))
                if len(window) >= self.concurrency * 2:
                    done, window = wait(window, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()
            for f in window:
                f.result()
        counts = self.store.counts(self.name)
        finished = not counts.get(PLANNED) and not counts.get(SENDING)
        self.store.save_campaign(attrs.evolve(record, state="finished" if finished else "stopped"))
        self._report(stopping=not finished)
        if self._halt is not None:
            raise self._halt
        return counts

    def _units(self) -> Iterator[_Unit]:
        """The requests to make, in row order: rows left ``sending`` by a dead process in their
        original requests, planned rows grouped anew."""
        inflight_rows: dict[str, int] = Counter(r.key or "" for r in self._all(SENDING))
        waiting: dict[str, list[Entry]] = defaultdict(list)
        pending: list[Entry] = []
        stored = iter_rows(self.store, self.name)
        current = next(stored, None)
        checker = self._checker()
        for n, row in read_rows(self.source):
            while current is not None and current.row < n:
                current = next(stored, None)
            if current is None or current.row != n or current.state not in (PLANNED, SENDING):
                continue
            item = checker.quick(n, row, current.recipient)  # validated when planned
            if isinstance(item, Invalid) or item.text_digest != current.text_digest:
                raise ConfigurationError(f"row {n} of {self.source} changed since the campaign was planned")
            if current.state == PLANNED:
                pending.append(item)
                if len(pending) >= WINDOW:
                    yield from self._group(pending)
                    pending = []
            elif current.state == SENDING and current.key:
                waiting[current.key].append(item)
                if len(waiting[current.key]) == inflight_rows[current.key]:
                    yield _Unit(current.key.split("/")[-3], current.key, tuple(waiting.pop(current.key)), True)
        yield from self._group(pending)
        for key, entries in waiting.items():  # the input lost rows of an in-flight request
            yield _Unit(key.split("/")[-3], key, tuple(entries), True)

    def _all(self, state: str) -> Iterator[Row]:
        after = 0
        while True:
            chunk = self.store.rows_in_state(self.name, state, after=after, limit=5000)
            yield from chunk
            if len(chunk) < 5000:
                return
            after = chunk[-1].row

    def _group(self, entries: Sequence[Entry]) -> Iterator[_Unit]:
        caps = self.gateway.spec.capabilities
        opts = self.gateway.options
        size = max(1, min(caps.max_recipients, opts.batch_size or caps.batch_size or caps.max_recipients))
        by_text: dict[tuple[str, str | None, datetime | None], list[Entry]] = defaultdict(list)
        for e in entries:
            by_text[(e.text, e.sender, e.send_at)].append(e)
        singles: list[Entry] = []
        if not self.batch:
            for e in entries:
                yield self._unit("m", [e])
            return
        for group in by_text.values():
            if size == 1 or len(group) == 1:
                singles.extend(group)
                continue
            for chunk in distinct_chunks(group, size):
                if len(chunk) == 1:
                    singles.extend(chunk)
                else:
                    yield self._unit("m", chunk)
        singles.sort(key=lambda e: e.row)
        personal = "personalised" in caps.operations and caps.max_personalised > 1
        if not personal:
            for e in singles:
                yield self._unit("m", [e])
            return
        by_options: dict[tuple[str | None, datetime | None], list[Entry]] = defaultdict(list)
        for e in singles:
            by_options[(e.sender, e.send_at)].append(e)
        for group in by_options.values():
            for chunk in distinct_chunks(group, caps.max_personalised):
                yield self._unit("p" if len(chunk) > 1 else "m", chunk)

    def _unit(self, kind: str, entries: Sequence[Entry]) -> _Unit:
        h = hashlib.sha256("\x1e".join(f"{e.row}\x1f{e.recipient}\x1f{e.text_digest}" for e in entries).encode())
        return _Unit(kind, f"cmp/{self.name}/{kind}/{entries[0].row}/{h.hexdigest()[:12]}", tuple(entries))

    # -- one request ---------------------------------------------------------------------------

    def _send(self, unit: _Unit) -> None:
        kept = self._without_suppressed(unit)
        if kept is None:
            return
        unit = kept
        refs = [RowRef(self.name, e.row, e.recipient) for e in unit.entries]
        try:
            if unit.kind == "p":
                result = self._send_personalised(unit, refs)
            else:
                result = self._send_message(unit, refs)
        except Exception:  # a bug must not stop the others; the rows stay as they are
            log.exception("smsgate: campaign %s: unexpected failure sending %s", self.name, unit.key)
            return
        self._settled(unit, result)

    def _without_suppressed(self, unit: _Unit) -> _Unit | None:
        """The unit less the recipients on the suppression list (``gateway.suppressed``, else the
        list kept in the campaign store, SQLite or PostgreSQL), whose rows are recorded
        ``rejected``/``suppressed`` before anything is sent; ``None`` when nobody is left. A
        resumed request is left whole: it may have been taken, and only its own key (the rules of
        delivery semantics) can tell; the rest under a new key could be a second send."""
        if unit.resumed:
            return unit
        suppressed = getattr(self.gateway, "suppressed", None) or suppression.in_store(self.store)
        if suppressed is None:
            return unit
        found = suppressed([e.recipient for e in unit.entries])
        if not found:
            return unit
        refused = [
            (e.row, "rejected", suppression.CODE, suppression.REASON) for e in unit.entries if e.recipient in found
        ]
        self.store.set_rows(self.name, refused)
        entries = [e for e in unit.entries if e.recipient not in found]
        return self._unit(unit.kind, entries) if entries else None

    def _send_message(self, unit: _Unit, refs: Sequence[RowRef]) -> SendResult:
        e = unit.entries[0]
        message = Message(tuple(x.recipient for x in unit.entries), e.text, e.sender, e.send_at, key=unit.key)
        self.journal.bind(self.gateway.name, unit.key, refs)
        try:
            result = self.gateway.send(message)
        except SmsgateError as error:  # refused before sending (plan, key conflict): nothing sent
            self.journal.abandon(self.gateway.name, unit.key)
            result = _all(message.to, unit.key, self.gateway.name, Status.REJECTED, error)
            self._settle_rows(result, refs, "")
            return result
        if result.replayed:  # settled earlier (the rows' update was lost): copy it to the rows
            self._settle_rows(result, refs, "")
        return result

    def _send_personalised(self, unit: _Unit, refs: Sequence[RowRef]) -> SendResult:
        provider = self.gateway.name
        digest = unit.key.rsplit("/", 1)[-1]
        recipients = tuple(e.recipient for e in unit.entries)
        self.journal.bind(provider, unit.key, refs)
        claim = self.journal.claim(provider, unit.key, digest, recipients, self.gateway.clock())
        if claim.recorded is not None:
            self._settle_rows(claim.recorded, refs, digest)
            return claim.recorded
        messages = [Message(e.recipient, e.text, e.sender, e.send_at, key=f"{unit.key}/{e.row}") for e in unit.entries]
        try:
            if claim.interrupted_at is not None:
                results = [self._resume_personalised(messages, claim.interrupted_at)]
            else:
                results = self.gateway.send_personalised(messages)
        except SmsgateError as error:  # refused before sending (this time: a dead process may have)
            status = Status.REJECTED if claim.interrupted_at is None else Status.UNKNOWN
            result = _all(recipients, unit.key, provider, status, error)
        except BaseException:
            self.journal.abandon(provider, unit.key)
            raise
        else:
            outcomes = tuple(o for r in results for o in r.outcomes)
            first = next((r.error for r in results if r.error is not None), None)
            result = SendResult(provider, unit.key, outcomes, first, max((r.requests for r in results), default=0))
        self.journal.done(result, digest)
        return result

    def _resume_personalised(self, messages: Sequence[Message], started: float) -> SendResult:
        """The personalised request a dead process began at ``started``, resumed by the rules:
        the same batches (same keys, same content) sent with ``resume``, as ``Gateway.send``
        resumes an interrupted key (resent under the de-dup key, looked up, or ``unknown``)."""
        gw = self.gateway
        now = datetime.fromtimestamp(gw.clock(), timezone.utc)
        plans, batches = plan_personalised(messages, gw.hooks, gw.settings, gw.options, now)
        settings = plans[0].settings
        outcomes: list[Outcome] = []
        first: SmsgateError | None = None
        requests = 0
        for batch in batches:
            request = gw.engine.build(Send(batch), settings)
            sent = gw.engine.send_batch(batch, request, settings, progress=RulesProgress(started=started), resume=True)
            requests += sent.requests
            first = first or sent.error
            outcomes.extend(match_outcomes(batch, sent.receipt))
        return SendResult(gw.name, "", tuple(outcomes), first, requests)

    def _settle_rows(self, result: SendResult, refs: Sequence[RowRef], digest: str) -> None:
        settle_rows(self.store, result, refs, digest)

    def _settled(self, unit: _Unit, result: SendResult) -> None:
        by = {o.recipient: o.status.value for o in result.outcomes}
        with self._lock:
            for e in unit.entries:
                self._counts[SENDING if unit.resumed else PLANNED] -= 1
                self._counts[by.get(e.recipient, "unknown")] += 1
            self._settled_now += len(unit.entries)
            if (
                isinstance(result.error, (AuthenticationError, InsufficientCreditError))
                and result.outcomes
                and all(o.status is Status.REJECTED for o in result.outcomes)
            ):
                self._halt = self._halt or result.error
        self._report()

    def _report(self, *, stopping: bool = False) -> None:
        if self.progress is None:
            return
        with self._lock:
            counts = {k: v for k, v in self._counts.items() if v > 0}
            snapshot = Progress(sum(counts.values()), counts, self._settled_now, self.clock() - self._started, stopping)
        self.progress(snapshot)

    # -- after sending -------------------------------------------------------------------------


def status(store: Store, name: str) -> tuple[CampaignRecord, dict[str, int]]:
    """The campaign ``name`` and its rows per state; ``ConfigurationError`` when unknown."""
    record = store.campaign(name)
    if record is None:
        known = ", ".join(c.name for c in store.campaigns()) or "none"
        raise ConfigurationError(f"no campaign named {name!r} in the store (campaigns: {known})")
    return record, store.counts(name)


def refresh(gateway: Gateway, store: Store, name: str, *, concurrency: int | None = None) -> dict[str, int]:
    """Pull delivery statuses for the campaign's accepted rows (where the gateway has a status
    lookup) and record them; returns how many rows moved to each delivery state."""
    status(store, name)
    if "status" not in gateway.spec.capabilities.operations:
        raise ConfigurationError(f"the {gateway.name} gateway has no delivery status lookup (use its delivery reports)")
    rows = (r for state in ("accepted", "scheduled") for r in _state_rows(store, name, state) if r.gateway_id)
    moved: Counter[str] = Counter()

    def one(row: Row) -> None:
        assert row.gateway_id is not None
        try:
            reports = gateway.status(row.gateway_id, row.recipient)
        except SmsgateError as error:
            log.info("smsgate: campaign %s row %s: no status: %s", name, row.row, error)
            return
        for report in reports:
            state = _DELIVERY.get(report.status)
            if state is not None and store.record_delivery(
                name, row.gateway_id, state, report.code, report.reason, recipient=row.recipient
            ):
                moved[state] += 1
                return

    workers = max(1, min(concurrency or gateway.max_connections, gateway.max_connections))
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, rows))
    return dict(moved)


def _state_rows(store: Store, name: str, state: str) -> Iterator[Row]:
    after = 0
    while True:
        chunk = store.rows_in_state(name, state, after=after, limit=1000)
        yield from chunk
        if len(chunk) < 1000:
            return
        after = chunk[-1].row


def settle_rows(store: Store, result: SendResult, refs: Sequence[RowRef], digest: str = "") -> None:
    """Copy ``result``'s outcomes to the campaign rows ``refs`` and mark its key settled."""
    record = store.send_record(result.provider, result.key)
    base = record or SendRecord(result.provider, result.key, digest, (), "done", time.time())
    store.settle(attrs.evolve(base, state="done", outcomes=outcome_records(result.outcomes)), refs)


class _ToOne(Protocol):
    @property
    def recipient(self) -> str: ...


_R = TypeVar("_R", bound=_ToOne)


def distinct_chunks(items: Iterable[_R], size: int) -> Iterator[list[_R]]:
    """Chunks of at most ``size`` items, no number twice in one chunk (a repeated number in
    the input is a second message, not a duplicate recipient)."""
    rest = list(items)
    while rest:
        chunk: list[_R] = []
        seen: set[str] = set()
        later: list[_R] = []
        for e in rest:
            if len(chunk) < size and e.recipient not in seen:
                chunk.append(e)
                seen.add(e.recipient)
            else:
                later.append(e)
        yield chunk
        rest = later


def _all(to: Iterable[str], key: str, provider: str, status: Status, error: SmsgateError) -> SendResult:
    outcomes = tuple(Outcome(str(r), status, code=error.code or "invalid", reason=str(error)) for r in to)
    return SendResult(provider, key, outcomes, error)


__all__ = ["Campaign", "Progress", "Rate", "Summary", "default_name", "refresh", "status"]
