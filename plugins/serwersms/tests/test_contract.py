"""The core's provider contract, run against the SerwerSMS emulator (both auth schemes)."""

from __future__ import annotations

from typing import Any

import smsgate_serwersms
from smsgate.emulator import Emulator
from smsgate.testing import ProviderContract, Situation
from smsgate_serwersms.codes import VERDICTS


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def _reject(emulator: Emulator, number: str) -> None:
    emulator.invalid = frozenset({number, number.lstrip("+"), number.lstrip("+")[2:]})  # type: ignore[attr-defined]


SITUATIONS = {
    # the emulator lists a number in `invalid` among the reply's failed recipients
    "one_rejected": Situation(setup=lambda emu: _reject(emu, "+48500600701")),
}
UNSUPPORTED = {"throttled": "the SerwerSMS API v2 documents no throttling reply (no 429, no rate-limit code)"}


class _Taken:
    """The serwersms emulator keeps its own record of what it accepted: the contract counts it."""

    def taken(self, emulator: Any, recipient: str) -> int:
        stored = [*emulator.account.messages.values(), *(m for _, batch in emulator.processing for m in batch)]
        # an incorrect number is stored too ("unsent", error 3103, with an id): not taken
        return sum(1 for m in stored if m.error_code is None and _digits(m.phone) == _digits(recipient))


class TestContract(_Taken, ProviderContract):
    plugin = smsgate_serwersms
    codes = VERDICTS
    recipients = ("+48500600700", "+48500600701")
    situations = SITUATIONS
    unsupported = UNSUPPORTED


class TestContractWithToken(TestContract):
    """The same suite with the API token instead of the password."""

    emulator_kwargs = {"auth": "token"}  # the emulator's DSN is then serwersms://:TOKEN@...
