"""The router: rules, per-recipient split, capability checks, failover only where it is safe.

Several outbox emulators play several gateways; what each one *took* is counted per recipient
after every scenario (0 duplicates across gateways, 0 lost)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from core_kit import Sleeps, dsn_for

from smsgate import connect
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.emulator import EmulatorReply, Fault
from smsgate.errors import ConfigurationError, ValidationError
from smsgate.gateway import Gateway
from smsgate.health import BreakerPolicy, Health, State
from smsgate.models import Message, Status
from smsgate.plugins import Registry
from smsgate.router import RoutedResult, Router, Rule, connect_router

PL, RU, FR, GB = "+48500600700", "+79031234567", "+33612345678", "+447700900123"
FAST = "attempts=2&backoff=0&read_timeout=0.5&connect_timeout=0.5"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Fleet:
    """Named outbox emulators, gateways to them, and what each took."""

    def __init__(self, registry: Registry, sleeps: Sleeps) -> None:
        self.registry, self.sleeps = registry, sleeps
        self.emulators: dict[str, OutboxEmulator] = {}
        self.gateways: dict[str, Gateway] = {}

    def add(self, name: str, scheme: str = "outbox", options: str = FAST, **kwargs: Any) -> OutboxEmulator:
        emulator = kwargs.pop("emulator", None) or OutboxEmulator(**kwargs)
        emulator.start()
        self.emulators[name] = emulator
        self.gateways[name] = self.connect(name, scheme, options)
        return emulator

    def connect(self, name: str, scheme: str = "outbox", options: str = FAST) -> Gateway:
        dsn = dsn_for(self.emulators[name], scheme, options)
        return connect(dsn, registry=self.registry, sleep=self.sleeps, clock=self.sleeps.clock)

    def router(self, rules: list[Rule], **kwargs: Any) -> Router:
        kwargs.setdefault("health", Health(BreakerPolicy(failures=100, min_calls=1000)))
        return Router(self.gateways, rules, **kwargs)

    def taken(self) -> dict[str, Counter[str]]:
        """Recipient -> how many times each emulator took it."""
        out: dict[str, Counter[str]] = {}
        for name, emulator in self.emulators.items():
            with emulator.lock:
                for m in emulator.messages:
                    out.setdefault(m.to, Counter())[name] += 1
        return out

    def check(self, result: RoutedResult) -> dict[str, Counter[str]]:
        """0 duplicates, 0 lost: each recipient taken at most once across every gateway; an
        accepted one exactly once, by the gateway the result names; a rejected one by none;
        an unknown one by none but the gateway the result names."""
        taken = self.taken()
        for o in result.outcomes:
            where = taken.get(o.recipient, Counter())
            assert sum(where.values()) <= 1, f"{o.recipient} taken {dict(where)}"
            if o.ok:
                assert where == Counter({result.gateway_of(o.recipient): 1}), (o, dict(where))
            elif o.status is Status.REJECTED:
                assert not where, (o, dict(where))
            else:
                assert set(where) <= {result.gateway_of(o.recipient)}, (o, dict(where))
        return taken

    def stop(self) -> None:
        for gateway in self.gateways.values():
            gateway.close()
        for emulator in self.emulators.values():
            emulator.stop()


@pytest.fixture
def fleet(registry: Registry, sleeps: Sleeps) -> Iterator[Fleet]:
    fleet = Fleet(registry, sleeps)
    yield fleet
    fleet.stop()


def _three(fleet: Fleet) -> list[Rule]:
    for name in ("pl", "ru", "world"):
        fleet.add(name)
    return [Rule(["pl", "world"], prefixes=["+48"]), Rule(["ru", "world"], regions=["RU"]), Rule(["world"])]


# -- rules and the per-recipient split ----------------------------------------------------------


def test_one_message_is_split_per_recipient_by_destination(fleet: Fleet) -> None:
    router = fleet.router(_three(fleet))
    result = router.send(Message([PL, RU, GB, "+48 500 600 701"], "Hello"))
    assert result.ok and isinstance(result, RoutedResult)
    assert [result.gateway_of(r) for r in (PL, RU, GB, "+48500600701")] == ["pl", "ru", "world", "pl"]
    assert result.gateway_of("0048 500 600 700") == "pl"
    taken = fleet.check(result)
    assert {r: set(c) for r, c in taken.items()} == {
        PL: {"pl"},
        "+48500600701": {"pl"},
        RU: {"ru"},
        GB: {"world"},
    }
    assert [o.recipient for o in result.outcomes] == [PL, RU, GB, "+48500600701"]
    assert result.requests == 3 and len(result.results) == 3
    assert {g: len(os) for g, os in result.by_gateway().items()} == {"pl": 2, "ru": 1, "world": 1}


def test_national_numbers_use_the_routers_default_region(fleet: Fleet) -> None:
    router = fleet.router(_three(fleet), default_region="PL")
    result = router.send(Message(["500 600 700"], "Hi"))
    assert result.gateway_of(PL) == "pl" and result.ok


def test_kind_is_a_router_option_removed_before_the_gateway(fleet: Fleet) -> None:
    fleet.add("otp")
    fleet.add("bulk")
    rules = [Rule(["otp"], kinds=["transactional"]), Rule(["bulk"], kinds=["marketing"]), Rule(["bulk"])]
    router = fleet.router(rules)
    otp = router.send(Message(PL, "Code 1234", options={"kind": "transactional"}))
    promo = router.send(Message(RU, "Sale!", options={"kind": "marketing"}))
    plain = router.send(Message(GB, "Hi"))
    assert (otp.gateway_of(PL), promo.gateway_of(RU), plain.gateway_of(GB)) == ("otp", "bulk", "bulk")
    assert all(b"kind" not in r.body for e in fleet.emulators.values() for r in e.requests)
    with pytest.raises(ValidationError, match=r"options\.kind"):
        router.send(Message(PL, "x", options={"kind": 3}))


def test_sender_rule(fleet: Fleet) -> None:
    fleet.add("brand")
    fleet.add("other")
    router = fleet.router([Rule(["brand"], senders=["Shop"]), Rule(["other"])])
    assert router.send(Message(PL, "x", sender="Shop")).gateway_of(PL) == "brand"
    assert router.send(Message(PL, "x", sender="Else")).gateway_of(PL) == "other"


def test_first_matching_rule_wins_and_a_recipient_without_route_is_refused(fleet: Fleet) -> None:
    fleet.add("a")
    fleet.add("b")
    router = fleet.router([Rule(["a"], prefixes=["+4850"]), Rule(["b"], prefixes=["+48"])])
    assert router.route(Message([PL, "+48600700800"], "x")) == {"a": (PL,), "b": ("+48600700800",)}
    with pytest.raises(ValidationError, match="no rule"):
        router.send(Message([PL, GB], "x"))
    assert not fleet.taken(), "nothing is sent when one recipient has no route"
    router = fleet.router([Rule(["a"], prefixes=["+4850"])], default=["b"])
    assert router.route(Message(GB, "x")) == {"b": (GB,)}


def test_weights_split_traffic_stably_per_key(fleet: Fleet) -> None:
    fleet.add("a")
    fleet.add("b")
    router = fleet.router([Rule(["a", "b"], weights={"a": 3, "b": 1})])
    numbers = [f"+4850060{n:04d}" for n in range(400)]
    first = router.route(Message(numbers, "x", key="campaign-1"))
    again = router.route(Message(numbers, "x", key="campaign-1"))
    assert first == again
    share = len(first["a"]) / 400
    assert 0.65 < share < 0.85, share
    result = router.send(Message(numbers, "x", key="campaign-1"))
    assert {g: set(rs) for g, rs in first.items()} == {
        g: {o.recipient for o in os} for g, os in result.by_gateway().items() if g
    }
    fleet.check(result)


def test_cost_orders_the_gateways_cheapest_first(fleet: Fleet) -> None:
    fleet.add("dear")
    fleet.add("cheap")
    router = fleet.router([Rule(["dear", "cheap"], order="cost")], cost={"dear": "0.07", "cheap": 0.03})
    assert router.candidates(PL) == ("cheap", "dear")
    assert router.send(Message(PL, "x")).gateway_of(PL) == "cheap"


def test_rule_and_router_configuration_errors(fleet: Fleet) -> None:
    fleet.add("a")
    with pytest.raises(ConfigurationError, match="unknown gateway"):
        fleet.router([Rule(["a", "zz"])])
    with pytest.raises(ConfigurationError, match="unknown region"):
        Rule(["a"], regions=["XX"])
    with pytest.raises(ConfigurationError, match="prefix"):
        Rule(["a"], prefixes=["+4x"])
    with pytest.raises(ConfigurationError, match="twice"):
        Rule(["a", "a"])
    with pytest.raises(ConfigurationError, match="weight"):
        Rule(["a"], weights={"b": 1})


# -- capabilities ----------------------------------------------------------------------------------


def test_a_gateway_that_cannot_carry_the_message_is_skipped(fleet: Fleet) -> None:
    fleet.add("tiny", scheme="tiny")  # no flash, no scheduling, 2 parts at most
    fleet.add("full")
    router = fleet.router([Rule(["tiny", "full"])])
    assert router.send(Message(PL, "short")).gateway_of(PL) == "tiny"
    flash = router.send(Message(RU, "flash", flash=True))
    assert flash.ok and flash.gateway_of(RU) == "full" and flash.tried[RU] == ("full",)
    long = router.send(Message(GB, "x" * 400))
    assert long.gateway_of(GB) == "full"
    fleet.check(long)


def test_a_message_no_gateway_can_carry_is_refused_before_sending_with_the_reasons(fleet: Fleet) -> None:
    fleet.add("tiny", scheme="tiny")
    router = fleet.router([Rule(["tiny"])])
    with pytest.raises(ValidationError, match=r"tiny: .*flash") as info:
        router.send(Message([PL, RU], "x", flash=True))
    assert info.value.code == "no_route"
    assert not fleet.taken() and not fleet.emulators["tiny"].requests


# -- failover ------------------------------------------------------------------------------------


def test_a_stopped_primary_fails_over_every_recipient_once(fleet: Fleet) -> None:
    fleet.add("primary").stop()
    fleet.add("backup")
    router = fleet.router([Rule(["primary", "backup"])])
    result = router.send(Message([PL, RU, GB], "x"))
    assert result.ok
    assert all(result.gateway_of(r) == "backup" and result.tried[r] == ("primary", "backup") for r in (PL, RU, GB))
    taken = fleet.check(result)
    assert all(c == Counter({"backup": 1}) for c in taken.values()) and len(taken) == 3


@pytest.mark.parametrize(
    "setup",
    ["no credit", "bad credentials", "throttled until retries ran out"],
)
def test_account_and_throttling_refusals_fail_over(fleet: Fleet, setup: str) -> None:
    primary = fleet.add("primary", credit=0 if setup == "no credit" else 10_000)
    fleet.add("backup")
    if setup == "bad credentials":
        fleet.gateways["primary"].close()
        dsn = dsn_for(primary, "outbox", FAST).replace(primary.password, "wrong-password")
        fleet.gateways["primary"] = connect(dsn, registry=fleet.registry, sleep=fleet.sleeps)
    if setup.startswith("throttled"):
        primary.inject(Fault.THROTTLE, times=2)
    router = fleet.router([Rule(["primary", "backup"])])
    result = router.send(Message([PL, RU], "x"))
    assert result.ok, result.outcomes
    assert {result.gateway_of(PL), result.gateway_of(RU)} == {"backup"}
    fleet.check(result)


class RouteRefusing(OutboxEmulator):
    """Refuses recipients under +44 per recipient with code ``no_route`` (nothing taken)."""

    def _send(self, body: dict[str, Any]) -> EmulatorReply:
        refused = [n for n in body.get("to", []) if str(n).startswith("+44")]
        rest = dict(body, to=[n for n in body["to"] if n not in refused])
        results = json.loads(super()._send(rest).body)["results"] if rest["to"] else []
        results += [{"to": n, "error": "no_route", "reason": "no route to this network"} for n in refused]
        return EmulatorReply.json({"results": results})


@pytest.mark.parametrize("marked", [True, False])
def test_per_recipient_rejections_fail_over_only_when_marked(fleet: Fleet, marked: bool) -> None:
    fleet.add("primary", emulator=RouteRefusing())
    fleet.add("backup")
    codes = {"primary": ["no_route"]} if marked else {}
    router = fleet.router([Rule(["primary", "backup"])], failover_codes=codes)
    result = router.send(Message([PL, GB], "x"))
    assert result.gateway_of(PL) == "primary"
    if marked:
        assert result.ok and result.gateway_of(GB) == "backup"
    else:
        gb = result.outcomes[1]
        assert gb.status is Status.REJECTED and gb.code == "no_route" and result.gateway_of(GB) == "primary"
    fleet.check(result)


AMBIGUOUS = [
    Fault.PROCESSED_THEN_ERROR,
    Fault.RESET_BEFORE_REPLY,
    Fault.TIMEOUT_AFTER_ACCEPT,
    Fault.DROP,
    Fault.SERVER_ERROR,
]


@pytest.mark.parametrize("scheme", ["outbox", "nodedup"])
@pytest.mark.parametrize("fault", AMBIGUOUS, ids=lambda f: f.name)
def test_an_ambiguous_fault_on_the_primary_never_sends_on_the_fallback(fleet: Fleet, fault: Fault, scheme: str) -> None:
    primary = fleet.add("primary", scheme=scheme)
    backup = fleet.add("backup")
    primary.inject(fault, times=5, delay=1.0)  # every attempt: the dedup resend meets it too
    router = fleet.router([Rule(["primary", "backup"])])
    recipients = [PL, RU, GB]
    result = router.send(Message(recipients, "x"))
    assert not backup.requests, "the fallback must never see a recipient the primary may have"
    assert all(result.gateway_of(r) == "primary" and result.tried[r] == ("primary",) for r in recipients)
    assert {o.status for o in result.outcomes} <= {Status.UNKNOWN, Status.REJECTED}
    if fault in (Fault.PROCESSED_THEN_ERROR, Fault.RESET_BEFORE_REPLY, Fault.TIMEOUT_AFTER_ACCEPT):
        assert all(o.status is Status.UNKNOWN for o in result.outcomes), result.outcomes
    fleet.check(result)


@pytest.mark.parametrize("fault", AMBIGUOUS, ids=lambda f: f.name)
def test_a_single_ambiguous_fault_settles_on_the_primary_under_its_dedup_key(fleet: Fleet, fault: Fault) -> None:
    primary = fleet.add("primary")
    backup = fleet.add("backup")
    primary.inject(fault, delay=1.0)
    router = fleet.router([Rule(["primary", "backup"])])
    result = router.send(Message([PL, RU], "x"))
    assert result.ok and not backup.requests
    taken = fleet.check(result)
    assert all(c == Counter({"primary": 1}) for c in taken.values())


def test_unknown_never_fails_over_even_beside_recipients_that_do(fleet: Fleet) -> None:
    fleet.add("pl", scheme="nodedup")
    fleet.add("ru").stop()
    fleet.add("world")
    router = fleet.router([Rule(["pl", "world"], prefixes=["+48"]), Rule(["ru", "world"], prefixes=["+7"])])
    fleet.emulators["pl"].inject(Fault.PROCESSED_THEN_ERROR)
    result = router.send(Message([PL, RU], "x"))
    pl, ru = result.outcomes
    assert pl.status is Status.UNKNOWN and result.gateway_of(PL) == "pl"
    assert ru.ok and result.gateway_of(RU) == "world"
    taken = fleet.check(result)
    assert taken == {PL: Counter({"pl": 1}), RU: Counter({"world": 1})}


# -- health ---------------------------------------------------------------------------------------


def test_an_open_circuit_is_skipped_and_a_half_open_probe_closes_it(fleet: Fleet) -> None:
    primary = fleet.add("primary")
    fleet.add("backup")
    clock = Clock()
    health = Health(BreakerPolicy(failures=2, cool_down=30), clock=clock)
    router = fleet.router([Rule(["primary", "backup"])], health=health)
    primary.stop()
    for n in range(2):
        assert router.send(Message(f"+4850060070{n}", "x")).gateway_of(f"+4850060070{n}") == "backup"
    assert health.breaker("primary").state is State.OPEN
    primary.start()
    before = len(primary.requests)
    skipped = router.send(Message(RU, "x"))
    assert skipped.gateway_of(RU) == "backup" and skipped.tried[RU] == ("backup",)
    assert len(primary.requests) == before, "an open circuit is not even tried"
    clock.now += 31
    assert health.breaker("primary").state is State.HALF_OPEN
    probe = router.send(Message(GB, "x"))
    assert probe.gateway_of(GB) == "primary"
    snap = health.breaker("primary").snapshot()
    assert snap["state"] == "closed" and snap["skipped"] == 1 and snap["opened"] == 1
    assert snap["last_error"]


def test_an_open_circuit_without_fallback_refuses_retryable_nothing_sent(fleet: Fleet) -> None:
    fleet.add("only")
    health = Health(BreakerPolicy(failures=1))
    health.breaker("only").failure("down")
    router = fleet.router([Rule(["only"])], health=health)
    result = router.send(Message([PL, RU], "x"))
    assert all(o.status is Status.REJECTED and o.code == "circuit_open" and o.retryable for o in result.outcomes)
    assert result.gateway_of(PL) is None and not fleet.emulators["only"].requests


def test_send_many_is_concurrent_and_exact(fleet: Fleet) -> None:
    rules = _three(fleet)
    router = fleet.router(rules, concurrency=4)
    numbers = [PL[:-3] + f"{n:03d}" for n in range(30)] + [RU[:-3] + f"{n:03d}" for n in range(30)]
    messages = [Message(numbers[n : n + 6], f"batch {n}") for n in range(0, 60, 6)]
    messages.append(Message([PL], "x", flash=True, send_at=None, options={"nope": 1}))  # invalid option everywhere
    results = list(router.send_many(messages))
    assert len(results) == 11 and all(r.ok for r in results[:10])
    assert results[10].outcomes[0].status is Status.REJECTED and results[10].error is not None
    taken = fleet.taken()
    assert len(taken) == 60 and all(sum(c.values()) == 1 for c in taken.values())


# -- configuration ----------------------------------------------------------------------------------


def test_from_config_and_connect_router(fleet: Fleet, registry: Registry, sleeps: Sleeps) -> None:
    for name in ("pl", "ru", "world"):
        fleet.add(name)
    config = {
        "gateways": {n: {"dsn": dsn_for(e, "outbox", FAST)} for n, e in fleet.emulators.items()},
        "routers": {
            "main": {
                "default_region": "PL",
                "default": ["world"],
                "cost": {"pl": 0.05, "world": 0.1},
                "failover_codes": {"world": ["no_route"]},
                "breaker": {"failures": 3, "cool_down": 10},
                "rules": [
                    {"name": "poland", "prefix": "+48", "primary": "pl", "fallbacks": ["world"]},
                    {"region": ["RU", "KZ"], "gateways": ["ru", "world"], "weights": {"ru": 1}},
                    {"kind": "marketing", "gateways": ["world", "pl"], "order": "cost"},
                ],
            }
        },
    }
    health = Health()
    with connect_router("main", config, health=health, registry=registry, sleep=sleeps) as router:
        assert router.name == "main" and set(router.gateways) == {"pl", "ru", "world"}
        result = router.send(Message(["500600700", RU, GB], "x"))
        assert [result.gateway_of(r) for r in (PL, RU, GB)] == ["pl", "ru", "world"]
        assert router.candidates(GB, kind="marketing") == ("pl", "world")
        assert health.breaker("pl").policy.failures == 3
        assert [s["gateway"] for s in router.status()] == ["pl", "world", "ru"]
    with pytest.raises(ConfigurationError, match="no router 'nope'"):
        connect_router("nope", config)
    bad = {"routers": {"r": {"rules": [{"prefix": "+48", "primary": "missing"}]}}, "gateways": {}}
    with pytest.raises(ConfigurationError, match="no gateway 'missing'"):
        connect_router("r", bad)
    with pytest.raises(ConfigurationError, match="unknown key"):
        Router.from_config({"rulez": []}, lambda n: fleet.gateways[n])
    with pytest.raises(ConfigurationError, match="unknown key"):
        Router.from_config({"rules": [{"prefx": "+48", "primary": "pl"}]}, lambda n: fleet.gateways[n])
    with pytest.raises(ConfigurationError, match="region"):
        Router.from_config({"default": ["pl"], "default_region": "XX"}, lambda n: fleet.gateways[n])
    with pytest.raises(ConfigurationError, match="breaker"):
        Router.from_config({"default": ["pl"], "breaker": {"failures": 0}}, lambda n: fleet.gateways[n])


def test_preview_sends_nothing_and_close_closes_owned_gateways(fleet: Fleet) -> None:
    router = fleet.router(_three(fleet))
    requests = router.preview(Message([PL, RU, GB], "x", options={"kind": "marketing"}))
    assert len(requests) == 3 and not fleet.taken()
    assert all(b"secret" not in r.body and b"kind" not in r.body for r in requests)
    router.close()
    router.close()
    with pytest.raises(ConfigurationError, match="closed"):
        router.send(Message(PL, "x"))


# -- random faults: the invariants hold whatever happens ---------------------------------------------

FAULTS = [*AMBIGUOUS, Fault.THROTTLE, Fault.MALFORMED, Fault.TRUNCATED, None, None, None]


@pytest.mark.parametrize("seed", range(int(os.environ.get("SMSGATE_ROUTER_SEEDS", "6"))))
def test_random_faults_and_outages_never_duplicate_nor_lose(fleet: Fleet, seed: int) -> None:
    import random

    rnd = random.Random(seed)
    fast = "attempts=2&backoff=0&read_timeout=0.3&connect_timeout=0.3"
    for name in ("pl", "ru", "world"):
        fleet.add(name, scheme=rnd.choice(["outbox", "nodedup", "lookup"]), options=fast)
    rules = [Rule(["pl", "world"], prefixes=["+48"]), Rule(["ru", "world"], prefixes=["+7"]), Rule(["world", "pl"])]
    health = Health(BreakerPolicy(failures=rnd.choice([1, 2, 3]), cool_down=0.2))
    router = fleet.router(rules, health=health, concurrency=3)
    for emulator in fleet.emulators.values():
        for _ in range(rnd.randint(0, 4)):
            fault = rnd.choice(FAULTS)
            if fault is not None:
                emulator.inject(fault, times=rnd.randint(1, 3), delay=0.4, retry_after=0)
    prefixes = ["+4850060", "+7903123", "+4477009"]
    numbers = [f"{p}{n:04d}" for n in range(10) for p in prefixes]
    messages = [Message(numbers[n : n + 5], f"m{n}", key=f"s{seed}-{n}") for n in range(0, 30, 5)]

    def campaign() -> Iterator[Message]:
        for n, message in enumerate(messages):
            if n == 2:
                fleet.emulators[rnd.choice(["pl", "ru", "world"])].stop()
            yield message

    results = list(router.send_many(campaign()))
    taken = fleet.taken()
    assert len(results) == len(messages)
    for result in results:
        fleet.check(result)  # taken at most once; accepted exactly at its gateway; unknown nowhere else
    assert all(sum(c.values()) == 1 for c in taken.values())
