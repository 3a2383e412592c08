"""A simulated gateway in virtual time, and fault schedules to drive the engine through it.

The gateway speaks the outbox provider's wire format (``POST /v1/send``, ``GET /v1/lookup``)
and records what it really *took*, per message and recipient. A :class:`Schedule` decides, for
each request it receives, what goes wrong: a refused connection, a reply lost after the request
was processed, processing slower than the client's timeout, a 5xx before or after processing,
a garbage reply, throttling, a refusal, a per-recipient rejection, a client killed before or
after processing. The engine never sees the schedule: it only sees replies and failures, as it
would from a real gateway.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlsplit

import attrs

from smsgate.errors import TransportError
from smsgate.models import HttpRequest, HttpResponse

#: What can happen to one request, with the gateway's side of it.
FAULTS = (
    "ok",  # processed, answered
    "refused",  # never reached the gateway
    "lost",  # processed, the reply was lost (timeout after writing)
    "reset",  # not processed, the connection reset after writing (the client cannot tell)
    "slow",  # processed later than the client waited (within the gateway's lookup horizon)
    "5xx_after",  # processed, then a proxy answered 502
    "5xx_before",  # not processed, a proxy answered 503
    "garbage",  # processed, the reply is unreadable
    "throttled",  # not processed, 429 with Retry-After
    "refused_code",  # not processed, the gateway answered with a fatal code
    "busy",  # not processed, the gateway answered "busy" (a retry code)
    "partial",  # processed, one recipient rejected by the gateway
    "kill_before",  # the client dies while writing, before the gateway processes it
    "kill_after",  # the client dies after the gateway processed it, before the reply
)


class Killed(BaseException):
    """The client process died (kill -9): nothing after this point runs."""


@attrs.define
class Clock:
    """Virtual time: ``sleep`` advances it."""

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


@attrs.define
class Gateway:
    """The simulated gateway's state: what it took, and what it remembers per key."""

    clock: Clock
    dedup_window: float | None  # None: it does not de-duplicate
    read_timeout: float
    lookup_delay: float
    taken: Counter[tuple[str, str]] = attrs.field(factory=Counter)  # (text, recipient) -> times
    written: set[str] = attrs.field(factory=set)  # texts whose requests reached the gateway
    replies: dict[str, tuple[float, dict[str, object]]] = attrs.field(factory=dict)  # key -> (first seen, reply)
    by_key: dict[str, list[tuple[float, str, str]]] = attrs.field(factory=dict)  # key -> (visible from, to, id)
    pending: list[tuple[float, str, list[str], str]] = attrs.field(factory=list)
    ids: int = 0

    def _settle_pending(self) -> None:
        due = [p for p in self.pending if p[0] <= self.clock.now]
        self.pending = [p for p in self.pending if p[0] > self.clock.now]
        for at, key, to, text in due:
            self._take(key, to, text, at, reject=None)

    def _take(self, key: str, to: Sequence[str], text: str, at: float, reject: str | None) -> dict[str, object]:
        if self.dedup_window is not None:
            first = self.replies.get(key)
            if first is not None and at - first[0] < self.dedup_window:
                return first[1]  # a repeat inside the window: the original reply, nothing taken
        results: list[dict[str, str]] = []
        for number in to:
            if number == reject:
                results.append({"to": number, "error": "invalid_number", "reason": "no such subscriber"})
                continue
            self.ids += 1
            self.taken[(text, number)] += 1
            self.by_key.setdefault(key, []).append((at, number, f"m{self.ids}"))
            results.append({"to": number, "id": f"m{self.ids}"})
        reply: dict[str, object] = {"results": results}
        if self.dedup_window is not None:
            self.replies[key] = (at, reply)
        return reply

    def lookup(self, key: str) -> dict[str, object]:
        self._settle_pending()
        found = [{"to": to, "id": mid} for at, to, mid in self.by_key.get(key, []) if at <= self.clock.now]
        return {"results": found}

    def receive(self, request: HttpRequest, fault: str, rng: random.Random) -> HttpResponse:
        """Serve ``request`` under ``fault``; raises ``TransportError`` or ``Killed`` as the
        client would see them."""
        self._settle_pending()
        if fault == "refused":
            raise TransportError("connect refused", kind="connect", written=False)
        url = urlsplit(request.url)
        if url.path == "/v1/lookup":
            key = dict(parse_qsl(url.query))["key"]
            if fault in ("lost", "slow", "reset", "kill_before", "kill_after"):
                self.clock.sleep(self.read_timeout)
                raise TransportError("timeout", kind="timeout", written=True)
            if fault in ("garbage", "5xx_after", "5xx_before"):
                return HttpResponse(200, b"{}")  # a reply that is not a lookup: proves nothing
            return _json(200, self.lookup(key))
        body = json.loads(request.body)
        key, to, text = str(body["key"]), [str(t) for t in body["to"]], str(body["text"])
        self.written.add(text)
        now = self.clock.now
        if fault == "kill_before":
            raise Killed()
        if fault in ("reset", "5xx_before", "throttled", "refused_code", "busy"):
            self.clock.sleep(0.05)
            if fault == "reset":
                raise TransportError("reset", kind="reset", written=True)
            if fault == "5xx_before":
                return _server_error(503, rng)
            if fault == "throttled":
                return _json(429, {"error": "throttled"}, (("Retry-After", str(rng.choice((1, 5, 30)))),))
            if fault == "busy":
                return _json(200, {"error": "busy"})
            return _json(400, {"error": "invalid", "reason": "refused"})
        if fault == "slow":
            self.pending.append((now + rng.uniform(0.0, self.read_timeout + self.lookup_delay), key, to, text))
            self.clock.sleep(self.read_timeout)
            raise TransportError("timeout", kind="timeout", written=True)
        reject = rng.choice(to) if fault == "partial" else None
        reply = self._take(key, to, text, now, reject)
        if fault == "kill_after":
            raise Killed()
        if fault == "lost":
            self.clock.sleep(self.read_timeout)
            raise TransportError("timeout", kind="timeout", written=True)
        self.clock.sleep(0.05)
        if fault == "5xx_after":
            return _server_error(502, rng)
        if fault == "garbage":
            return HttpResponse(200, b"<html>\x00oops")
        return _json(200, reply)


