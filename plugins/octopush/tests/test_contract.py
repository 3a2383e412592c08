"""The core's provider contract, once per API, against the emulator.

Octopush does not answer a resend under a used ``request_id`` with the first reply: it refuses it
(legacy error 120; a validation error in the JSON API), without the ticket, so
``dedup_replays = False``. The resend is still safe (the SMS goes out once), and the outcome is
``unknown``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import smsgate_octopush
from smsgate.emulator import EmulatorReply, Fault
from smsgate.gateway import Gateway
from smsgate.models import Message, Status
from smsgate.testing import ProviderContract, Situation
from smsgate_octopush.codes import LEGACY_CODES, V1_CODES
from smsgate_octopush.emulator import OctopushEmulator
from smsgate_octopush.emulator_data import country


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


class _Taken:
    """The octopush emulator keeps its own record of what it accepted: the contract counts it."""

    def taken(self, emulator: Any, recipient: str) -> int:
        return sum(1 for m in emulator.messages if _digits(m.recipient) == _digits(recipient))


class _OctopushContract(_Taken, ProviderContract):
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


def _unserve(emulator: Any, number: str) -> None:
    emulator.unserved = frozenset({country(number)})


class TestLegacyContract(_OctopushContract):
    situations = {
        # a recipient in a country the account is not served in: legacy error 151 for it alone
        "one_rejected": Situation(
            setup=lambda emu: _unserve(emu, "+447700900001"), recipients=("+48500600700", "+447700900001")
        ),
        "throttled": Situation(reply=EmulatorReply.text("", 429, headers={"Retry-After": "7"}), retry_after=7.0),
    }
    codes = LEGACY_CODES.verdicts
    expected_code = "120"


class TestV1Contract(_OctopushContract):
    situations = {
        "throttled": Situation(
            reply=EmulatorReply.json({"code": 429, "message": "Too many requests"}, 429, headers={"Retry-After": "7"}),
            retry_after=7.0,
        ),
    }
    unsupported = {
        "one_rejected": "the JSON API refuses the whole request (HTTP 400) for one invalid number; "
        "it never rejects one recipient alone"
    }
    codes = V1_CODES.verdicts
    dsn_options = "api=v1"
    expected_code = "duplicate_request_id"
