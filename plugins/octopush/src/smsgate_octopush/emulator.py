"""The Octopush emulator: both APIs on one loopback server, as the reference describes them.

- Legacy (``/api/sms/json``, ``/api/sms`` for XML, ``/api/credit[/json]``): GET or POST, UTF-8
  parameters from the query and the form body, HTTP 200 with ``error_code`` even for errors,
  ``ticket`` and ``successs`` (sic) on success, invalid numbers in ``failures``, 120 for a
  re-used ``request_id``, 121 for premium SMS to France without "STOP au XXXXX",
  ``request_sha1`` checks (123/124), ``request_mode=simu`` changing nothing.
- JSON API (``/v1/public/sms-campaign/send``, ``/v1/public/wallet/check-balance``): header
  authentication, ``sms_ticket`` replies, errors as non-2xx JSON ``{"code", "message"}`` (the
  real schema is unverified; ``v1_errors_in_200=True`` answers the same bodies with HTTP 200, as
  a front end that hides statuses would), ``request_id`` refused for 24 hours (``self.clock``),
  ``simulation_mode`` changing nothing.

Accepted messages are kept in :attr:`OctopushEmulator.messages`; :meth:`OctopushEmulator.callback`
builds the delivery-report request Octopush would push for one of them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

import attrs

from smsgate.emulator import Emulator, EmulatorReply, EmulatorRequest
from smsgate.models import HttpRequest
from smsgate_octopush import emulator_legacy, emulator_v1
from smsgate_octopush.dlr import paris
from smsgate_octopush.emulator_data import COUNTRIES, PRICES, SentMessage, country, e164

__all__ = ["COUNTRIES", "PRICES", "OctopushEmulator", "SentMessage", "country", "e164"]


class OctopushEmulator(Emulator):
    """Both Octopush APIs on loopback. ``messages`` is what was accepted, ``credit`` (euros)
    what is left."""

    name = "octopush"

    def __init__(
        self,
        *args: Any,
        username: str = "smsgate@example.com",
        password: str = "octopush-emu-s3cret",
        credit: Decimal | float | str = Decimal("100"),
        api: Literal["legacy", "v1"] = "legacy",
        failures_as: Literal["objects", "strings"] = "objects",
        numbers_as: Literal["numbers", "strings"] = "numbers",
        require_no_pub: bool = False,
        unserved: Iterable[str] = (),
        blacklist: Iterable[str] = (),
        v1_errors_in_200: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.username = username
        self.password = password
        self.credit = Decimal(str(credit))
        self.api = api
        self.failures_as = failures_as
        self.numbers_as = numbers_as
        self.require_no_pub = require_no_pub
        self.unserved = frozenset(unserved)
        self.blacklist = frozenset(blacklist)
        self.v1_errors_in_200 = v1_errors_in_200
        self.messages: list[SentMessage] = []
        self.legacy_request_ids: set[str] = set()
        self.v1_request_ids: dict[str, float] = {}
        self._legacy_tickets = itertools.count(110000000001)
        self._v1_tickets = itertools.count(0x5FEC89FE97109)

    def dsn(self, api: str | None = None) -> str:
        """The DSN that reaches this emulator (the legacy API unless ``api="v1"``)."""
        chosen = api or self.api
        query = "tls=false" + ("&api=v1" if chosen == "v1" else "")
        return f"octopush://{quote(self.username, safe='')}:{quote(self.password, safe='')}@{self._netloc()}?{query}"

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        path = request.path.rstrip("/")
        if path in ("/api/sms/json", "/api/sms"):
            return emulator_legacy.send(self, request, xml=path == "/api/sms")
        if path in ("/api/credit/json", "/api/credit"):
            return emulator_legacy.credit(self, request, xml=path == "/api/credit")
        if path == "/v1/public/sms-campaign/send":
            return self._v1_status(emulator_v1.send(self, request))
        if path == "/v1/public/wallet/check-balance":
            return self._v1_status(emulator_v1.balance(self, request))
        return super().handle(request)

    def _v1_status(self, reply: EmulatorReply) -> EmulatorReply:
        """``reply``, or with ``v1_errors_in_200`` its error body under HTTP 200."""
        return attrs.evolve(reply, status=200) if self.v1_errors_in_200 else reply

    # -- shared by both APIs -----------------------------------------------------------------

    def ticket(self, api: str) -> str:
        """A new campaign ticket: ``api110000000021`` (legacy) or ``sms_5fec89fe97109``."""
        if api == "legacy":
            return f"api{next(self._legacy_tickets)}"
        return f"sms_{next(self._v1_tickets):013x}"

    def callback(
        self, message: SentMessage, status: str = "DELIVERED", *, url: str = "http://127.0.0.1/octopush/dlr"
    ) -> HttpRequest:
        """The delivery report Octopush pushes for ``message`` (a JSON POST)."""
        when = datetime.fromtimestamp(self.clock(), timezone.utc).astimezone(paris())
        document = {
            "channel": "sms",
            "message_id": message.ticket,
            "number": message.recipient,
            "status": status,
            "delivery_date": when.strftime("%Y-%m-%d %H:%M:%S"),
            "meta_data": None,
            "unit_price": float(message.cost),
            "list_name": None,
        }
        return HttpRequest("POST", url, (("Content-Type", "application/json"),), json.dumps(document).encode())
