"""The core's provider contract, run against the SerwerSMS emulator (both auth schemes)."""

from __future__ import annotations

import smsgate_serwersms
from smsgate.testing import ProviderContract
from smsgate_serwersms.codes import VERDICTS


class TestContract(ProviderContract):
    plugin = smsgate_serwersms
    codes = VERDICTS
    recipients = ("+48500600700", "+48500600701")


class TestContractWithToken(ProviderContract):
    plugin = smsgate_serwersms
    codes = VERDICTS
    recipients = ("+48500600700", "+48500600701")
    emulator_kwargs = {"auth": "token"}  # the emulator's DSN is then serwersms://:TOKEN@...
