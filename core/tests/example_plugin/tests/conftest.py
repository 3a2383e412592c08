"""The fixtures every provider plugin's tests share (:mod:`smsgate.testing.fixtures`: the
emulator on loopback, gateways to it, offline gateways, a fake clock), for this plugin."""

from __future__ import annotations

import smsgate_acme

from smsgate.testing.fixtures import fixture_of

pytest_plugins = ["smsgate.testing.fixtures"]
provider = fixture_of("provider", smsgate_acme)
offline_dsn = fixture_of("offline_dsn", "acme://:T0KEN@default")
