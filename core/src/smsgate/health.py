"""Gateway health: one circuit breaker per gateway, shared by the threads of a process.

A breaker is **closed** (traffic flows), **open** (the gateway is skipped: a router sends its
recipients to a fallback, or refuses them as ``rejected``, retryable, code ``circuit_open``,
nothing sent) or **half-open** (after ``cool_down`` seconds one probe send is let through; its
success closes the circuit, its failure opens it again for another ``cool_down``).

It opens after ``failures`` consecutive failed sends, or when at least ``min_calls`` sends
ended in the last ``window`` seconds and the share of failures among them reaches
``error_rate``. A *failed send* is one the gateway did not answer usefully: a transport error,
a 5xx, an unreadable reply, throttling, refused credentials or credit — timeouts included
(an ambiguous attempt counts against the gateway's health even though its recipients never
fail over). A send the gateway answered, even with per-recipient rejections, is a success.

The breakers of a process live in one :class:`Health` (``Health.shared()``), keyed by the
gateway's configured name, so every router and worker thread of the process sees the same
state. ``Health.snapshot()`` is the plain data ``smsgate gateways`` shows; ``save``/``load``
write and read it as JSON, for a CLI in another process. ``Health.publish(store, names)`` writes
each named breaker's state to the store (``gateway_health``) when it changes (never per
request), so ``smsgate serve`` in another process shows it (:func:`states`: a store's published
breakers and this process's, merged).
"""

from __future__ import annotations

import enum
import json
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from smsgate.redaction import redact_all

if TYPE_CHECKING:
    from smsgate.store import GatewayHealth, Store

__all__ = ["Breaker", "BreakerPolicy", "Health", "State", "clean_error", "states"]

log = logging.getLogger("smsgate.health")

#: Circuit states as numbers (the ``smsgate_circuit_state`` gauge).
LEVELS = {"closed": 0, "half-open": 1, "open": 2}

_NUMBER = re.compile(r"\+?\d[\d ().-]{4,}\d")


def clean_error(text: str | None) -> str | None:
    """An error as shown or published: known secrets redacted, phone-number-like digit runs masked."""
    if not text:
        return text
    return _NUMBER.sub("[number]", redact_all(text))


class State(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"breaker {attribute.name} must be positive, not {value!r}")


def _rate(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"breaker {attribute.name} must be in (0, 1], not {value!r}")


@attrs.frozen
class BreakerPolicy:
    """When a breaker opens and how long it stays open (seconds)."""

    failures: int = attrs.field(default=5, validator=_positive)  # consecutive failed sends
    error_rate: float = attrs.field(default=0.5, validator=_rate)  # share of failures in the window
    window: float = attrs.field(default=60.0, validator=_positive)
    min_calls: int = attrs.field(default=20, validator=_positive)  # sends in the window before the rate counts
    cool_down: float = attrs.field(default=30.0, validator=_positive)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BreakerPolicy:
        """From a ``[routers.NAME.breaker]`` table; unknown keys are refused."""
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown breaker setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        try:
            values: dict[str, Any] = {
                k: int(v) if k in ("failures", "min_calls") else float(v) for k, v in data.items()
            }
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"breaker: {exc}") from None


