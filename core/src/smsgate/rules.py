"""The delivery rules: after each attempt, what the gateway may have done and what to do next.

This module does no I/O. :meth:`Rules.decide` is a pure function of what the provider offers
(:class:`Offer`), what has happened to the request so far (:class:`Progress`) and how the last
attempt was classified; it answers :class:`Resend`, :class:`LookUp` or :class:`Settle`, in the
spirit of urllib3's ``Retry.increment``. ``docs/delivery-semantics.md`` is this module in prose,
and a test checks the two agree.

The reasoning is from the gateway's side:

- An attempt that was not written (refused connection), or that the gateway answered with a
  code saying it did nothing (``retry``, ``throttled``, ``fatal``), was not taken.
- Any other failure after the request was written (timeout, reset, 5xx, an unreadable reply,
  an ``ambiguous`` code) may have been taken: it leaves *doubt*.
- Under doubt a request is resent only under the gateway's de-duplication key and only while
  the gateway still recognises that key (``dedup_window`` from the first attempt).
- Otherwise, where the gateway can be looked up, it is looked up, once, and only
  ``lookup_delay`` after the last doubtful attempt ended: a lookup made while the gateway may
  still be processing proves nothing.
- Otherwise the outcome is ``unknown``. ``rejected`` only where no attempt could have been taken.
"""

from __future__ import annotations

import enum

import attrs

from smsgate.models import Classification, Status, Verdict
from smsgate.retry import RetryPolicy
from smsgate.spec import Capabilities


@attrs.frozen
class Offer:
    """What a provider offers against doubt, from its capabilities."""

    dedup_window: float | None = None  # seconds; None: no de-duplication key
    lookup: bool = False
    lookup_delay: float = 0.0

    @classmethod
    def of(cls, caps: Capabilities) -> Offer:
        window = None
        if caps.dedup is not None:
            window = caps.dedup_window if caps.dedup_window is not None else 0.0
        return cls(window, "reconcile" in caps.operations, caps.lookup_delay)

    @property
    def dedup(self) -> bool:
        return self.dedup_window is not None


@attrs.frozen
class Progress:
    """What has happened to one request so far (times from the gateway's clock, seconds)."""

    started: float  # when the first attempt began: the de-dup window counts from here
    attempts: int = 0
    doubt: bool = False  # some attempt may have been taken
    doubt_ended: float | None = None  # when we stopped waiting for the last doubtful attempt
    looked_up: bool = False  # a lookup already answered for this request: never twice

    def after(self, verdict: Verdict, now: float) -> Progress:
        """The progress once an attempt ending at ``now`` was classified ``verdict``."""
        doubtful = verdict is Verdict.AMBIGUOUS
        return attrs.evolve(
            self,
            attempts=self.attempts + 1,
            doubt=self.doubt or doubtful,
            doubt_ended=now if doubtful else self.doubt_ended,
        )


class Why(str, enum.Enum):
    """Why a request settled without a readable answer; the reason shown per recipient."""

    REFUSED = "the gateway refused it"
    EXHAUSTED = "retries exhausted; the gateway never took it"
    NO_DEDUP = "the gateway may have it; not resent: it has no de-duplication key"
    WINDOW = "the gateway may have it; not resent: its de-duplication window may have closed"
    FINAL = "the gateway may have it; it says not to resend"
    DOUBT_EXHAUSTED = "the gateway may have taken an earlier attempt; retries exhausted"
    LOOKED_UP = "the gateway may have it; already looked up once"


@attrs.frozen
class Resend:
    """Send the same request again (same key) after ``wait`` seconds."""

    wait: float


@attrs.frozen
class LookUp:
    """Ask the gateway which recipients it has, after ``wait`` seconds."""

    wait: float


@attrs.frozen
class Settle:
    """Stop: every recipient of the request gets ``status``."""

    status: Status
    why: Why
    retryable: bool = False


Action = Resend | LookUp | Settle


@attrs.frozen
class Rules:
    """The decision for one provider. ``guard``: seconds a resend may take to reach the
    gateway and be processed there (the gateway checks its window when it processes),
    kept free at the end of the de-dup window."""

    offer: Offer
    policy: RetryPolicy
    guard: float = 0.0

    def decide(
        self, progress: Progress, verdict: Classification, now: float, *, writes: bool = True, rand: float | None = None
    ) -> Action:
        """What to do after an attempt; ``progress`` already includes it (see
        :meth:`Progress.after`). ``writes``: the request asks the gateway to do something
        (a send); a read (balance, status, lookup) may always be repeated."""
        kind = verdict.verdict
        wait = self.policy.delay(progress.attempts, verdict.retry_after, rand)
        allowed = self.policy.allows(progress.attempts, now - progress.started, wait)
        if not writes:
            if kind is Verdict.FATAL or not allowed:
                return Settle(Status.REJECTED, Why.REFUSED if kind is Verdict.FATAL else Why.EXHAUSTED)
            return Resend(wait)
        if kind is Verdict.FATAL:
            if not progress.doubt or verdict.final:
                # No attempt was taken, or the gateway's answer covers the first attempt too
                # (it replays the original reply to a repeated key).
                return Settle(Status.REJECTED, Why.REFUSED)
            return self.unresolved(progress, now, Why.DOUBT_EXHAUSTED)
        if kind is Verdict.AMBIGUOUS and verdict.final:
            return self.unresolved(progress, now, Why.FINAL)
        if not progress.doubt:
            if allowed:
                return Resend(wait)
            return Settle(Status.REJECTED, Why.EXHAUSTED, retryable=True)
        if not self.offer.dedup:
            return self.unresolved(progress, now, Why.NO_DEDUP)
        if not self.in_window(progress, now + wait):
            return self.unresolved(progress, now, Why.WINDOW)
        if not allowed:
            return self.unresolved(progress, now, Why.DOUBT_EXHAUSTED)
        return Resend(wait)

    def in_window(self, progress: Progress, when: float) -> bool:
        """Whether a resend written at ``when`` still reaches the gateway inside its window."""
        window = self.offer.dedup_window
        return window is not None and when + self.guard < progress.started + window

    def unresolved(self, progress: Progress, now: float, why: Why) -> Action:
        """Doubt that resending cannot clear: look it up where the gateway can, else unknown."""
        if self.offer.lookup and not progress.looked_up:
            ended = progress.doubt_ended if progress.doubt_ended is not None else now
            return LookUp(max(0.0, ended + self.offer.lookup_delay - now))
        return Settle(Status.UNKNOWN, Why.LOOKED_UP if progress.looked_up else why)

    def resume(self, progress: Progress, now: float) -> Action:
        """A request whose sender died mid-send (the journal says so): it may have been taken.
        ``progress.started`` is when the first attempt began; the attempt may have ended as
        late as ``now``."""
        progress = attrs.evolve(progress, doubt=True, doubt_ended=now)
        if self.offer.dedup and self.in_window(progress, now):
            return Resend(0.0)
        return self.unresolved(progress, now, Why.WINDOW if self.offer.dedup else Why.NO_DEDUP)
