"""The fixtures every provider plugin's tests share, in one place. Load them from the plugin's
``tests/conftest.py`` and name the plugin under test::

    from smsgate.testing.fixtures import fixture_of

    pytest_plugins = ["smsgate.testing.fixtures"]
    provider = fixture_of("provider", smsgate_acme)

What they give (override any of them in the conftest; ``emulator_options`` and ``offline_dsn``
are the usual ones):

- ``registry``: a registry holding only ``provider``.
- ``clock``: a :class:`~smsgate.testing.kit.FakeClock`, read by ``emulator`` and moved by every
  gateway's retry sleeps (what they waited is in ``clock.slept``).
- ``start_emulator(**knobs)``: the plugin's emulator (``ProviderSpec.emulator``) on loopback,
  with ``emulator_options`` and ``knobs``; ``emulator``: one started with no knobs.
- ``connector("option=value")`` / ``gateway``: gateways to ``emulator``.
- ``gateway_to(emulator_or_dsn, "option=value")``: a gateway to another emulator or DSN.
- ``offline("option=value", dsn=None)``: a gateway to ``offline_dsn`` (made-up credentials,
  the provider's default host) for building requests only: nothing is sent.
- ``http``: a ``urllib3.PoolManager`` with no retries, to speak to an emulator directly.

Every emulator is stopped and every gateway closed at the end of the test. Not loaded through
the ``pytest11`` entry point: the names are generic, so only a plugin's tests ask for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from typing import Any

import pytest
import urllib3

from smsgate.emulator import Emulator
from smsgate.gateway import Gateway
from smsgate.plugins import Registry, emulator_class
from smsgate.spec import ProviderSpec
from smsgate.testing.kit import Connector, FakeClock, registry_for

StartEmulator = Callable[..., Any]
GatewayTo = Callable[..., Gateway]


def fixture_of(name: str, value: object) -> Any:
    """A fixture called ``name`` that gives ``value``: ``provider = fixture_of("provider", smsgate_acme)``
    in a conftest overrides the fixture of that name."""

    def given() -> object:
        return value

    return pytest.fixture(name=name)(given)


@pytest.fixture
def provider() -> object:
    """The plugin module under test: every conftest that loads these fixtures overrides it."""
    raise pytest.UsageError("define a `provider` fixture returning the plugin module under test")


@pytest.fixture
def registry(provider: object) -> Registry:
    return registry_for(provider)


@pytest.fixture
def spec(registry: Registry) -> ProviderSpec:
    (provider,) = registry.providers.values()
    return provider.spec


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator_options() -> Mapping[str, Any]:
    """Constructor arguments for every emulator the fixtures start (none unless overridden)."""
    return {}


@pytest.fixture
def start_emulator(
    spec: ProviderSpec, emulator_options: Mapping[str, Any], clock: FakeClock
) -> Iterator[StartEmulator]:
    """``start_emulator(**knobs)``: a running emulator on ``clock``; all stopped at the end."""
    with ExitStack() as stack:

        def start(**knobs: Any) -> Any:
            emulator: Emulator = emulator_class(spec)(**{**emulator_options, **knobs})
            emulator.clock = clock
            return stack.enter_context(emulator)

        yield start


@pytest.fixture
def emulator(start_emulator: StartEmulator) -> Any:
    return start_emulator()


@pytest.fixture
def gateway_to(registry: Registry, clock: FakeClock) -> Iterator[GatewayTo]:
    """``gateway_to(emulator_or_dsn, "option=value", **connect_kwargs)``."""
    with ExitStack() as stack:

        def make(target: Emulator | str, options: str = "", **kwargs: Any) -> Gateway:
            dsn = target if isinstance(target, str) else target.dsn()
            return stack.enter_context(Connector(registry, dsn, sleep=clock.sleep))(options, **kwargs)

        yield make


@pytest.fixture
def connector(emulator: Emulator, registry: Registry, clock: FakeClock) -> Iterator[Connector]:
    """``connector("option=value", **connect_kwargs)``: gateways to ``emulator``."""
    with Connector(registry, emulator.dsn(), sleep=clock.sleep) as connect:
        yield connect


@pytest.fixture
def gateway(connector: Connector) -> Gateway:
    return connector()


@pytest.fixture
def offline_dsn(spec: ProviderSpec) -> str:
    """Where ``offline`` gateways point: made-up credentials at the provider's default host."""
    return f"{spec.name}://user:pa55word@default"


@pytest.fixture
def offline(offline_dsn: str, gateway_to: GatewayTo) -> GatewayTo:
    """``offline("option=value", dsn=None)``: a gateway for ``preview``/``prepare`` only."""

    def make(options: str = "", dsn: str | None = None, **kwargs: Any) -> Gateway:
        return gateway_to(dsn or offline_dsn, options, **kwargs)

    return make


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    with urllib3.PoolManager(retries=False) as pool:
        yield pool
