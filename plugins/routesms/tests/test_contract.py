"""The core's provider contract, run against the routesms emulator."""

from __future__ import annotations

import smsgate_routesms
from smsgate.testing import ProviderContract
from smsgate_routesms.codes import VERDICTS


class TestContract(ProviderContract):
    plugin = smsgate_routesms
    codes = VERDICTS
    recipients = ("+48500600700", "+48500600701")
