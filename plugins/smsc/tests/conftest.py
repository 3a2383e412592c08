"""The plugin under test for the shared fixtures of :mod:`smsgate.testing.fixtures` (the SMSC
emulator on loopback, on a clock the gateways' retry sleeps move, and gateways to it)."""

from __future__ import annotations

import smsgate_smsc
from smsgate.testing.fixtures import fixture_of

pytest_plugins = ["smsgate.testing.fixtures"]
provider = fixture_of("provider", smsgate_smsc)
