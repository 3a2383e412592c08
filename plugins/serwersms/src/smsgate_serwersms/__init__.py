"""smsgate provider for the SerwerSMS.pl HTTPS API v2.

DSN: ``serwersms://USERNAME:PASSWORD@default`` (credentials in the JSON body) or
``serwersms://:API_TOKEN@default`` (``Authorization: Bearer``); options in the README.
This module is the wiring only: the handler table below (requests built in :mod:`.request`,
replies read in :mod:`.reply`), codes in :mod:`.codes`, scheduling (``date``) in
:mod:`.schedule`, the ``dlr_url`` push in :mod:`.dlr`, incoming messages in :mod:`.inbound`.
"""

from __future__ import annotations

from smsgate.handlers import Handlers, provides
from smsgate.spec import Capabilities, ProviderSpec
from smsgate_serwersms import codes, inbound, reply, request
from smsgate_serwersms.codes import classify_error as classify_error
from smsgate_serwersms.dlr import parse_delivery_report as parse_delivery_report
from smsgate_serwersms.inbound import parse_inbound as parse_inbound
from smsgate_serwersms.schedule import schedule_format as schedule_format
from smsgate_serwersms.settings import SerwerSmsSettings

__all__ = ["SPEC", "SerwerSmsSettings", "codes"]

NAME = "serwersms"
DEFAULT_HOST = "api2.serwersms.pl"
#: At most 100,000 numbers per request (10,000 personalised); 50-200 recommended (seed 001).
MAX_RECIPIENTS = 100_000
BATCH_SIZE = 200
MAX_PERSONALISED = 10_000
#: Seconds the gateway may still be processing a send after we stopped waiting for its reply
#: (*unverified*: the README explains the choice). The core looks a lost send up only this long
#: after it was written, so that a lookup cannot miss a request still on its way in.
LOOKUP_DELAY = 60.0

handlers = Handlers.collect(request, reply, inbound)  # their build_*/parse_* functions

build_request = handlers.build_request
parse_response = handlers.parse_response

SPEC = ProviderSpec(
    name=NAME,
    settings=SerwerSmsSettings,
    default_host=DEFAULT_HOST,
    capabilities=Capabilities(
        max_recipients=MAX_RECIPIENTS,
        batch_size=BATCH_SIZE,
        max_parts=request.MAX_PARTS,
        scheduling=True,
        lookup_delay=LOOKUP_DELAY,
        test_mode="test",
        flash=True,
        operations=handlers.operations | {"personalised"},
        max_personalised=MAX_PERSONALISED,
        delivery_reports=True,
        calls=request.CALLS,
        inbound=frozenset({"push"}),  # and "pull": the inbox handlers above
    ),
    description="SerwerSMS.pl HTTPS API v2 (JSON; API token or username/password)",
    emulator="smsgate_serwersms.emulator:SerwerSmsEmulator",
    docs="https://dev.serwersms.pl/en/https-api-v2/introduction",
)

provider_spec = provides(SPEC)
