"""Campaigns on the outbox gateway: validation, grouping, rate limit, stop, resume, reports."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from campaign_kit import people, taken, write_csv, write_jsonl
from core_kit import dsn_for

from smsgate import cli, connect, profiles
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.campaign import Campaign, Progress, refresh, status
from smsgate.errors import ConfigurationError
from smsgate.journal import Journal
from smsgate.plugins import Registry
from smsgate.ratelimit import Rate, TokenBucket
from smsgate.store import RowRef, iter_rows, open_store
from smsgate.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = open_store(tmp_path / "store.db")
    assert isinstance(s, SqliteStore)
    return s


def test_validation_reports_counts_and_the_first_errors_with_row_numbers(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry, store: SqliteStore
) -> None:
    rows = [
        {"phone": "+48500600700", "first_name": "Ann"},
        {"phone": "12", "first_name": "Bob"},
        {"phone": "+48500600702", "first_name": ""},
        {"phone": "+48500600703", "first_name": "Zoë"},
        {"phone": "+48500600704", "first_name": "x" * 2000},
    ]
    source = write_csv(tmp_path / "in.csv", rows)
    with connect(dsn_for(emulator), registry=registry) as gateway:
        campaign = Campaign(gateway, store, "v", source, "Hi {first_name}")
        summary = campaign.validate()
        assert (summary.rows, summary.valid, summary.invalid) == (5, 2, 3)
        assert summary.encodings == {"gsm7": 1, "ucs2": 1} or summary.encodings == {"gsm7": 2}
        assert [row for row, _ in summary.errors] == [2, 3, 5]
        assert "first_name" in summary.errors[1][1]
        with pytest.raises(ConfigurationError, match="row 2"):
            campaign.run()
        assert emulator.messages == [] and store.campaign("v") is None
        with pytest.raises(ConfigurationError, match="not columns"):
            Campaign(gateway, store, "w", source, "Hi {surname}")


def test_identical_texts_share_requests_and_every_row_is_sent_once(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry, store: SqliteStore
) -> None:
    source = write_csv(tmp_path / "in.csv", people(60))
    seen: list[Progress] = []
    with connect(dsn_for(emulator), registry=registry) as gateway:
        counts = Campaign(gateway, store, "c", source, "Hi {first_name}", progress=seen.append).run()
        assert counts == {"accepted": 60}
        assert len(emulator.requests) == 41  # 20 "Hi Ann" in one request, 40 others alone
        assert set(taken(emulator).values()) == {1} and len(taken(emulator)) == 60
        again = Campaign(gateway, store, "c", source, "Hi {first_name}").run()
    assert again == counts and len(emulator.requests) == 41, "a finished campaign sends nothing"
    assert seen[-1].remaining == 0 and seen[-1].counts == {"accepted": 60}
    rows = list(iter_rows(store, "c"))
    assert [r.row for r in rows] == list(range(1, 61)) and all(r.gateway_id and r.attempts == 1 for r in rows)
    record, _ = status(store, "c")
    assert record.state == "finished" and record.provider == "outbox"


def test_json_lines_input_and_per_row_sender(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry, store: SqliteStore
) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"to": "+48500600700", "n": 1, "sender": "Shop"}, {"to": "+48500600701", "n": 2}]
    )
    with connect(dsn_for(emulator), registry=registry) as gateway:
        assert Campaign(gateway, store, None, source, "Order {n}", sender="Acme").run() == {"accepted": 2}
    assert sorted((m.text, m.sender) for m in emulator.messages) == [("Order 1", "Shop"), ("Order 2", "Acme")]


def test_a_stop_finishes_in_flight_requests_and_a_rerun_completes(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry, store: SqliteStore
) -> None:
    source = write_csv(tmp_path / "in.csv", people(80, same_every=1000))
    stop = threading.Event()

    def halt(p: Progress) -> None:
        if p.settled_now >= 10:
            stop.set()

    with connect(dsn_for(emulator), registry=registry) as gateway:
        first = Campaign(gateway, store, "s", source, "Hi {first_name}", progress=halt).run(stop=stop)
        assert "sending" not in first and 10 <= first["accepted"] < 80 and first["planned"] == 80 - first["accepted"]
        assert status(store, "s")[0].state == "stopped"
        assert Campaign(gateway, store, "s", source, "Hi {first_name}").run() == {"accepted": 80}
    assert set(taken(emulator).values()) == {1} and len(taken(emulator)) == 80


class Killed(BaseException):
    """kill -9: nothing after this point runs."""


def _killed_after_sending(
    tmp_path: Path,
    emulator: OutboxEmulator,
    registry: Registry,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> tuple[Path, Any]:
    """Campaign ``name`` of six people, one "Hi Ann" request for all, killed (kill -9) after the
    gateway took the request and before its result was recorded: its rows are left ``sending``."""
    source = write_csv(tmp_path / "in.csv", people(6, same_every=1))
    with connect(dsn_for(emulator), registry=registry) as gateway:
        campaign = Campaign(gateway, store, name, source, "Hi {first_name}")
        campaign.plan()
        unit = next(campaign._units())
        refs = [RowRef(name, e.row, e.recipient) for e in unit.entries]

        def die(*_: object) -> None:
            raise Killed()

        monkeypatch.setattr(campaign.journal, "done", die)  # the request is sent, its result never recorded
        with pytest.raises(Killed):
            campaign._send_message(unit, refs)
    return source, unit


def test_rows_left_sending_by_a_dead_process_resume_under_their_key(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = _killed_after_sending(tmp_path, emulator, registry, store, monkeypatch, "r")
    assert len(emulator.messages) == 6 and store.counts("r") == {"sending": 6}
    with connect(dsn_for(emulator), registry=registry) as gateway:
        counts = Campaign(gateway, store, "r", source, "Hi {first_name}").run()
    assert counts == {"accepted": 6}
    assert len(emulator.messages) == 6, "resent under the de-dup key: the gateway replayed its reply"
    assert {r.attempts for r in iter_rows(store, "r")} == {2}


def test_a_number_suppressed_while_its_request_was_in_flight_does_not_split_the_request(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request may have been taken: it resumes under its own key, whole (suppression stops
    only what has not gone out); a request of the rest under a new key would be a second send."""
    from smsgate.inbound import open_inbound

    source, unit = _killed_after_sending(tmp_path, emulator, registry, store, monkeypatch, "s")
    assert open_inbound(store).suppress([unit.entries[0].recipient], "STOP") == 1
    with connect(dsn_for(emulator), registry=registry) as gateway:
        counts = Campaign(gateway, store, "s", source, "Hi {first_name}").run()
    assert counts == {"accepted": 6}, "the gateway took all six before the opt-out"
    assert len(emulator.messages) == 6, "nothing sent twice"


