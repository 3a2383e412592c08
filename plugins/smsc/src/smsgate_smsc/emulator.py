"""An emulator of the SMSC HTTP API (send.php, status.php, balance.php, downloads.php) on loopback.

Faithful to the reference: GET or POST, parameters in the ``charset`` they name (default
windows-1251), ``login`` + ``psw`` (or its MD5) or ``apikey``, replies in ``fmt`` 0-3, ``cost`` 0-3,
per-number details with ``err=1``/``op=1``, error codes 1-9, error 9 for an identical send within
60 s (and the other per-minute limits), scheduling through ``time``/``tz``, status.php statuses,
balance.php, deferred tasks, incoming messages (:meth:`receive`, served by ``get.php?get_answers=1``
after ``after_id``, within ``hour``, at most ``cnt``), and the account's test mode
(``virtual=True``: virtual sending, nothing charged, statuses with delivery error 200). Time comes from ``self.clock``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from smsgate import text as sms_text
from smsgate.emulator import Emulator, EmulatorReply, EmulatorRequest
from smsgate.models import HttpRequest

from . import emulator_wire as wire
from .dlr import signature
from .emulator_state import ERRORS, MCCMNC, WINDOW, Limits, Refused, SentSms, Task, digits_of, money
from .settings import sender_problem


class SmscEmulator(Emulator):
    """SMSC on loopback. ``messages`` maps ``(id, phone digits)`` to what was accepted."""

    name = "smsc"

    def __init__(
        self,
        *args: Any,
        username: str = "smsgate",
        password: str = "smsc-emu-s3cret",
        apikey: str = "smsc-emu-apikey-s3cret",
        balance: Decimal | str = "1000.00",
        credit: Decimal | str = "0",
        currency: str = "RUB",
        price: Decimal | str = "1.40",
        virtual: bool = False,
        invalid_numbers: Iterable[str] = (),
        undeliverable_numbers: Iterable[str] = (),
        groups: Mapping[str, Iterable[str]] | None = None,
        senders: Iterable[str] | None = None,
        prohibited_words: Iterable[str] = (),
        account_tz: int = 0,
        delivery_status: int = 1,
        block_after: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.username, self.password, self.apikey = username, password, apikey
        self.balance, self.credit, self.currency = Decimal(balance), Decimal(credit), currency
        self.price = Decimal(price)
        self.virtual = virtual
        self.invalid_numbers = {digits_of(n) for n in invalid_numbers}
        self.undeliverable_numbers = {digits_of(n) for n in undeliverable_numbers}
        self.groups = {str(g): [digits_of(n) for n in ns] for g, ns in (groups or {}).items()}
        self.senders = None if senders is None else set(senders)
        self.prohibited_words = tuple(w.lower() for w in prohibited_words)
        self.account_tz = account_tz
        self.delivery_status = delivery_status
        self.block_after = block_after
        self.messages: dict[tuple[int, str], SentSms] = {}
        self.tasks: list[Task] = []
        #: Incoming messages (MO), oldest first: ``(id, phone, text, our number, when)``.
        self.answers: list[tuple[int, str, str, str, float]] = []
        self._answer_ids = itertools.count(1001)
        self._limits = Limits()
        self._failures: list[float] = []
        self._ids = itertools.count(1)
        self._task_ids = itertools.count(1)

    def dsn(self, auth: str = "password") -> str:
        """``smsc://LOGIN:PASSWORD@host:port?tls=false``; ``auth="apikey"``: ``smsc://:KEY@...``."""
        if auth == "apikey":
            return f"smsc://:{self.apikey}@{self._netloc()}?tls=false"
        return f"smsc://{self.username}:{self.password}@{self._netloc()}?tls=false"

    # -- routing ---------------------------------------------------------------------------

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        routes = {
            "/sys/send.php": self._send,
            "/sys/status.php": self._status,
            "/sys/balance.php": self._balance,
            "/sys/downloads.php": self._downloads,
            "/sys/get.php": self._answers,
        }
        route = routes.get(request.path)
        if route is None or request.method not in ("GET", "POST"):
            return super().handle(request)
        values, codec = wire.params(request)
        fmt = wire.fmt_of(values)
        with self.lock:
            now = self.clock()
            try:
                if self._blocked(now):
                    raise Refused(4)
                if not self._authorised(values):
                    raise Refused(2)
                return route(values, fmt, codec, now)
            except Refused as refused:
                if refused.code not in (4, 9):
                    self._failures.append(now)
                ident = refused.ident
                if ident is None and route == self._send and values.get("id", "").isdigit():
                    ident = int(values["id"])  # send errors carry the client's id
                return wire.error(fmt, refused.code, ERRORS[refused.code], codec, ident)

    def _blocked(self, now: float) -> bool:
        self._failures = [t for t in self._failures if now - t < WINDOW]
        return self.block_after is not None and len(self._failures) >= self.block_after

    def _authorised(self, values: Mapping[str, str]) -> bool:
        if "apikey" in values:
            return values["apikey"] == self.apikey
        digest = hashlib.md5(self.password.encode("utf-8")).hexdigest()
        return values.get("login") == self.username and values.get("psw") in (self.password, digest)

    # -- send.php --------------------------------------------------------------------------

    def _recipients(self, values: Mapping[str, str]) -> list[tuple[str, str]]:
        """``(number as given, text)`` per number, from ``phones`` + ``mes`` or ``list``."""
        if "list" in values:
            pairs = [line.rstrip("\r").split(":", 1) for line in values["list"].split("\n") if line.strip()]
            if any(len(p) != 2 or not p[1] for p in pairs):
                raise Refused(1)
            return [(p[0].strip(), p[1]) for p in pairs]
        mes = values.get("mes", "")
        numbers: list[str] = []
        for item in values.get("phones", "").replace(";", ",").split(","):
            item = item.strip()
            if item[:1] in ("G", "g") and item[1:].isdigit():
                numbers += self.groups.get(item[1:], [])
            elif item:
                numbers.append(item)
        if not mes or not numbers:
            raise Refused(1)
        return [(n, mes) for n in dict.fromkeys(numbers)]

    def _number_error(self, number: str) -> int:
        digits = digits_of(number)
        if not 10 <= len(digits) <= 15 or number.lstrip("+") != digits or digits in self.invalid_numbers:
            return 7
        return 8 if digits in self.undeliverable_numbers else 0

    def _send(self, values: Mapping[str, str], fmt: int, codec: str, now: float) -> EmulatorReply:
        try:
            cost_mode = int(values.get("cost", "0"))
            ident = int(values["id"]) if values.get("id") else None
            maxsms = int(values["maxsms"]) if values.get("maxsms") else None
            tz = int(values["tz"]) if values.get("tz") else self.account_tz
        except ValueError:
            raise Refused(1) from None
        if cost_mode not in (0, 1, 2, 3) or (ident is not None and not 1 <= ident <= 2**31 - 1):
            raise Refused(1, ident)
        key = ("send", tuple(sorted(values.items())))
        if not self._limits.allow(key, 5 if cost_mode == 1 else 1, now):
            raise Refused(9, ident)
        recipients = self._recipients(values)
        sender = values.get("sender")
        if any(len(t) > 1000 for _, t in recipients) or (sender and sender_problem(sender)):
            raise Refused(1, ident)
        if sender not in (None, "", ".") and self.senders is not None and sender not in self.senders:
            raise Refused(6, ident)
        if any(w in t.lower() for _, t in recipients for w in self.prohibited_words):
            raise Refused(6, ident)
        try:
            leaves = wire.send_time(values.get("time", ""), tz, now)
        except (ValueError, OverflowError, OSError):
            raise Refused(5, ident) from None
        errors = {n: self._number_error(n) for n, _ in recipients}
        good = [(n, t) for n, t in recipients if not errors[n]]
        if not good:
            raise Refused(7 if 7 in errors.values() else 8, ident)
        parts = {n: self._parts(t, maxsms) for n, t in good}
        cnt = sum(parts.values())
        cost = self.price * cnt
        phones = self._phones(values, recipients, errors, parts, leaves is not None and leaves > now)
        if cost_mode == 1:
            return wire.priced(fmt, money(cost), cnt, phones, codec)
        if not self.virtual and cost > self.balance + self.credit:
            raise Refused(3, ident)
        ident = ident if ident is not None else next(self._ids)
        when = leaves if leaves is not None and leaves > now else now
        for number, text in good:
            digits = digits_of(number)
            self.messages[(ident, digits)] = SentSms(
                ident,
                digits,
                text,
                sender,
                parts[number],
                self.price * parts[number],
                now,
                when,
                self.virtual,
                values.get("flash") == "1",
            )
        if not self.virtual:
            self.balance -= cost
        return wire.sent(fmt, ident, cnt, cost_mode, money(cost), money(self.balance), phones, codec)

    def _parts(self, text: str, maxsms: int | None) -> int:
        parts = sms_text.analyse(text).parts
        return min(parts, maxsms) if maxsms else parts

    def _phones(
        self,
        values: Mapping[str, str],
        recipients: list[tuple[str, str]],
        errors: Mapping[str, int],
        parts: Mapping[str, int],
        scheduled: bool,
    ) -> list[dict[str, Any]]:
        """``op=1``: every number with mcc/mnc, cost, status and error; ``err=1``: the bad ones."""
        every, bad_only = values.get("op") == "1", values.get("err") == "1"
        out: list[dict[str, Any]] = []
        for number, _ in recipients:
            error = errors[number]
            if not (every or (bad_only and error)):
                continue
            digits = digits_of(number)
            mccmnc = next((v for k, v in MCCMNC if digits.startswith(k)), "0") if not error else "0"
            cost = money(self.price * parts[number]) if not error else "0"
            status = (22 if error == 7 else 20) if error else (-1 if scheduled else 0)
            out.append({"phone": digits, "mccmnc": mccmnc, "cost": cost, "status": status, "error": error})
        return out

    # -- status.php ------------------------------------------------------------------------

    def status_of(self, sms: SentSms | None, now: float) -> tuple[int, int, float]:
        """``(status, err, last time)`` of a stored message."""
        if sms is None:
            return -3, 0, 0.0
        if sms.leaves > now:
            return -1, 0, sms.created
        if sms.virtual:
            return 20, 200, sms.leaves
        return self.delivery_status, 0, sms.leaves

    def _status(self, values: Mapping[str, str], fmt: int, codec: str, now: float) -> EmulatorReply:
        raw_ids, raw_phones = values.get("id", ""), values.get("phone", "")
        listed = "," in raw_ids or "," in raw_phones
        ids = [i.strip() for i in raw_ids.split(",") if i.strip()]
        phones = [digits_of(p) for p in raw_phones.split(",") if p.strip()]
        if not ids or len(ids) != len(phones) or not all(i.isdigit() for i in ids):
            raise Refused(1)
        mass = len(ids) > 1
        key = ("status-mass",) if mass else ("status", ids[0], phones[0])  # any mass request counts
        if not self._limits.allow(key, 1 if mass else 5, now):
            raise Refused(9)
        entries = []
        for ident, phone in zip(ids, phones):
            sms = self.messages.get((int(ident), phone))
            status, err, last = self.status_of(sms, now)
            entry: dict[str, Any] = {
                "status": status,
                "last_date": wire.date_text(last) if last else "",
                "last_timestamp": int(last),
                "flag": 0,
                "err": err,
            }
            if values.get("all") in ("1", "2") and sms is not None:
                entry.update(
                    send_date=wire.date_text(sms.created),
                    send_timestamp=int(sms.created),
                    phone=phone,
                    cost=money(sms.cost),
                    sender_id=sms.sender or "",
                    message=sms.text,
                    type=0,
                )
            if listed:
                entry.update(id=int(ident), phone=phone)
            entries.append(entry)
        return wire.statuses(fmt, entries, listed, codec)

    # -- balance.php and downloads.php -------------------------------------------------------

    def _balance(self, values: Mapping[str, str], fmt: int, codec: str, now: float) -> EmulatorReply:
        if not self._limits.allow(("balance",), 10, now):
            raise Refused(9)
        currency = self.currency if values.get("cur") == "1" else None
        credit = money(self.credit) if self.credit else None
        return wire.balance(fmt, money(self.balance), currency, credit, codec)

    def _downloads(self, values: Mapping[str, str], fmt: int, codec: str, now: float) -> EmulatorReply:
        if not self._limits.allow(("downloads", tuple(sorted(values.items()))), 3, now):
            raise Refused(9)
        if values.get("get_list") == "1":
            after = int(values["after_id"]) if values.get("after_id", "").isdigit() else 0
            rows = [t.row() for t in self.tasks if t.id > after]
            count = values.get("cnt", "")
            return wire.tasks(fmt, rows[: int(count)] if count.isdigit() else rows, codec)
        if values.get("get_file") == "1":
            wanted = [t for t in self.tasks if str(t.id) == values.get("id") or t.name == values.get("name")]
            if not wanted or wanted[0].status != 2:
                raise Refused(1)
            return EmulatorReply(
                200,
                wanted[0].csv.encode(codec, errors="replace"),
                "text/csv; charset=" + values.get("charset", "windows-1251"),
            )
        raise Refused(1)

    # -- get.php?get_answers=1 -------------------------------------------------------------------

    def _answers(self, values: Mapping[str, str], fmt: int, codec: str, now: float) -> EmulatorReply:
        try:
            after = int(values.get("after_id") or 0)
            hours = int(values.get("hour") or 24)
            cnt = int(values.get("cnt") or 10_000)
        except ValueError:
            raise Refused(1) from None
        if values.get("get_answers") != "1" or not 1 <= hours <= 168 or not 1 <= cnt <= 10_000:
            raise Refused(1)
        found = [a for a in self.answers if a[0] > after and now - a[4] <= hours * 3600][:cnt]
        entries = [
            {"id": i, "received": wire.date_text(at), "phone": phone, "message": text, "to": to, "sent": int(at)}
            for i, phone, text, to, at in found
        ]
        if fmt == 3:
            return wire.as_json(entries, codec)
        lines = [", ".join(f"{k} = {v}" for k, v in e.items()) for e in entries]
        return wire.as_text("\n".join(lines), codec)

    def receive(self, phone: str, text: str, to: str = "79001234567") -> int:
        """An incoming message (MO) from ``phone`` to our number ``to``; returns its id."""
        with self.lock:
            ident = next(self._answer_ids)
            self.answers.append((ident, digits_of(phone), text, digits_of(to), self.clock()))
            return ident

    # -- knobs for tests ----------------------------------------------------------------------

    def add_task(self, name: str = "messages", status: int = 2) -> Task:
        """A deferred task unloading every accepted message as CSV (``status`` 2: completed)."""
        with self.lock:
            now = self.clock()
            rows = ["id;phone;send_date;status;cost;message"]
            for sms in self.messages.values():
                state = self.status_of(sms, now)[0]
                rows.append(f"{sms.id};{sms.phone};{wire.date_text(sms.created)};{state};{money(sms.cost)};{sms.text}")
            ident = next(self._task_ids)
            task = Task(ident, name, status, now, f"{name}_{ident}.csv", "\r\n".join(rows) + "\r\n")
            self.tasks.append(task)
            return task

    def callback(self, message_id: int | str, phone: str, url: str = "http://127.0.0.1/smsc-status") -> HttpRequest:
        """The status callback SMSC would POST for a stored message (field set *unverified*)."""
        with self.lock:
            now = self.clock()
            sms = self.messages.get((int(message_id), digits_of(phone)))
            status, err, last = self.status_of(sms, now)
        fields = {
            "id": str(message_id),
            "phone": digits_of(phone),
            "status": str(status),
            "err": str(err),
            "ts": str(int(last)),
        }
        fields["sha1"] = signature(fields, self.password)
        return HttpRequest.form(url, fields)
