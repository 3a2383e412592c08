"""The engine: runs a request's attempts through a transport and follows :mod:`smsgate.rules`.

It is the one implementation of the delivery rules that every layer calls (``Gateway``, and
whatever sends batches on its behalf). It owns no public API: :class:`smsgate.gateway.Gateway`
plans, journals and gathers results; the engine turns one batch into one :class:`BatchResult`
covering every recipient, whatever happens — a crashing plugin included.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import attrs

from smsgate import telemetry
from smsgate.errors import (
    GatewayError,
    PluginError,
    SmsgateError,
    TransportError,
)
from smsgate.models import (
    Batch,
    Classification,
    Failure,
    HttpRequest,
    HttpResponse,
    Operation,
    Outcome,
    Receipt,
    Reconcile,
    Send,
    Status,
    Verdict,
)
from smsgate.plugins import Hooks
from smsgate.rules import Action, LookUp, Progress, Resend, Rules, Settle, Why
from smsgate.spec import Endpoint

log = logging.getLogger("smsgate.engine")
_VALUES = {status: status.value for status in Status}  # a dict lookup: ``.value`` is a Python-level descriptor


class Sender(Protocol):
    """What the engine needs of a transport."""

    def send(self, request: HttpRequest) -> HttpResponse: ...


def digits(number: str) -> str:
    """The digits of a number (how replies are matched to recipients)."""
    if number[:1] == "+" and number[1:].isdigit():
        return number[1:]
    return "".join(c for c in number if c.isdigit())


@attrs.frozen
class Attempted:
    """How a request ended: answered (``result``, the parsed reply), or unanswered with the
    rules' last word (``action``: settle it, or look it up) and the last error."""

    result: Any = None
    action: Settle | LookUp | None = None
    error: SmsgateError | None = None
    verdict: Classification | None = None
    requests: int = 0


@attrs.frozen
class BatchResult:
    """Every recipient of a batch, the first error met, and the requests made."""

    receipt: Receipt
    error: SmsgateError | None
    requests: int


class _Connections:
    """At most ``n`` requests in flight. A thread that frees a connection while another waits
    for one hands it over: it wakes the other and sleeps (the interpreter lock released) until
    the other has taken it, at most ``HANDOFF`` seconds, so that the other writes its request
    at once rather than after this one has read its reply (the gateway's connection idle
    meanwhile). A lock and a count: the conditions are waited on only when every connection
    is busy."""

    HANDOFF = 0.002  # seconds a freeing thread waits for the woken one to take its connection

    def __init__(self, n: int) -> None:
        self._n = n
        self._busy = 0
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._taken = threading.Condition(self._lock)
        self._waiting = 0

    def __enter__(self) -> None:
        with self._lock:
            if self._busy < self._n:
                self._busy += 1
                return
            self._waiting += 1
            try:
                while self._busy >= self._n:
                    self._freed.wait()
            finally:
                self._waiting -= 1
            self._busy += 1
            self._taken.notify()

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._busy -= 1
            if self._waiting:
                self._freed.notify()
                self._taken.wait(self.HANDOFF)


