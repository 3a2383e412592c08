"""Circuit breakers (smsgate.health), destination-dependent capability checks, and the
``smsgate gateways`` command."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from core_kit import Sleeps, dsn_for

from smsgate import cli, connect
from smsgate.builtin import outbox
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.errors import ValidationError
from smsgate.health import Breaker, BreakerPolicy, Health, State
from smsgate.hookspecs import hookimpl
from smsgate.models import Message
from smsgate.plugins import Registry
from smsgate.router import Router, Rule


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


# -- the breaker ----------------------------------------------------------------------------------


def state(breaker: Breaker) -> State:
    """The breaker's state, read afresh (mypy would otherwise keep the last assert's narrowing)."""
    return breaker.state


def test_consecutive_failures_open_and_a_success_resets_the_count() -> None:
    b = Breaker("g", BreakerPolicy(failures=3, min_calls=100), Clock())
    for _ in range(2):
        b.failure("boom")
    b.success()
    b.failure("boom")
    b.failure("boom")
    assert state(b) is State.CLOSED
    b.failure("last straw")
    assert state(b) is State.OPEN and not b.allow()
    snap = b.snapshot()
    assert (snap["failures"], snap["successes"], snap["skipped"], snap["opened"]) == (5, 1, 1, 1)
    assert snap["last_error"] == "last straw" and snap["consecutive_failures"] == 3


def test_the_error_rate_over_the_window_opens_and_old_calls_age_out() -> None:
    clock = Clock()
    b = Breaker("g", BreakerPolicy(failures=100, error_rate=0.5, window=60, min_calls=10), clock)
    for n in range(9):
        b.failure("x") if n % 2 else b.success()
    assert state(b) is State.CLOSED  # 9 calls: below min_calls
    clock.now += 61  # the window forgets them
    for _ in range(5):
        b.success()
    for _ in range(4):
        b.failure("x")
    assert state(b) is State.CLOSED  # 4 of 9 in the window
    b.failure("x")  # 5 of 10
    assert state(b) is State.OPEN


def test_half_open_lets_exactly_one_probe_through_across_threads() -> None:
    clock = Clock()
    b = Breaker("g", BreakerPolicy(failures=1, cool_down=30), clock)
    b.failure("down")
    assert not b.allow()
    clock.now += 30
    assert state(b) is State.HALF_OPEN
    allowed: list[bool] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        allowed.append(b.allow())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 1
    b.failure("still down")  # the probe failed: open again for a full cool-down
    assert state(b) is State.OPEN and b.snapshot()["opened"] == 2
    clock.now += 29
    assert not b.allow()
    clock.now += 1
    assert b.allow()
    b.release()  # the probe was not sent after all: the next caller probes
    assert b.allow()
    b.success()
    assert state(b) is State.CLOSED and b.allow()


def test_counts_stay_exact_under_threads() -> None:
    b = Breaker("g", BreakerPolicy(failures=10**9, min_calls=10**9))

    def worker() -> None:
        for n in range(1000):
            b.success() if n % 3 else b.failure("x")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = b.snapshot()
    assert snap["successes"] + snap["failures"] == 8000 and snap["failures"] == 8 * 334


def test_health_shares_breakers_by_name_and_saves_snapshots(tmp_path: Path) -> None:
    assert Health.shared() is Health.shared()
    health = Health(BreakerPolicy(failures=1))
    assert health.breaker("a") is health.breaker("a")
    health.breaker("a").failure("no route")
    health.breaker("b").success()
    path = tmp_path / "health.json"
    health.save(path)
    rows = Health.load(path)
    assert [(r["gateway"], r["state"], r["last_error"]) for r in rows] == [
        ("a", "open", "no route"),
        ("b", "closed", None),
    ]
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(ValueError, match="snapshot"):
        Health.load(tmp_path / "bad.json")


def test_policy_from_mapping_refuses_nonsense() -> None:
    assert BreakerPolicy.from_mapping({"failures": 2, "cool_down": "5"}) == BreakerPolicy(failures=2, cool_down=5.0)
    with pytest.raises(ValueError, match="unknown"):
        BreakerPolicy.from_mapping({"fail": 2})
    with pytest.raises(ValueError, match="error_rate"):
        BreakerPolicy.from_mapping({"error_rate": 2})


# -- capability checks that depend on the destination -----------------------------------------------


def no_france() -> SimpleNamespace:
    """The outbox provider, refusing (before sending) any request with a +33 number."""
    base = outbox.provider_spec()

    @hookimpl
    def provider_spec() -> Any:
        import attrs

        return attrs.evolve(base, name="nofr")

    @hookimpl
    def build_request(operation: Any, settings: Any, endpoint: Any) -> Any:
        batch = getattr(operation, "batch", None)
        if batch is not None and any(r.startswith("+33") for r in batch.recipients):
            raise ValidationError("to", "this gateway does not serve France")
        return outbox.build_request(operation, settings, endpoint)

    return SimpleNamespace(
        __name__="variant_nofr",
        provider_spec=provider_spec,
        build_request=build_request,
        parse_response=outbox.parse_response,
        classify_error=outbox.classify_error,
        schedule_format=outbox.schedule_format,
        parse_delivery_report=outbox.parse_delivery_report,
    )


@pytest.fixture
def pair(registry: Registry, sleeps: Sleeps) -> Iterator[tuple[OutboxEmulator, OutboxEmulator, Registry]]:
    registry.register(no_france())
    with OutboxEmulator() as first, OutboxEmulator() as second:
        yield first, second, registry


def test_only_the_recipients_a_gateway_refuses_fall_to_the_next(
    pair: tuple[OutboxEmulator, OutboxEmulator, Registry], sleeps: Sleeps
) -> None:
    first, second, registry = pair
    gateways = {
        "main": connect(dsn_for(first, "nofr"), registry=registry, sleep=sleeps),
        "other": connect(dsn_for(second), registry=registry, sleep=sleeps),
    }
    numbers = [f"+4850060{n:04d}" for n in range(40)] + ["+33612345678", "+33612345679"]
    with Router(gateways, [Rule(["main", "other"])], health=Health()) as router:
        result = router.send(Message(numbers, "x"))
    assert result.ok
    assert {n for n in numbers if result.gateway_of(n) == "other"} == {"+33612345678", "+33612345679"}
    assert len(first.messages) == 40 and len(second.messages) == 2


# -- smsgate gateways -----------------------------------------------------------------------------


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(["gateways", *argv], out=out), out.getvalue()


def test_gateways_command_probes_each_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMSGATE_CONFIG", raising=False)
    with OutboxEmulator() as up, OutboxEmulator() as down:
        dead = down.dsn()
        down.stop()
        code, text = run("--gateway", f"up={up.dsn()}", "--gateway", f"down={dead}&attempts=1", "--json")
        data = json.loads(text)
        rows = {r["gateway"]: r for r in data["gateways"]}
        assert code == 5 and data["healthy"] is False
        assert rows["up"]["probe"].startswith("answered") and rows["up"]["state"] == "closed"
        assert rows["down"]["probe"] == "failed" and rows["down"]["last_error"]
        assert "secret" not in text and up.password not in text
        code, text = run("--gateway", f"up={up.dsn()}")
        assert code == 0 and "up" in text and "closed" in text and "answered" in text


def test_gateways_command_reads_the_config_file_and_a_saved_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with OutboxEmulator() as emulator:
        config = tmp_path / "smsgate.toml"
        state = tmp_path / "health.json"
        config.write_text(
            f'[gateways.a]\ndsn = "{emulator.dsn()}"\n[gateways.b]\ndsn = "{emulator.dsn()}"\n'
            f'[gateways.c]\ndsn = "{emulator.dsn()}"\n'
            f'[routers.main]\ndefault = ["a", "b"]\nhealth_file = "{state}"\n'
        )
        monkeypatch.setenv("SMSGATE_CONFIG", str(config))
        code, text = run("main", "--no-probe", "--json")
        assert code == 0 and [r["gateway"] for r in json.loads(text)["gateways"]] == ["a", "b"]
        code, text = run("--no-probe")
        assert code == 0 and all(name in text for name in ("a", "b", "c"))
        with connect("main") as router:
            assert router.send(Message("+48500600700", "x")).ok
        code, text = run("--state", str(state), "--json")
        rows = json.loads(text)["gateways"]
        assert code == 0 and {r["gateway"] for r in rows} >= {"a", "b"}
        assert sum(r["successes"] for r in rows) >= 1
        code, text = run("nope")
        assert code == 2


def test_gateways_command_takes_the_global_config_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smsgate import profiles

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMSGATE_CONFIG", raising=False)
    monkeypatch.setattr(profiles, "explicit_path", None)  # cli.main sets it from --config: undone after
    config = tmp_path / "elsewhere.toml"
    config.write_text('[gateways.only]\ndsn = "outbox://u:p@127.0.0.1:9?tls=false"\n')
    for argv in (
        ["--config", str(config), "gateways", "--no-probe"],
        ["gateways", "--config", str(config), "--no-probe"],
    ):
        out = io.StringIO()
        assert cli.main(argv, out=out) == 0 and "only" in out.getvalue()
