"""Every plugin in the repository is found through its entry point and is well formed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from ecosystem import PLUGINS

from smsgate.plugins import Registry, emulator_class


def test_every_plugin_is_discovered_with_its_distribution() -> None:
    registry = Registry(env={})
    assert registry.failures == []
    for name in PLUGINS:
        provider = registry.provider(name)
        assert provider.distribution == f"smsgate-{name}" and provider.version == "0.1.0"
        assert emulator_class(provider.spec).__module__ == f"smsgate_{name}.emulator"


def test_discovery_imports_no_emulator() -> None:
    code = (
        "import sys; from smsgate.plugins import Registry; Registry(); "
        "print([m for m in sys.modules if m.endswith('emulator')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", "discovery must not import what it does not need"


def test_providers_command_lists_every_plugin() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "smsgate", "providers", "--json"], capture_output=True, text=True, check=True
    )
    data = json.loads(out.stdout)
    assert {p["name"] for p in data["providers"]} >= set(PLUGINS) and data["failures"] == []


@pytest.mark.parametrize("name", PLUGINS)
def test_block_list_hides_a_plugin(name: str) -> None:
    assert name not in Registry(env={"SMSGATE_DISABLE_PLUGINS": name}).providers
