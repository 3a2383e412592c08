"""The plugin under test for the shared fixtures of :mod:`smsgate.testing.fixtures` (the
routesms plugin in a fresh registry, its emulator over loopback, gateways to it), and where
offline gateways point: a made-up white-label account, whose password needs encoding."""

from __future__ import annotations

from pathlib import Path

import smsgate_routesms
from smsgate.testing.fixtures import fixture_of

pytest_plugins = ["smsgate.testing.fixtures"]

FIXTURES = Path(__file__).parent / "fixtures"
#: The options most offline tests use: a sender (routesms has no default) and plain HTTP.
SHOP = "sender=Shop&tls=false"


def at(host: str) -> str:
    """The made-up account at ``host`` (nothing is sent to it)."""
    return f"routesms://shop:pa%2Bss%20word@{host}"


provider = fixture_of("provider", smsgate_routesms)
offline_dsn = fixture_of("offline_dsn", at("smsplus.example.net:8080"))
