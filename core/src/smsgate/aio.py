"""The asyncio API: :func:`connect_async` gives an :class:`AsyncGateway`, the awaitable twin of
:class:`smsgate.gateway.Gateway`.

It is the same gateway, not a second implementation: every operation runs the synchronous
``Gateway`` (planning, the engine, the delivery rules, the journal) on a thread pool of its own,
twice the gateway's connection cap (some threads plan and read replies while the others wait
for the gateway); the engine keeps at most the cap of requests in flight however many tasks
await at once. The event loop never blocks on the network.

Cancellation never loses a message. A send that has been handed to the pool keeps running
until its outcome is settled by the delivery rules (``docs/delivery-semantics.md``), whatever
happens to the task that awaited it: the awaiting task gets its ``CancelledError`` at once, the
send is logged as cancelled by its caller, its settled result is logged, recorded by the journal
when the gateway has one, and handed to ``on_orphan`` when given. ``aclose()`` (or leaving
``async with``) waits for every such send before closing the connections.

>>> import smsgate.aio
>>> async def main() -> None:  # doctest: +SKIP
...     async with smsgate.aio.connect_async("bulksms://user:secret@default") as gw:
...         result = await gw.send(smsgate.Message("+447700900001", "Hello"))
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import threading
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

import attrs

from smsgate import idempotency, plan
from smsgate.gateway import Gateway, _Halt, _threads, connect
from smsgate.models import (
    Balance,
    DeliveryReport,
    HttpRequest,
    Message,
    Price,
    SendResult,
    message_digest,
)

__all__ = ["AsyncGateway", "connect_async"]

log = logging.getLogger("smsgate.aio")

_T = TypeVar("_T")
_Job = concurrent.futures.Future


class AsyncGateway:
    """A :class:`~smsgate.gateway.Gateway` for asyncio code: the same operations, awaitable.

    ``gateway`` is the synchronous gateway that does the work (``AsyncGateway.gateway``, e.g.
    for its ``spec``). ``on_orphan`` is called (on a worker thread) with the settled result of
    every send whose caller was cancelled before it finished. Close it with ``aclose()`` or use
    ``async with``.
    """

    def __init__(self, gateway: Gateway, *, on_orphan: Callable[[SendResult], object] | None = None) -> None:
        self.gateway = gateway
        self.name = gateway.name
        self.max_connections = gateway.max_connections
        self.on_orphan = on_orphan
        self._threads = _threads(self.max_connections, self.max_connections)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self._threads, thread_name_prefix=f"smsgate-aio-{self.name}"
        )
        self._jobs: set[_Job[Any]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"<AsyncGateway {self.name} {self.gateway.endpoint.base_url}>"

    async def __aenter__(self) -> AsyncGateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Wait for every send still running (cancelled callers' too), then close the connections."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs)
        if jobs:
            await asyncio.shield(asyncio.gather(*(asyncio.wrap_future(j) for j in jobs), return_exceptions=True))
        self._pool.shutdown(wait=False)
        self.gateway.close()

    # -- running on the pool ---------------------------------------------------------------

    def _submit(self, fn: Callable[..., _T], *args: Any) -> concurrent.futures.Future[_T]:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            job = self._pool.submit(fn, *args)
            self._jobs.add(job)
        job.add_done_callback(self._forget)
        return job

    def _forget(self, job: _Job[Any]) -> None:
        with self._lock:
            self._jobs.discard(job)

    async def _read(self, fn: Callable[..., _T], *args: Any) -> _T:
        """A read (balance, status, ...): cancelling the caller drops it if it has not started."""
        return await asyncio.wrap_future(self._submit(fn, *args))

    async def _write(self, what: str, fn: Callable[..., _T], *args: Any) -> _T:
        """A send: it runs to its settled outcome even when the caller is cancelled."""
        job = self._submit(fn, *args)
        try:
            return await asyncio.shield(asyncio.wrap_future(job))
        except asyncio.CancelledError:
            log.warning("smsgate: %s: the caller cancelled %s; it goes on until settled", self.name, what)
            job.add_done_callback(functools.partial(self._orphaned, what))  # at once if already settled
            raise

    def _orphaned(self, what: str, job: _Job[Any]) -> None:
        """The end of a send whose caller was cancelled: log it and hand the results on."""
        if job.cancelled():
            return
        error = job.exception()
        if error is not None:
            log.warning("smsgate: %s: %s (caller cancelled) failed before sending: %s", self.name, what, error)
            return
        results = job.result()
        for result in results if isinstance(results, list) else [results]:
            counts = ", ".join(f"{s.value} {len(result.by_status(s))}" for s in {o.status for o in result.outcomes})
            log.warning(
                "smsgate: %s: %s (caller cancelled) settled: key %s, %s", self.name, what, result.key, counts or "-"
            )
            if self.on_orphan is not None:
                try:
                    self.on_orphan(result)
                except Exception:
                    log.exception("smsgate: %s: on_orphan failed", self.name)

    # -- planning and previews (no I/O: run in the caller's task) ------------------------

    async def prepare(self, message: Message) -> tuple[plan.Plan, list[HttpRequest]]:
        """See :meth:`Gateway.prepare` (pure: no I/O)."""
        return self.gateway.prepare(message)

    async def preview(self, message: Message, *, redact: bool = True) -> list[HttpRequest]:
        """See :meth:`Gateway.preview`: the exact requests, nothing sent (pure: no I/O)."""
        return self.gateway.preview(message, redact=redact)

    async def parse_delivery_report(self, request: HttpRequest) -> tuple[DeliveryReport, ...]:
        """See :meth:`Gateway.parse_delivery_report` (pure: no I/O)."""
        return self.gateway.parse_delivery_report(request)

    # -- sending ---------------------------------------------------------------------------

    async def send(self, message: Message) -> SendResult:
        """See :meth:`Gateway.send`. Cancelling the caller does not stop the send (see the module)."""
        return await self._write("a send", self.gateway.send, message)

    async def send_personalised(self, messages: Sequence[Message]) -> list[SendResult]:
        """See :meth:`Gateway.send_personalised`; cancellation as for :meth:`send`."""
        return await self._write("a personalised send", self.gateway.send_personalised, list(messages))

    async def send_many(
        self,
        messages: Iterable[Message] | AsyncIterable[Message],
        *,
        concurrency: int | None = None,
        derive_keys: bool | None = None,
    ) -> AsyncGenerator[SendResult, None]:
        """See :meth:`Gateway.send_many`: one result per message, in order, at most the
        connection cap (or ``concurrency``) at once, memory flat. ``messages`` may be an
        iterable or an async iterable.

        Leaving the loop early (``break``, an exception, a cancelled task) stops taking
        messages: those handed to the pool but not started are not sent; those started run to
        their settled outcome (logged, journaled, given to ``on_orphan``). With a journal,
        rerunning the same input sends only what was not settled.
        """
        gw = self.gateway
        derive = gw.journal is not None if derive_keys is None else derive_keys
        workers = max(1, min(concurrency or gw.options.concurrency or self.max_connections, self.max_connections))
        halt = _Halt()
        ahead = 2 * _threads(workers, self.max_connections)  # jobs handed to the pool before the first result
        # the pool already holds the cap; a lower ``concurrency`` needs slots of its own
        slots = asyncio.Semaphore(workers) if workers < self.max_connections else None
        loop = asyncio.get_running_loop()
        window: deque[_Job[SendResult]] = deque()  # handed to the pool, result not yielded yet

        def release(_: object) -> None:
            assert slots is not None
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits for a slot
                loop.call_soon_threadsafe(slots.release)

        async def head() -> SendResult:
            result = await asyncio.wrap_future(window[0])  # a job stays in the window until yielded
            window.popleft()
            return result

        try:
            async for message in _keyed(messages, derive):
                if slots is not None:
                    await slots.acquire()
                job = self._submit(gw._send_or_report, message, halt)
                if slots is not None:
                    job.add_done_callback(release)
                window.append(job)
                if len(window) >= ahead:
                    yield await head()
            while window:
                yield await head()
        finally:
            running = [j for j in window if not j.cancel()]
            if running:
                log.warning(
                    "smsgate: %s: send_many stopped by its caller; %d sends go on until settled (%d not sent)",
                    self.name,
                    len(running),
                    len(window) - len(running),
                )
                for job in running:
                    job.add_done_callback(functools.partial(self._orphaned, "a send_many message"))

    # -- queries ---------------------------------------------------------------------------

    async def balance(self) -> Balance:
        """See :meth:`Gateway.balance`."""
        return await self._read(self.gateway.balance)

    async def status(self, message_id: str | Sequence[str], recipient: str | None = None) -> tuple[DeliveryReport, ...]:
        """See :meth:`Gateway.status`."""
        return await self._read(self.gateway.status, message_id, recipient)

    async def quote(self, message: Message) -> Price:
        """See :meth:`Gateway.quote`."""
        return await self._read(self.gateway.quote, message)

    async def call(self, name: str, /, **params: Any) -> Any:
        """See :meth:`Gateway.call`."""
        return await self._read(functools.partial(self.gateway.call, name, **params))


async def _keyed(messages: Iterable[Message] | AsyncIterable[Message], derive: bool) -> AsyncIterator[Message]:
    """``messages`` as an async iterator, with content keys where ``derive`` asks for them
    (:func:`smsgate.idempotency.with_content_keys`, for async input too)."""
    if not isinstance(messages, AsyncIterable):
        for message in idempotency.with_content_keys(messages) if derive else messages:
            yield message
        return
    seen: dict[str, int] = {}
    async for message in messages:
        if derive and not message.key:
            digest = message_digest(message)
            n = seen[digest] = seen.get(digest, -1) + 1
            message = attrs.evolve(message, key=idempotency.content_key(message, n))
        yield message


def connect_async(
    dsn: str | None = None, *, on_orphan: Callable[[SendResult], object] | None = None, **kwargs: Any
) -> AsyncGateway:
    """:func:`smsgate.connect` for asyncio code: the same DSN and keyword arguments (``registry``,
    ``journal``, ...), an :class:`AsyncGateway`. Nothing is sent here (the plugins are loaded
    once, on first use)."""
    return AsyncGateway(connect(dsn, **kwargs), on_orphan=on_orphan)
