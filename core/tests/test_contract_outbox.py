"""The core's own provider passes the contract every plugin runs."""

from smsgate.builtin import outbox
from smsgate.testing import ProviderContract


class TestOutboxContract(ProviderContract):
    plugin = outbox
    codes = outbox.CODES