def test_invalid_rows_can_be_skipped_and_are_recorded(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry, store: SqliteStore
) -> None:
    source = write_csv(tmp_path / "in.csv", [{"phone": "+48500600700", "n": "1"}, {"phone": "nope", "n": "2"}])
    with connect(dsn_for(emulator), registry=registry) as gateway:
        counts = Campaign(gateway, store, "k", source, "N {n}", skip_invalid=True).run()
    assert counts == {"accepted": 1, "rejected": 1}
    bad = list(iter_rows(store, "k"))[1]
    assert bad.code == "invalid" and bad.reason


def test_refresh_records_delivery(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry, store: SqliteStore
) -> None:
    source = write_csv(tmp_path / "in.csv", people(5))
    with connect(dsn_for(emulator), registry=registry) as gateway:
        Campaign(gateway, store, "d", source, "Hi {first_name}").run()
        moved = refresh(gateway, store, "d")
    assert moved == {"delivered": 5} and store.counts("d") == {"delivered": 5}


def test_a_token_bucket_keeps_the_average_rate() -> None:
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    bucket = TokenBucket(10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(30):
        bucket.take()
    assert 1.9 <= now[0] <= 2.1  # 10 at once (the burst), then 20 at 10/s
    bucket.take(50)  # a request bigger than a second's worth waits for a full bucket, then goes
    assert Rate.parse("600/min") == Rate(10.0)
    with pytest.raises(ConfigurationError):
        Rate.parse("fast")


def test_the_gateway_journal_must_be_on_the_campaign_store(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry, store: SqliteStore
) -> None:
    source = write_csv(tmp_path / "in.csv", people(2))
    other = open_store(tmp_path / "other.db")
    with (
        connect(dsn_for(emulator), registry=registry, journal=Journal.on(other)) as gateway,
        pytest.raises(ConfigurationError, match="journal"),
    ):
        Campaign(gateway, store, "j", source, "Hi {first_name}")


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(argv), out), out.getvalue()


