"""Every plugin in the repository is found through its entry point and is well formed."""

from __future__ import annotations

import json
import re
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


#: What only sending, serving or testing needs, so discovery (``smsgate providers``, the first
#: ``connect``) must not import it: start-up time for nothing. hashlib, hmac and ssl start
#: OpenSSL ("hashlib is pretty heavy to load", says the stdlib's random.py), zoneinfo reads
#: the tz database path, xml.etree parses only Octopush's legacy replies, signal builds enums.
SEND_ONLY = re.compile(
    r"(^|\.)(emulator\w*|testing|demo)$"
    r"|^(hashlib|_hashlib|hmac|ssl|_ssl|xml\.etree|zoneinfo|difflib|signal|urllib3|socket|http\.server)(\.|$)"
)


def test_discovery_imports_only_what_it_needs() -> None:
    """Counted beyond what the libraries smsgate is built on import themselves (on Python 3.10,
    attrs imports ``platform``, which imports ``subprocess`` and with it ``signal``)."""
    code = (
        "import sys, attrs, pluggy, importlib_metadata; before = set(sys.modules)\n"
        "from smsgate.plugins import Registry; Registry()\n"
        "print(*(m for m in sys.modules if m not in before))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "smsgate_smsc.reply" in loaded  # the plugins did load
    assert sorted(m for m in loaded if SEND_ONLY.search(m)) == []


def test_providers_command_lists_every_plugin() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "smsgate", "providers", "--json"], capture_output=True, text=True, check=True
    )
    data = json.loads(out.stdout)
    assert {p["name"] for p in data["providers"]} >= set(PLUGINS) and data["failures"] == []


@pytest.mark.parametrize("name", PLUGINS)
def test_block_list_hides_a_plugin(name: str) -> None:
    assert name not in Registry(env={"SMSGATE_DISABLE_PLUGINS": name}).providers
