"""smsgate provider for the BulkSMS EAPI (``send_sms`` 2.0 and 1.x), also run by resellers on
their own hosts and ports.

DSN: ``bulksms://USERNAME:PASSWORD@default`` (``https://bulksms.vsms.net``), or a reseller's host:
``bulksms://USERNAME:PASSWORD@www.sms.studentmessenger.co.uk:5567?tls=false``. This module is
the wiring only: the handler table below (requests built in :mod:`.request`, replies read in
:mod:`.reply`), codes in :mod:`.codes`, scheduling in :mod:`.schedule`, delivery-report
callbacks in :mod:`.dlr`, incoming messages in :mod:`.inbound`.
"""

from __future__ import annotations

from smsgate.handlers import Handlers, provides
from smsgate.spec import Capabilities, ProviderSpec
from smsgate_bulksms import codes, inbound, reply, request
from smsgate_bulksms.codes import classify_error as classify_error
from smsgate_bulksms.dlr import parse_delivery_report as parse_delivery_report
from smsgate_bulksms.inbound import parse_inbound as parse_inbound
from smsgate_bulksms.schedule import schedule_format as schedule_format
from smsgate_bulksms.settings import BulkSmsSettings

__all__ = ["CAPABILITIES", "SPEC", "BulkSmsSettings", "codes"]

#: ``send_batch`` takes 30,000 messages in one copy of its documentation and 50,000 in another:
#: the smaller is used.
MAX_PERSONALISED = 30_000
#: The documentation advises at most 5,000 recipients per request (across groups) to avoid
#: timeouts; the same bound is used for msisdn lists.
MAX_RECIPIENTS = 5_000
#: How long the gateway is trusted to recognise a repeated ``stop_dup_id``: the documentation
#: says only "recently (within the past few hours)", so one hour, the least that wording
#: allows. The core resends under the key only inside this window; later it settles unknown.
DEDUP_WINDOW = 3600.0

handlers = Handlers.collect(request, reply, inbound)  # their build_*/parse_* functions

build_request = handlers.build_request
parse_response = handlers.parse_response

CAPABILITIES = Capabilities(
    max_recipients=MAX_RECIPIENTS,
    max_parts=request.MAX_PARTS,
    scheduling=True,
    dedup="stop_dup_id",
    dedup_window=DEDUP_WINDOW,
    test_mode="test_always_succeed",
    flash=True,
    max_connections=1,
    # personalised texts are a Send variant (send_batch), declared here
    operations=handlers.operations | {"personalised"},
    max_personalised=MAX_PERSONALISED,
    delivery_reports=True,
    calls=frozenset({"send_to_groups"}),
    inbound=frozenset({"push"}),  # and "pull": the inbox handlers above
)

SPEC = ProviderSpec(
    name="bulksms",
    settings=BulkSmsSettings,
    default_host="bulksms.vsms.net",
    capabilities=CAPABILITIES,
    description="BulkSMS EAPI send_sms 2.0/1.x (bulksms.vsms.net and resellers on their own hosts)",
    emulator="smsgate_bulksms.emulator:BulkSmsEmulator",
    docs="https://www.bulksms.com/developer/eapi/submission/send_sms/",
)

provider_spec = provides(SPEC)
