"""The core's provider contract, run against the BulkSMS emulator."""

from __future__ import annotations

import smsgate_bulksms
from smsgate.testing import ProviderContract
from smsgate_bulksms import codes


class TestBulkSmsContract(ProviderContract):
    plugin = smsgate_bulksms
    codes = codes.VERDICTS
    recipients = ("+447700900001", "+447700900002")
