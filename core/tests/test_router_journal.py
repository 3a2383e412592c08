"""The router with a journal: a keyed message is never sent twice, across restarts too, even
when a gateway's health changed in between; and a campaign runs through a router."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from core_kit import Sleeps, dsn_for

from smsgate import connect
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.gateway import Gateway
from smsgate.health import BreakerPolicy, Health
from smsgate.journal import Journal
from smsgate.models import Message, Status
from smsgate.plugins import Registry
from smsgate.router import Router, Rule

PL, RU, GB = "+48500600700", "+79031234567", "+447700900123"


@pytest.fixture
def emulators() -> Iterator[dict[str, OutboxEmulator]]:
    running = {name: OutboxEmulator().start() for name in ("a", "b", "c")}
    yield running
    for emulator in running.values():
        emulator.stop()


def gateways(emulators: dict[str, OutboxEmulator], registry: Registry, sleeps: Sleeps) -> dict[str, Gateway]:
    return {
        n: connect(dsn_for(e, options="attempts=2&backoff=0"), registry=registry, sleep=sleeps)
        for n, e in emulators.items()
    }


RULES = [Rule(["a", "c"], prefixes=["+48"]), Rule(["b", "c"], prefixes=["+7"]), Rule(["c"])]


def taken(emulators: dict[str, OutboxEmulator]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for name, emulator in emulators.items():
        for m in emulator.messages:
            out.setdefault(m.to, Counter())[name] += 1
    return out


def test_a_settled_key_is_replayed_with_its_routes(
    emulators: dict[str, OutboxEmulator], registry: Registry, sleeps: Sleeps, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.jsonl", fsync=False)
    with Router(gateways(emulators, registry, sleeps), RULES, health=Health(), journal=journal) as router:
        assert all(gw.journal is journal for gw in router.gateways.values())
        first = router.send(Message([PL, RU, GB], "x", key="order-1"))
        again = router.send(Message([PL, RU, GB], "x", key="order-1"))
        unkeyed = router.send(Message([PL], "y"))
    assert first.ok and not first.replayed and unkeyed.ok
    assert again.replayed and again.requests == 0 and [o.status for o in again.outcomes] == [Status.ACCEPTED] * 3
    assert [again.gateway_of(n) for n in (PL, RU, GB)] == ["a", "b", "c"]
    assert taken(emulators) == {PL: Counter({"a": 2}), RU: Counter({"b": 1}), GB: Counter({"c": 1})}


def test_a_send_interrupted_mid_way_resumes_by_its_plan_not_by_todays_health(
    emulators: dict[str, OutboxEmulator], registry: Registry, sleeps: Sleeps, tmp_path: Path
) -> None:
    """The process dies while gateway b's request is in flight (a already answered). On restart
    gateway a's circuit is open: a fresh routing would send +48 to the fallback c, a second copy.
    The resumed send follows the recorded plan: a's share is replayed, b's resumed under its
    de-dup key, nothing reaches c."""
    path = tmp_path / "journal.jsonl"
    gws = gateways(emulators, registry, sleeps)
    real = gws["b"].engine.send_batch

    def dies_after_writing(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)  # the gateway took it...
        raise KeyboardInterrupt  # ...and the process died before recording the reply

    gws["b"].engine.send_batch = dies_after_writing  # type: ignore[method-assign]
    message = Message([PL, RU], "x", key="order-2")
    router = Router(gws, RULES, health=Health(), journal=Journal(path, fsync=False))
    with router, pytest.raises(KeyboardInterrupt):
        router.send(message)
    assert taken(emulators) == {PL: Counter({"a": 1}), RU: Counter({"b": 1})}

    health = Health(BreakerPolicy(failures=1))
    health.breaker("a").failure("down since the restart")
    with Router(
        gateways(emulators, registry, sleeps), RULES, health=health, journal=Journal(path, fsync=False)
    ) as router:
        result = router.send(message)
        fresh = router.send(Message([PL], "new", key="order-3"))  # a new key follows today's health
    assert result.ok and [result.gateway_of(n) for n in (PL, RU)] == ["a", "b"]
    assert fresh.gateway_of(PL) == "c"
    assert taken(emulators) == {PL: Counter({"a": 1, "c": 1}), RU: Counter({"b": 1})}
    assert [m.text for m in emulators["c"].messages] == ["new"]


def test_a_campaign_runs_through_a_router(
    emulators: dict[str, OutboxEmulator], registry: Registry, sleeps: Sleeps, tmp_path: Path
) -> None:
    from smsgate.campaign import Campaign
    from smsgate.store import open_store

    source = tmp_path / "customers.csv"
    rows = [("Ala", PL), ("Boris", RU), ("Carl", GB), ("Ola", "+48500600701")]
    source.write_text("first_name,phone\n" + "".join(f"{n},{p}\n" for n, p in rows))
    store = open_store(tmp_path / "store.sqlite")
    with Router(gateways(emulators, registry, sleeps), RULES, name="main", health=Health()) as router:
        campaign = Campaign(router, store, "spring", source, "Hi {first_name}!")  # type: ignore[arg-type]
        assert not campaign.validate(quote=False).errors
        counts = campaign.run()
        again = Campaign(router, store, "spring", source, "Hi {first_name}!").run()  # type: ignore[arg-type]
    assert counts.get("accepted") == 4 and again.get("accepted") == 4
    where = {n: next(iter(c)) for n, c in taken(emulators).items()}
    assert where == {PL: "a", "+48500600701": "a", RU: "b", GB: "c"}
    assert all(sum(c.values()) == 1 for c in taken(emulators).values())
