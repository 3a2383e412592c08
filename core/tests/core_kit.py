"""Helpers shared by the core's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import time

from smsgate.builtin.outbox_emulator import OutboxEmulator


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
