"""``Router``: several gateways as one, routed per recipient, failing over only where it is safe.

A router has the sending API of a :class:`~smsgate.gateway.Gateway` (``send``, ``send_many``,
``preview``, ``close``, ``with``), so campaigns and workers take either. For each recipient of
a message it finds the first matching :class:`Rule` (by destination prefix or region, message
kind, sender), orders that rule's gateways (primary first; weights pick the primary; costs can
order them cheapest first), drops the ones that cannot carry the message (``Gateway.prepare``
refuses it) and the ones whose circuit is open (:mod:`smsgate.health`), and sends each
gateway's share of the recipients as one message through that gateway.

Failover follows the delivery rules (``docs/delivery-semantics.md``): a recipient moves to its
next gateway only when its outcome is ``rejected`` — which the engine reports only when no
attempt could have been taken — *and* the rejection is a route or account problem (the
connection was refused, retries ran out before anything was written, throttling, credentials,
credit, a plugin's retryable code, or a code the router's ``failover_codes`` lists). An
``unknown`` recipient never moves: it settles on the gateway that may have it. Recipients are
sent round by round, so each is with at most one gateway at a time.

``docs/routing.md`` is this module in prose, with the configuration format.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from smsgate import config, idempotency, phone, plan
from smsgate.engine import digits
from smsgate.errors import (
    AuthenticationError,
    ConfigurationError,
    GatewayError,
    InsufficientCreditError,
    KeyConflictError,
    MalformedResponseError,
    RateLimitedError,
    SmsgateError,
    TransportError,
    ValidationError,
)
from smsgate.gateway import Gateway
from smsgate.health import Breaker, BreakerPolicy, Health, State
from smsgate.journal import Journal
from smsgate.models import HttpRequest, Message, Outcome, SendResult, Status, mapping, message_digest
from smsgate.spec import Capabilities, ProviderSpec

if TYPE_CHECKING:
    from smsgate.store import Store

__all__ = ["KIND_OPTION", "RoutedResult", "Router", "Rule", "connect_router"]

log = logging.getLogger("smsgate.router")

#: The message option that names the message's kind (``transactional``, ``marketing``, ...).
#: The router reads it for its rules and removes it before any gateway sees the message.
KIND_OPTION = "kind"

#: Errors of a whole request that prove nothing was taken and concern the route or account.
_ACCOUNT_ERRORS = (AuthenticationError, InsufficientCreditError, RateLimitedError)
#: Whole-request errors that count against a gateway's health (it did not answer usefully).
_UNHEALTHY = (TransportError, MalformedResponseError, *_ACCOUNT_ERRORS)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigurationError(f"router rule: {what} must be a string or a list of strings, not {value!r}")


def _prefix(value: str) -> str:
    """``+48``, ``0048`` or ``48`` -> ``48`` (digits of an E.164 prefix)."""
    text = value.strip().replace(" ", "")
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    if not text.isdigit():
        raise ConfigurationError(f"router rule: prefix {value!r} is not an E.164 prefix such as '+48'")
    return text


def _prefixes(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(_prefix(p) for p in values)


def _regions(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(r.strip().upper() for r in values)


def _tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _calling_code(region: str) -> str:
    entry = phone.REGIONS.get(region.strip().upper())
    if entry is None:
        known = ", ".join(sorted(phone.REGIONS))
        raise ConfigurationError(f"router rule: unknown region {region!r} (known: {known})")
    return entry[0]


@attrs.frozen
class Rule:
    """One routing rule. It matches a recipient when every criterion it sets matches:
    ``prefixes`` (E.164 digits, ``"48"``) or ``regions`` (ISO codes, matched by calling code),
    ``kinds`` (the message's ``kind`` option) and ``senders``. ``gateways`` lists the primary
    first, then the fallbacks. ``weights`` (gateway -> weight) draws the primary among the
    weighted gateways, stable per message key and recipient; ``order="cost"`` orders the
    gateways cheapest first by the router's cost per part."""

    gateways: tuple[str, ...] = attrs.field(converter=_tuple)
    prefixes: tuple[str, ...] = attrs.field(default=(), converter=_prefixes)
    regions: tuple[str, ...] = attrs.field(default=(), converter=_regions)
    kinds: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    senders: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    weights: Mapping[str, float] = attrs.field(factory=dict, converter=mapping, hash=False)
    order: str = "listed"
    name: str = ""
    _codes: tuple[str, ...] = attrs.field(init=False, default=(), eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.gateways:
            raise ConfigurationError(f"router rule {self.label}: names no gateway")
        if len(set(self.gateways)) != len(self.gateways):
            raise ConfigurationError(f"router rule {self.label}: a gateway is listed twice")
        if self.order not in ("listed", "cost"):
            raise ConfigurationError(f"router rule {self.label}: order must be 'listed' or 'cost', not {self.order!r}")
        for gateway, weight in self.weights.items():
            if gateway not in self.gateways:
                raise ConfigurationError(f"router rule {self.label}: weight for {gateway!r}, which it does not list")
            if not isinstance(weight, (int, float)) or weight < 0 or not math.isfinite(weight):
                raise ConfigurationError(f"router rule {self.label}: weight of {gateway!r} must be a number >= 0")
        if self.weights and not any(self.weights.values()):
            raise ConfigurationError(f"router rule {self.label}: every weight is 0")
        object.__setattr__(self, "_codes", tuple(_calling_code(r) for r in self.regions))

    @property
    def label(self) -> str:
        return repr(self.name) if self.name else "/".join(self.gateways)

    def matches(self, number: str, kind: str | None, sender: str | None) -> bool:
        """Whether this rule applies to ``number`` (E.164) in a message of ``kind`` from ``sender``."""
        d = digits(number)
        if self.prefixes and not any(d.startswith(p) for p in self.prefixes):
            return False
        if self._codes and not any(d.startswith(c) for c in self._codes):
            return False
        if self.kinds and kind not in self.kinds:
            return False
        return not self.senders or sender in self.senders

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], index: int = 0) -> Rule:
        """A rule from one ``[[routers.NAME.rules]]`` table."""
        known = {"name", "prefix", "region", "kind", "sender", "primary", "fallbacks", "gateways", "weights", "order"}
        unknown = sorted(set(data) - known)
        where = f"rule {index + 1}" + (f" ({data['name']})" if "name" in data else "")
        if unknown:
            raise ConfigurationError(
                f"router {where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        if "gateways" in data and ("primary" in data or "fallbacks" in data):
            raise ConfigurationError(f"router {where}: give either gateways or primary (and fallbacks), not both")
        if "gateways" in data:
            gateways = _strings(data["gateways"], "gateways")
        elif "primary" in data:
            if not isinstance(data["primary"], str):
                raise ConfigurationError(f"router {where}: primary must be a gateway name")
            gateways = (data["primary"], *_strings(data.get("fallbacks"), "fallbacks"))
        else:
            raise ConfigurationError(f"router {where}: needs primary (and fallbacks) or gateways")
        weights = data.get("weights", {})
        if not isinstance(weights, Mapping):
            raise ConfigurationError(f"router {where}: weights must be a table of gateway = weight")
        return cls(
            gateways,
            prefixes=_strings(data.get("prefix"), "prefix"),
            regions=_strings(data.get("region"), "region"),
            kinds=_strings(data.get("kind"), "kind"),
            senders=_strings(data.get("sender"), "sender"),
            weights=dict(weights),
            order=str(data.get("order", "listed")),
            name=str(data.get("name", "")),
        )


@attrs.frozen
class RoutedResult(SendResult):
    """A :class:`SendResult` with the route of every recipient: ``routes`` (recipient ->
    the gateway whose outcome it is, ``None`` when no gateway was tried), ``tried``
    (recipient -> the gateways it was sent to, in order) and ``results`` (each gateway send)."""

    routes: Mapping[str, str | None] = attrs.field(factory=dict, converter=mapping, hash=False)
    tried: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=mapping, hash=False)
    results: tuple[SendResult, ...] = attrs.field(default=(), eq=False)

    def gateway_of(self, recipient: str) -> str | None:
        """The gateway that has ``recipient``'s outcome (any spelling of the number)."""
        if recipient in self.routes:
            return self.routes[recipient]
        try:
            wanted = digits(phone.normalise(recipient))
        except ValidationError:
            wanted = digits(recipient)
        return next((g for r, g in self.routes.items() if digits(r) == wanted), None)

    def by_gateway(self) -> dict[str | None, tuple[Outcome, ...]]:
        """The outcomes grouped by the gateway that has them."""
        groups: dict[str | None, list[Outcome]] = {}
        for o in self.outcomes:
            groups.setdefault(self.routes.get(o.recipient), []).append(o)
        return {g: tuple(os) for g, os in groups.items()}


