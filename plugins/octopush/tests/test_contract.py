"""The core's provider contract, once per API, against the emulator.

Octopush does not answer a resend under a used ``request_id`` with the first reply: it refuses it
(legacy error 120; a validation error in the JSON API), without the ticket, so
``dedup_replays = False``. The resend is still safe (the SMS goes out once), and the outcome is
``unknown``.
"""

from __future__ import annotations

from typing import ClassVar

import smsgate_octopush
from smsgate.emulator import Fault
from smsgate.gateway import Gateway
from smsgate.models import Message, Status
from smsgate.testing import ProviderContract
from smsgate_octopush.codes import LEGACY_CODES, V1_CODES
from smsgate_octopush.emulator import OctopushEmulator


class _OctopushContract(ProviderContract):
    plugin = smsgate_octopush
    recipients = ("+48500600700", "+48500600701")
    unicode_text = "Zażółć gęślą jaźń € [ok]"
    expected_code: ClassVar[str]
    dedup_replays = False

    def test_lost_reply_is_sent_once_and_unknown(self, gateway: Gateway, emulator: OctopushEmulator) -> None:
        emulator.inject(Fault.RESET_BEFORE_REPLY)
        result = gateway.send(Message(self.recipients[0], self.plain_text, key="contract-lost-reply"))
        (outcome,) = result.outcomes
        assert outcome.status is Status.UNKNOWN, result
        assert outcome.code == self.expected_code
        assert len(emulator.messages) == 1, "sent once, never twice"
        assert result.requests == 2, "resent once under the same request_id"

    def test_lost_request_is_resent_and_accepted(self, gateway: Gateway, emulator: OctopushEmulator) -> None:
        emulator.inject(Fault.DROP)  # the gateway never saw the first attempt
        result = gateway.send(Message(self.recipients[0], self.plain_text, key="contract-dropped"))
        assert [o.status for o in result.outcomes] == [Status.ACCEPTED], result
        assert len(emulator.messages) == 1 and result.requests == 2


class TestLegacyContract(_OctopushContract):
    codes = {code: entry.verdict for code, entry in LEGACY_CODES.items()}
    expected_code = "120"


class TestV1Contract(_OctopushContract):
    codes = {code: entry.verdict for code, entry in V1_CODES.items()}
    dsn_options = "api=v1"
    expected_code = "duplicate_request_id"
