"""smsgate provider for the RouteSMS / Route Mobile ``bulksms/bulksms`` GET API (17xx codes).

The same API runs on account-specific hosts and ports, RouteSMS's own and many white labels',
often on plain HTTP, so the DSN names the host:
``routesms://USER:PASSWORD@smsplus.routesms.com:8080?sender=Shop&tls=false`` (TLS unless the DSN
says ``tls=false``: plain HTTP only where asked for).
This module is the wiring only: the handler table below (requests built in :mod:`.request`,
replies read in :mod:`.reply`), codes in :mod:`.codes`, scheduling in :mod:`.schedule`,
delivery reports in :mod:`.dlr`.
"""

from __future__ import annotations

from smsgate.handlers import Handlers, provides
from smsgate.spec import Capabilities, ProviderSpec
from smsgate_routesms import codes, reply, request
from smsgate_routesms.codes import classify_error as classify_error
from smsgate_routesms.dlr import parse_delivery_report as parse_delivery_report
from smsgate_routesms.schedule import schedule_format as schedule_format
from smsgate_routesms.settings import RoutesmsSettings

__all__ = ["SPEC", "RoutesmsSettings", "codes"]
__version__ = "0.1.0"

NAME = "routesms"

handlers = Handlers.collect(request, reply)  # their build_*/parse_* functions

build_request = handlers.build_request
parse_response = handlers.parse_response

SPEC = ProviderSpec(
    name=NAME,
    settings=RoutesmsSettings,
    default_host="",
    capabilities=Capabilities(
        max_recipients=request.MAX_RECIPIENTS,
        max_parts=request.MAX_PARTS,
        scheduling=True,
        flash=True,
        operations=handlers.operations,
        delivery_reports=True,
    ),
    description="RouteSMS / Route Mobile bulksms/bulksms GET API (17xx codes) and its white labels",
    emulator="smsgate_routesms.emulator:RoutesmsEmulator",
)

provider_spec = provides(SPEC)
