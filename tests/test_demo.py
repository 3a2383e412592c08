"""`smsgate demo`, the embedded default, runs every installed plugin's emulator."""

from __future__ import annotations

import json
import subprocess
import sys

from ecosystem import PLUGINS


def test_demo_covers_every_provider_and_case() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smsgate", "demo", "--json"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(PLUGINS) <= set(data["providers"])
    rows = {(r["provider"], r["case"]): r for r in data["rows"]}
    for name in data["providers"]:
        assert rows[(name, "plain")]["result"]["ok"], rows[(name, "plain")]
        several = rows[(name, "several recipients")]["result"]
        assert several["ok"] and len(several["outcomes"]) == 3
        assert rows[(name, "one bad number")]["error"]["code"] == "invalid_number"


def test_demo_table_is_readable() -> None:
    done = subprocess.run([sys.executable, "-m", "smsgate", "demo"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    assert "provider" in done.stdout.splitlines()[2] and "no account needed" in done.stdout
