"""Fault injection: what an emulator may do wrong, queued per path, and durations.

:class:`Fault` names a misbehaviour, :class:`FaultRule` is one queued instance of it and
:class:`FaultQueue` hands rules out in FIFO order to the request threads. The HTTP plumbing
(:mod:`smsgate.emulator.http`) applies them; nothing here touches a socket.
"""

from __future__ import annotations

import enum
import re
import threading
from typing import Any

import attrs

__all__ = ["Fault", "FaultQueue", "FaultRule", "parse_duration"]


class Fault(enum.Enum):
    """A misbehaviour to inject; see :meth:`Emulator.inject`."""

    RESET_BEFORE_REPLY = "reset"  # run the handler, then reset the connection without a reply
    DROP = "drop"  # reset the connection without running the handler
    TIMEOUT_AFTER_ACCEPT = "timeout"  # run the handler, stay silent for `delay` (30 s), close
    SERVER_ERROR = "5xx"  # reply `status` (503) without running the handler
    THROTTLE = "429"  # reply 429 + Retry-After: `retry_after` without running the handler
    MALFORMED = "malformed"  # run the handler, reply 200 with a garbage body
    TRUNCATED = "truncated"  # run the handler, send half of the declared body, close
    SLOW = "slow"  # wait `delay` (0.5 s), then run the handler and reply normally
    PROCESSED_THEN_ERROR = "processed-5xx"  # run the handler, then reply `status` (502): a proxy lost the reply
    REPLY = "reply"  # reply the canned `reply` without running the handler (nothing taken)
    REPLY_AFTER_PROCESSING = "processed-reply"  # run the handler, then reply the canned `reply`


@attrs.frozen
class FaultRule:
    """A queued fault: applies to the next ``times`` requests whose path starts with ``path``."""

    fault: Fault
    times: int = 1
    path: str | None = None
    status: int = 503
    retry_after: float = 1.0
    delay: float | None = None
    reply: Any = None  # an EmulatorReply, for REPLY and REPLY_AFTER_PROCESSING


class FaultQueue:
    """The queued rules of one emulator; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> None:
        if rule.times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> tuple[FaultRule, ...]:
        with self._lock:
            return tuple(self._rules)

    def take(self, path: str) -> FaultRule | None:
        """The first rule that applies to ``path``, spent once; ``None`` when none does."""
        with self._lock:
            for i, rule in enumerate(self._rules):
                if rule.path is None or path.startswith(rule.path):
                    if rule.times > 1:
                        self._rules[i] = attrs.evolve(rule, times=rule.times - 1)
                    else:
                        del self._rules[i]
                    return rule
        return None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m)?\s*$")


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``"50ms"``, ``"0.05s"``, ``"2m"`` or a bare number of seconds (``"0.05"``).

    Meant for options such as ``?latency=50ms&jitter=10ms``; raises :class:`ValueError` on a
    negative or unreadable value.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if match is None:
            raise ValueError(f"not a duration: {text!r} (try 50ms, 0.05s or 0.05)")
        seconds = float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"a duration must be finite and >= 0, not {text!r}")
    return seconds
