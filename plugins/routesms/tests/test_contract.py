"""The core's provider contract, run against the routesms emulator."""

from __future__ import annotations

from typing import Any

import smsgate_routesms
from smsgate.emulator import Emulator
from smsgate.testing import ProviderContract, Situation
from smsgate_routesms.codes import VERDICTS


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def _reject(emulator: Emulator, number: str) -> None:
    emulator.invalid = {number}  # type: ignore[attr-defined]


class _Taken:
    """The routesms emulator keeps its own record of what it accepted: the contract counts it."""

    def taken(self, emulator: Any, recipient: str) -> int:
        return sum(1 for m in emulator.messages if _digits(m.destination) == _digits(recipient))


class TestContract(_Taken, ProviderContract):
    plugin = smsgate_routesms
    codes = VERDICTS
    recipients = ("+48500600700", "+48500600701")
    situations = {
        # the emulator answers 1706 (invalid destination) for a number in `invalid`
        "one_rejected": Situation(setup=lambda emu: _reject(emu, "48500600701")),
    }
    unsupported = {"throttled": "the RouteSMS GET API documents no throttling reply (no 429, no rate-limit code)"}
