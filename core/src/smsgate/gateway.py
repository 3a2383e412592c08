"""``Gateway``: one configured provider, and the retry engine that every provider shares.

A send is planned first (nothing goes out if any part of it is invalid), every request is
built, then each batch is sent. A failed attempt is classified through the ``classify_error``
hook: ``retry`` and ``throttled`` resend after a backoff; ``ambiguous`` resends only where the
gateway de-duplicates by a key we send (the same key on every attempt), or reconciles through
the gateway's own lookup, and otherwise settles as ``unknown``; ``fatal`` settles as
``rejected``. Every recipient gets an outcome; nothing is reported ``accepted`` unless the
gateway said so.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs

from smsgate import config, plan
from smsgate.errors import (
    GatewayError,
    MalformedResponseError,
    PluginError,
    SmsgateError,
    TransportError,
    ValidationError,
)
from smsgate.journal import Journal
from smsgate.models import (
    Balance,
    BalanceQuery,
    Batch,
    Call,
    Classification,
    DeliveryReport,
    Failure,
    HttpRequest,
    HttpResponse,
    Message,
    Operation,
    Outcome,
    Price,
    Quote,
    Receipt,
    Reconcile,
    Send,
    SendResult,
    Status,
    StatusQuery,
    Verdict,
)
from smsgate.plugins import Hooks, Provider, Registry, default_registry
from smsgate.retry import RetryPolicy
from smsgate.spec import Endpoint, ProviderSpec
from smsgate.transport import Transport

log = logging.getLogger("smsgate.gateway")


def _digits(number: str) -> str:
    """The digits of a number (how replies are matched to recipients)."""
    if number[:1] == "+" and number[1:].isdigit():
        return number[1:]
    return "".join(c for c in number if c.isdigit())


class _Settled(Exception):
    """A batch ended without a receipt: every recipient gets ``status``."""

    def __init__(self, error: SmsgateError, status: Status, verdict: Classification, requests: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.status = status
        self.verdict = verdict
        self.requests = requests


class Gateway:
    """A configured connection to one SMS gateway. Thread-safe; close it when done."""

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
        )
        self.policy = RetryPolicy(options.attempts, options.max_retry_time, options.backoff, options.backoff_max)
        self.clock = clock
        self.sleep = sleep
        self.journal = journal
        self._verdicts: dict[str | None, bool] = {}

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
        try:
            p = plan.plan(message, self.hooks, self.settings, self.options, self._now())
            requests = [self.hooks.build_request(Send(b), p.settings, self.endpoint) for b in p.batches]
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

        Raises ``ValidationError`` (nothing sent) for bad input; every failure after that is
        reported in the result's outcomes and ``error``.
        """
        p, requests = self.prepare(message)
        journal = self.journal if message.key else None
        resume = False
        if journal is not None:
            recorded = journal.recorded(self.name, p.key)
            if recorded is not None:
                return recorded
            resume = journal.interrupted(self.name, p.key)
            journal.sending(self.name, p.key, p.recipients)
        receipts: list[Receipt] = []
        errors: list[SmsgateError] = []
        count = 0
        for batch, request in zip(p.batches, requests):
            if resume:
                receipt, error, n = self._resume(batch, p.settings)
            else:
                receipt, error, n = self._send_batch(batch, request, p.settings)
            receipts.append(receipt)
            count += n
            if error is not None:
                errors.append(error)
        result = self._result(p, receipts, errors[0] if errors else None, count)
        if journal is not None:
            journal.done(result)
        return result

    def _resume(self, batch: Batch, settings: Any) -> tuple[Receipt, SmsgateError | None, int]:
        """A batch whose earlier send was interrupted (the journal says so): the gateway may
        have it. Resent under the same key where the gateway de-duplicates, reconciled where
        it can be looked up, otherwise settled ``unknown``."""
        caps = self.spec.capabilities
        if caps.dedup is not None:
            request = self.hooks.build_request(Send(batch), settings, self.endpoint)
            return self._send_batch(batch, request, settings, doubtful=True)
        error = SmsgateError("an earlier send under this key was interrupted", provider=self.name, code="interrupted")
        settled = _Settled(error, Status.UNKNOWN, Classification(Verdict.AMBIGUOUS, final=True), 0)
        if "reconcile" in caps.operations:
            return self._reconcile(batch, settings, settled)
        reason = f"{error.message}; not resent: the gateway has no de-duplication key"
        return (
            Receipt(tuple(Outcome(r, Status.UNKNOWN, code=error.code, reason=reason) for r in batch.recipients)),
            error,
            0,
        )

    def send_many(self, messages: Iterable[Message], *, concurrency: int | None = None) -> Iterator[SendResult]:
        """Send messages concurrently (at most the gateway's connection cap at once) and yield
        their results in order. An invalid message yields a result with every recipient
        ``rejected`` and ``error`` set; the others go on. Memory stays flat: only a window of
        messages is in flight."""
        workers = max(1, min(concurrency or self.options.concurrency or self.max_connections, self.max_connections))
        if workers == 1:
            for message in messages:
                yield self._send_or_report(message)
            return
        window: deque[Future[SendResult]] = deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"smsgate-{self.name}") as pool:
            for message in messages:
                window.append(pool.submit(self._send_or_report, message))
                if len(window) >= workers * 2:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()

    def send_personalised(self, messages: Sequence[Message]) -> list[SendResult]:
        """Send messages that differ in text through the gateway's personalised-bulk request,
        several messages per request; one result per message, in order."""
        if "personalised" not in self.spec.capabilities.operations:
            return [self._send_or_report(m) for m in messages]
        try:
            plans, batches = plan.plan_personalised(messages, self.hooks, self.settings, self.options, self._now())
            requests = [self.hooks.build_request(Send(b), plans[0].settings, self.endpoint) for b in batches]
        except SmsgateError as error:
            raise self._scrub(error) from None
        by_key: dict[str, Outcome] = {}
        first_error: SmsgateError | None = None
        count = 0
        for batch, request in zip(batches, requests):
            receipt, failed, n = self._send_batch(batch, request, plans[0].settings)
            count += n
            first_error = first_error or failed
            matched = self._match(batch, receipt)
            by_key.update({item.key: o for item, o in zip(batch.items, matched)})
        results = []
        for p in plans:
            outcomes = tuple(by_key[i.key] for b in p.batches for i in b.items)
            failed = first_error if any(not o.ok for o in outcomes) else None
            results.append(SendResult(self.name, p.key, outcomes, failed, count))
        return results

    def _send_or_report(self, message: Message) -> SendResult:
        try:
            return self.send(message)
        except ValidationError as error:
            key = message.key or ""
            outcomes = tuple(
                Outcome(str(r), Status.REJECTED, code=error.code or "invalid", reason=str(error)) for r in message.to
            )
            return SendResult(self.name, key, outcomes, error, 0)

    def _send_batch(
        self, batch: Batch, request: HttpRequest, settings: Any, *, doubtful: bool = False, reconcile: bool = True
    ) -> tuple[Receipt, SmsgateError | None, int]:
        """Send one batch with retries; always returns a receipt covering every recipient.
        ``doubtful``: an earlier send of this very request may have reached the gateway.
        ``reconcile``: look an ambiguous outcome up (once: never for a resend after a lookup)."""
        try:
            receipt, count = self._execute(Send(batch), request, settings, after_ambiguous=doubtful)
            return self._mark_retryable(receipt, Send(batch), settings), None, count
        except _Settled as settled:
            if settled.status is Status.UNKNOWN and reconcile and "reconcile" in self.spec.capabilities.operations:
                return self._reconcile(batch, settings, settled)
            outcomes = tuple(
                Outcome(
                    r,
                    settled.status,
                    code=settled.error.code,
                    reason=str(settled.error),
                    retryable=settled.verdict.verdict in (Verdict.RETRY, Verdict.THROTTLED),
                )
                for r in batch.recipients
            )
            return Receipt(outcomes), settled.error, settled.requests

    def _reconcile(self, batch: Batch, settings: Any, settled: _Settled) -> tuple[Receipt, SmsgateError | None, int]:
        """After an ambiguous failure, ask the gateway what it has; resend only the rest."""
        count = settled.requests
        try:
            found, n = self._execute(Reconcile(batch), None, settings)
        except _Settled as failed:
            log.warning("smsgate: %s reconciliation failed (%s); outcomes stay unknown", self.name, failed.error)
            unknown = tuple(
                Outcome(r, Status.UNKNOWN, code=settled.error.code, reason=str(settled.error)) for r in batch.recipients
            )
            return Receipt(unknown), settled.error, count + failed.requests
        count += n
        have = {_digits(o.recipient) for o in found.outcomes}
        missing = tuple(i for i in batch.items if _digits(i.recipient) not in have)
        outcomes = list(found.outcomes)
        error: SmsgateError | None = None
        if missing:
            rest = attrs.evolve(batch, items=missing, key=batch.key + "/rest", resume=True)
            log.info("smsgate: %s has %d of %d recipients; resending the rest", self.name, len(have), len(batch.items))
            request = self.hooks.build_request(Send(rest), settings, self.endpoint)
            receipt, error, n = self._send_batch(rest, request, settings, reconcile=False)
            outcomes.extend(receipt.outcomes)
            count += n
        return Receipt(tuple(outcomes)), error, count

    def _execute(
        self, operation: Operation, request: HttpRequest | None, settings: Any, *, after_ambiguous: bool = False
    ) -> tuple[Any, int]:
        """Run ``operation`` with the retry policy; returns ``(parsed reply, requests made)``
        or raises ``_Settled``."""
        if request is None:
            request = self.hooks.build_request(operation, settings, self.endpoint)
        writes = isinstance(operation, Send)
        dedup = self.spec.capabilities.dedup is not None
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            error: SmsgateError
            response: HttpResponse | None = None
            try:
                response = self.transport.send(request)
                result = self.hooks.parse_response(operation, response, settings)
                return result, attempt
            except (GatewayError, TransportError) as exc:
                error = self._scrub(exc)
                if isinstance(exc, GatewayError) and response is not None:
                    exc.http_status = exc.http_status or response.status
                    exc.retry_after = exc.retry_after if exc.retry_after is not None else response.retry_after()
            except PluginError:
                raise
            except Exception as exc:  # a parser that crashes must not crash the send
                error = MalformedResponseError(
                    f"the {self.name} plugin could not read the reply: {type(exc).__name__}", provider=self.name
                )
            verdict = self.hooks.classify_error(Failure(error, operation, attempt, after_ambiguous), settings)
            log.debug("smsgate: %s attempt %d failed: %s -> %s", self.name, attempt, error, verdict.verdict.value)
            kind = verdict.verdict
            if kind is Verdict.AMBIGUOUS and writes and (verdict.final or not dedup):
                why = verdict.reason or "no de-duplication key"
                log.warning("smsgate: %s outcome unknown (%s); not resent: %s", self.name, error, why)
                raise _Settled(error, Status.UNKNOWN, verdict, attempt)
            if kind is Verdict.FATAL:
                # After an ambiguous attempt a fatal answer may only reflect the first attempt
                # (credit it used up): unknown, unless the plugin calls it definitive (a gateway
                # that replays the original reply to a repeated de-duplication key).
                doubt = after_ambiguous and writes and not verdict.final
                raise _Settled(error, Status.UNKNOWN if doubt else Status.REJECTED, verdict, attempt)
            wait = self.policy.delay(attempt, verdict.retry_after)
            if not self.policy.allows(attempt, self.clock() - started, wait):
                status = (
                    Status.UNKNOWN if writes and (after_ambiguous or kind is Verdict.AMBIGUOUS) else Status.REJECTED
                )
                raise _Settled(error, status, verdict, attempt)
            after_ambiguous = after_ambiguous or kind is Verdict.AMBIGUOUS
            self.sleep(wait)

    def _mark_retryable(self, receipt: Receipt, operation: Send, settings: Any) -> Receipt:
        if all(o.status is not Status.REJECTED or o.code is None for o in receipt.outcomes):
            return receipt
        marked = []
        for o in receipt.outcomes:
            if o.status is Status.REJECTED and o.code is not None:
                if o.code not in self._verdicts:
                    c = self.hooks.classify_error(
                        Failure(GatewayError("", provider=self.name, code=o.code), operation), settings
                    )
                    self._verdicts[o.code] = c.verdict in (Verdict.RETRY, Verdict.THROTTLED)
                if self._verdicts[o.code] != o.retryable:
                    o = attrs.evolve(o, retryable=self._verdicts[o.code])
            marked.append(o)
        return Receipt(tuple(marked), receipt.cost, receipt.balance)

    def _match(self, batch: Batch, receipt: Receipt) -> list[Outcome]:
        """The receipt's outcomes in the batch's recipient order; a recipient the gateway did
        not mention is ``unknown``."""
        known: dict[str, Outcome] = {}
        for o in receipt.outcomes:
            known.setdefault(_digits(o.recipient), o)
        out = []
        for r in batch.recipients:
            found = known.get(_digits(r))
            if found is None:
                found = Outcome(r, Status.UNKNOWN, reason="the gateway's reply did not mention this recipient")
            elif found.recipient != r:
                found = attrs.evolve(found, recipient=r)
            out.append(found)
        return out

    def _result(self, p: plan.Plan, receipts: list[Receipt], error: SmsgateError | None, count: int) -> SendResult:
        outcomes: list[Outcome] = []
        costs = [r.cost for r in receipts if r.cost is not None]
        for batch, receipt in zip(p.batches, receipts):
            outcomes.extend(self._match(batch, receipt))
        cost = sum(costs, Decimal(0)) if costs else None
        return SendResult(self.name, p.key, tuple(outcomes), error, count, cost)

    def _scrub(self, error: SmsgateError) -> SmsgateError:
        error.provider = error.provider or self.name
        return error.scrub(self.redact)

    # -- queries ---------------------------------------------------------------------------

    def _query(self, operation: Operation, settings: Any = None) -> Any:
        settings = self.settings if settings is None else settings
        try:
            result, _ = self._execute(operation, None, settings)
        except _Settled as settled:
            raise settled.error from None
        except SmsgateError as error:
            raise self._scrub(error) from None
        return result

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


def connect(dsn: str | None = None, *, registry: Registry | None = None, **kwargs: Any) -> Gateway:
    """A ``Gateway`` for ``dsn`` (or ``SMSGATE_DSN``). ``kwargs`` go to ``Gateway``."""
    parsed = config.Dsn.parse(dsn if dsn is not None else config.dsn_from_env())
    registry = registry or default_registry()
    provider = registry.provider(parsed.scheme)
    try:
        settings, options, endpoint = config.resolve(provider.spec, parsed)
    except SmsgateError as error:
        secret = parsed.password.reveal() if parsed.password else ""
        raise error.scrub(config.Redactor([secret])) from None
    return Gateway(provider, registry.hooks(parsed.scheme), settings, options, endpoint, **kwargs)
