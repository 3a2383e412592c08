"""Helpers shared by the core's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import attrs

from smsgate.builtin import outbox
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.hookspecs import hookimpl
from smsgate.spec import ProviderSpec


def variant(name: str, **capabilities: Any) -> SimpleNamespace:
    """The outbox provider under another name with other capabilities (e.g. no de-dup)."""
    base = outbox.provider_spec()

    @hookimpl
    def provider_spec() -> ProviderSpec:
        return attrs.evolve(base, name=name, capabilities=attrs.evolve(base.capabilities, **capabilities))

    return SimpleNamespace(
        __name__=f"variant_{name}",
        provider_spec=provider_spec,
        build_request=outbox.build_request,
        parse_response=outbox.parse_response,
        classify_error=outbox.classify_error,
        schedule_format=outbox.schedule_format,
        parse_delivery_report=outbox.parse_delivery_report,
    )


class Sleeps(list[float]):
    """Records the waits the retry engine asked for, instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    def clock(self) -> float:
        """Wall time plus every wait asked for, as if the waits had happened."""
        return time.time() + sum(self)


def dsn_for(emulator: OutboxEmulator, scheme: str = "outbox", options: str = "") -> str:
    dsn = emulator.dsn().replace("outbox://", f"{scheme}://", 1)
    return dsn + (f"&{options}" if options else "")
