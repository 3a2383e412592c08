"""The retry policy: exponential backoff with jitter, bounded in attempts and in total time."""

from __future__ import annotations

import random

import attrs


@attrs.frozen
class RetryPolicy:
    """How often and how long to resend. ``delay`` is pure given ``rand``."""

    attempts: int = 4
    max_time: float = 60.0
    backoff: float = 0.5
    backoff_max: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None, rand: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): the exponential
        step with jitter (half to full step), and never less than the gateway's Retry-After."""
        step = min(self.backoff_max, self.backoff * 2 ** (attempt - 1))
        jitter = random.random() if rand is None else rand
        wait = step * (0.5 + jitter / 2)
        return float(max(wait, retry_after or 0.0))

    def allows(self, attempt: int, elapsed: float, wait: float) -> bool:
        """Whether another attempt after ``attempt`` fits the bounds."""
        return attempt < self.attempts and elapsed + wait <= self.max_time
