"""pytest fixtures for apps and plugins (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from smsgate.builtin import outbox
from smsgate.builtin.outbox_emulator import OutboxEmulator, SentMessage
from smsgate.emulator import Emulator
from smsgate.gateway import Gateway, connect
from smsgate.plugins import default_registry, emulator_class
from smsgate.testing.kit import registry_for


class Outbox:
    """A running outbox gateway: ``dsn`` reaches it, ``messages`` is what it accepted."""

    def __init__(self, emulator: OutboxEmulator) -> None:
        self.emulator = emulator
        self.dsn = emulator.dsn()
        self.registry = registry_for(outbox)

    @property
    def messages(self) -> list[SentMessage]:
        return list(self.emulator.messages)

    def connect(self, **kwargs: Any) -> Gateway:
        """A gateway to this outbox (no real sleeping between retries)."""
        kwargs.setdefault("sleep", lambda _: None)
        return connect(self.dsn, registry=self.registry, **kwargs)


@pytest.fixture
def smsgate_outbox() -> Iterator[Outbox]:
    """A loopback gateway that keeps every message your code sends through it."""
    with OutboxEmulator() as emulator:
        yield Outbox(emulator)


@pytest.fixture
def smsgate_emulator() -> Iterator[Callable[..., Emulator]]:
    """Start an installed provider's emulator by name: ``smsgate_emulator("bulksms")``."""
    running: list[Emulator] = []

    def start(name: str, **kwargs: Any) -> Emulator:
        spec = default_registry().provider(name).spec
        emulator: Emulator = emulator_class(spec)(**kwargs).start()
        running.append(emulator)
        return emulator

    yield start
    for emulator in running:
        emulator.stop()
