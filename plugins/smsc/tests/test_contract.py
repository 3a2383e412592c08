"""The core's provider contract, run against the SMSC emulator (login + password and API key)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import smsgate_smsc
from smsgate.emulator import Emulator
from smsgate.spec import ProviderSpec
from smsgate.testing import ProviderContract
from smsgate_smsc import codes
from smsgate_smsc.emulator import SmscEmulator


class TestContract(ProviderContract):
    plugin = smsgate_smsc
    codes = codes.VERDICTS
    recipients = ("+48500600700", "+48500600701")


class TestContractWithScheduleInMoscowTime(ProviderContract):
    plugin = smsgate_smsc
    codes = codes.VERDICTS
    recipients = ("+79161234567", "+380501234567")
    dsn_options = "time_format=moscow"


class ApiKeyEmulator(SmscEmulator):
    """The same emulator, reached with ``smsc://:APIKEY@host``."""

    def dsn(self, auth: str = "apikey") -> str:
        return super().dsn(auth)


class TestContractWithApiKey(ProviderContract):
    plugin = smsgate_smsc
    codes = codes.VERDICTS

    @pytest.fixture
    def emulator(self, spec: ProviderSpec) -> Iterator[Emulator]:
        with ApiKeyEmulator() as emulator:
            yield emulator