def test_the_cli_asks_first_then_sends_reports_and_lists(tmp_path: Path, emulator: OutboxEmulator) -> None:
    source = write_csv(tmp_path / "in.csv", people(12))
    db = str(tmp_path / "cli.db")
    base = ("campaign", "run", str(source), "--gateway", emulator.dsn(), "--text", "Hi {first_name}", "--store", db)
    code, text = run_cli(*base, "--name", "x")
    assert code == cli.EXIT_USAGE and "rows 12: 12 valid" in text and emulator.messages == []
    code, text = run_cli(*base, "--name", "x", "--dry-run", "--json")
    assert code == 0 and json.loads(text)["summary"]["valid"] == 12 and emulator.messages == []
    code, text = run_cli(*base, "--name", "x", "--yes", "--json", "--rate", "1000/s")
    assert code == 0 and json.loads(text)["counts"] == {"accepted": 12}
    code, text = run_cli("campaign", "status", "x", "--store", db)
    assert code == 0 and "accepted     12" in text
    code, text = run_cli("campaign", "report", "x", "--store", db, "--format", "csv")
    lines = text.splitlines()
    assert code == 0 and lines[0].startswith("row,recipient,state") and len(lines) == 13
    code, text = run_cli("campaign", "report", "x", "--store", db, "--format", "json")
    assert json.loads(text.splitlines()[0])["state"] == "accepted"
    code, text = run_cli("campaign", "list", "--store", db, "--json")
    assert [c["name"] for c in json.loads(text)] == ["x"]
    code, text = run_cli("campaign", "refresh", "x", "--store", db, "--gateway", emulator.dsn())
    assert code == 0 and "12 delivered" in text
    code, text = run_cli("campaign", "status", "nope", "--store", db)
    assert code == cli.EXIT_USAGE


def test_the_cli_takes_a_configured_gateway_name(
    tmp_path: Path, emulator: OutboxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profiles, "explicit_path", None)  # restored after the test (--config sets it)
    config = tmp_path / "smsgate.toml"
    config.write_text(f'[gateways.local]\ndsn = "{emulator.dsn()}"\n', encoding="utf-8")
    source = write_csv(tmp_path / "in.csv", people(3))
    db = str(tmp_path / "cli.db")
    code, _ = run_cli(
        "--config",
        str(config),
        "campaign",
        "run",
        str(source),
        "--gateway",
        "local",
        "--text",
        "Hi {first_name}",
        "--store",
        db,
        "--yes",
        "--name",
        "n",
    )
    assert code == 0 and len(emulator.messages) == 3
    code, text = run_cli("--config", str(config), "campaign", "list", "--store", db)
    assert "n  finished  local" in text
    code, _ = run_cli("--config", str(config), "send", "--gateway", "local", "--to", "+48500600799", "--text", "hi")
    assert code == 0 and len(emulator.messages) == 4


def test_a_name_taken_by_other_input_is_refused_before_anything_is_written(
    tmp_path: Path, emulator: OutboxEmulator, registry: Registry, store: SqliteStore
) -> None:
    first = write_csv(tmp_path / "a.csv", people(3))
    other = write_csv(tmp_path / "b.csv", people(5, first=100))
    with connect(dsn_for(emulator), registry=registry) as gateway:
        Campaign(gateway, store, "same", first, "Hi {first_name}").run()
        with pytest.raises(ConfigurationError, match="another input"):
            Campaign(gateway, store, "same", other, "Hi {first_name}").run()
        with pytest.raises(ConfigurationError, match="another input"):
            Campaign(gateway, store, "same", first, "Hello {first_name}").run()
    assert store.counts("same") == {"accepted": 3} and len(emulator.messages) == 3


def test_ctrl_c_stops_the_cli_cleanly_and_the_same_command_continues(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", people(300, same_every=1000))
    env = {**os.environ, "SMSGATE_STORE": str(tmp_path / "s.db")}
    with OutboxEmulator(latency=0.02) as slow:
        argv = [sys.executable, "-m", "smsgate", "campaign", "run", str(source), "--gateway", slow.dsn()]
        argv += ["--text", "Hi {first_name}", "--name", "c", "--yes"]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while len(slow.messages) < 20 and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "run the same command again" in err
        store = open_store(tmp_path / "s.db")
        counts = store.counts("c")
        assert "sending" not in counts and counts.get("planned", 0) > 0, counts
        assert counts["accepted"] == len(slow.messages)
        store.close()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert set(taken(slow).values()) == {1} and len(taken(slow)) == 300