def fails_over(outcome: Outcome, error: SmsgateError | None, codes: frozenset[str] = frozenset()) -> bool:
    """Whether ``outcome`` (from a send whose first error is ``error``) may move to the next
    gateway: it must be ``rejected`` (nothing was taken, by the engine's rules) for a route or
    account reason. ``unknown`` never moves."""
    if outcome.status is not Status.REJECTED:
        return False
    if outcome.code is not None and outcome.code in codes:
        return True
    if outcome.retryable:  # nothing taken, and the gateway (or the network) said "try again"
        return True
    if error is None or outcome.code != error.code:
        return False
    if isinstance(error, _ACCOUNT_ERRORS):
        return True
    return isinstance(error, TransportError) and not error.written


def _healthy(result: SendResult) -> bool | None:
    """How a send counts for the gateway's breaker: ``True`` (it answered), ``False`` (it
    failed: transport, 5xx, unreadable, throttled, account; or a recipient left unknown),
    ``None`` (nothing was sent)."""
    error = result.error
    if any(o.ok for o in result.outcomes):
        return True
    if isinstance(error, ValidationError):
        return None
    if any(o.status is Status.UNKNOWN for o in result.outcomes):
        return False
    if isinstance(error, _UNHEALTHY):
        return False
    return not (isinstance(error, GatewayError) and (error.http_status or 0) >= 500)


