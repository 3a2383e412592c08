"""The provider contract, run against the Acme emulator: every delivery rule, in Acme's formats."""

from __future__ import annotations

import smsgate_acme
from smsgate_acme.codes import TABLE

from smsgate.emulator import Fault
from smsgate.testing import ProviderContract, Situation


class TestAcmeContract(ProviderContract):
    plugin = smsgate_acme
    codes = TABLE.verdicts
    recipients = ("+48500600700", "+48500600701")
    situations = {
        # the emulator rejects numbers ending in 999: the last recipient is the rejected one
        "one_rejected": Situation(recipients=("+48500600700", "+48500600999")),
        # Fault.THROTTLE answers with the emulator's error_reply: Acme's 429 with Retry-After
        "throttled": Situation(fault=Fault.THROTTLE, retry_after=7.0),
    }