class Engine:
    """Runs operations for one gateway: ``hooks`` build and read, ``transport`` carries,
    ``rules`` decide, ``clock``/``sleep`` keep time (injectable: tests run it in virtual time).

    ``connections`` caps the requests in flight at once, whatever the number of threads using
    the engine (``None``: no cap): threads beyond it plan and read replies while the others wait
    for the gateway, and queue for a free connection only to write their request.
    """

    def __init__(
        self,
        name: str,
        hooks: Hooks,
        transport: Sender,
        rules: Rules,
        endpoint: Endpoint,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        scrub: Callable[[SmsgateError], SmsgateError] = lambda e: e,
        connections: int | None = None,
    ) -> None:
        self.name = name
        self.hooks = hooks
        self.transport = transport
        self.rules = rules
        self.endpoint = endpoint
        self.clock = clock
        self.sleep = sleep
        self.scrub = scrub
        self.connections = connections
        self._slots: contextlib.AbstractContextManager[Any] = (
            _Connections(connections) if connections else contextlib.nullcontext()
        )
        self._retryable: dict[str, bool] = {}

    # -- one request -----------------------------------------------------------------------

    def attempt(
        self, operation: Operation, request: HttpRequest | None, settings: Any, *, progress: Progress | None = None
    ) -> Attempted:
        """Run ``operation`` until it is answered or the rules settle it. ``progress``
        continues an earlier run of the same request (a resumed send)."""
        writes = isinstance(operation, Send)
        if request is None:
            request = self.build(operation, settings)
        progress = progress or Progress(started=self.clock())
        requests = 0
        while True:
            requests += 1
            attributes = {"smsgate.gateway": self.name, "smsgate.operation": type(operation).__name__}
            with telemetry.span("smsgate.attempt", attributes) as span:
                error, verdict = self._try(operation, request, settings, progress)
                if span is not None:
                    span.set_attribute("smsgate.verdict", verdict.verdict.value if verdict else "ok")
            if verdict is None:
                return Attempted(result=error, requests=requests)
            assert isinstance(error, SmsgateError)
            now = self.clock()
            progress = progress.after(verdict.verdict, now)
            action: Action = self.rules.decide(progress, verdict, now, writes=writes)
            log.debug("smsgate: %s attempt %d: %s -> %s", self.name, progress.attempts, error, action)
            if isinstance(action, Resend):
                telemetry.wait(self.name, verdict.verdict.value, action.wait)
                self.sleep(action.wait)
                continue
            return Attempted(action=action, error=error, verdict=verdict, requests=requests)

    def _try(
        self, operation: Operation, request: HttpRequest, settings: Any, progress: Progress
    ) -> tuple[object, Classification | None]:
        """One attempt: ``(parsed reply, None)``, or ``(error, its classification)``."""
        began = time.perf_counter()
        status: int | None = None
        verdict: Classification | None = None
        try:
            try:
                with self._slots:  # a free connection (the cap); the attempt is timed from here
                    began = time.perf_counter()
                    response = self.transport.send(request)
            except TransportError as exc:
                error: SmsgateError = self.scrub(exc)
            except Exception as exc:  # a transport bug: we cannot know how much was written
                error = TransportError(f"internal error sending: {type(exc).__name__}", kind="internal", written=True)
            else:
                status = response.status
                try:
                    return self.parse(operation, response, settings), None
                except GatewayError as exc:
                    error = self.scrub(exc)
                    exc.http_status = exc.http_status or response.status
                    exc.retry_after = exc.retry_after if exc.retry_after is not None else response.retry_after()
                except PluginError as exc:  # the reply could not be read by the plugin: it may have been taken
                    verdict = Classification(
                        Verdict.AMBIGUOUS, reason="the plugin could not read the reply: the gateway may have it"
                    )
                    return self.scrub(exc), verdict
            failure = Failure(error, operation, progress.attempts + 1, progress.doubt)
            verdict = self.classify(failure, settings)
            return error, verdict
        finally:
            seconds = time.perf_counter() - began
            outcome = verdict.verdict.value if verdict else None
            telemetry.attempt(self.name, request.method, self.endpoint.host, seconds, status, outcome)

    def build(self, operation: Operation, settings: Any) -> HttpRequest:
        try:
            request: HttpRequest = self.hooks.build_request(operation, settings, self.endpoint)
            return request
        except SmsgateError as error:
            raise self.scrub(error) from None
        except Exception as exc:  # a plugin's bug: nothing was sent
            raise PluginError(
                f"the {self.name} plugin failed to build the request: {type(exc).__name__}", provider=self.name
            ) from exc

    def parse(self, operation: Operation, response: HttpResponse, settings: Any) -> object:
        return self.hooks.parse_response(operation, response, settings)

    def classify(self, failure: Failure, settings: Any) -> Classification:
        try:
            verdict: Classification = self.hooks.classify_error(failure, settings)
            return verdict
        except Exception as exc:  # a broken classifier: assume the worst (it may have been taken)
            log.error("smsgate: %s classify_error failed: %s", self.name, type(exc).__name__)
            return Classification(Verdict.AMBIGUOUS, reason="the plugin could not classify the failure")

    # -- one batch -------------------------------------------------------------------------

    def send_batch(
        self,
        batch: Batch,
        request: HttpRequest | None,
        settings: Any,
        *,
        progress: Progress | None = None,
        resume: bool = False,
    ) -> BatchResult:
        """Send ``batch``; always returns an outcome for every recipient, never raises.
        ``resume``: an earlier run of this very request may have reached the gateway
        (``progress.started`` is when it began)."""
        attributes = {"smsgate.gateway": self.name, "smsgate.batch.size": len(batch.items), "smsgate.resume": resume}
        with telemetry.span("smsgate.send", attributes):
            result = self._send_batch(batch, request, settings, progress=progress, resume=resume)
        statuses = [outcome.status for outcome in result.receipt.outcomes]
        # each status once, in order of first appearance, with its count (a C-level pass each)
        telemetry.outcomes(self.name, {_VALUES[status]: statuses.count(status) for status in dict.fromkeys(statuses)})
        return result

    def send_batches(
        self,
        batches: Sequence[tuple[Batch, HttpRequest | None]],
        settings: Any,
        *,
        started: float | None = None,
    ) -> list[BatchResult]:
        """:meth:`send_batch` for each ``(batch, request)``, up to ``connections`` at once; the
        results in the same order. Each batch is its own request with its own outcome, exactly
        as when sent one after another. ``started``: a resumed send (see ``send_batch``) that
        first began at that time."""
        progress = None if started is None else Progress(started=started)

        def one(item: tuple[Batch, HttpRequest | None]) -> BatchResult:
            return self.send_batch(item[0], item[1], settings, progress=progress, resume=started is not None)

        workers = min(len(batches), self.connections or len(batches))
        if workers <= 1:
            return [one(item) for item in batches]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"smsgate-{self.name}-batch") as pool:
            # each batch in a copy of the caller's context (its trace span stays the parent);
            # leaving early (KeyboardInterrupt) cancels the batches not started and waits for the rest
            contexts = [contextvars.copy_context() for _ in batches]
            return list(pool.map(lambda context, item: context.run(one, item), contexts, batches))

    def _send_batch(
        self,
        batch: Batch,
        request: HttpRequest | None,
        settings: Any,
        *,
        progress: Progress | None,
        resume: bool,
    ) -> BatchResult:
        try:
            if resume:
                now = self.clock()
                progress = progress or Progress(started=now)
                first = self.rules.resume(progress, now)
                if isinstance(first, Settle):
                    error = SmsgateError("an earlier send of this key was interrupted", code="interrupted")
                    return self._settled(batch, first, self.scrub(error), 0)
                if isinstance(first, LookUp):
                    gone = SmsgateError("an earlier send of this key was interrupted", code="interrupted")
                    return self._look_up(batch, settings, first, self.scrub(gone), 0, resumed=progress)
                progress = attrs.evolve(progress, doubt=True, doubt_ended=now)
            run = self.attempt(Send(batch), request, settings, progress=progress)
        except SmsgateError as error:  # the request could not even be built: nothing was sent
            return self._settled(batch, Settle(Status.REJECTED, Why.REFUSED), error, 0)
        if isinstance(run.action, LookUp):
            assert run.error is not None
            return self._look_up(batch, settings, run.action, run.error, run.requests)
        if isinstance(run.action, Settle):
            assert run.error is not None
            return self._settled(batch, run.action, run.error, run.requests, run.verdict)
        receipt = self._mark_retryable(run.result, Send(batch), settings)
        return BatchResult(receipt, None, run.requests)

    def _settled(
        self,
        batch: Batch,
        settle: Settle,
        error: SmsgateError,
        requests: int,
        verdict: Classification | None = None,
    ) -> BatchResult:
        if settle.status is Status.UNKNOWN:
            log.warning("smsgate: %s outcome unknown (%s): %s", self.name, error, settle.why.value)
        retryable = settle.retryable or (
            settle.status is Status.REJECTED
            and verdict is not None
            and verdict.verdict in (Verdict.RETRY, Verdict.THROTTLED)
        )
        reason = str(error) if settle.why is Why.REFUSED else f"{error}; {settle.why.value}"
        outcomes = tuple(
            Outcome(r, settle.status, code=error.code, reason=reason, retryable=retryable) for r in batch.recipients
        )
        return BatchResult(Receipt(outcomes), error, requests)

    def _look_up(
        self,
        batch: Batch,
        settings: Any,
        lookup: LookUp,
        doubt: SmsgateError,
        requests: int,
        *,
        resumed: Progress | None = None,
    ) -> BatchResult:
        """Ask the gateway what it has of ``batch`` (after ``lookup.wait``); resend only the
        rest, once, under a new key; never look the same request up twice. ``resumed``: the
        lookup of an interrupted send, whose rest the dead process may already have sent:
        the rest is then doubtful from the start (resent only under the de-dup key)."""
        log.info("smsgate: %s: looking the batch up in %.1f s (%s)", self.name, lookup.wait, doubt)
        self.sleep(lookup.wait)
        try:
            run = self.attempt(Reconcile(batch), None, settings)
        except SmsgateError as failed:
            run = Attempted(action=Settle(Status.UNKNOWN, Why.LOOKED_UP), error=failed)
        requests += run.requests
        if run.action is not None or not isinstance(run.result, Receipt):
            log.warning("smsgate: %s lookup failed (%s); outcomes stay unknown, nothing resent", self.name, run.error)
            return self._settled(batch, Settle(Status.UNKNOWN, Why.LOOKED_UP), doubt, requests)
        found: Receipt = run.result
        have = {digits(o.recipient) for o in found.outcomes}
        missing = tuple(i for i in batch.items if digits(i.recipient) not in have)
        outcomes = [o for o in found.outcomes if digits(o.recipient) in {digits(r) for r in batch.recipients}]
        error: SmsgateError | None = None
        if missing:
            rest = attrs.evolve(batch, items=missing, key=batch.key + "/rest", resume=True)
            log.info("smsgate: %s has %d of %d recipients; sending the rest", self.name, len(have), len(batch.items))
            if resumed is None:
                progress = Progress(started=self.clock(), looked_up=True)
                result = self.send_batch(rest, None, settings, progress=progress)
            else:
                progress = attrs.evolve(resumed, looked_up=True)
                result = self.send_batch(rest, None, settings, progress=progress, resume=True)
            outcomes.extend(result.receipt.outcomes)
            requests += result.requests
            error = result.error
        return BatchResult(Receipt(tuple(outcomes)), error, requests)

    def _mark_retryable(self, receipt: Receipt, operation: Send, settings: Any) -> Receipt:
        """Per-recipient rejections carry ``retryable`` from the provider's classification."""
        if all(o.status is not Status.REJECTED or o.code is None for o in receipt.outcomes):
            return receipt
        marked = []
        for o in receipt.outcomes:
            if o.status is Status.REJECTED and o.code is not None:
                if o.code not in self._retryable:
                    c = self.classify(Failure(GatewayError("", provider=self.name, code=o.code), operation), settings)
                    self._retryable[o.code] = c.verdict in (Verdict.RETRY, Verdict.THROTTLED)
                if self._retryable[o.code] != o.retryable:
                    o = attrs.evolve(o, retryable=self._retryable[o.code])
            marked.append(o)
        return Receipt(tuple(marked), receipt.cost, receipt.balance)

    # -- reads -----------------------------------------------------------------------------

    def query(self, operation: Operation, settings: Any) -> Any:
        """Run a read (balance, status, quote, call); raises the last error when it fails."""
        run = self.attempt(operation, None, settings)
        if run.action is not None:
            assert run.error is not None
            raise run.error
        return run.result
