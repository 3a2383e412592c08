"""The ``smsgate`` command: output shapes and exit codes a shell script can rely on."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import smsgate
from smsgate import cli, plugins
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
    assert code == cli.EXIT_USAGE and json.loads(text)["error"]["code"] == "auth"


@pytest.mark.parametrize("argv", [["providers"], ["suppress", "--help"], ["--help"]])
def test_the_command_collects_again_after_start_up(argv: list[str]) -> None:
    """run() keeps the collector off during start-up only: what start-up made is frozen (it
    lives until exit) and the collector is back on for the command's own garbage."""
    code = (
        "import gc, sys; from smsgate import cli\n"
        "try: cli.run()\n"
        "except SystemExit: pass\n"
        "print(gc.isenabled(), gc.get_freeze_count(), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    enabled, frozen = out.stderr.split()
    assert enabled == "True" and int(frozen) > 10_000


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


# -- unknown schemes (finding 2) -----------------------------------------------------------------


def test_unknown_scheme_suggests_the_near_miss(emulator: OutboxEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("send", "--dsn", "serwersm://u:p@default", "--to", "+48500600700", "--text", "x")
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and "did you mean 'serwersms'?" in err
    assert "pip install smsgate-" not in err
    code, _ = run("send", "--dsn", "outbx://u:p@default", "--to", "+48500600700", "--text", "x")
    assert code == cli.EXIT_USAGE and "did you mean 'outbox'?" in capsys.readouterr().err


@pytest.mark.parametrize("scheme", ["twilio", "https"])
def test_unknown_scheme_names_no_unpublished_package(scheme: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("balance", "--dsn", f"{scheme}://u:p@example.com")
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and f"no smsgate provider for scheme {scheme!r}" in err
    assert "pip install smsgate-" not in err and "pip install ./plugins/NAME" in err
    assert "smsgate.providers" in err


def test_shipped_provider_not_installed_says_how_to_install() -> None:
    error = smsgate.UnknownProviderError("smsc", ("outbox",))
    assert "pip install ./plugins/smsc" in str(error) and "did you mean" not in str(error)


@pytest.fixture
def broken_registry(monkeypatch: pytest.MonkeyPatch) -> plugins.Registry:
    registry = plugins.Registry(env={"SMSGATE_LOAD_PLUGINS": "outbox"})
    registry.failures.append(plugins.LoadFailure("acme", plugins.PROVIDER_GROUP, "ImportError: no module named 'lxml'"))
    monkeypatch.setattr(plugins, "_default", registry)
    return registry


def test_plugin_that_failed_to_load_is_reported_with_its_error(
    broken_registry: plugins.Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run("send", "--dsn", "acme://u:p@default", "--to", "+48500600700", "--text", "x")
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert "'acme' is installed but failed to load: ImportError: no module named 'lxml'" in err
    assert "pip install" not in err


# -- options (finding 3) ---------------------------------------------------------------------------


def test_core_options_work_with_dash_o(emulator: OutboxEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    long = "x" * 400  # 3 parts
    base = ("send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", long)
    assert run(*base, "-o", "max_parts=3", "-o", "attempts=2")[0] == cli.EXIT_OK
    assert run(*base, "-o", "max_parts=2")[0] == cli.EXIT_USAGE
    assert "exceed the maximum of 2 parts" in capsys.readouterr().err
    assert run(*base, "-o", "test=true", "--json")[0] == cli.EXIT_OK  # a provider option still works


def test_dash_o_unknown_option_lists_core_and_provider_options(
    emulator: OutboxEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run("send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", "x", "-o", "max_part=3")
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and "did you mean 'max_parts'?" in err
    assert "core options: " in err and "attempts, " in err and "outbox options: test" in err


@pytest.mark.parametrize("where", ["dsn", "option"])
def test_max_parts_beyond_the_gateway_cap_is_refused_with_the_cap(
    emulator: OutboxEmulator, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    extra = ["-o", "max_parts=11"] if where == "option" else []
    dsn = emulator.dsn() + ("&max_parts=11" if where == "dsn" else "")
    code, _ = run("send", "--dsn", dsn, "--to", "+48500600700", "--text", "x", *extra)
    assert code == cli.EXIT_USAGE
    assert "11 exceeds the outbox gateway's maximum of 10 parts" in capsys.readouterr().err
    assert emulator.requests == []


# -- exit codes and notices (finding 4) --------------------------------------------------------------


def test_wrong_password_is_a_configuration_error(emulator: OutboxEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    dsn = emulator.dsn().replace(emulator.password, "wrong-password")
    code, text = run("send", "--dsn", dsn, "--to", "+48500600700", "--text", "x")
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and text == ""
    assert "check the credentials" in err and "nothing was sent" in err and "wrong-password" not in err
    code, text = run("send", "--dsn", dsn, "--to", "+48500600700", "--text", "x", "--json")
    assert code == cli.EXIT_USAGE and json.loads(text)["error"]["type"] == "AuthenticationError"


def test_at_within_the_grace_is_sent_now_and_says_so(
    emulator: OutboxEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    soon = (datetime.now(timezone.utc) + timedelta(seconds=20)).isoformat()
    code, text = run("send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", "x", "--at", soon, "--json")
    assert code == cli.EXIT_OK and json.loads(text)["outcomes"][0]["status"] == "accepted"
    assert "sent now, not scheduled" in capsys.readouterr().err
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    code, text = run("send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", "x", "--at", later, "--json")
    assert json.loads(text)["outcomes"][0]["status"] == "scheduled" and "sent now" not in capsys.readouterr().err


# -- balance and status (finding 5) ---------------------------------------------------------------------


def test_balance_and_status_are_readable(emulator: OutboxEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run("balance", "--dsn", emulator.dsn())
    assert code == 0 and text == "balance: 10000 messages\n"
    _, sent = run("send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", "x", "--json")
    message_id = json.loads(sent)["outcomes"][0]["message_id"]
    code, text = run("status", "--dsn", emulator.dsn(), message_id)
    header, _, row = text.splitlines()
    assert code == 0 and header.split()[:3] == ["message", "id", "recipient"]
    assert row.split()[:3] == [message_id, "+48500600700", "delivered"]


def test_status_of_an_unknown_id_fails(emulator: OutboxEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run("status", "--dsn", emulator.dsn(), "nosuchid")
    assert code == cli.EXIT_QUERY and text == ""
    assert "no delivery report found for nosuchid" in capsys.readouterr().err
    code, text = run("status", "--dsn", emulator.dsn(), "nosuchid", "--json")
    assert code == cli.EXIT_QUERY and json.loads(text) == []


# -- send's input and output (finding 6) ------------------------------------------------------------------


def test_text_from_stdin_and_from_a_file(
    emulator: OutboxEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("from stdin\n"))
    assert run("send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", "-")[0] == 0
    path = tmp_path / "text.txt"
    path.write_text("Zażółć\nfrom a file\n", encoding="utf-8")
    assert run("send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text-file", str(path))[0] == 0
    assert [m.text for m in emulator.messages] == ["from stdin", "Zażółć\nfrom a file"]


def test_text_and_text_file_are_exclusive(emulator: OutboxEmulator) -> None:
    with pytest.raises(SystemExit) as info:
        run("send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", "a", "--text-file", "b")
    assert info.value.code == 2


def test_to_takes_comma_separated_lists(emulator: OutboxEmulator) -> None:
    code, text = run(
        "send", "--dsn", emulator.dsn(), "--to", "+48500600700, +48500600701", "--to", "+48500600702", "--text", "x"
    )
    assert code == 0 and text.count("accepted") == 4  # three rows and the summary


def test_every_option_has_help() -> None:
    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    subparsers: dict[str, argparse.ArgumentParser] = commands.choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, f"smsgate {name} {'/'.join(action.option_strings) or action.dest} has no help"


def test_send_table_shows_parts_encoding_and_a_summary(emulator: OutboxEmulator) -> None:
    code, text = run(
        "send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--to", "12", "--text", "ż" * 100, "-o", "test=false"
    )
    assert code == cli.EXIT_USAGE  # "12" is refused before anything is sent
    code, text = run("send", "--dsn", emulator.dsn(), "--to", "+48500600700,+48500600701", "--text", "ż" * 100)
    lines = text.splitlines()
    assert code == 0 and lines[0] == "outbox: 2 parts, UCS-2 (100 UTF-16 units)"
    assert lines[1].split() == ["recipient", "status", "parts", "message", "id", "code", "reason"]
    assert lines[3].split()[:3] == ["+48500600700", "accepted", "2"]
    assert lines[-1] == "2 accepted (2 recipient(s), 1 request)"
    assert "\033[" not in text


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colours_only_on_a_terminal_and_never_with_no_color(
    emulator: OutboxEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Tty()
    assert cli.main(["send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", "x"], out=out) == 0
    assert "\033[32maccepted\033[0m" in out.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    out = Tty()
    assert cli.main(["send", "--dsn", emulator.dsn(), "--to", "+48500600700", "--text", "x"], out=out) == 0
    assert "\033[" not in out.getvalue()


# -- emulate (finding 7) ----------------------------------------------------------------------------------


def _emulate(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsgate", "emulate", "outbox", *argv], capture_output=True, text=True, timeout=30
    )


def test_emulate_refuses_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = _emulate("--port", str(taken.getsockname()[1]))
    assert done.returncode == cli.EXIT_USAGE and "Traceback" not in done.stderr
    assert "already in use" in done.stderr and "--port 0" in done.stderr


def test_emulate_refuses_a_non_loopback_host() -> None:
    done = _emulate("--host", "0.0.0.0")
    assert done.returncode == cli.EXIT_USAGE and "Traceback" not in done.stderr
    assert "loopback only" in done.stderr


def test_emulate_says_where_it_listens_and_how_to_stop() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "smsgate", "emulate", "outbox"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        dsn = proc.stdout.readline().strip()
        note = ""
        while "listening" not in note:  # a broken plugin elsewhere may log a line first
            note = proc.stderr.readline()
            assert note, "the emulator said nothing on stderr"
        assert dsn.startswith("outbox://") and "listening on http://127.0.0.1:" in note and "Ctrl-C to stop" in note
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# -- the package's surface (finding 8) ----------------------------------------------------------------------


def test_dir_and_help_show_the_lazy_names() -> None:
    import pydoc

    names = dir(smsgate)
    assert {"connect", "Message", "Gateway", "SendResult", "Journal"} <= set(names)
    assert set(smsgate.__all__) <= set(names)
    text = re.sub(".\b", "", pydoc.render_doc(smsgate, renderer=pydoc.TextDoc()))  # no bold
    # 3.13's pydoc wraps long signatures after the "(": match the start only
    assert "\n    connect(" in text and "class Message(" in text and "class Gateway(" in text


def test_connect_has_a_real_docstring() -> None:
    import inspect

    doc = inspect.getdoc(smsgate.connect) or ""
    assert len(doc.splitlines()) >= 3, "connect needs a real docstring (help(smsgate.connect))"
    for word in ("SMSGATE_DSN", "default", "UnknownProviderError", "ConfigurationError", ">>>"):
        assert word in doc


def test_a_journaled_send_without_key_is_not_sent_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from smsgate.builtin.outbox_emulator import OutboxEmulator

    journal = str(tmp_path / "j.jsonl")
    with OutboxEmulator() as emu:
        argv = ["send", "--dsn", emu.dsn(), "--to", "+48500600700", "--text", "once", "--journal", journal]
        assert cli.main(argv) == cli.EXIT_OK
        assert cli.main(argv) == cli.EXIT_OK  # the same command again, e.g. after a crash
        assert len(emu.messages) == 1
    assert "nothing sent" in capsys.readouterr().err


def test_json_log_lines_are_redacted(tmp_path: Path) -> None:
    """--log-format json: one JSON object per line on standard error, secrets masked."""
    from smsgate.builtin.outbox_emulator import OutboxEmulator

    with OutboxEmulator() as emu:
        emu.inject(Fault.RESET_BEFORE_REPLY)
        dsn = emu.dsn().replace("tls=false", "tls=false&attempts=2&backoff=0")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "smsgate",
                "--log-format",
                "json",
                "--log-level",
                "debug",
                "send",
                "--dsn",
                dsn,
                "--to",
                "+48500600700",
                "--text",
                "hi",
                "--key",
                "log-1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        password = emu.password
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["logger"].startswith("smsgate.") for line in lines)
    assert password not in run.stderr and password not in run.stdout
