"""The core's provider contract, run against the SMSC emulator (login + password and API key)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import smsgate_smsc
from smsgate.emulator import Emulator, EmulatorReply
from smsgate.spec import ProviderSpec
from smsgate.testing import ProviderContract, Situation
from smsgate_smsc import codes
from smsgate_smsc.emulator import SmscEmulator


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def _reject(emulator: Emulator, *numbers: str) -> None:
    emulator.invalid_numbers = {n.lstrip("+") for n in numbers}  # type: ignore[attr-defined]


SITUATIONS = {
    # the emulator refuses a number in `invalid_numbers` for that recipient alone
    # (the last recipient of each contract class below)
    "one_rejected": Situation(setup=lambda emu: _reject(emu, "+48500600701", "+380501234567")),
    # error 4: the IP is blocked for a while after frequent errors (no delay given). Error 9
    # ("too many requests") is no throttling for a send: it also means "already sent".
    "throttled": Situation(reply=EmulatorReply.json({"error": "IP blocked", "error_code": 4})),
}


class _Taken:
    """The smsc emulator keeps its own record of what it accepted: the contract counts it."""

    def taken(self, emulator: Any, recipient: str) -> int:
        return sum(1 for m in emulator.messages.values() if _digits(m.phone) == _digits(recipient))


class TestContract(_Taken, ProviderContract):
    situations = SITUATIONS
    plugin = smsgate_smsc
    codes = codes.VERDICTS
    recipients = ("+48500600700", "+48500600701")


class TestContractWithScheduleInMoscowTime(_Taken, ProviderContract):
    situations = SITUATIONS
    plugin = smsgate_smsc
    codes = codes.VERDICTS
    recipients = ("+79161234567", "+380501234567")
    dsn_options = "time_format=moscow"


class ApiKeyEmulator(SmscEmulator):
    """The same emulator, reached with ``smsc://:APIKEY@host``."""

    def dsn(self, auth: str = "apikey") -> str:
        return super().dsn(auth)


class TestContractWithApiKey(_Taken, ProviderContract):
    situations = SITUATIONS
    plugin = smsgate_smsc
    codes = codes.VERDICTS

    @pytest.fixture
    def emulator(self, spec: ProviderSpec) -> Iterator[Emulator]:
        with ApiKeyEmulator() as emulator:
            yield emulator
