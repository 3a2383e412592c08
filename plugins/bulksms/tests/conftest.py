"""The plugin under test for the shared fixtures of :mod:`smsgate.testing.fixtures` (a registry
holding only this plugin, the emulator on loopback, gateways to it and offline ones)."""

from __future__ import annotations

import smsgate_bulksms
from smsgate.testing.fixtures import fixture_of

pytest_plugins = ["smsgate.testing.fixtures"]
provider = fixture_of("provider", smsgate_bulksms)
offline_dsn = fixture_of("offline_dsn", "bulksms://john:abcd1234@default")