class Breaker:
    """The circuit breaker of one gateway. Thread-safe.

    Call :meth:`allow` before sending (``False``: skip the gateway), then exactly one of
    :meth:`success` or :meth:`failure` for every allowed send (:meth:`release` when an
    allowed send did not happen after all).
    """

    def __init__(self, name: str, policy: BreakerPolicy | None = None, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self.clock = clock
        self._lock = threading.Lock()
        self._state = State.CLOSED
        self._since = clock()
        self._opened_at: float | None = None
        self._consecutive = 0
        self._probing = False
        self._recent: deque[tuple[float, bool]] = deque()  # (when, failed) within the window
        self.successes = 0
        self.failures = 0
        self.skipped = 0  # sends refused because the circuit was open
        self.opened = 0  # times the circuit opened
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        #: Called (outside the lock, in the thread that changed it) with the breaker after each
        #: change of state; :meth:`Health.publish` adds one.
        self.listeners: list[Callable[[Breaker], None]] = []

    def __repr__(self) -> str:
        return f"<Breaker {self.name} {self.state.value}>"

    def _changed(self, before: State) -> None:
        if self._state is before:
            return
        for listener in list(self.listeners):
            try:
                listener(self)
            except Exception:  # reporting health must never fail a send
                log.warning("smsgate: breaker %s: cannot report its state change", self.name, exc_info=True)

    @property
    def state(self) -> State:
        with self._lock:
            return self._current(self.clock())

    def _current(self, now: float) -> State:
        if self._state is State.OPEN and self._opened_at is not None and now - self._opened_at >= self.policy.cool_down:
            return State.HALF_OPEN  # the cool-down is over: the next allow() is the probe
        return self._state

    def allow(self) -> bool:
        """Whether a send may go to this gateway now; counts a skip when not. In half-open,
        one caller at a time gets ``True`` (the probe)."""
        with self._lock:
            now = self.clock()
            state = self._current(now)
            if state is State.CLOSED:
                return True
            if state is State.HALF_OPEN and not self._probing:
                before = self._state
                self._state, self._since, self._probing = State.HALF_OPEN, now, True
            else:
                self.skipped += 1
                return False
        self._changed(before)
        return True

    def release(self) -> None:
        """An allowed send did not happen (nothing was sent): free the probe slot."""
        with self._lock:
            self._probing = False

    def success(self) -> None:
        with self._lock:
            before = self._state
            now = self.clock()
            self.successes += 1
            self._consecutive = 0
            self._note(now, failed=False)
            if self._state is not State.CLOSED:
                self._state, self._since, self._opened_at = State.CLOSED, now, None
            self._probing = False
        self._changed(before)

    def failure(self, error: str) -> None:
        with self._lock:
            before = self._state
            now = self.clock()
            self.failures += 1
            self._consecutive += 1
            self.last_error, self.last_error_at = error, now
            self._note(now, failed=True)
            # A failed probe reopens; a closed circuit opens when tripped; an open one (a send
            # that began before it opened) stays open without restarting its cool-down.
            if self._probing or self._state is State.HALF_OPEN or (self._state is State.CLOSED and self._tripped()):
                self.opened += 1
                self._state, self._since, self._opened_at = State.OPEN, now, now
            self._probing = False
        self._changed(before)

    def _note(self, now: float, *, failed: bool) -> None:
        self._recent.append((now, failed))
        horizon = now - self.policy.window
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()

    def _tripped(self) -> bool:
        p = self.policy
        if self._consecutive >= p.failures:
            return True
        if len(self._recent) < p.min_calls:
            return False
        failed = sum(1 for _, f in self._recent if f)
        return failed / len(self._recent) >= p.error_rate

    def reset(self) -> None:
        """Close the circuit and forget the window (an operator's override)."""
        with self._lock:
            before = self._state
            self._state, self._since, self._opened_at = State.CLOSED, self.clock(), None
            self._consecutive, self._probing = 0, False
            self._recent.clear()
        self._changed(before)

    def snapshot(self) -> dict[str, Any]:
        """Plain data: state, counts, last error (what ``smsgate gateways`` shows)."""
        with self._lock:
            now = self.clock()
            state = self._current(now)
            window = [f for t, f in self._recent if t >= now - self.policy.window]
            return {
                "gateway": self.name,
                "state": state.value,
                "since": self._since,
                "retry_at": None if self._opened_at is None else self._opened_at + self.policy.cool_down,
                "successes": self.successes,
                "failures": self.failures,
                "skipped": self.skipped,
                "opened": self.opened,
                "consecutive_failures": self._consecutive,
                "window_calls": len(window),
                "window_failures": sum(window),
                "last_error": self.last_error,
                "last_error_at": self.last_error_at,
            }


class Health:
    """The breakers of a process, by gateway name. Thread-safe; ``Health.shared()`` is the
    process-wide one every router uses unless given its own."""

    _shared: ClassVar[Health | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, policy: BreakerPolicy | None = None, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy or BreakerPolicy()
        self.clock = clock
        self._breakers: dict[str, Breaker] = {}
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> Health:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def breaker(self, name: str, policy: BreakerPolicy | None = None) -> Breaker:
        """The breaker of gateway ``name``, created on first use (with ``policy`` if given)."""
        with self._lock:
            found = self._breakers.get(name)
            if found is None:
                found = self._breakers[name] = Breaker(name, policy or self.policy, self.clock)
            return found

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._breakers)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            breakers = [self._breakers[n] for n in sorted(self._breakers)]
        return [b.snapshot() for b in breakers]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the snapshot as JSON (atomically: a reader never sees half a file)."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"saved_at": self.clock(), "gateways": self.snapshot()}, indent=2))
        os.replace(tmp, target)

    def publish(self, store: Store, names: Iterable[str], policy: BreakerPolicy | None = None) -> Callable[[], None]:
        """Write the state of the breakers ``names`` to ``store`` now, then at each change of
        state (one small write per change, none per request); returns what stops it. A write
        that fails is logged, never raised into a send."""
        breakers = [self.breaker(name, policy) for name in names]
        lock = threading.Lock()

        def write(breaker: Breaker) -> None:
            with lock:  # snapshot and write together: the last write is the current state
                store.save_gateway_health(_record(breaker.snapshot()))

        for breaker in breakers:
            breaker.listeners.append(write)
            try:
                write(breaker)
            except Exception:
                log.warning("smsgate: cannot publish the state of breaker %s", breaker.name, exc_info=True)

        def stop() -> None:
            for breaker in breakers:
                if write in breaker.listeners:
                    breaker.listeners.remove(write)

        return stop

    @staticmethod
    def load(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
        """A snapshot written by :meth:`save`."""
        data = json.loads(Path(path).read_text())
        gateways = data.get("gateways") if isinstance(data, dict) else None
        if not isinstance(gateways, list):
            raise ValueError(f"{path}: not a smsgate health snapshot")
        return gateways


def _record(snapshot: Mapping[str, Any]) -> GatewayHealth:
    from smsgate.store import GatewayHealth

    return GatewayHealth(
        str(snapshot["gateway"]),
        str(snapshot["state"]),
        float(snapshot["since"]),
        snapshot.get("retry_at"),
        int(snapshot.get("opened", 0)),
        clean_error(snapshot.get("last_error")),
        snapshot.get("last_error_at"),
    )


def states(
    store: Store | None = None, health: Health | None = None, clock: Callable[[], float] = time.time
) -> list[dict[str, Any]]:
    """Each gateway's circuit, by name: the breakers routers published in ``store`` (in any
    process) and this process's (``health``, default ``Health.shared()``); for a gateway in
    both, the latest change wins. An open circuit past its ``retry_at`` shows ``half-open``.
    Each: ``gateway``, ``state``, ``since``, ``retry_at``, ``opened``, ``last_error`` (masked),
    ``last_error_at``, ``source`` (``store`` or ``process``)."""
    now = clock()
    found: dict[str, dict[str, Any]] = {}
    for h in store.gateway_health() if store is not None else ():
        state = "half-open" if h.state == "open" and h.retry_at is not None and now >= h.retry_at else h.state
        found[h.gateway] = {**attrs.asdict(h), "state": state, "source": "store"}
    for snap in (Health.shared() if health is None else health).snapshot():
        known = found.get(snap["gateway"])
        if known is None or float(snap["since"]) >= float(known["since"]):
            found[snap["gateway"]] = {
                **{k: snap.get(k) for k in ("gateway", "state", "since", "retry_at", "opened", "last_error_at")},
                "last_error": clean_error(snap.get("last_error")),
                "updated_at": now,
                "source": "process",
            }
    return [found[name] for name in sorted(found)]
