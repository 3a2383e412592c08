"""The issue's acceptance run, per provider: `smsgate emulate NAME` prints a DSN, and
`smsgate send --dsn <that DSN> ... --json` reports both recipients accepted without the secret."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from ecosystem import PLUGINS

from smsgate.config import Dsn


@pytest.fixture(params=PLUGINS)
def emulated(request: pytest.FixtureRequest) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "smsgate", "emulate", request.param], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_send_through_the_printed_dsn(emulated: str) -> None:
    secret = Dsn.parse(emulated).password
    assert secret is not None
    argv = [
        "send",
        "--dsn",
        emulated,
        "--to",
        "+48500600700",
        "--to",
        "+48500600701",
        "--text",
        "Zażółć gęślą jaźń € [ok]",
        "--json",
    ]
    done = subprocess.run([sys.executable, "-m", "smsgate", *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert [(o["recipient"], o["status"]) for o in data["outcomes"]] == [
        ("+48500600700", "accepted"),
        ("+48500600701", "accepted"),
    ]
    assert secret.reveal() not in done.stdout + done.stderr


def test_dry_run_hides_the_secret(emulated: str) -> None:
    secret = Dsn.parse(emulated).password
    assert secret is not None
    argv = ["send", "--dsn", emulated, "--to", "+48500600700", "--text", "hello", "--dry-run"]
    done = subprocess.run([sys.executable, "-m", "smsgate", *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip()
    assert secret.reveal() not in done.stdout + done.stderr
