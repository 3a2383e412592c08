"""The plugin under test for the shared fixtures of :mod:`smsgate.testing.fixtures` (a registry
holding only this plugin, the emulator, gateways to it), offline gateways to the production
hosts, and ``online``: a gateway to the emulator's legacy or JSON API."""

from __future__ import annotations

from typing import Any

import pytest
from octopush_support import DSN

import smsgate_octopush
from smsgate.gateway import Gateway
from smsgate.testing.fixtures import GatewayTo, fixture_of
from smsgate_octopush.emulator import OctopushEmulator

pytest_plugins = ["smsgate.testing.fixtures"]
provider = fixture_of("provider", smsgate_octopush)
offline_dsn = fixture_of("offline_dsn", DSN)


@pytest.fixture
def online(emulator: OctopushEmulator, gateway_to: GatewayTo) -> GatewayTo:
    """``online(api, "options")``: a gateway to the emulator's ``legacy`` or ``v1`` API."""

    def make(api: str = "legacy", options: str = "", **kwargs: Any) -> Gateway:
        return gateway_to(emulator.dsn(api), options, **kwargs)

    return make
