"""The core's provider contract, run against the BulkSMS emulator."""

from __future__ import annotations

from typing import Any

import smsgate_bulksms
from smsgate.emulator import EmulatorReply
from smsgate.testing import ProviderContract, Situation
from smsgate_bulksms import codes


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


class _Taken:
    """The bulksms emulator keeps its own record of what it accepted: the contract counts it."""

    def taken(self, emulator: Any, recipient: str) -> int:
        return sum(1 for m in emulator.messages if _digits(m.msisdn) == _digits(recipient))


class TestBulkSmsContract(_Taken, ProviderContract):
    plugin = smsgate_bulksms
    codes = codes.VERDICTS
    recipients = ("+447700900001", "+447700900002")
    situations = {
        # the EAPI documents no throttling code; a front end's HTTP 429 with Retry-After is read
        "throttled": Situation(reply=EmulatorReply.text("", 429, headers={"Retry-After": "7"}), retry_after=7.0),
    }
    unsupported = {
        "one_rejected": "send_sms answers for the whole batch (status_code|description|batch_id): "
        "the reply never rejects one recipient alone",
    }