def _server_error(status: int, rng: random.Random) -> HttpResponse:
    """A 5xx as a proxy (HTML) or the gateway's own front end (its JSON error format) writes it."""
    if rng.random() < 0.5:
        return HttpResponse(status, b"<html>Bad Gateway</html>", (("Content-Type", "text/html"),))
    return _json(status, {"error": "unavailable", "reason": "try again later"})


def _json(status: int, document: object, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return HttpResponse(status, json.dumps(document).encode(), (("Content-Type", "application/json"), *headers))


@attrs.define
class Schedule:
    """A seeded fault schedule: each request draws its fault (mostly ``ok``)."""

    rng: random.Random
    weights: dict[str, float]
    kills: bool = True

    def next(self) -> str:
        faults = [f for f in self.weights if self.kills or not f.startswith("kill")]
        return self.rng.choices(faults, [self.weights[f] for f in faults])[0]


def weights(rng: random.Random) -> dict[str, float]:
    """Fault weights for one schedule: some schedules calm, some hostile."""
    calm = rng.random() < 0.3
    out = {f: (0.0 if calm else rng.random()) for f in FAULTS}
    out["ok"] = 1.0 + rng.random() * 3
    return out


@attrs.define
class Transport:
    """The engine's transport: every request goes to the simulated gateway."""

    gateway: Gateway
    schedule: Schedule
    requests: int = 0

    def send(self, request: HttpRequest) -> HttpResponse:
        self.requests += 1
        return self.gateway.receive(request, self.schedule.next(), self.schedule.rng)

    def close(self) -> None:
        pass
