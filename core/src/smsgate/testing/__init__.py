"""The test kit: a provider contract suite every plugin runs, and pytest fixtures for apps.

- :class:`ProviderContract`: subclass it in a provider plugin's tests.
- :func:`registry_for`, :class:`Connector` and :class:`FakeClock`: a registry with one plugin,
  gateways to an emulator with extra DSN options (all closed at the end), and virtual time.
- :mod:`smsgate.testing.fixtures`: the fixtures every provider plugin's tests share (loaded with
  ``pytest_plugins = ["smsgate.testing.fixtures"]`` from the plugin's conftest).
- Fixtures (registered through the ``pytest11`` entry point): ``smsgate_outbox`` (a loopback
  gateway that keeps every message, for apps' tests) and ``smsgate_emulator`` (starts any
  installed provider's emulator by name).
"""

from smsgate.testing.contract import SITUATIONS, ProviderContract, Situation, secret_spellings
from smsgate.testing.kit import Connector, FakeClock, error_of, registry_for
from smsgate.testing.plugin import Outbox

__all__ = [
    "SITUATIONS",
    "Connector",
    "FakeClock",
    "Outbox",
    "ProviderContract",
    "Situation",
    "error_of",
    "registry_for",
    "secret_spellings",
]
