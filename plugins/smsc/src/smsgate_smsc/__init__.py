"""smsgate provider for the SMSC.ru / smscentre.com HTTP API (brands smsc.ru, smscentre.com, smsc.ua, smsc.kz).

DSN: ``smsc://LOGIN:PASSWORD@default`` (login + ``psw``) or ``smsc://:APIKEY@default`` (``apikey``);
``default`` is smscentre.com, any other host (``smsc.ru``, ``smsc.ua``, ``smsc.kz``) replaces it.
This module is the wiring only: the handler table below (requests built in :mod:`.request`,
replies read in :mod:`.reply`), codes in :mod:`.codes`, scheduling in :mod:`.schedule`,
delivery-report callbacks in :mod:`.dlr`, incoming messages in :mod:`.inbound`.
"""

from __future__ import annotations

from smsgate.handlers import Handlers, provides
from smsgate.spec import Capabilities, ProviderSpec

from . import codes, inbound, reply, request
from .codes import classify_error as classify_error
from .dlr import parse_delivery_report as parse_delivery_report
from .inbound import parse_inbound as parse_inbound
from .schedule import schedule_format as schedule_format
from .settings import SmscSettings

__all__ = ["SPEC", "SmscSettings", "codes"]
__version__ = "0.1.0"

#: Seconds SMSC is trusted to recognise a resend: error 9 refuses an identical request within a
#: minute (whether a repeated ``id`` alone is de-duplicated is unverified), so the core resends
#: under the same ``id`` only within 60 s of the first attempt; later it looks the batch up.
DEDUP_WINDOW = 60.0

handlers = Handlers.collect(request, reply, inbound)  # their build_*/parse_* functions

build_request = handlers.build_request
parse_response = handlers.parse_response

SPEC = ProviderSpec(
    name="smsc",
    settings=SmscSettings,
    default_host="smscentre.com",
    credentials=("login", "password"),
    capabilities=Capabilities(
        max_recipients=1000,
        max_parts=15,
        scheduling=True,
        dedup="id",
        dedup_window=DEDUP_WINDOW,
        test_mode="test",
        flash=True,
        # personalised texts are a Send variant (send.php's list), declared here
        operations=handlers.operations | {"personalised"},
        max_personalised=100,
        delivery_reports=True,
        calls=request.CALLS,
        inbound=frozenset({"push"}),  # and "pull": the inbox handlers above
    ),
    description="SMSC.ru / smscentre.com HTTP API (also smsc.ua, smsc.kz)",
    emulator="smsgate_smsc.emulator:SmscEmulator",
    backup_hosts=("www2.smscentre.com",),
    docs="https://smscentre.com/api/http/",
)

provider_spec = provides(SPEC)