def _draw(*parts: str) -> float:
    """A number in [0, 1) from ``parts``: the same parts, the same number."""
    data = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") / 2**64


class Router:
    """Several named gateways as one, with the sending API of a :class:`Gateway`.

    ``gateways`` maps a configured name to a connected gateway (the router closes them unless
    ``owns_gateways=False``); ``rules`` are tried in order for each recipient; ``default`` is
    the route of a recipient no rule matches (without one such a recipient is refused before
    anything is sent). ``cost`` is the price of one part per gateway (``order="cost"`` rules);
    ``failover_codes`` lists, per gateway, per-recipient rejection codes that mean "this route
    cannot carry it" (moved to the next gateway). ``health`` holds the circuit breakers
    (default: the process-wide :meth:`Health.shared`); ``breaker`` is the policy of breakers
    created for this router's gateways. ``default_region`` reads national numbers.
    ``health_file``: where to save the breakers' snapshot (at most once a second, and on
    close) for ``smsgate gateways --state FILE``. ``health_store``: a store to publish the
    breakers' states to at each change (``smsgate serve`` shows them on ``/metrics`` and its
    dashboard); by default the store of the router's journal, when it is on one.
    """

    def __init__(
        self,
        gateways: Mapping[str, Gateway],
        rules: Sequence[Rule] = (),
        *,
        default: Sequence[str] = (),
        name: str = "router",
        cost: Mapping[str, float | Decimal | str] | None = None,
        failover_codes: Mapping[str, Iterable[str]] | None = None,
        health: Health | None = None,
        breaker: BreakerPolicy | None = None,
        default_region: str | None = None,
        concurrency: int = 4,
        owns_gateways: bool = True,
        health_file: str | os.PathLike[str] | None = None,
        journal: Journal | None = None,
        health_store: Store | None = None,
    ) -> None:
        if not gateways:
            raise ConfigurationError(f"router {name!r} has no gateway")
        self.name = name
        self.gateways: dict[str, Gateway] = dict(gateways)
        self.rules = tuple(rules)
        self.default = tuple(default)
        self.cost = {g: Decimal(str(c)) for g, c in (cost or {}).items()}
        self.failover_codes = {g: frozenset(str(c) for c in codes) for g, codes in (failover_codes or {}).items()}
        self.health = health or Health.shared()
        self.breaker_policy = breaker
        self.default_region = default_region
        if default_region is not None:
            phone.normalise("+48500600700", default_region)  # raises ValidationError for an unknown region
        self.concurrency = max(1, concurrency)
        self.owns_gateways = owns_gateways
        self.health_file = health_file
        self._journal: Journal | None = None
        self._saved = -math.inf
        self._unpublish: Callable[[], None] | None = None
        self.health_store = health_store
        self._closed = False
        self._lock = threading.Lock()
        named = (
            {g for r in self.rules for g in r.gateways} | set(self.default) | set(self.cost) | set(self.failover_codes)
        )
        missing = sorted(named - set(self.gateways))
        if missing:
            raise ConfigurationError(f"router {name!r} names unknown gateway(s): {', '.join(missing)}")
        for gateway in self.gateways:
            self.health.breaker(gateway, breaker)
        self.journal = journal
        if health_store is not None:
            self._publish(health_store)
        caps = [g.spec.capabilities for g in self.gateways.values()]
        #: What campaigns read of a gateway: the router plans nothing itself (each gateway
        #: batches its share), so the widest figures of its gateways, and ``send`` only.
        self.spec = ProviderSpec(
            name=name,
            settings=config.GatewayOptions,
            default_host="",
            capabilities=Capabilities(
                max_recipients=max(c.max_recipients for c in caps),
                max_parts=max(c.max_parts for c in caps),
                scheduling=any(c.scheduling for c in caps),
                unicode=any(c.unicode for c in caps),
                flash=any(c.flash for c in caps),
                max_connections=self.concurrency,
                operations=frozenset({"send"}),
            ),
            description=f"router of {', '.join(self.gateways)}",
        )
        self.options = config.GatewayOptions()
        self.max_connections = self.concurrency

    def __repr__(self) -> str:
        return f"<Router {self.name} {', '.join(self.gateways)}>"

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the gateways the router owns; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._save_health(force=True)
        self._publish(None)
        if self.owns_gateways:
            for gateway in self.gateways.values():
                gateway.close()

    def _save_health(self, *, force: bool = False) -> None:
        if self.health_file is None:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._saved < 1.0:
                return
            self._saved = now
        try:
            self.health.save(self.health_file)
        except OSError as exc:  # health reporting must never fail a send
            log.warning("smsgate: router %s: cannot save health to %s: %s", self.name, self.health_file, exc)

    def breaker(self, gateway: str) -> Breaker:
        return self.health.breaker(gateway, self.breaker_policy)

    def status(self) -> list[dict[str, Any]]:
        """Each gateway's breaker snapshot (state, counts, last error), in configured order."""
        return [{**self.breaker(g).snapshot(), "provider": gw.name} for g, gw in self.gateways.items()]

    # -- routing -----------------------------------------------------------------------------

    def _split(self, message: Message) -> tuple[str | None, Message, tuple[str, ...]]:
        """The message's kind, the message without it, and its normalised recipients."""
        kind = message.options.get(KIND_OPTION)
        if kind is not None and not isinstance(kind, str):
            raise ValidationError(
                f"options.{KIND_OPTION}", "must be a string such as 'transactional'", provider=self.name
            )
        if KIND_OPTION in message.options:
            message = attrs.evolve(message, options={k: v for k, v in message.options.items() if k != KIND_OPTION})
        if not message.to:
            raise ValidationError("to", "needs at least one recipient", provider=self.name)
        try:
            recipients = phone.normalise_many(message.to, self.default_region)
        except ValidationError as error:
            error.provider = self.name
            raise
        return kind, message, recipients

    def candidates(
        self, recipient: str, kind: str | None = None, sender: str | None = None, key: str = ""
    ) -> tuple[str, ...]:
        """The gateways for ``recipient`` in the order they are tried (before capability and
        health checks). Raises ``ValidationError`` when no rule matches and there is no default."""
        for index, rule in enumerate(self.rules):
            if rule.matches(recipient, kind, sender):
                return self._order(rule, index, recipient, key)
        if self.default:
            return self.default
        raise ValidationError(
            "to",
            f"{recipient!r}: no rule of router {self.name!r} matches it and the router has no default route",
            provider=self.name,
        )

    def _order(self, rule: Rule, index: int, recipient: str, key: str) -> tuple[str, ...]:
        order = list(rule.gateways)
        if rule.order == "cost":
            inf = Decimal("Infinity")
            order.sort(key=lambda g: self.cost.get(g, inf))
        if rule.weights:
            weighted = [(g, float(rule.weights.get(g, 0))) for g in order if rule.weights.get(g, 0) > 0]
            total = sum(w for _, w in weighted)
            point = _draw(key, recipient, str(index)) * total
            chosen = weighted[-1][0]
            for gateway, weight in weighted:
                if point < weight:
                    chosen = gateway
                    break
                point -= weight
            order.remove(chosen)
            order.insert(0, chosen)
        return tuple(order)

    def route(self, message: Message) -> dict[str, tuple[str, ...]]:
        """Where ``message``'s recipients would go first (gateway -> recipients), nothing sent;
        open circuits are skipped as in :meth:`send`. Raises ``ValidationError`` as ``send`` does."""
        kind, plain, recipients = self._split(message)
        key = plain.key or idempotency.new_key()
        orders = {r: self.candidates(r, kind, plain.sender, key) for r in recipients}
        able = _Eligibility(self.gateways, plain)
        self._check(recipients, orders, able)

        def closed(gateway: str) -> bool:
            return self.breaker(gateway).state is not State.OPEN

        groups, _ = _assign(recipients, orders, {}, able, closed)
        return {g: tuple(rs) for g, rs in groups.items()}

    def prepare(self, message: Message) -> tuple[plan.Plan, list[HttpRequest]]:
        """Plan ``message`` as :meth:`send` would first route it (each gateway plans its share)
        and build the requests; raises ``ValidationError`` (nothing sent), as
        ``Gateway.prepare`` does. The plan holds every share's batches; its settings are the
        first share's."""
        _, plain, _ = self._split(message)
        plans: list[plan.Plan] = []
        requests: list[HttpRequest] = []
        for gateway, recipients in self.route(message).items():
            p, built = self.gateways[gateway].prepare(attrs.evolve(plain, to=recipients))
            plans.append(p)
            requests.extend(built)
        first = plans[0]
        recipients = tuple(r for p in plans for r in p.recipients)
        batches = tuple(b for p in plans for b in p.batches)
        return plan.Plan(message, first.key, recipients, first.settings, batches), requests

    def preview(self, message: Message, *, redact: bool = True) -> list[HttpRequest]:
        """The requests :meth:`send` would make first (each gateway's share), nothing sent."""
        _, plain, _ = self._split(message)
        requests: list[HttpRequest] = []
        for gateway, recipients in self.route(message).items():
            requests.extend(self.gateways[gateway].preview(attrs.evolve(plain, to=recipients), redact=redact))
        return requests

    def _check(self, recipients: tuple[str, ...], orders: Mapping[str, tuple[str, ...]], able: _Eligibility) -> None:
        """Raises ``ValidationError`` (nothing sent) when a recipient has no gateway in its
        route that can carry the message, with each gateway's reason."""
        _, unplaced = _assign(recipients, orders, {}, able, None)
        if unplaced:
            r = unplaced[0]
            reasons = "; ".join(f"{g}: {able.reason(g, r)}" for g in orders[r])
            more = f" (and {len(unplaced) - 1} more recipient(s))" if len(unplaced) > 1 else ""
            raise ValidationError(
                "to",
                f"{r!r}{more}: no gateway of router {self.name!r} can carry this message ({reasons})",
                provider=self.name,
                code="no_route",
            )

    # -- sending -----------------------------------------------------------------------------

    def send(self, message: Message) -> RoutedResult:
        """Send one message, each recipient through its route; one outcome per (distinct,
        normalised) recipient, and ``gateway_of(recipient)`` for each.

        Raises ``ValidationError`` (nothing sent) for bad input, a recipient without a route,
        or one no gateway of its route can carry. Every later failure is in the outcomes.
        """
        if self._closed:
            raise ConfigurationError(f"router {self.name!r} is closed")
        kind, plain, recipients = self._split(message)
        key = plain.key or idempotency.new_key()
        orders = {r: self.candidates(r, kind, plain.sender, key) for r in recipients}
        able = _Eligibility(self.gateways, plain)
        self._check(recipients, orders, able)
        journal = self.journal if plain.key else None
        if journal is None:
            return self._send(plain, key, recipients, orders, able, None)
        digest = message_digest(message, ((r, message.text) for r in recipients))
        claim = journal.claim(self.name, key, digest, recipients, time.time())
        if claim.recorded is not None:
            return self._replayed(journal, claim.recorded)
        try:
            result = self._send(plain, key, recipients, orders, able, journal, claim.interrupted_at is not None)
        except BaseException:
            journal.abandon(self.name, key)
            raise
        journal.done(result, digest)
        return result

    def _send(
        self,
        plain: Message,
        key: str,
        recipients: tuple[str, ...],
        orders: Mapping[str, tuple[str, ...]],
        able: _Eligibility,
        journal: Journal | None,
        resumed: bool = False,
    ) -> RoutedResult:
        """Send round by round; ``resumed``: follow the plans an interrupted run recorded."""
        final: dict[str, Outcome] = {}
        owner: dict[str, str | None] = {}
        tried: dict[str, list[str]] = {r: [] for r in recipients}
        last: dict[str, tuple[str, Outcome]] = {}
        results: list[SendResult] = []
        errors: dict[str, SmsgateError] = {}
        pending = list(recipients)
        round_ = 0
        while pending:
            planned = self._plan_of(journal, key, round_) if journal is not None and resumed else None
            if planned is not None:  # resuming: follow the interrupted run's plan, whatever the health now
                waiting = set(pending)
                groups = {g: [r for r in rs if r in waiting] for g, rs in planned.items()}
                groups = {g: rs for g, rs in groups.items() if rs}
                placed = {r for rs in groups.values() for r in rs}
                unplaced = [r for r in pending if r not in placed]
            else:
                allowed: dict[str, bool] = {}
                groups, unplaced = _assign(tuple(pending), orders, tried, able, functools.partial(self._gate, allowed))
                for gateway, ok in allowed.items():
                    if ok and gateway not in groups:
                        self.breaker(gateway).release()
                if journal is not None and groups:
                    self._record_plan(journal, key, round_, groups)
            for r in unplaced:
                if r in last:  # no further gateway: the last refusal stands
                    owner[r], final[r] = last[r]
                else:
                    owner[r], final[r] = None, self._no_gateway(r, orders[r], able)
            pending = []
            for gateway, share in groups.items():
                sub = attrs.evolve(
                    plain,
                    to=tuple(share),
                    key=idempotency.sub_key(key, gateway) if round_ == 0 else idempotency.sub_key(key, gateway, round_),
                )
                result = self._send_one(gateway, sub)
                results.append(result)
                codes = self.failover_codes.get(gateway, frozenset())
                by_digits = {digits(o.recipient): o for o in result.outcomes}
                for r in share:
                    tried[r].append(gateway)
                    outcome = by_digits.get(digits(r)) or Outcome(
                        r, Status.UNKNOWN, reason=f"{gateway} returned no outcome for this recipient"
                    )
                    if outcome.recipient != r:
                        outcome = attrs.evolve(outcome, recipient=r)
                    if not outcome.ok and result.error is not None:
                        errors.setdefault(gateway, result.error)
                    if fails_over(outcome, result.error, codes):
                        log.info("smsgate: router %s: %s failed over from %s (%s)", self.name, r, gateway, outcome.code)
                        last[r] = (gateway, outcome)
                        pending.append(r)
                    else:
                        owner[r], final[r] = gateway, outcome
            round_ += 1

        self._save_health()
        outcomes = tuple(final[r] for r in recipients)
        used = {g for g in owner.values() if g is not None}
        error = next(
            (e for g, e in errors.items() if g in used and any(not final[r].ok for r in recipients if owner[r] == g)),
            None,
        )
        if error is None and any(not o.ok for o in outcomes):
            error = next(iter(errors.values()), None)
        costs = [res.cost for res in results if res.cost is not None]
        return RoutedResult(
            provider=self.name,
            key=key,
            outcomes=outcomes,
            error=error,
            requests=sum(res.requests for res in results),
            cost=sum(costs, Decimal(0)) if costs else None,
            replayed=bool(results) and all(res.replayed for res in results),
            routes=owner,
            tried={r: tuple(gs) for r, gs in tried.items()},
            results=tuple(results),
        )

    # -- the journal: a keyed send is claimed under the router's name; each round's plan
    # (gateway -> recipients) is recorded before its sends, so a resumed send follows it

    @property
    def journal(self) -> Journal | None:
        """A :class:`Journal` (``None``: none). Set, it also journals the sends of the
        gateways that have none, and a keyed message resumes after a crash by the plan it was
        sent with: each recipient goes back to the gateway that may have it, never to another."""
        return self._journal

    @journal.setter
    def journal(self, journal: Journal | None) -> None:
        self._journal = journal
        if journal is not None:
            for gateway in self.gateways.values():
                if gateway.journal is None:
                    gateway.journal = journal
        if self.health_store is None:
            self._publish(journal.store if journal is not None else None)

    def _publish(self, store: Store | None) -> None:
        """Publish the breakers' states to ``store`` from now on (``None``: stop)."""
        if self._unpublish is not None:
            self._unpublish()
        self._unpublish = None
        if store is not None and not self._closed:
            self._unpublish = self.health.publish(store, self.gateways, self.breaker_policy)

    def _plan_key(self, key: str, round_: int) -> tuple[str, str]:
        return f"{self.name}#plan", f"{key}#r{round_}"

    def _plan_of(self, journal: Journal, key: str, round_: int) -> dict[str, list[str]] | None:
        provider, plan_key = self._plan_key(key, round_)
        recorded = journal.recorded(provider, plan_key)
        if recorded is None:
            return None
        groups: dict[str, list[str]] = {}
        for o in recorded.outcomes:
            gateway, _, recipient = o.recipient.partition("=")
            groups.setdefault(gateway, []).append(recipient)
        return groups

    def _record_plan(self, journal: Journal, key: str, round_: int, groups: Mapping[str, Sequence[str]]) -> None:
        provider, plan_key = self._plan_key(key, round_)
        entries = tuple(f"{g}={r}" for g, rs in groups.items() for r in rs)
        digest = hashlib.sha256("\x1e".join(entries).encode()).hexdigest()[:16]
        claim = journal.claim(provider, plan_key, digest, entries, time.time())
        if claim.recorded is None:
            outcomes = tuple(Outcome(e, Status.ACCEPTED) for e in entries)
            journal.done(SendResult(provider, plan_key, outcomes), digest)

    def _replayed(self, journal: Journal, recorded: SendResult) -> RoutedResult:
        """A settled key's recorded result, with its routes read from its recorded plans."""
        routes: dict[str, str | None] = {o.recipient: None for o in recorded.outcomes}
        tried: dict[str, list[str]] = {o.recipient: [] for o in recorded.outcomes}
        round_ = 0
        while (plan := self._plan_of(journal, recorded.key, round_)) is not None:
            for gateway, recipients in plan.items():
                for r in recipients:
                    routes[r] = gateway
                    tried.setdefault(r, []).append(gateway)
            round_ += 1
        return RoutedResult(
            self.name,
            recorded.key,
            recorded.outcomes,
            recorded.error,
            0,
            replayed=True,
            routes=routes,
            tried={r: tuple(g) for r, g in tried.items()},
        )

    def _gate(self, allowed: dict[str, bool], gateway: str) -> bool:
        """Whether ``gateway``'s circuit lets this round through: asked once per gateway and
        round, so in half-open the round's share is the one probe."""
        if gateway not in allowed:
            allowed[gateway] = self.breaker(gateway).allow()
        return allowed[gateway]

    def _no_gateway(self, recipient: str, order: tuple[str, ...], able: _Eligibility) -> Outcome:
        open_ = [g for g in order if able.reason(g, recipient) is None]
        reason = f"not sent: the circuit of every eligible gateway is open ({', '.join(open_)})"
        return Outcome(recipient, Status.REJECTED, code="circuit_open", reason=reason, retryable=True)

    def _send_one(self, gateway: str, message: Message) -> SendResult:
        """``gateway.send`` with every failure turned into outcomes, and the breaker told."""
        breaker = self.breaker(gateway)
        gw = self.gateways[gateway]
        try:
            result = gw.send(message)
        except KeyConflictError as error:
            breaker.release()
            return _report(gateway, message, Status.REJECTED, error, retryable=False)
        except SmsgateError as error:  # raised before anything was sent (plan, build)
            breaker.release()
            return _report(gateway, message, Status.REJECTED, error, retryable=isinstance(error, ValidationError))
        except Exception as exc:  # a bug: it may have sent; never fail over
            log.exception("smsgate: router %s: unexpected failure sending through %s", self.name, gateway)
            internal = SmsgateError(f"internal error: {type(exc).__name__}", provider=gateway, code="internal")
            breaker.failure(str(internal))
            return _report(gateway, message, Status.UNKNOWN, internal, retryable=False)
        verdict = None if result.replayed else _healthy(result)  # a replay sent nothing: no news of health
        if verdict is True:
            breaker.success()
        elif verdict is False:
            breaker.failure(str(result.error or "a recipient's outcome is unknown"))
        else:
            breaker.release()
        return result

    def send_many(
        self, messages: Iterable[Message], *, concurrency: int | None = None, derive_keys: bool | None = None
    ) -> Iterator[RoutedResult]:
        """Send messages concurrently (``concurrency``, default the router's) and yield one
        result per message, in order; an invalid message yields a result with every recipient
        ``rejected`` and ``error`` set. ``derive_keys`` (default: on when a gateway has a
        journal) gives each message without a key one derived from its content and occurrence."""
        derive = any(g.journal is not None for g in self.gateways.values()) if derive_keys is None else derive_keys
        if derive:
            messages = idempotency.with_content_keys(messages)
        workers = max(1, concurrency or self.concurrency)
        if workers == 1:
            for message in messages:
                yield self._send_or_report(message)
            return
        window: deque[Future[RoutedResult]] = deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"smsgate-router-{self.name}") as pool:
            for message in messages:
                window.append(pool.submit(self._send_or_report, message))
                if len(window) >= workers * 2:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()

    def _send_or_report(self, message: Message) -> RoutedResult:
        try:
            return self.send(message)
        except SmsgateError as error:  # raised only before anything is sent
            r = _report(self.name, message, Status.REJECTED, error, retryable=False)
            return RoutedResult(r.provider, r.key, r.outcomes, r.error, 0, routes=dict.fromkeys(message.to))
        except Exception as exc:  # a bug must not cost this message its outcome
            log.exception("smsgate: router %s: unexpected failure sending a message", self.name)
            internal = SmsgateError(f"internal error: {type(exc).__name__}", provider=self.name, code="internal")
            r = _report(self.name, message, Status.UNKNOWN, internal, retryable=False)
            return RoutedResult(r.provider, r.key, r.outcomes, r.error, 0, routes=dict.fromkeys(message.to))

    # -- configuration -----------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        section: Mapping[str, Any],
        gateway_factory: Callable[[str], Gateway],
        *,
        name: str = "router",
        health: Health | None = None,
    ) -> Router:
        """A router from a ``[routers.NAME]`` table (see docs/routing.md); ``gateway_factory``
        connects a gateway by its configured name (each once). Raises ``ConfigurationError``."""
        known = {
            *("rules", "default", "cost", "failover_codes", "breaker"),
            *("default_region", "concurrency", "gateways", "health_file"),
        }
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigurationError(
                f"router {name!r}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        raw_rules = section.get("rules", [])
        if not isinstance(raw_rules, list) or not all(isinstance(r, Mapping) for r in raw_rules):
            raise ConfigurationError(f"router {name!r}: rules must be a list of tables ([[routers.{name}.rules]])")
        rules = [Rule.from_mapping(r, i) for i, r in enumerate(raw_rules)]
        default = _strings(section.get("default"), "default")
        if not rules and not default:
            raise ConfigurationError(f"router {name!r}: needs rules or a default route")
        cost = section.get("cost", {})
        codes = section.get("failover_codes", {})
        breaker = section.get("breaker", {})
        for what, value in (("cost", cost), ("failover_codes", codes), ("breaker", breaker)):
            if not isinstance(value, Mapping):
                raise ConfigurationError(f"router {name!r}: {what} must be a table")
        try:
            policy = BreakerPolicy.from_mapping(breaker) if breaker else None
            prices = {g: Decimal(str(c)) for g, c in cost.items()}
            concurrency = int(section.get("concurrency", 4))
            region = section.get("default_region")
            if region is not None:
                phone.normalise("+48500600700", str(region))
        except (ValueError, ArithmeticError, ValidationError) as exc:
            raise ConfigurationError(f"router {name!r}: {exc}") from None
        names = list(
            dict.fromkeys(
                [
                    *_strings(section.get("gateways"), "gateways"),
                    *(g for r in rules for g in r.gateways),
                    *default,
                ]
            )
        )
        extra = sorted((set(prices) | set(codes)) - set(names))
        if extra:
            raise ConfigurationError(
                f"router {name!r}: cost or failover_codes for unused gateway(s) {', '.join(extra)}"
            )
        gateways: dict[str, Gateway] = {}
        try:
            for gateway in names:
                gateways[gateway] = gateway_factory(gateway)
            return cls(
                gateways,
                rules,
                default=default,
                name=name,
                cost=prices,
                failover_codes={g: _strings(c, f"failover_codes.{g}") for g, c in codes.items()},
                health=health,
                breaker=policy,
                default_region=region,
                concurrency=concurrency,
                health_file=section.get("health_file"),
            )
        except BaseException:
            for gw in gateways.values():
                gw.close()
            raise


class _Eligibility:
    """Which gateway can carry the message to which recipient (``Gateway.prepare``), checked
    in bulk per gateway and remembered for the send; only a refused group is split (halved)
    to find the recipients it concerns (a rule may depend on the destination)."""

    def __init__(self, gateways: Mapping[str, Gateway], message: Message) -> None:
        self.gateways = gateways
        self.message = message
        self.known: dict[tuple[str, str], str | None] = {}

    def reason(self, gateway: str, recipient: str) -> str | None:
        """Why ``gateway`` refuses ``recipient`` (``None``: it can carry it, or not checked)."""
        return self.known.get((gateway, recipient))

    def refused(self, gateway: str, recipient: str) -> bool:
        return self.known.get((gateway, recipient)) is not None

    def check(self, gateway: str, recipients: Sequence[str]) -> None:
        todo = [r for r in recipients if (gateway, r) not in self.known]
        if todo:
            self._split_check(gateway, todo)

    def _split_check(self, gateway: str, recipients: list[str]) -> None:
        try:
            self.gateways[gateway].prepare(attrs.evolve(self.message, to=tuple(recipients)))
        except SmsgateError as error:
            if len(recipients) == 1:
                self.known[(gateway, recipients[0])] = str(error)
                return
            half = len(recipients) // 2
            self._split_check(gateway, recipients[:half])
            self._split_check(gateway, recipients[half:])
            return
        for r in recipients:
            self.known[(gateway, r)] = None


def _assign(
    recipients: tuple[str, ...],
    orders: Mapping[str, tuple[str, ...]],
    tried: Mapping[str, Sequence[str]],
    able: _Eligibility,
    gate: Callable[[str], bool] | None,
) -> tuple[dict[str, list[str]], list[str]]:
    """Each recipient's first gateway in its order that it has not tried, that can carry the
    message and that ``gate`` lets through: ``(gateway -> recipients, the unplaced)``."""
    index = {r: n for n, r in enumerate(recipients)}
    position = dict.fromkeys(recipients, 0)
    groups: dict[str, list[str]] = {}
    unplaced: list[str] = []
    todo = list(recipients)
    while todo:
        proposals: dict[str, list[str]] = {}
        for r in todo:
            order, i = orders[r], position[r]
            while i < len(order) and (
                order[i] in tried.get(r, ()) or able.refused(order[i], r) or (gate is not None and not gate(order[i]))
            ):
                i += 1
            position[r] = i
            if i == len(order):
                unplaced.append(r)
            else:
                proposals.setdefault(order[i], []).append(r)
        todo = []
        for gateway, share in proposals.items():
            able.check(gateway, share)
            for r in share:
                (todo if able.refused(gateway, r) else groups.setdefault(gateway, [])).append(r)
    for share in groups.values():
        share.sort(key=index.__getitem__)
    unplaced.sort(key=index.__getitem__)
    return groups, unplaced


def _report(provider: str, message: Message, status: Status, error: SmsgateError, *, retryable: bool) -> SendResult:
    """A result for a message that was not (fully) sent: ``status`` for every recipient."""
    outcomes = tuple(
        Outcome(str(r), status, code=error.code or "invalid", reason=str(error), retryable=retryable)
        for r in message.to
    )
    return SendResult(provider, message.key or "", outcomes, error, 0)


def _gateway_dsn(config: Mapping[str, Any], name: str) -> str:
    table = config.get("gateways", {})
    entry = table.get(name) if isinstance(table, Mapping) else None
    if isinstance(entry, str):
        return entry
    if isinstance(entry, Mapping) and isinstance(entry.get("dsn"), str):
        return str(entry["dsn"])
    raise ConfigurationError(f'no gateway {name!r} in the configuration ([gateways.{name}] with dsn = "...")')


def connect_router(
    name: str,
    config: Mapping[str, Any],
    *,
    gateway_factory: Callable[[str], Gateway] | None = None,
    health: Health | None = None,
    **connect_kwargs: Any,
) -> Router:
    """The router ``[routers.NAME]`` of ``config`` (a parsed configuration file: ``routers``
    and ``gateways`` tables). Gateways are connected by ``gateway_factory`` (default: from
    ``[gateways.NAME] dsn``, with ``connect_kwargs`` passed to :func:`smsgate.connect`)."""
    routers = config.get("routers", {})
    section = routers.get(name) if isinstance(routers, Mapping) else None
    if not isinstance(section, Mapping):
        known = ", ".join(sorted(routers)) if isinstance(routers, Mapping) else ""
        raise ConfigurationError(f"no router {name!r} in the configuration (routers: {known or 'none'})")
    if gateway_factory is None:
        from smsgate.gateway import connect

        def gateway_factory(gateway: str) -> Gateway:
            return connect(_gateway_dsn(config, gateway), **connect_kwargs)

    return Router.from_config(section, gateway_factory, name=name, health=health)
