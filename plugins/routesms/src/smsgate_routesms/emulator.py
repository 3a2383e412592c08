"""An emulator of the RouteSMS ``bulksms/bulksms`` gateway, faithful to the reference.

- ``/bulksms/bulksms`` and ``/bulksms/schedulemsg`` by GET (the documented way) or POST with the
  same parameters; ``/CreditCheck/checkcredits``.
- A missing or blank parameter is a bare ``1702``, wrong credentials a bare ``1703``. Then one
  item per destination, comma-separated: ``1706|<number>`` for a bad number, ``1704``/``1705``/
  ``1707``/``1708`` for a bad type, message, source or dlr (the gateway reports these per
  destination), the DND code for numbers on the DND list, ``1701|<number>|<id>`` (or
  ``1701|<number>:<id>`` with ``id_separator=":"``) for accepted ones.
- Credit is counted in message parts; when it runs out part-way, the gateway answers the credit
  code for that number and stops: the numbers after it are missing from the reply.
- Variants: ``credit_code`` 1725 (seed) or 1025 (older deployments), ``dnd_code`` 1732 or 1032;
  ``invalid`` numbers are answered ``1706`` like malformed ones, and with ``invalid_as_na`` every
  ``1706`` reads ``1706|NA`` and comes first, as in the recorded Route Mobile reply
  ``1706|NA,1701|919411082815:7dac224a-…,1701|919045929210:03c89ad5-…``.
- ``queue_reply(body, process=...)`` scripts the next send's reply, e.g. ``queue_reply("1715",
  process=True)``: the messages are taken and the answer is "response timeout".
- No test mode, no status pull, no client de-duplication key (none is documented); a server-side
  ``1041`` duplicate check is available with ``duplicate_window`` seconds (off by default: its
  rules are unverified).
- Delivery reports: :meth:`delivery_reports` builds the push requests, :meth:`push_delivery_reports`
  posts them to a loopback URL.
"""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import attrs

from smsgate.emulator import Emulator, EmulatorReply, EmulatorRequest
from smsgate.models import HttpRequest
from smsgate_routesms.dlr import report_fields
from smsgate_routesms.encoding import MessageType, decode, parts
from smsgate_routesms.request import BALANCE_PATH, SCHEDULE_PATH, SEND_PATH
from smsgate_routesms.schedule import parse_fields
from smsgate_routesms.settings import source_problem

_REQUIRED = ("username", "password", "type", "dlr", "destination", "source", "message")
_SCHEDULE = ("date", "time", "gmt")
_TYPES = frozenset(int(t) for t in MessageType)
NOT_WHITE_LISTED = "Destination/(s) is not White Listed."


@attrs.frozen
class SentMessage:
    """A message the emulated gateway took, one per destination."""

    id: str
    destination: str
    text: str
    type: int
    source: str
    dlr: bool
    parts: int
    submitted: datetime
    send_at: datetime | None = None
    dlt: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class _Scripted:
    body: str
    process: bool


