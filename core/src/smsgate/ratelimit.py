"""A token bucket: at most ``rate`` units per second on average, bursts of one second."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import attrs

from smsgate.errors import ConfigurationError

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*$")
_PER = {None: 1.0, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}
_PER.update({"h": 3600.0, "hour": 3600.0})


@attrs.frozen
class Rate:
    """``per_second`` units a second; ``unit`` is ``message`` or ``request``."""

    per_second: float
    unit: str = "message"

    @classmethod
    def parse(cls, text: str, unit: str = "message") -> Rate:
        """``"50/s"``, ``"600/min"``, ``"10"`` (per second)."""
        match = _RATE.match(text)
        if not match or float(match.group(1)) <= 0:
            raise ConfigurationError(f"rate {text!r}: use N/s, N/min or N/h with N above 0")
        if unit not in ("message", "request"):
            raise ConfigurationError("a rate counts messages or requests")
        return cls(float(match.group(1)) / _PER[match.group(2)], unit)


class TokenBucket:
    """Blocks in :meth:`take` until the average stays within the rate (thread-safe). A take of
    more units than one second holds is let through once the bucket is full, then paid for."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def take(self, n: float = 1.0) -> float:
        """Take ``n`` units; returns the seconds waited."""
        waited = 0.0
        with self._lock:
            while True:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
                self._last = now
                if self.tokens >= min(n, self.capacity) - 1e-9:  # float dust must not spin
                    self.tokens -= n
                    return waited
                pause = (min(n, self.capacity) - self.tokens) / self.rate
                self.sleep(pause)
                waited += pause
