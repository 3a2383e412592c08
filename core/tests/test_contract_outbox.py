"""The core's own provider passes the contract every plugin runs."""

from smsgate.builtin import outbox
from smsgate.emulator import EmulatorReply
from smsgate.testing import ProviderContract, Situation

REJECTED = {
    "results": [
        {"to": "+48500600700", "id": "ob1"},
        {"to": "+48500600701", "error": "invalid_number", "reason": "no such subscriber"},
    ]
}


class TestOutboxContract(ProviderContract):
    plugin = outbox
    codes = outbox.CODES
    situations = {
        # the emulator takes every well-formed number, so the partial rejection is canned
        "one_rejected": Situation(reply=EmulatorReply.json(REJECTED)),
        "throttled": Situation(
            reply=EmulatorReply.json({"error": "throttled", "reason": "slow down"}, 429, headers={"Retry-After": "7"}),
            retry_after=7.0,
        ),
        "server_error": Situation(reply=EmulatorReply.json({"error": "internal", "reason": "oops"}, 500)),
    }