class RoutesmsEmulator(Emulator):
    """The gateway on loopback; ``messages`` holds what it took, ``credit`` what is left."""

    name = "routesms"

    def __init__(
        self,
        *args: Any,
        username: str = "smsgate",
        password: str = "routesms-emu-s3cret",
        credit: Decimal | int | str = 10_000,
        price: Decimal | int | str = 1,
        id_separator: Literal["|", ":"] = "|",
        credit_code: Literal["1725", "1025"] = "1725",
        dnd_code: Literal["1732", "1032"] = "1732",
        dnd: Iterable[str] = (),
        invalid: Iterable[str] = (),
        invalid_as_na: bool = False,
        whitelist: Iterable[str] | None = None,
        duplicate_window: float = 0.0,
        sender: str = "SMSGate",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if id_separator not in ("|", ":"):
            raise ValueError("id_separator is '|' or ':'")
        self.username = username
        self.password = password
        self.credit = Decimal(credit)
        self.price = Decimal(price)
        self.id_separator = id_separator
        self.credit_code = credit_code
        self.dnd_code = dnd_code
        self.dnd = {d.lstrip("+") for d in dnd}
        self.invalid = {d.lstrip("+") for d in invalid}
        self.invalid_as_na = invalid_as_na
        self.whitelist = None if whitelist is None else {w.lstrip("+") for w in whitelist}
        self.duplicate_window = duplicate_window
        self.sender = sender
        self.messages: list[SentMessage] = []
        self.reported: set[str] = set()
        self._scripted: deque[_Scripted] = deque()
        self._recent: dict[tuple[str, str, str, int], float] = {}

    # -- knobs ---------------------------------------------------------------------------------

    def queue_reply(self, body: str, *, process: bool = False, times: int = 1) -> None:
        """Answer the next ``times`` sends with ``body``; with ``process`` the messages are taken
        first (``queue_reply("1715", process=True)``: sent, but the reply says "timeout")."""
        with self.lock:
            self._scripted.extend(_Scripted(body, process) for _ in range(times))

    def dsn(self) -> str:
        user, password = quote(self.username, safe=""), quote(self.password, safe="")
        return f"routesms://{user}:{password}@{self._netloc()}?tls=false&sender={quote(self.sender, safe='')}"

    # -- routes --------------------------------------------------------------------------------

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        if request.method in ("GET", "POST"):
            if request.path in (SEND_PATH, SCHEDULE_PATH):
                return EmulatorReply.text(self._submit(request.params(), request.path == SCHEDULE_PATH))
            if request.path == BALANCE_PATH:
                return EmulatorReply.text(self._balance(request.params()))
        return super().handle(request)

    def _authorised(self, params: dict[str, str]) -> bool:
        return params.get("username") == self.username and params.get("password") == self.password

    def _balance(self, params: dict[str, str]) -> str:
        if not self._authorised(params):
            return "PERMISSION DENIED"
        with self.lock:
            return f"Balance:{self.credit:f}"

    def _submit(self, params: dict[str, str], scheduled: bool) -> str:
        needed = _REQUIRED + (_SCHEDULE if scheduled else ())
        if any(not params.get(name, "").strip() for name in needed):
            return "1702"
        if not self._authorised(params):
            return "1703"
        send_at = None
        if scheduled:
            try:
                send_at = parse_fields(params["date"], params["time"], params["gmt"])
            except ValueError:
                return "1702"
        with self.lock:
            script = self._scripted.popleft() if self._scripted else None
            if script is not None and not script.process:
                return script.body
            answer = self._take(params, send_at)
            return script.body if script is not None else answer

    def _problem(self, params: dict[str, str]) -> tuple[str | None, int, str]:
        """The per-destination error code for the message itself (or None), its type and text."""
        try:
            mtype = int(params["type"])
        except ValueError:
            return "1704", 0, ""
        if mtype not in _TYPES:
            return "1704", mtype, ""
        if params["dlr"] not in ("0", "1"):
            return "1708", mtype, ""
        try:
            text = decode(params["message"], mtype)
        except ValueError:
            return "1705", mtype, ""
        if source_problem(params["source"]) is not None:
            return "1707", mtype, text
        return None, mtype, text

    def _take(self, params: dict[str, str], send_at: datetime | None) -> str:
        """Process one submission (under the lock); the reply items."""
        destinations = [d.strip() for d in params["destination"].split(",") if d.strip()]
        if self.whitelist is not None and any(d.lstrip("+") not in self.whitelist for d in destinations):
            return NOT_WHITE_LISTED
        problem, mtype, text = self._problem(params)
        now = self.clock()
        submitted = datetime.fromtimestamp(now, timezone.utc)
        due = send_at if send_at is not None and send_at > submitted else None
        count = parts(text, MessageType(mtype)) if problem is None else 0
        cost = self.price * count
        dlt = tuple((k, params[k]) for k in ("entityid", "tempid", "tmid") if params.get(k))
        items: list[str] = []
        bad: list[str] = []
        for destination in destinations:
            number = destination[1:] if destination.startswith("+") else destination
            if not (number.isascii() and number.isdigit() and 7 <= len(number) <= 15) or number in self.invalid:
                if self.invalid_as_na:
                    bad.append("1706|NA")
                else:
                    items.append(f"1706|{number}")
            elif problem is not None:
                items.append(f"{problem}|{number}")
            elif number in self.dnd:
                items.append(f"{self.dnd_code}|{number}")
            elif self._duplicate((number, text, params["source"], mtype), now):
                items.append(f"1041|{number}")
            elif self.credit < cost:
                items.append(f"{self.credit_code}|{number}")
                break  # credit ran out: the rest of the numbers get no answer
            else:
                message = SentMessage(
                    str(uuid.uuid4()),
                    number,
                    text,
                    mtype,
                    params["source"],
                    params["dlr"] == "1",
                    count,
                    submitted,
                    due,
                    dlt,
                )
                self.messages.append(message)
                self.credit -= cost
                items.append(f"1701|{number}{self.id_separator}{message.id}")
        return ",".join(bad + items) if bad or items else "1706"

    def _duplicate(self, key: tuple[str, str, str, int], now: float) -> bool:
        if self.duplicate_window <= 0:
            return False
        last = self._recent.get(key)
        self._recent[key] = now
        return last is not None and now - last < self.duplicate_window

    # -- delivery reports ------------------------------------------------------------------------

    def delivery_reports(self, url: str, *, status: str = "DELIVRD", error: str = "0") -> list[HttpRequest]:
        """The push requests for every due message that asked for a report and has none yet
        (they are marked reported)."""
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        with self.lock:
            due = [
                m
                for m in self.messages
                if m.dlr and m.id not in self.reported and (m.send_at is None or m.send_at <= now)
            ]
            self.reported.update(m.id for m in due)
        return [
            HttpRequest.form(
                url,
                report_fields(
                    sender=m.source,
                    mobile=m.destination,
                    status=status,
                    message_id=m.id,
                    submitted=m.submitted,
                    done=now,
                    cost=f"{self.price:f}",
                    charge=f"{self.price * m.parts:f}",
                    error=error,
                ),
            )
            for m in due
        ]

    def push_delivery_reports(
        self, url: str, *, status: str = "DELIVRD", error: str = "0", timeout: float = 5.0
    ) -> int:
        """POST the due reports to ``url`` (loopback only); returns how many were accepted (200/202)."""
        host = urlsplit(url).hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"the emulator pushes reports to loopback only, not {host!r}")
        accepted = 0
        for report in self.delivery_reports(url, status=status, error=error):
            call = urllib.request.Request(report.url, data=report.body, headers=dict(report.headers), method="POST")
            try:
                with urllib.request.urlopen(call, timeout=timeout) as answer:
                    accepted += answer.status in (200, 202)
            except urllib.error.HTTPError:
                pass  # the receiver refused it: the real gateway would count it as failed
        return accepted
