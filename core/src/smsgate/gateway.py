"""``Gateway``: one configured provider, and the public API for it.

A send is planned first (nothing goes out if any part of it is invalid), every request is
built, then the batches go through the engine (:mod:`smsgate.engine`; up to the connection cap
at once, each its own request with its own outcome), which follows the delivery rules
(:mod:`smsgate.rules`, ``docs/delivery-semantics.md``). Every recipient gets an outcome;
nothing is reported ``accepted`` unless the gateway said so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs

from smsgate import config, idempotency, plan, suppression
from smsgate.engine import BatchResult, Engine, digits
from smsgate.errors import (
    AuthenticationError,
    InsufficientCreditError,
    KeyConflictError,
    MalformedResponseError,
    PluginError,
    SmsgateError,
    ValidationError,
)
from smsgate.inbound import InboundMessage
from smsgate.journal import Journal
from smsgate.models import (
    Balance,
    BalanceQuery,
    Batch,
    Call,
    DeliveryReport,
    HttpRequest,
    Inbox,
    InboxQuery,
    Message,
    Operation,
    Outcome,
    Price,
    Quote,
    Receipt,
    Send,
    SendResult,
    Status,
    StatusQuery,
    message_digest,
)
from smsgate.plugins import Hooks, Provider, Registry, default_registry
from smsgate.retry import RetryPolicy
from smsgate.rules import Offer, Rules
from smsgate.spec import Endpoint, ProviderSpec
from smsgate.transport import Transport

log = logging.getLogger("smsgate.gateway")


class Gateway:
    """A configured connection to one SMS gateway. Thread-safe; close it when done.

    The public API only: planning is :mod:`smsgate.plan`, what to do after each attempt is
    :mod:`smsgate.rules`, running attempts is :mod:`smsgate.engine`, memory across restarts
    is :mod:`smsgate.journal`.
    """

    #: Which of the given numbers are on the suppression list (``InboundStore.suppressed``);
    #: set it and ``send`` reports those ``rejected``/``suppressed`` without sending to them.
    suppressed: Callable[[Iterable[str]], set[str]] | None = None

    def __init__(
        self,
        provider: Provider,
        hooks: Hooks,
        settings: Any,
        options: config.GatewayOptions,
        endpoint: Endpoint,
        *,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        journal: Journal | None = None,
    ) -> None:
        self.provider = provider
        self.spec: ProviderSpec = provider.spec
        self.name = self.spec.name
        self.hooks = hooks
        self.settings = settings
        self.options = options
        self.endpoint = endpoint
        self.redact = config.Redactor(config.secrets_of(settings))
        caps = self.spec.capabilities
        self.max_connections = options.max_connections or caps.max_connections
        self.transport = transport or Transport(
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            max_connections=self.max_connections,
            backup_hosts=options.backup_hosts or (self.spec.backup_hosts if options.backup else ()),
            provider=self.name,
            max_reply_bytes=options.max_reply_bytes,
            attempt_timeout=options.attempt_timeout,
            redactor=self.redact,
        )
        self.policy = RetryPolicy(options.attempts, options.max_retry_time, options.backoff, options.backoff_max)
        # A resend must be *processed* inside the de-dup window: reaching the gateway takes up
        # to the connect timeout, processing up to the read timeout plus the lookup horizon.
        guard = options.connect_timeout + options.read_timeout + caps.lookup_delay
        self.rules = Rules(Offer.of(caps), self.policy, guard=guard)
        self.clock = clock
        self.sleep = sleep
        self.journal = journal
        self.engine = Engine(
            self.name,
            hooks,
            self.transport,
            self.rules,
            endpoint,
            clock=clock,
            sleep=sleep,
            scrub=self._scrub,
            connections=self.max_connections,
        )
        self._keys: OrderedDict[str, str] = OrderedDict()
        self._keys_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Gateway {self.name} {self.endpoint.base_url}>"

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    # -- planning and previews -------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc)

    def prepare(self, message: Message) -> tuple[plan.Plan, list[HttpRequest]]:
        """Plan ``message`` and build its requests; raises ``ValidationError`` (nothing sent)."""
        try:
            p = plan.plan(message, self.hooks, self.settings, self.options, self._now())
            requests = [self.engine.build(Send(b), p.settings) for b in p.batches]
        except SmsgateError as error:
            raise self._scrub(error) from None
        return p, requests

    def preview(self, message: Message, *, redact: bool = True) -> list[HttpRequest]:
        """The exact requests ``send`` would make, one per batch; nothing is sent. Secrets are
        masked unless ``redact=False``."""
        _, requests = self.prepare(message)
        return [self.redact.request(r) for r in requests] if redact else requests

    # -- sending ---------------------------------------------------------------------------

    def send(self, message: Message) -> SendResult:
        """Send one message; one outcome per (distinct, normalised) recipient.

        Raises ``ValidationError`` (nothing sent) for bad input, ``KeyConflictError`` for a
        key already used for other content; every failure after that is reported in the
        result's outcomes and ``error``, never raised.
        """
        # -- opt-outs (smsgate.suppression): suppressed recipients are rejected, never sent ----
        if self.suppressed is not None:
            kept, refused = suppression.filter(message, self.suppressed, self.options.default_region)
            if refused:
                sent = self.send(kept) if kept is not None else None
                return suppression.merge(message, sent, refused, provider=self.name)
        # ---------------------------------------------------------------------------------------
        p, requests = self.prepare(message)
        digest = ""
        if message.key:  # a caller's key is bound to this content (a random key needs no check)
            if len(p.batches) == 1:  # the same digest (every recipient, the text), computed once
                digest = p.batches[0].digest
            else:
                digest = message_digest(message, ((r, message.text) for r in p.recipients))
            self._remember(p.key, digest)
        journal = self.journal if message.key else None
        started: float | None = None
        if journal is not None:
            claim = journal.claim(self.name, p.key, digest, p.recipients, self.clock())
            if claim.recorded is not None:
                return claim.recorded
            started = claim.interrupted_at
        try:  # the batches at once, up to the connection cap; each its own request and outcome
            results = self.engine.send_batches(list(zip(p.batches, requests)), p.settings, started=started)
        except BaseException:
            if journal is not None:
                journal.abandon(self.name, p.key)
            raise
        result = self._result(p, results)
        if journal is not None:
            journal.done(result, digest)
        return result

    def _remember(self, key: str, digest: str) -> None:
        """Refuse a key this gateway already sent with other content (bounded memory; the
        journal remembers across restarts)."""
        with self._keys_lock:
            known = self._keys.get(key)
            if known is not None and known != digest:
                raise KeyConflictError(key, provider=self.name)
            self._keys[key] = digest
            self._keys.move_to_end(key)
            if len(self._keys) > _REMEMBERED_KEYS:
                self._keys.popitem(last=False)

    def send_many(
        self, messages: Iterable[Message], *, concurrency: int | None = None, derive_keys: bool | None = None
    ) -> Iterator[SendResult]:
        """Send messages concurrently (at most the gateway's connection cap of requests at once)
        and yield one result per message, in order, whatever happens to the others. An invalid
        message yields a result with every recipient ``rejected`` and ``error`` set. After a
        failure that would fail every request (credentials, credit), the messages not yet
        started are reported ``rejected`` with that error instead of being sent (those already
        under way, at most twice the cap, get their own outcomes). Memory stays flat: only a
        window of messages is in flight.

        ``derive_keys`` (default: on when the gateway has a journal): a message without a key
        gets one from its content and its occurrence in this input
        (:func:`smsgate.idempotency.content_key`), so re-running the same input after a crash
        sends nothing twice.
        """
        derive = self.journal is not None if derive_keys is None else derive_keys
        if derive:
            messages = idempotency.with_content_keys(messages)
        halt = _Halt()
        workers = max(1, min(concurrency or self.options.concurrency or self.max_connections, self.max_connections))
        threads = _threads(workers, self.max_connections)
        if threads == 1:
            for message in messages:
                yield self._send_or_report(message, halt)
            return
        window: deque[Future[SendResult]] = deque()
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"smsgate-{self.name}") as pool:
            for message in messages:
                window.append(pool.submit(self._send_or_report, message, halt))
                if len(window) >= threads * 2:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()

    def send_personalised(self, messages: Sequence[Message]) -> list[SendResult]:
        """Send messages that differ in text through the gateway's personalised-bulk request,
        several messages per request; one result per message, in order."""
        if "personalised" not in self.spec.capabilities.operations:
            halt = _Halt()
            return [self._send_or_report(m, halt) for m in messages]
        try:
            plans, batches = plan.plan_personalised(messages, self.hooks, self.settings, self.options, self._now())
            requests = [self.engine.build(Send(b), plans[0].settings) for b in batches]
        except SmsgateError as error:
            raise self._scrub(error) from None
        by_key: dict[str, Outcome] = {}
        first_error: SmsgateError | None = None
        count = 0
        for batch, sent in zip(batches, self.engine.send_batches(list(zip(batches, requests)), plans[0].settings)):
            count += sent.requests
            first_error = first_error or sent.error
            matched = _match(batch, sent.receipt)
            by_key.update({item.key: o for item, o in zip(batch.items, matched)})
        results = []
        for p in plans:
            outcomes = tuple(by_key[i.key] for b in p.batches for i in b.items)
            failed = first_error if any(not o.ok for o in outcomes) else None
            results.append(SendResult(self.name, p.key, outcomes, failed, count))
        return results

    def _send_or_report(self, message: Message, halt: _Halt) -> SendResult:
        """``send``, with every failure turned into this message's result (nothing escapes)."""
        stop = halt.error
        if stop is not None:
            return _report(self.name, message, Status.REJECTED, stop, f"not sent: an earlier request failed: {stop}")
        try:
            result = self.send(message)
        except SmsgateError as error:  # raised only before anything is sent (plan, build, key claim)
            return _report(self.name, message, Status.REJECTED, error, str(error))
        except Exception as exc:  # a bug must not cost this message (or any other) its outcome
            log.exception("smsgate: %s: unexpected failure sending a message", self.name)
            internal = SmsgateError(f"internal error: {type(exc).__name__}", provider=self.name, code="internal")
            return _report(self.name, message, Status.UNKNOWN, internal, str(internal))
        if isinstance(result.error, _ACCOUNT_ERRORS) and all(o.status is Status.REJECTED for o in result.outcomes):
            halt.error = result.error
        return result

    def _result(self, p: plan.Plan, sent: list[BatchResult]) -> SendResult:
        if len(sent) == 1:  # the common case: one request
            only = sent[0]
            matched = _match(p.batches[0], only.receipt)
            return SendResult(self.name, p.key, matched, only.error, only.requests, only.receipt.cost)
        outcomes: list[Outcome] = []
        costs = [s.receipt.cost for s in sent if s.receipt.cost is not None]
        for batch, s in zip(p.batches, sent):
            outcomes.extend(_match(batch, s.receipt))
        error = next((s.error for s in sent if s.error is not None), None)
        cost = sum(costs, Decimal(0)) if costs else None
        return SendResult(self.name, p.key, tuple(outcomes), error, sum(s.requests for s in sent), cost)

    def _scrub(self, error: SmsgateError) -> SmsgateError:
        error.provider = error.provider or self.name
        return error.scrub(self.redact)

    # -- queries ---------------------------------------------------------------------------

    def _query(self, operation: Operation, settings: Any = None) -> Any:
        settings = self.settings if settings is None else settings
        try:
            return self.engine.query(operation, settings)
        except SmsgateError as error:
            raise self._scrub(error) from None

    def _require(self, operation: str) -> None:
        if operation not in self.spec.capabilities.operations:
            raise ValidationError(
                "operation", f"the {self.name} gateway has no {operation} operation", provider=self.name
            )

    def balance(self) -> Balance:
        """The account's remaining credit."""
        self._require("balance")
        result: Balance = self._query(BalanceQuery())
        return result

    def status(self, message_id: str | Sequence[str], recipient: str | None = None) -> tuple[DeliveryReport, ...]:
        """Pull delivery reports for ids the gateway returned."""
        self._require("status")
        ids = (message_id,) if isinstance(message_id, str) else tuple(message_id)
        return tuple(self._query(StatusQuery(ids, recipient)))

    def fetch_inbound(self, since: str | None = None) -> Inbox:
        """Pull incoming messages (MO) the gateway keeps, after the cursor ``since`` (``None``:
        from the oldest it has); one request. Pass the returned ``cursor`` next time, and pull
        again while ``more`` is true. Messages come with ``gateway`` unset."""
        self._require("inbox")
        inbox: Inbox = self._query(InboxQuery(since))
        if not all(isinstance(m, InboundMessage) for m in inbox.messages):
            raise PluginError(f"parse_response of provider {self.name!r} returned an Inbox of non-messages")
        return inbox

    def quote(self, message: Message) -> Price:
        """The price of sending ``message`` (nothing is sent)."""
        self._require("quote")
        p, _ = self.prepare(message)
        prices: list[Price] = [self._query(Quote(batch), p.settings) for batch in p.batches]
        if len(prices) == 1:
            return prices[0]
        parts = [q.parts for q in prices]
        return Price(
            sum((q.cost for q in prices), Decimal(0)),
            None if None in parts else sum(p for p in parts if p is not None),
            prices[0].unit,
        )

    def call(self, name: str, /, **params: Any) -> Any:
        """A provider-specific operation (see the provider's ``capabilities.calls``)."""
        if name not in self.spec.capabilities.calls:
            known = ", ".join(sorted(self.spec.capabilities.calls)) or "none"
            raise ValidationError(
                "call", f"the {self.name} gateway has no operation {name!r} (known: {known})", provider=self.name
            )
        return self._query(Call(name, params))

    def parse_delivery_report(self, request: HttpRequest) -> tuple[DeliveryReport, ...]:
        """Read a delivery-report callback the gateway sent to your endpoint."""
        try:
            return self.hooks.parse_delivery_report(request, self.settings)
        except SmsgateError as error:
            raise self._scrub(error) from None
        except Exception as exc:  # a parser's crash (deep nesting, bad bytes) is an unreadable report
            raise MalformedResponseError(
                f"unreadable {self.name} delivery report: {type(exc).__name__}", provider=self.name
            ) from None

    def parse_inbound(self, request: HttpRequest) -> tuple[InboundMessage, ...] | None:
        """Read an incoming-message callback (MO) the gateway sent to your endpoint; ``None``
        when the request is not one (or the gateway pushes no incoming messages)."""
        try:
            return self.hooks.parse_inbound(request, self.settings)
        except SmsgateError as error:
            raise self._scrub(error) from None


_REMEMBERED_KEYS = 10_000
#: Errors that fail every request of the account alike: a batch stops at the first.
_ACCOUNT_ERRORS = (AuthenticationError, InsufficientCreditError)


def _threads(workers: int, cap: int) -> int:
    """Threads for ``workers`` sends at once: at the connection cap, twice as many, so that some
    plan the next message and read the last reply while the others wait for the gateway (the
    engine keeps requests in flight to the cap); below it (a lower ``concurrency``), ``workers``."""
    return 2 * workers if workers >= cap else workers


class _Halt:
    """Shared by one ``send_many``: the account-wide error that stops the rest."""

    def __init__(self) -> None:
        self.error: SmsgateError | None = None


def _report(provider: str, message: Message, status: Status, error: SmsgateError, reason: str) -> SendResult:
    """A result for a message that was not (fully) sent: ``status`` for every recipient."""
    retryable = status is Status.REJECTED and not isinstance(error, (ValidationError, PluginError))
    outcomes = tuple(
        Outcome(str(r), status, code=error.code or "invalid", reason=reason, retryable=retryable) for r in message.to
    )
    return SendResult(provider, message.key or "", outcomes, error, 0)


def _match(batch: Batch, receipt: Receipt) -> tuple[Outcome, ...]:
    """The receipt's outcomes in the batch's recipient order; a recipient the gateway did not
    mention is ``unknown``."""
    if tuple([o.recipient for o in receipt.outcomes]) == batch.recipients:
        return receipt.outcomes  # the common case: one each, in order, numbers as sent
    known: dict[str, Outcome] = {}
    for o in receipt.outcomes:
        known.setdefault(digits(o.recipient), o)
    out = []
    for r in batch.recipients:
        found = known.get(digits(r))
        if found is None:
            found = Outcome(r, Status.UNKNOWN, reason="the gateway's reply did not mention this recipient")
        elif found.recipient != r:
            found = attrs.evolve(found, recipient=r)
        out.append(found)
    return tuple(out)


def connect(dsn: str | None = None, *, registry: Registry | None = None, **kwargs: Any) -> Gateway:
    """Connect to the gateway a DSN describes; returns a :class:`Gateway` (close it, or use ``with``).

    ``dsn`` is ``SCHEME://USER:SECRET@HOST[:PORT]?option=value&...``, or the name of a gateway
    (or router) in ``smsgate.toml`` (:mod:`smsgate.profiles`); without one, ``$SMSGATE_DSN``
    is read. ``SCHEME`` names the provider plugin (``bulksms``, ``serwersms``, ``routesms``,
    ``smsc``, ``octopush``, the built-in ``outbox``). ``HOST`` ``default`` is the gateway's
    production host; any other host and port replace it (resellers, emulators on loopback).
    Percent-encode ``@ : /`` in credentials. Options are the core's (``tls``, ``attempts``,
    ``max_parts``, ``default_region``, ... see docs/configuration.md) and the provider's own (its
    README). Forms::

        bulksms://USERNAME:PASSWORD@default
        serwersms://:API_TOKEN@default                 (a token only)
        routesms://USER:PASSWORD@HOST:PORT?tls=false   (no default host)
        outbox://user:secret@127.0.0.1:8025?tls=false  (the core's loopback gateway)

    Keyword arguments: ``registry``, the plugins to use (default: the installed ones, loaded
    once); ``journal``, a :class:`Journal` (a key already settled is not sent again);
    ``transport``, ``clock`` and ``sleep`` replace the network, the time source and waiting
    (tests: ``sleep=lambda s: None``). Nothing is sent here.

    Raises :class:`UnknownProviderError` (no plugin for the scheme: it names the closest one, how
    to install it, or why it failed to load), :class:`ConfigurationError` (a malformed DSN, no DSN
    and no ``$SMSGATE_DSN``, a gateway without a default host) and :class:`ValidationError` (an
    unknown or ill-typed option, named). Secrets never appear in these errors.

    >>> import smsgate
    >>> with smsgate.connect("bulksms://user:secret@default?default_region=GB") as gw:  # doctest: +SKIP
    ...     result = gw.send(smsgate.Message(["+447700900001", "07700 900002"], "Hello"))
    ...     print(result.ok, [o.status.value for o in result.outcomes])
    """
    if dsn is not None and "://" not in dsn:  # a name from smsgate.toml (smsgate.profiles)
        from smsgate.profiles import connect_named

        return connect_named(dsn, registry=registry, **kwargs)
    parsed = config.Dsn.parse(dsn if dsn is not None else config.dsn_from_env())
    registry = registry or default_registry()
    provider = registry.provider(parsed.scheme)
    try:
        settings, options, endpoint = config.resolve(provider.spec, parsed)
    except SmsgateError as error:
        secret = parsed.password.reveal() if parsed.password else ""
        error.provider = error.provider or provider.spec.name
        raise error.scrub(config.Redactor([secret])) from None
    return Gateway(provider, registry.hooks(parsed.scheme), settings, options, endpoint, **kwargs)
