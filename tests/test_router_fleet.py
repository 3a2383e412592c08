"""The five provider emulators as one fleet behind a router (issue 16).

SerwerSMS takes +48, SMSC +7, Octopush +33, BulkSMS everything else, RouteSMS backs BulkSMS up.
After every scenario each emulator is asked what it *took*, per recipient: 0 duplicates across
gateways, 0 lost (an accepted recipient is at exactly the gateway the result names)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import smsgate
from smsgate import Message, Status
from smsgate.engine import digits
from smsgate.errors import ValidationError
from smsgate.health import BreakerPolicy, Health, State
from smsgate.plugins import default_registry, emulator_class
from smsgate.router import RoutedResult, Router

PROVIDERS = {"pl": "serwersms", "ru": "smsc", "fr": "octopush", "world": "bulksms", "backup": "routesms"}
FAST = "attempts=2&backoff=0&read_timeout=0.5&connect_timeout=0.5"
ROUTER = {
    "default": ["world", "backup"],
    "breaker": {"failures": 3, "cool_down": 600},
    "rules": [
        {"name": "poland", "prefix": "+48", "primary": "pl", "fallbacks": ["world"]},
        {"name": "russia", "region": "RU", "primary": "ru", "fallbacks": ["world"]},
        {"name": "france", "prefix": "+33", "primary": "fr", "fallbacks": ["world"]},
    ],
}
TEXT = "Promo -20% this week. STOP au XXXXX"  # the mention Octopush premium needs for France
COUNTRY = {"48": "pl", "7": "ru", "33": "fr"}


def numbers(prefix: str, count: int, start: int = 0) -> list[str]:
    body = {"+48": "5006", "+7": "90312", "+33": "6123", "+44": "77009", "+1": "20255"}[prefix]
    width = 11 - len(prefix) - len(body) + 1
    return [f"{prefix}{body}{n:0{width}d}" for n in range(start, start + count)]


def taken_by(name: str, emulator: Any) -> list[str]:
    """The recipients ``emulator`` took (E.164), one entry per message it has."""
    with emulator.lock:
        if name == "serwersms":
            found = [m.phone for m in emulator.account.messages.values()]
            found += [m.phone for _, batch in emulator.processing for m in batch]
        elif name == "smsc":
            found = [m.phone for m in emulator.messages.values()]
        elif name == "bulksms":
            found = [m.msisdn for m in emulator.messages]
        elif name == "octopush":
            found = [m.recipient for m in emulator.messages]
        else:
            found = [m.destination for m in emulator.messages]
    return ["+" + digits(n) for n in found]


class Fleet:
    def __init__(self) -> None:
        registry = default_registry()
        self.emulators = {g: emulator_class(registry.provider(p).spec)().start() for g, p in PROVIDERS.items()}
        self.health = Health()

    def dsn(self, gateway: str) -> str:
        return f"{self.emulators[gateway].dsn()}&{FAST}"

    def router(self, section: dict[str, Any] | None = None) -> Router:
        def factory(gateway: str) -> smsgate.Gateway:
            return smsgate.connect(self.dsn(gateway), sleep=lambda s: None)

        return Router.from_config(section or ROUTER, factory, name="fleet", health=self.health)

    def taken(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {}
        for gateway, emulator in self.emulators.items():
            for number in taken_by(PROVIDERS[gateway], emulator):
                out.setdefault(number, Counter())[gateway] += 1
        return out

    def check(self, results: list[RoutedResult]) -> dict[str, Counter[str]]:
        """0 duplicates, 0 lost, across every gateway of the fleet."""
        taken = self.taken()
        seen: set[str] = set()
        for result in results:
            for o in result.outcomes:
                assert o.recipient not in seen, "each recipient once in these tests"
                seen.add(o.recipient)
                where = taken.get(o.recipient, Counter())
                assert sum(where.values()) <= 1, f"duplicate: {o.recipient} taken {dict(where)}"
                if o.ok:
                    assert where == Counter({result.gateway_of(o.recipient): 1}), f"lost or misrouted: {o} {where}"
                elif o.status is Status.REJECTED:
                    assert not where, (o, dict(where))
                else:
                    assert set(where) <= {result.gateway_of(o.recipient)}, (o, dict(where))
        assert set(taken) <= seen, "an emulator took a number nobody sent"
        return taken

    def stop(self) -> None:
        for emulator in self.emulators.values():
            emulator.stop()


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    fleet = Fleet()
    yield fleet
    fleet.stop()


def mixed(per_country: int, start: int = 0) -> list[str]:
    return [n for p in ("+48", "+7", "+33", "+44", "+1") for n in numbers(p, per_country, start)]


def test_a_mixed_country_campaign_is_routed_as_configured(fleet: Fleet) -> None:
    everyone = mixed(8)
    messages = [Message(everyone[n::5], TEXT, key=f"campaign-{n}") for n in range(5)]
    with fleet.router() as router:
        results = list(router.send_many(messages, concurrency=3))
    assert all(r.ok for r in results), [o for r in results for o in r.outcomes if not o.ok]
    taken = fleet.check(results)
    where = {n: next(iter(c)) for n, c in taken.items()}
    expected = {n: COUNTRY.get(digits(n)[:2], COUNTRY.get(digits(n)[:1], "world")) for n in everyone}
    assert where == expected
    assert Counter(where.values()) == {"pl": 8, "ru": 8, "fr": 8, "world": 16}


def test_a_message_octopush_cannot_carry_falls_to_bulksms_with_the_reason(fleet: Fleet) -> None:
    fr, pl = numbers("+33", 2), numbers("+48", 1)
    with fleet.router() as router:
        result = router.send(Message([*fr, *pl], "Your code is 1234"))  # premium to France needs "STOP au"
        assert result.ok and [result.gateway_of(n) for n in fr] == ["world", "world"]
        assert result.gateway_of(pl[0]) == "pl"
        no_fallback = {**ROUTER, "rules": [{"prefix": "+33", "primary": "fr"}]}
        with fleet.router(no_fallback) as strict, pytest.raises(ValidationError, match="STOP au") as info:
            strict.send(Message(numbers("+33", 1, 5), "Your code is 1234"))
        assert info.value.code == "no_route"
    fleet.check([result])


def test_an_emulator_stopped_mid_run_moves_its_traffic_to_the_fallback(fleet: Fleet) -> None:
    count = 12
    ru, pl, gb = numbers("+7", count), numbers("+48", count), numbers("+44", count)

    def campaign() -> Iterator[Message]:
        for n in range(count):
            if n == 4:
                fleet.emulators["ru"].stop()  # SMSC goes away mid-run
            yield Message([ru[n], pl[n], gb[n]], TEXT, key=f"run-{n}")

    with fleet.router() as router:
        results = list(router.send_many(campaign(), concurrency=2))
        status = {s["gateway"]: s for s in router.status()}
    fleet.check(results)
    assert [r.gateway_of(ru[0]) for r in results[:1]] == ["ru"]
    later = results[8:]
    assert all(r.ok and r.gateway_of(ru[n]) == "world" for n, r in zip(range(8, count), later))
    assert all(r.gateway_of(pl[n]) == "pl" and r.gateway_of(gb[n]) == "world" for n, r in enumerate(results))
    assert status["ru"]["state"] == State.OPEN.value and status["ru"]["last_error"]
    moved = [r for n, r in enumerate(results) if r.gateway_of(ru[n]) == "world"]
    assert len(moved) >= 8
    # after the circuit opened, SMSC is not even tried: the recipients go straight to the fallback
    assert any(r.tried[ru[n]] == ("world",) for n, r in enumerate(results))


AMBIGUOUS = [
    smsgate.emulator.Fault.PROCESSED_THEN_ERROR,
    smsgate.emulator.Fault.RESET_BEFORE_REPLY,
    smsgate.emulator.Fault.TIMEOUT_AFTER_ACCEPT,
    smsgate.emulator.Fault.DROP,
    smsgate.emulator.Fault.SERVER_ERROR,
]


@pytest.mark.parametrize("primary", ["pl", "ru", "fr"])
@pytest.mark.parametrize("fault", [*AMBIGUOUS, smsgate.emulator.Fault.THROTTLE], ids=lambda f: f.name)
def test_faults_on_the_primary(fleet: Fleet, primary: str, fault: Any) -> None:
    """An ambiguous fault never produces a send on the fallback; throttling until the retries
    run out (nothing taken) moves the recipients to it. Either way: 0 duplicates, 0 lost."""
    prefix = {"pl": "+48", "ru": "+7", "fr": "+33"}[primary]
    mine, other = numbers(prefix, 3), numbers("+44", 1)
    fleet.emulators[primary].inject(fault, times=10, delay=1.0, retry_after=0)
    with fleet.router() as router:
        result = router.send(Message([*mine, *other], TEXT))
    taken = fleet.check([result])
    assert result.gateway_of(other[0]) == "world" and result.outcomes[-1].ok
    if fault is smsgate.emulator.Fault.THROTTLE:
        assert all(result.gateway_of(n) == "world" and taken[n] == Counter({"world": 1}) for n in mine)
        assert all(result.tried[n] == (primary, "world") for n in mine)
    else:
        assert all(result.gateway_of(n) == primary and result.tried[n] == (primary,) for n in mine)
        assert not any(taken.get(n, Counter())["world"] for n in mine), "never a send on the fallback"
        assert all(o.status in (Status.UNKNOWN, Status.REJECTED) for o in result.outcomes[:3])


def test_connect_by_router_name_from_the_config_file(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [f'[gateways.{g}]\ndsn = "{fleet.dsn(g)}"\n' for g in PROVIDERS]
    lines.append('[routers.fleet]\ndefault = ["world", "backup"]\n')
    lines.append('[[routers.fleet.rules]]\nprefix = "+48"\nprimary = "pl"\nfallbacks = ["world"]\n')
    lines.append('[[routers.fleet.rules]]\nregion = ["RU"]\ngateways = ["ru", "world"]\n')
    path = tmp_path / "smsgate.toml"
    path.write_text("\n".join(lines))
    monkeypatch.setenv("SMSGATE_CONFIG", str(path))
    pl, ru, gb = numbers("+48", 1), numbers("+7", 1), numbers("+44", 1)
    connected: object = smsgate.connect("fleet", sleep=lambda s: None)  # typed Gateway; a router name gives a Router
    assert isinstance(connected, Router)
    with connected as router:
        result = router.send(Message([*pl, *ru, *gb], TEXT))
    assert [result.gateway_of(n) for n in (*pl, *ru, *gb)] == ["pl", "ru", "world"]
    fleet.check([result])


def test_breaker_policy_from_config(fleet: Fleet) -> None:
    with fleet.router() as router:
        assert router.breaker("ru").policy == BreakerPolicy(failures=3, cool_down=600)
