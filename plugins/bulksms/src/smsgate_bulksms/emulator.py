"""An emulator of the BulkSMS EAPI on loopback, faithful to the documentation.

- Paths under ``/eapi``: ``submission/send_sms/2/2.0`` and ``send_sms/1/<1.x|current>``,
  ``submission/send_batch/1/1.0``, ``submission/quote_sms/2/2.0`` (``/1/1.1``, ``/1/current``),
  ``status_reports/get_report/2/2.0``, ``1.0/get_report.mc`` (v1), ``user/get_credits/1/1.1``.
  Parameters are read from the query and the form body in ISO-8859-1, with BulkSMS's byte values
  for the Greek capitals; replies are ``text/plain`` pipe-separated lines.
- Codes: 23 for bad credentials, 24 for invalid data, 25 (``FAILED_USERCREDITS``) without credit,
  201 over the batch maximum; ``stop_dup_id`` replays the first reply (failures too) for
  ``dedup_window`` seconds (the docs: "within the past few hours").
- ``send_time`` in the future answers status 1; scheduled messages have no report rows until
  they go out. ``test_always_succeed`` / ``test_always_fail`` change no state (no credit, no
  rows, no de-duplication memory); the failure code is ``test_fail_code``.
- get_report rows: ``0`` until ``delivery_delay`` has passed, then ``delivery_status`` (11), or
  31 for numbers starting with a prefix in ``unroutable``; :meth:`set_status` forces one.
- Incoming messages: :meth:`receive` puts one in the account's inbox (:mod:`.emulator_inbox`),
  served by ``reception/get_inbox/1/1.0`` (and ``1.1``) after ``last_retrieved_id``.
- HTTP push: with ``push_url`` set, :meth:`deliver_pushes` GETs each status change to it
  (``completed_time`` as ``yy-MM-dd HH:mm:ss``, ``source_id`` when the message had one), and
  retries a failed push after 60 min, 3 h and 12 h (by ``self.clock``), then drops it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import urllib3

from smsgate.emulator import Emulator, EmulatorReply, EmulatorRequest
from smsgate_bulksms import codes
from smsgate_bulksms.emulator_inbox import PATHS as INBOX_PATHS
from smsgate_bulksms.emulator_inbox import Inbox
from smsgate_bulksms.emulator_model import (
    PUSH_TIME_FORMAT,
    Invalid,
    Push,
    Recipient,
    Submission,
    batch_lines,
    check_options,
    decode_message,
    digits,
    local_time,
    parse_due,
    parse_msisdns,
)
from smsgate_bulksms.encoding import LATIN1
from smsgate_bulksms.settings import REPORT_FIELDS

_SEND = re.compile(r"^/eapi/submission/send_sms/(?:2/2\.0|1/(?:current|1\.x|1\.\d{1,2}))$")
_QUOTE = re.compile(r"^/eapi/submission/quote_sms/(?:2/2\.0|1/(?:current|1\.\d{1,2}))$")
_STOP_DUP = re.compile(r"^[0-9]{1,10}$")
_OPTIONS = frozenset(
    {"sender", "msg_class", "dca", "want_report", "routing_group", "source_id", "repliable"}
    | {"allow_concat_text_sms", "concat_text_sms_max_parts"}
)
PUSH_RETRIES = (3600.0, 3 * 3600.0, 12 * 3600.0)
Handler = Callable[[dict[str, str], str], str]


class ManualClock:
    """A clock that stands still until moved (``clock.now += 3600``): give it to the emulator
    (``emulator.clock = clock``) and the gateway (``connect(..., clock=clock)``) in tests."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class BulkSmsEmulator(Emulator):
    """The EAPI of one account. ``submissions`` holds what it accepted, by batch id, and
    ``messages`` every accepted message in order."""

    name = "bulksms"

    def __init__(
        self,
        *args: Any,
        username: str = "smsgate",
        password: str = "bulksms-emu-s3cret",
        credit: Decimal | int | str = Decimal("1000"),
        price: Decimal | int | str = Decimal("1"),
        timezone: str = "Europe/London",
        dedup_window: float = 3 * 3600.0,
        max_batch: int = 5_000,
        max_batch_messages: int = 30_000,
        report_header: str = "Results to follow",
        delivery_status: str = "11",
        delivery_delay: float = 0.0,
        unroutable: Sequence[str] = (),
        groups: Mapping[str, Sequence[str]] | None = None,
        test_fail_code: str = "22",
        push_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_body", 64 << 20)  # a 30,000-line send_batch is several MB
        super().__init__(*args, **kwargs)
        self.username, self.password = username, password
        self.credit, self.price = Decimal(credit), Decimal(price)
        self.zone = ZoneInfo(timezone)
        self.dedup_window = dedup_window
        self.max_batch, self.max_batch_messages = max_batch, max_batch_messages
        self.report_header = report_header
        self.delivery_status, self.delivery_delay = delivery_status, delivery_delay
        self.unroutable = tuple(unroutable)
        self.groups = {k: tuple(v) for k, v in (groups or {}).items()}
        self.test_fail_code = test_fail_code
        self.push_url = push_url
        self.submissions: dict[str, Submission] = {}
        self.messages: list[Recipient] = []  # every accepted message, in order (all submissions)
        self.pushes: list[Push] = []
        self.inbox = Inbox()
        self._replies: dict[str, tuple[float, str]] = {}
        self._scripted: list[str] = []
        self._ids = itertools.count(70_000_001)
        self._routes: dict[str, Handler] = {
            "/eapi/submission/send_batch/1/1.0": self._send_batch,
            "/eapi/status_reports/get_report/2/2.0": self._get_report,
            "/eapi/1.0/get_report.mc": self._get_report_v1,
            "/eapi/user/get_credits/1/1.1": self._get_credits,
            **dict.fromkeys(INBOX_PATHS, self._get_inbox),
        }

    def dsn(self) -> str:
        user, secret = quote(self.username, safe=""), quote(self.password, safe="")
        return f"bulksms://{user}:{secret}@{self._netloc()}?tls=false"

    # -- dispatch ---------------------------------------------------------------------------------

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        path = request.path
        handler = self._routes.get(path)
        if handler is None and _SEND.match(path):
            handler = self._send_sms
        elif handler is None and _QUOTE.match(path):
            handler = self._quote_sms
        if handler is None:
            return EmulatorReply.text(f"no route for {request.method} {path}", 404)
        params = request.params(encoding=LATIN1)
        if params.get("username") != self.username or params.get("password") != self.password:
            who = params.get("username", "")[:40]
            tail = "" if handler == self._get_credits or "get_report" in path else "|"
            return self._reply(f"23|invalid credentials (username was: {who}){tail}")
        with self.lock:
            if self._scripted and handler in (self._send_sms, self._send_batch):
                code = self._scripted.pop(0)
                return self._reply(f"{code}|{codes.TABLE.meaning(code)}|")
            return self._reply(handler(params, path))

    @staticmethod
    def _reply(text: str) -> EmulatorReply:
        return EmulatorReply(200, text.encode(LATIN1, errors="replace"), "text/plain")

    def _deduplicated(self, params: dict[str, str], submit: Callable[[], str]) -> str:
        """``submit()``'s reply, or the first reply to this ``stop_dup_id`` within the window."""
        dup = params.get("stop_dup_id")
        if dup is None:
            return submit()
        if not _STOP_DUP.match(dup) or not 1 <= int(dup) <= 2_147_483_647:
            return "24|data validation failed: stop_dup_id must be from 1 to 2147483647|"
        now = self.clock()
        seen = self._replies.get(dup)
        if seen is not None and now - seen[0] <= self.dedup_window:
            return seen[1]
        reply = submit()
        if not (params.get("test_always_succeed") == "1" or params.get("test_always_fail") == "1"):
            self._replies.pop(dup, None)
            self._replies[dup] = (now, reply)  # insertion order is time order: expire from the front
            for oldest, (when, _) in list(itertools.islice(self._replies.items(), 2)):
                if now - when > self.dedup_window:
                    del self._replies[oldest]
        return reply

    # -- submissions -----------------------------------------------------------------------------

    def _recipients(self, params: dict[str, str]) -> list[str]:
        numbers = parse_msisdns(params.get("msisdn", ""))
        for group in (g.strip() for g in params.get("dest_group_id", "").split(",") if g.strip()):
            if group not in self.groups:
                raise Invalid(f"unknown dest_group_id {group[:12]!r}")
            numbers.extend(self.groups[group])
        if not numbers:
            raise Invalid("msisdn or dest_group_id is required")
        if params.get("strip_dup_recipients") == "1":
            numbers = list(dict.fromkeys(numbers))
        return numbers

    def _test_reply(self, params: Mapping[str, str]) -> str | None:
        if params.get("test_always_fail") == "1":
            return f"{self.test_fail_code}|{codes.TABLE.meaning(self.test_fail_code)}|"
        if params.get("test_always_succeed") == "1":
            return f"0|IN_PROGRESS|{next(self._ids)}"
        return None

    def _accept(self, params: Mapping[str, str], lines: list[tuple[str, str, int]], due: float) -> str:
        """Charge the credit and keep the submission; ``lines`` are (msisdn, text, parts)."""
        cost = sum((self.price * parts for _, _, parts in lines), Decimal(0))
        if cost > self.credit:
            return "25|FAILED_USERCREDITS|"
        self.credit -= cost
        batch_id = str(next(self._ids))
        now = self.clock()
        rows = [Recipient(m, text, parts, self.price * parts) for m, text, parts in lines]
        self.messages.extend(rows)
        self.submissions[batch_id] = Submission(
            batch_id,
            now,
            due,
            rows,
            params.get("sender", ""),
            params.get("source_id", ""),
            params.get("want_report") != "0",
        )
        return f"1|SCHEDULED|{batch_id}" if due > now else f"0|IN_PROGRESS|{batch_id}"

    def _prepare_sms(self, params: dict[str, str]) -> tuple[list[tuple[str, str, int]], float]:
        check_options(params)
        text, parts = decode_message(params)
        numbers = self._recipients(params)
        due = parse_due(params, self.zone, self.clock())
        return [(n, text, parts) for n in numbers], due

    def _send_sms(self, params: dict[str, str], path: str) -> str:
        def submit() -> str:
            try:
                lines, due = self._prepare_sms(params)
            except Invalid as exc:
                return f"24|data validation failed: {exc}|"
            if len(lines) > self.max_batch:
                return "201|Maximum batch size exceeded|"
            return self._test_reply(params) or self._accept(params, lines, due)

        return self._deduplicated(params, submit)

    def _quote_sms(self, params: dict[str, str], path: str) -> str:
        try:
            lines, _ = self._prepare_sms(params)
        except Invalid as exc:
            return f"24|data validation failed: {exc}|"
        if len(lines) > self.max_batch:
            return "201|Maximum batch size exceeded|"
        total = sum((self.price * parts for _, _, parts in lines), Decimal(0))
        return f"{'0' if '/2/2.0' in path else '1000'}|Quotation issued|{total:.2f}"

    def _send_batch(self, params: dict[str, str], path: str) -> str:
        def submit() -> str:
            defaults = {k: v for k, v in params.items() if k in _OPTIONS}
            try:
                check_options(defaults)
                lines = batch_lines(params.get("batch_data", ""), defaults)
                due = parse_due(params, self.zone, self.clock())
            except Invalid as exc:
                return f"24|data validation failed: {exc}|"
            if not lines:
                return "24|data validation failed: no valid lines in batch_data|"
            if len(lines) > self.max_batch_messages:
                return "201|Maximum batch size exceeded|"
            decoded = [(line["msisdn"], *decode_message(line)) for line in lines]
            return self._test_reply(params) or self._accept(params, decoded, due)

        return self._deduplicated(params, submit)

    # -- reports and credit -----------------------------------------------------------------------

    def _status(self, submission: Submission, recipient: Recipient, now: float) -> str:
        if recipient.status is not None:
            return recipient.status
        if any(recipient.msisdn.startswith(p) for p in self.unroutable):
            return "31"
        return "0" if now < submission.due + self.delivery_delay else self.delivery_status

    def _field(self, name: str, submission: Submission, recipient: Recipient) -> str:
        if name == "body":
            return recipient.text.replace("\n", " ").replace("\r", " ").replace("|", " ")
        if name == "completed_time":
            return local_time(submission.due + self.delivery_delay, self.zone)
        if name == "created_time":
            return local_time(submission.created, self.zone)
        if name == "credits":
            return f"{recipient.credits:.2f}"
        return submission.sender if name == "origin_address" else submission.source_id

    def _get_report(self, params: dict[str, str], path: str) -> str:
        batch_id = params.get("batch_id", "")
        fields = [f.strip() for f in params.get("optional_fields", "").split(",") if f.strip()]
        if not digits(batch_id):
            return "24|data validation failed: batch_id is required"
        if any(f not in REPORT_FIELDS for f in fields):
            return "24|data validation failed: unknown optional_fields"
        now = self.clock()
        submission = self.submissions.get(batch_id)
        rows = []
        if submission is not None and now >= submission.due:
            wanted = params.get("msisdn")
            for r in submission.recipients:
                if wanted is None or r.msisdn == wanted.lstrip("+"):
                    values = [r.msisdn, self._status(submission, r, now)]
                    values += [self._field(f, submission, r) for f in fields]
                    rows.append("|".join(values) + "\n")
        return f"0|{self.report_header}\n\n" + "".join(rows)

    def _get_report_v1(self, params: dict[str, str], path: str) -> str:
        submission = self.submissions.get(params.get("msg_id", ""))
        now = self.clock()
        if submission is None or now < submission.due:
            return "1001|Message not found"
        wanted = params.get("msisdn")
        rows = []
        for r in submission.recipients:
            if wanted is not None and r.msisdn != wanted.lstrip("+"):
                continue
            status = self._status(submission, r, now)
            rows.append(f"{r.msisdn}|{status}|{codes.TABLE.meaning(status)}\n")
        return "1000|Results to follow\n\n" + "".join(rows)

    def _get_credits(self, params: dict[str, str], path: str) -> str:
        return f"0|{self.credit:.2f}"

    def _get_inbox(self, params: dict[str, str], path: str) -> str:
        return self.inbox.reply(params.get("last_retrieved_id", ""), path, self.zone)

    def receive(self, sender: str, text: str, msisdn: str = "447700900000") -> str:
        """An incoming message (MO) from ``sender`` to our ``msisdn``; returns its ``msg_id``."""
        return str(self.inbox.add(sender, text, msisdn, self.clock()).msg_id)

    # -- for tests and demos --------------------------------------------------------------------

    def answer_next(self, code: str, times: int = 1) -> None:
        """Answer the next ``times`` submissions with ``code`` (e.g. 40, temporarily
        unavailable) without processing them."""
        with self.lock:
            self._scripted.extend([code] * times)

    def set_status(self, batch_id: str, msisdn: str, code: str) -> None:
        """Force the delivery status of one recipient of an accepted batch."""
        with self.lock:
            for r in self.submissions[batch_id].recipients:
                if r.msisdn == msisdn.lstrip("+"):
                    r.status = code

    def deliver_pushes(self) -> list[tuple[dict[str, str], bool]]:
        """Push every new status to ``push_url`` (a loopback URL), and every failed push that
        is due again; returns what was pushed and whether the receiver took it (HTTP 200 with
        a body)."""
        if not self.push_url:
            return []
        if urlsplit(self.push_url).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the emulator pushes to loopback URLs only")
        now = self.clock()
        with self.lock:
            self._queue_pushes(now)
            due = [p for p in self.pushes if p.due <= now]
        results = [(p, self._push(p.params)) for p in due]
        with self.lock:
            for push, ok in results:
                push.attempt += 1
                if ok or push.attempt > len(PUSH_RETRIES):
                    self.pushes.remove(push)
                else:
                    push.due = now + PUSH_RETRIES[push.attempt - 1]
        return [(p.params, ok) for p, ok in results]

    def _queue_pushes(self, now: float) -> None:
        for s in self.submissions.values():
            if not s.want_report or now < s.due:
                continue
            for r in s.recipients:
                status = self._status(s, r, now)
                if status != (r.pushed or "0"):
                    r.pushed = status
                    params = {"msisdn": r.msisdn, "batch_id": s.batch_id, "status": status}
                    if codes.TABLE.delivery(status).final:
                        done = s.due + self.delivery_delay
                        params["completed_time"] = local_time(done, self.zone, PUSH_TIME_FORMAT)
                    if s.source_id:
                        params["source_id"] = s.source_id
                    self.pushes.append(Push(params, now))

    def _push(self, params: dict[str, str]) -> bool:
        assert self.push_url is not None
        url = self.push_url + ("&" if "?" in self.push_url else "?") + urlencode(params)
        try:
            reply = urllib3.request("GET", url, timeout=5.0, retries=False, redirect=False)
        except urllib3.exceptions.HTTPError:
            return False
        return reply.status == 200 and bool(reply.data)
