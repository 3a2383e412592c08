"""The :class:`Emulator` base class: lifecycle, fault queue, request log, latency, what was taken."""

from __future__ import annotations

import contextlib
import ipaddress
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import ClassVar, TypeVar

from smsgate.emulator.faults import Fault, FaultQueue, FaultRule, parse_duration
from smsgate.emulator.http import POLL, EmulatorReply, EmulatorRequest, Server, Server6

__all__ = ["Emulator"]

_E = TypeVar("_E", bound="Emulator")


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


class Lateness:
    """How late held replies went out, past their due time: count, total and worst, seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.replies = 0
        self.total = 0.0
        self.worst = 0.0

    def record(self, seconds: float) -> None:
        late = max(seconds, 0.0)
        with self._lock:
            self.replies += 1
            self.total += late
            self.worst = max(self.worst, late)

    @property
    def mean(self) -> float:
        """Mean seconds late per held reply (0 when none was held)."""
        return self.total / self.replies if self.replies else 0.0


class Emulator:
    """Base gateway emulator: a quiet, bounded HTTP/1.1 server on a loopback address.

    ``latency``/``jitter`` model a gateway that far away: each reply (or reset) goes out
    ``latency ± jitter`` seconds after its request arrived, never before :meth:`handle` is
    done. The emulator's own work is inside that round trip, as a real gateway's is: handling
    that takes less than the latency adds nothing to it.
    """

    name: ClassVar[str] = "base"
    #: The request field (or header) this gateway de-duplicates resends by, as the provider's
    #: ``Capabilities.dedup`` names it; ``None``: it does not de-duplicate. The contract suite
    #: checks the two agree and that a resend under the same key is taken once.
    dedup: ClassVar[str | None] = None

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_connections: int = 64,
        max_body: int = 4 << 20,
        latency: float | str = 0.0,
        jitter: float | str = 0.0,
        seed: int | None = None,
    ) -> None:
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"emulators bind to loopback only, not {host!r}")
        if max_connections < 1 or max_body < 0 or not 0 <= port <= 65535:
            raise ValueError("max_connections must be >= 1, max_body >= 0, port in 0..65535")
        self._host = "127.0.0.1" if host == "localhost" else host
        self._port = port
        self.max_connections = max_connections
        self.max_body = max_body
        # every reply (and every reset) is held until latency ± jitter seconds after its request
        # arrived, sleeping on its handler thread: processing within that time adds nothing
        self.latency = parse_duration(latency)
        self.jitter = parse_duration(jitter)
        #: How punctual the held replies were: each one's time past ``arrival + latency ± jitter``
        #: when it went out (its handling took longer, or the machine was busy).
        self.lateness = Lateness()
        self._rng = random.Random(seed)  # its own generator: never touches the global random state
        self.lock = threading.RLock()  # guards subclasses' state; handle() runs on many threads
        self.clock: Callable[[], float] = time.time  # subclasses read time through this
        self.requests: list[EmulatorRequest] = []  # every request received, in order
        self.errors: list[BaseException] = []  # exceptions raised by handle()
        self.connections = 0  # connections accepted so far
        #: What the gateway took, per ``(recipient, key)``: subclasses call :meth:`take`.
        self.taken: Counter[tuple[str, str | None]] = Counter()
        #: The first reply given under each de-duplication key (:meth:`replay`, :meth:`remember`).
        self.dedup_replies: dict[str, EmulatorReply] = {}
        self._mutex = threading.Lock()  # our own log and fault queue
        self._faults = FaultQueue()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- what subclasses override ------------------------------------------------------------

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        """Answer one request; runs on many threads at once. The base knows no route."""
        return EmulatorReply.text(f"no route for {request.method} {request.path}", 404)

    def dsn(self) -> str:
        """The DSN that reaches this emulator."""
        return f"{self.name}://user:secret@{self._netloc()}?tls=false"

    def error_reply(self, situation: str, status: int, retry_after: float | None) -> EmulatorReply:
        """The gateway's own reply for an injected failure, in its wire format.

        ``situation`` is ``"server_error"`` (:attr:`Fault.SERVER_ERROR`), ``"throttled"``
        (:attr:`Fault.THROTTLE`, with ``retry_after`` seconds) or ``"processed_then_error"``.
        Override it to answer as the real gateway does (a JSON error document, a code line);
        the default is plain text, with ``Retry-After`` when throttled.
        """
        if situation == "throttled":
            seconds = float(retry_after or 0.0)
            after = f"{seconds:.0f}" if seconds.is_integer() else str(seconds)
            return EmulatorReply.text("emulated throttling", 429, headers={"Retry-After": after})
        if situation == "processed_then_error":
            return EmulatorReply.text(f"emulated bad gateway {status} after processing", status)
        return EmulatorReply.text(f"emulated server error {status}", status)

    # -- what the gateway took, and de-duplication -------------------------------------------

    def take(self, recipient: str, key: str | None = None) -> None:
        """Record that the gateway took a message for ``recipient`` (under de-dup ``key``).

        Call it from :meth:`handle` for every recipient really accepted (not for a replayed
        reply, a rejection or test mode): the contract suite counts acceptances with it.
        """
        with self._mutex:
            self.taken[(recipient, key)] += 1

    def taken_for(self, recipient: str) -> int:
        """How many times a message for ``recipient`` was taken, under any key; numbers are
        compared by their digits (``+48 500`` and ``48500`` are the same)."""
        wanted = _digits(recipient)
        with self._mutex:
            return sum(n for (r, _), n in self.taken.items() if _digits(r) == wanted)

    def replay(self, key: str | None) -> EmulatorReply | None:
        """The reply first given under ``key``, if any (de-duplication); call under :attr:`lock`."""
        return self.dedup_replies.get(key) if key else None

    def remember(self, key: str | None, reply: EmulatorReply) -> EmulatorReply:
        """Keep ``reply`` as the answer to any resend under ``key``; returns it."""
        if key:
            self.dedup_replies.setdefault(key, reply)
        return reply

    # -- faults and the request log ---------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        *,
        times: int = 1,
        path: str | None = None,
        status: int = 503,
        retry_after: float = 1.0,
        delay: float | None = None,
        reply: EmulatorReply | None = None,
    ) -> None:
        """Queue a fault for the next ``times`` requests under ``path``; applied in FIFO order.
        ``reply`` is the canned reply of :attr:`Fault.REPLY` and :attr:`Fault.REPLY_AFTER_PROCESSING`."""
        if (fault in (Fault.REPLY, Fault.REPLY_AFTER_PROCESSING)) != (reply is not None):
            raise ValueError("reply= goes with Fault.REPLY and Fault.REPLY_AFTER_PROCESSING, and only with them")
        self._faults.add(FaultRule(fault, times, path, status, retry_after, delay, reply))

    def answer(self, reply: EmulatorReply, *, times: int = 1, path: str | None = None, processed: bool = False) -> None:
        """Answer the next ``times`` requests with ``reply``: without running :meth:`handle`
        (nothing taken), or after it when ``processed`` (taken, then this reply)."""
        fault = Fault.REPLY_AFTER_PROCESSING if processed else Fault.REPLY
        self.inject(fault, times=times, path=path, reply=reply)

    def clear_faults(self) -> None:
        self._faults.clear()

    def pending_faults(self) -> tuple[FaultRule, ...]:
        """The queued rules, each with the number of times it still applies."""
        return self._faults.pending()

    def reset_log(self) -> None:
        """Forget the recorded requests, errors and what was taken."""
        with self._mutex:
            self.requests.clear()
            self.errors.clear()
            self.taken.clear()

    def _reply_delay(self) -> float:
        """One sample of latency ± jitter (uniform), never below zero."""
        latency, jitter = self.latency, self.jitter
        if jitter <= 0:
            return max(latency, 0.0)
        with self._mutex:
            offset = self._rng.uniform(-jitter, jitter)
        return max(latency + offset, 0.0)

    def _log(self, item: EmulatorRequest | BaseException | None) -> None:
        with self._mutex:
            if isinstance(item, EmulatorRequest):
                self.requests.append(item)
            elif item is not None:
                self.errors.append(item)
            else:
                self.connections += 1

    def _call(self, request: EmulatorRequest) -> EmulatorReply:
        try:
            reply = self.handle(request)
            if not isinstance(reply, EmulatorReply):
                raise TypeError(f"handle() returned {type(reply).__name__}, not EmulatorReply")
            return reply
        except Exception as exc:
            self._log(exc)
            return EmulatorReply.text(f"emulator error: {type(exc).__name__}: {exc}"[:200], 500)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self: _E) -> _E:  # a TypeVar, not typing.Self (3.11+)
        """Bind and serve on a daemon thread; a no-op when already running."""
        with self._mutex:
            if self._server is not None:
                return self
            cls = Server6 if ":" in self._host else Server
            server = cls((self._host, self._port), self, self.max_connections)
            self._server, self._port = server, server.server_address[1]
            self._thread = threading.Thread(target=server.serve_forever, args=(POLL,), daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and wake held ones; idempotent."""
        with self._mutex:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        if thread is not None:
            thread.join()
        server.server_close()
        with server.active_lock:
            active = list(server.active)
        for sock in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self: _E) -> _E:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- where it listens ---------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The bound port; before :meth:`start` with port 0 there is none yet."""
        if self._port == 0:
            raise RuntimeError("the emulator picks its port in start()")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._netloc()}"

    def _netloc(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"
