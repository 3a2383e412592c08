"""The ``smsgate`` command: output shapes and exit codes a shell script can rely on."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from smsgate import cli
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.emulator import Fault


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def test_send_json_reports_every_recipient(emulator: OutboxEmulator) -> None:
    code, text = run(
        "send",
        "--dsn",
        emulator.dsn(),
        "--to",
        "+48500600700",
        "--to",
        "+48500600701",
        "--text",
        "Zażółć gęślą jaźń € [ok]",
        "--json",
    )
    data = json.loads(text)
    assert code == cli.EXIT_OK and data["ok"] is True
    assert [o["status"] for o in data["outcomes"]] == ["accepted", "accepted"]
    assert set(data) == {"provider", "key", "ok", "requests", "cost", "outcomes", "error"}
    assert emulator.password not in text


def test_send_exit_codes(emulator: OutboxEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("send", "--dsn", emulator.dsn(), "--to", "12", "--text", "x")[0] == cli.EXIT_USAGE
    assert "'12'" in capsys.readouterr().err
    emulator.credit = 0
    assert run("send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", "x")[0] == cli.EXIT_REJECTED
    emulator.credit = 10
    emulator.inject(Fault.RESET_BEFORE_REPLY, times=2)  # the send and its lookup both lost
    dsn = emulator.dsn() + "&attempts=1"
    assert run("send", "--dsn", dsn, "--to", "+48500600700", "--text", "x")[0] == cli.EXIT_UNKNOWN


def test_dry_run_prints_redacted_requests_and_sends_nothing(emulator: OutboxEmulator) -> None:
    code, text = run("send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", "hi", "--dry-run")
    assert code == 0 and "POST http://127.0.0.1" in text and "Authorization: ***" in text
    assert emulator.requests == [] and emulator.password not in text


def test_send_uses_smsgate_dsn(emulator: OutboxEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSGATE_DSN", emulator.dsn())
    code, text = run("send", "--to", "+48500600700", "--text", "hi", "--option", "test=true", "--json")
    assert code == 0 and json.loads(text)["ok"] and emulator.messages == []


def test_bad_at_is_a_usage_error(emulator: OutboxEmulator) -> None:
    with pytest.raises(SystemExit) as info:
        run("send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", "x", "--at", "2030-01-01T10:00")
    assert info.value.code == 2


def test_providers_and_balance(emulator: OutboxEmulator) -> None:
    code, text = run("providers", "--json")
    assert code == 0 and "outbox" in [p["name"] for p in json.loads(text)["providers"]]
    code, text = run("balance", "--dsn", emulator.dsn(), "--json")
    assert code == 0 and json.loads(text)["amount"] == "10000"
    code, text = run("balance", "--dsn", emulator.dsn().replace(emulator.password, "nope"), "--json")
    assert code == cli.EXIT_QUERY and json.loads(text)["error"]["code"] == "auth"


def test_demo_runs_every_case() -> None:
    code, text = run("demo", "--json", "--provider", "outbox")
    rows = json.loads(text)["rows"]
    assert code == 0 and [r["case"] for r in rows] == [c for c, _ in cli_cases()]
    by_case = {r["case"]: r for r in rows}
    assert by_case["scheduled"]["outcome"] == "1 scheduled"
    assert by_case["one bad number"]["outcome"].startswith("refused before sending")


def cli_cases() -> list[tuple[str, object]]:
    from datetime import datetime, timezone

    from smsgate.demo import cases

    return list(cases(datetime.now(timezone.utc)))


def test_emulate_prints_a_dsn_that_send_accepts() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "smsgate.cli", "emulate", "outbox"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        dsn = proc.stdout.readline().strip()
        code, text = run("send", "--dsn", dsn, "--to", "+48500600700", "--text", "hi", "--json")
        assert code == 0 and json.loads(text)["ok"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
