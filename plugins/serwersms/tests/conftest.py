"""The plugin under test for the shared fixtures of :mod:`smsgate.testing.fixtures` (a registry
with only this plugin, offline gateways, the emulator and gateways to it), and the emulator's
one local knob: a number it refuses as invalid."""

from __future__ import annotations

from serwersms_support import INVALID

import smsgate_serwersms
from smsgate.testing.fixtures import fixture_of

pytest_plugins = ["smsgate.testing.fixtures"]
provider = fixture_of("provider", smsgate_serwersms)
emulator_options = fixture_of("emulator_options", {"invalid": {INVALID}})
