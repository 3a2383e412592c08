"""The delivery promises under random fault schedules, for every capability profile.

Each schedule sends a few messages through the real ``Gateway`` (planning, pluggy hooks, the
engine, the journal) to a simulated gateway in virtual time (``simulation.py``), with faults
drawn per request, client kills and restarts from the journal, repeated and conflicting keys.
After every schedule, for every message and recipient:

- never twice: the gateway took it at most once;
- never lost: ``accepted``/``scheduled`` means it was taken, ``rejected`` that it was not;
- the truth: ``unknown`` only where a request for it reached the gateway;
- complete: every recipient has an outcome.

``SMSGATE_SIM_SCHEDULES`` sets the schedules per profile (default 10,000; ``nox -s simulation
-- --long`` style runs set more), ``SMSGATE_SIM_SEED`` the first seed.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import simulation as sim

from smsgate import Journal, Message, Status
from smsgate.builtin.outbox import variant
from smsgate.config import GatewayOptions
from smsgate.errors import KeyConflictError
from smsgate.gateway import Gateway
from smsgate.models import SendResult
from smsgate.plugins import Hooks, Registry
from smsgate.spec import Endpoint
from smsgate.store import Store
from smsgate.store.sqlite import SqliteStore

SCHEDULES = int(os.environ.get("SMSGATE_SIM_SCHEDULES", "10000"))
SEED = int(os.environ.get("SMSGATE_SIM_SEED", "1"))
READ_TIMEOUT = 10.0

#: name -> capabilities: what the provider offers against doubt.
PROFILES: dict[str, dict[str, Any]] = {
    "dedup": {"dedup": "key", "dedup_window": 60.0, "operations": frozenset({"send"})},
    "dedup_long": {"dedup": "key", "dedup_window": 24 * 3600.0, "operations": frozenset({"send"})},
    "lookup": {"dedup": None, "lookup_delay": 30.0, "operations": frozenset({"send", "reconcile"})},
    "dedup_lookup": {
        "dedup": "key",
        "dedup_window": 60.0,
        "lookup_delay": 30.0,
        "operations": frozenset({"send", "reconcile"}),
    },
    "nothing": {"dedup": None, "operations": frozenset({"send"})},
}

_HOOKS: dict[tuple[int, str], Hooks] = {}  # a plugin manager per profile, shared by the schedules

NUMBERS = ("+48500600700", "+48500600701", "+48500600702", "+33612345678")


@attrs.define
class World:
    """One schedule: a simulated gateway, a journal file and a way to start a client."""

    profile: str
    gateway: sim.Gateway
    clock: sim.Clock
    schedule: sim.Schedule
    journal_path: Path
    registry: Registry
    store: Store | None = None  # the store-backed journal's store (kept across "processes")

    def journal(self) -> Journal:
        """The journal as a new process opens it: from its file, or on its store."""
        return Journal(self.journal_path, fsync=False) if self.store is None else Journal.on(self.store)

    def client(self) -> Gateway:
        """A new client process: its own engine, the journal reopened from the file or store."""
        provider = self.registry.provider(self.profile)
        key = (id(self.registry), self.profile)
        if key not in _HOOKS:
            _HOOKS[key] = self.registry.hooks(self.profile)
        hooks = _HOOKS[key]
        options = GatewayOptions(read_timeout=READ_TIMEOUT, attempts=5, max_retry_time=300.0, backoff=1.0)
        transport = sim.Transport(self.gateway, self.schedule)
        return Gateway(
            provider,
            hooks,
            provider.spec.settings(username="u", password=provider.spec.settings().password),
            options,
            Endpoint("sim.invalid", None, True),
            transport=transport,  # type: ignore[arg-type]
            clock=self.clock,
            sleep=self.clock.sleep,
            journal=self.journal(),
        )


def messages(rng: random.Random, n: int) -> list[Message]:
    """``n`` messages, each with distinct text; some share a key with an earlier one (a resend by
    the caller) and a few reuse a key for other content (a conflict)."""
    out: list[Message] = []
    for i in range(n):
        to = rng.sample(NUMBERS, rng.randint(1, 3))
        out.append(Message(to, f"message {i}", key=f"k{i}"))
        if rng.random() < 0.15:
            out.append(out[-1])  # the caller sends it again: never twice
    return out


def run(world: World, batch: list[Message], rng: random.Random) -> dict[str, SendResult]:
    """Send ``batch``; a kill restarts the client (a new process: journal reopened from the file)
    after a random pause, and the caller sends everything again."""
    results: dict[str, SendResult] = {}
    for _restart in range(20):
        client = world.client()
        try:
            for message in batch:
                results[message.text] = client.send(message)
            return results
        except sim.Killed:
            world.clock.sleep(rng.choice((0.0, 5.0, 50.0, 500.0, 5000.0)))
        if _restart > 10:
            world.schedule.kills = False
    raise AssertionError("the client never finished")


def check(world: World, batch: list[Message], results: dict[str, SendResult]) -> None:
    taken = world.gateway.taken
    for message in batch:
        result = results[message.text]
        statuses = {o.recipient: o.status for o in result.outcomes}
        assert sorted(statuses) == sorted(set(message.to)), "every recipient has an outcome"
        for number in message.to:
            times = taken[(message.text, number)]
            status = statuses[number]
            where = f"{world.profile}: {message.text} to {number}: {status.value}, taken {times}x"
            assert times <= 1, f"sent twice: {where}"
            if status in (Status.ACCEPTED, Status.SCHEDULED):
                assert times == 1, f"reported accepted, never taken: {where}"
            elif status is Status.REJECTED:
                assert times == 0, f"reported rejected, but taken: {where}"
            else:
                assert message.text in world.gateway.written, f"unknown though nothing reached the gateway: {where}"


def schedules(profile: str) -> Iterator[int]:
    base = SEED * 1_000_003 + sorted(PROFILES).index(profile) * 10_000_019
    return iter(range(base, base + SCHEDULES))


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry(load_entrypoints=False)
    for name, caps in PROFILES.items():
        registry.register(variant(name, **caps))
    return registry


#: How a journal is kept: a JSON-lines file, or the store (SQLite; in memory here, one per schedule).
JOURNALS = ("jsonl", "store")


@pytest.mark.parametrize("journal", JOURNALS)
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_promises_hold_under_random_fault_schedules(
    profile: str, journal: str, registry: Registry, tmp_path: Path
) -> None:
    caps = registry.provider(profile).spec.capabilities
    for seed in schedules(profile):
        rng = random.Random(seed)
        clock = sim.Clock()
        gateway = sim.Gateway(clock, caps.dedup_window if caps.dedup else None, READ_TIMEOUT, caps.lookup_delay)
        schedule = sim.Schedule(rng, sim.weights(rng))
        path = tmp_path / f"journal-{seed}.jsonl"
        store = SqliteStore(":memory:") if journal == "store" else None
        world = World(profile, gateway, clock, schedule, path, registry, store)
        batch = messages(rng, rng.randint(1, 4))
        try:
            results = run(world, batch, rng)
            check(world, batch, results)
        except AssertionError as error:
            raise AssertionError(f"seed {seed} (SMSGATE_SIM_SEED={SEED}, {journal}): {error}") from None
        finally:
            if store is not None:
                store.close()
        path.unlink(missing_ok=True)


@pytest.mark.parametrize("journal", JOURNALS)
def test_a_key_reused_for_other_content_is_refused(registry: Registry, tmp_path: Path, journal: str) -> None:
    rng = random.Random(7)
    clock = sim.Clock()
    world = World(
        "dedup",
        sim.Gateway(clock, 60.0, READ_TIMEOUT, 0.0),
        clock,
        sim.Schedule(rng, {"ok": 1.0}),
        tmp_path / "j.jsonl",
        registry,
        SqliteStore(tmp_path / "j.db") if journal == "store" else None,
    )
    client = world.client()
    first = client.send(Message(NUMBERS[0], "first", key="same"))
    with pytest.raises(KeyConflictError, match="'same' was already used"):
        client.send(Message(NUMBERS[1], "second", key="same"))
    with pytest.raises(KeyConflictError):  # a new process: the journal remembers
        world.client().send(Message(NUMBERS[1], "second", key="same"))
    again = world.client().send(Message(NUMBERS[0], "first", key="same"))
    assert first.ok and again.replayed and again.outcomes == first.outcomes
    assert sum(world.gateway.taken.values()) == 1
