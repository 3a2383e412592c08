"""A loopback emulator of the SerwerSMS.pl HTTPS API v2, faithful to the reference (section 2, 6).

- ``POST /<action>.json``; JSON bodies (current clients) and form bodies with PHP-style arrays
  (2014-2021 clients) are both read. Credentials: ``username``/``password`` in the body or
  ``Authorization: Bearer <token>``; anything else is error 1001.
- Request-level errors are ``{"error": {"code", "type", "message"}}`` with HTTP 200 (``error_status``
  changes that: the status is *unverified*).
- ``messages/send_sms`` and ``messages/send_personalized``: validation with the documented codes
  (3101 empty text, 3104 no numbers, 3106 sender not approved, 3102 too long, 3000/3002 limit
  exhausted, 1006 bad data such as a ``unique_id`` count that does not match); partial success
  (an incorrect number is an ``unsent`` item with 3103 and still an id); repeated numbers in one
  request sent once; ``date`` in the future is stored as ``saved``; ``test=true`` answers the same
  document and changes nothing.
- ``messages/reports`` (filters ``id``, ``unique_id``, ``phone``, ``date_from``/``date_to``,
  ``status``, ``type``, ``stat_id``, ``order``; ``page``/``limit`` paging), ``messages/view``,
  ``messages/delete``, ``account/limits``, ``error/<code>``.
- Reply phones are ``+48500600700``; ``reply_phone="digits"`` writes ``48500600700``, the other
  form the seed allows ("the country code (eg. 48) at the beginning").
- A slow gateway: ``process_after`` seconds (on the emulator's ``clock``) pass between a send's
  arrival and its messages becoming visible to ``messages/reports`` and ``messages/view``; the
  reply is built at once. With a fault that loses the reply (``RESET_BEFORE_REPLY``,
  ``PROCESSED_THEN_ERROR``, ``TIMEOUT_AFTER_ACCEPT``) and a fake clock shared with the gateway,
  it models "the gateway processes the request after we gave up" without real waiting.
  ``Fault.SLOW`` with a delay longer than the client's ``read_timeout`` does the same in real time.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, quote

import attrs

from smsgate.emulator import Emulator, EmulatorReply, EmulatorRequest
from smsgate.serve import too_deep  # the receiver's nesting check, one implementation
from smsgate_serwersms import emulator_state as st
from smsgate_serwersms.codes import CODES, TYPES
from smsgate_serwersms.emulator_state import Account, Stored, as_list, truthy
from smsgate_serwersms.settings import sender_problem

_MESSAGES = {
    "1000": "Invalid action",
    "1001": "Incorrect login or password",
    "1006": "Invalid data format",
    "3101": "The message is empty",
    "3103": "Incorrect number",
    "3104": "No specified phone numbers",
}
_UNIQUE_ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@attrs.frozen
class _Row:
    """One recipient of a send after the gateway's checks."""

    raw: str
    phone: str | None
    text: str
    parts: int
    unique_id: str | None


class Refused(Exception):
    """A request-level error document."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or _MESSAGES.get(str(code)) or CODES[str(code)].meaning.capitalize()


def php_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A form body with PHP-style keys (``phone[0]``, ``phone[]``, ``messages[0][text]``)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        name, _, rest = key.partition("[")
        path = [name] + ([p.rstrip("]") for p in ("[" + rest).split("[")[1:]] if rest else [])
        node = root
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
            if path[i + 1] == "":
                path[i + 1] = str(len(node))
        node[path[-1]] = value
    return {k: _lists(v) for k, v in root.items()}


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {k: _lists(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return value


class SerwerSmsEmulator(Emulator):
    """SerwerSMS HTTPS API v2 on loopback. ``account.messages`` holds what it has."""

    name = "serwersms"

    def __init__(
        self,
        *args: Any,
        username: str = "smsgate",
        password: str = "serwersms-emu-s3cret",
        token: str = "serwersms-emu-t0ken-s3cret",
        senders: Iterable[str] = ("SMSGATE", "INFORMACJA", "2waySMS"),
        eco: int = 100_000,
        full: int = 100_000,
        invalid: Iterable[str] = (),
        groups: Mapping[str, Iterable[str]] | None = None,
        contacts: Mapping[str, str] | None = None,
        deliver_after: float = 0.0,
        undelivered: Mapping[str, str] | None = None,
        error_status: int = 200,
        auth: Literal["password", "token"] = "password",
        reply_phone: Literal["plus", "digits"] = "plus",
        process_after: float = 0.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_body", 32 << 20)  # 100,000 numbers and their unique_id values fit
        super().__init__(*args, **kwargs)
        self.username = username
        self.password = password
        self.token = token
        self.senders = frozenset(senders)
        self.invalid = frozenset(invalid)
        self.groups = {str(k): list(v) for k, v in (groups or {}).items()}
        self.contacts = {str(k): str(v) for k, v in (contacts or {}).items()}
        self.error_status = error_status
        self.auth = auth
        self.reply_phone = reply_phone
        if process_after < 0:
            raise ValueError("process_after must be >= 0")
        self.process_after = process_after
        #: Sends still being processed: ``(visible at, messages)`` in arrival order.
        self.processing: list[tuple[float, list[Stored]]] = []
        #: Incoming messages (MO), oldest first: ``(id, phone, text, when, read)`` (:meth:`receive`).
        self.inbox: list[list[Any]] = []
        self.account = Account(
            limits={"eco": eco, "full": full, "mms": 0, "voice": 0},
            deliver_after=deliver_after,
            undelivered=dict(undelivered or {}),
        )

    def dsn(self, auth: Literal["password", "token"] | None = None) -> str:
        """A DSN for this emulator, with the password or (``auth="token"``) the API token; the
        default is the constructor's ``auth``. It sets the approved sender ``SMSGATE``, so that
        texts with diacritics go as SMS FULL with ``utf``."""
        auth = auth or self.auth
        secret = quote(self.token if auth == "token" else self.password, safe="")
        user = "" if auth == "token" else quote(self.username, safe="")
        return f"serwersms://{user}:{secret}@{self._netloc()}?tls=false&sender=SMSGATE"

    # -- HTTP ---------------------------------------------------------------------------------

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        try:
            return EmulatorReply.json(self._answer(request))
        except Refused as refused:
            code = str(refused.code)
            kind = TYPES.get(code, "Error")
            document = {"error": {"code": refused.code, "type": kind, "message": refused.message}}
            return EmulatorReply.json(document, self.error_status)

    def _answer(self, request: EmulatorRequest) -> Any:
        action, dot, fmt = request.path.strip("/").rpartition(".")
        if request.method != "POST" or not dot or fmt != "json":
            raise Refused(1000)
        params = self._params(request)
        if not self._authorised(request, params):
            raise Refused(1001)
        if action.startswith("error/"):
            return self._error_view(action.partition("/")[2])
        route = {
            "messages/send_sms": self._send_sms,
            "messages/send_personalized": self._send_personalized,
            "messages/reports": self._reports,
            "messages/view": self._view,
            "messages/delete": self._delete,
            "messages/recived": self._recived,
            "account/limits": self._limits,
        }.get(action)
        if route is None:
            raise Refused(1000)
        with self.lock:
            self._finish_processing()
            return route(params)

    def _finish_processing(self) -> None:
        """Store the sends whose processing is over by now (``process_after``)."""
        now = self.clock()
        while self.processing and self.processing[0][0] <= now:
            for message in self.processing.pop(0)[1]:
                self.account.store(message)

    @staticmethod
    def _params(request: EmulatorRequest) -> dict[str, Any]:
        """The request's parameters (JSON or PHP-style form); absurd nesting is invalid data."""
        ctype = (request.header("Content-Type") or "").lower()
        body = request.body
        if "json" in ctype or body.lstrip().startswith(b"{"):
            if too_deep(body, _MAX_NESTING):  # refused on every Python, whatever its recursion limit
                raise Refused(1006)
            try:
                document = request.json()
            except (ValueError, RecursionError):
                raise Refused(1006) from None
            if not isinstance(document, dict):
                raise Refused(1006)
            return document
        text = body.decode("utf-8", errors="replace")
        if text.count("[") > _MAX_NESTING * 10:  # a[b][c]... keys nested thousands of levels deep
            raise Refused(1006)
        try:
            return php_form(list(request.query) + parse_qsl(text, keep_blank_values=True))
        except RecursionError:  # keys nested thousands of levels deep (a[b][c]...)
            raise Refused(1006) from None

    def _authorised(self, request: EmulatorRequest, params: Mapping[str, Any]) -> bool:
        header = request.header("Authorization") or ""
        if header.startswith("Bearer "):
            return secrets.compare_digest(header[7:].strip().encode(), self.token.encode())
        user, password = params.get("username"), params.get("password")
        if not isinstance(user, str) or not isinstance(password, str):
            return False
        return user == self.username and secrets.compare_digest(password.encode(), self.password.encode())

    # -- sending ----------------------------------------------------------------------------

    def _sender(self, params: Mapping[str, Any]) -> str:
        sender = params.get("sender")
        sender = "" if sender is None or sender is False else str(sender)
        if sender and (sender_problem(sender) or not (sender.isdigit() or sender in self.senders)):
            raise Refused(3106, "This sender name cannot be used")
        return sender

    def _targets(self, params: Mapping[str, Any], phones: list[str]) -> list[str]:
        for group in as_list(params.get("group_id")):
            if group not in self.groups:
                raise Refused(1004, f"Group {group} does not exist")
            phones = phones + [str(p) for p in self.groups[group]]
        for contact in as_list(params.get("contact_id")):
            if contact not in self.contacts:
                raise Refused(1004, f"Contact {contact} does not exist")
            phones = [*phones, self.contacts[contact]]
        return phones

    def _unique_ids(self, params: Mapping[str, Any], count: int, name: str = "unique_id") -> list[str | None]:
        ids = as_list(params.get(name))
        if not ids:
            return [None] * count
        if len(ids) != count or len(set(ids)) != len(ids):
            raise Refused(1006, "The number of unique_id values must match the number of phone numbers")
        if any(not 3 <= len(u) <= 50 or not set(u) <= _UNIQUE_ID_CHARS for u in ids):
            raise Refused(1006, "unique_id must have 3 to 50 characters a-z, A-Z, 0-9")
        return list(ids)

    def _send_sms(self, params: Mapping[str, Any]) -> dict[str, Any]:
        text = params.get("text")
        text = "" if text is None else str(text)
        if not text.strip():
            raise Refused(3101)
        given = as_list(params.get("phone"))
        phones = self._targets(params, given)
        if not phones:
            raise Refused(3104)
        if len(phones) > st.MAX_NUMBERS:
            raise Refused(1006, "Too many phone numbers in one request")
        uids = self._unique_ids(params, len(given)) + [None] * (len(phones) - len(given))
        return self._queue(params, [(p, text, u) for p, u in zip(phones, uids)])

    def _send_personalized(self, params: Mapping[str, Any]) -> dict[str, Any]:
        messages = params.get("messages")
        if isinstance(messages, str):  # the Python client's "phone:text]|[phone:text" form
            messages = [dict(zip(("phone", "text"), m.split(":", 1))) for m in messages.split("]|[") if m]
        if not isinstance(messages, list) or not messages:
            raise Refused(3104)
        if len(messages) > st.MAX_PERSONALISED:
            raise Refused(1006, "Too many messages in one request")
        if not all(isinstance(m, dict) for m in messages):
            raise Refused(1006)
        if any(not str(m.get("text") or "").strip() for m in messages):
            raise Refused(3101)
        name = "unique_id" if "unique_id" in params else "uniqe_id"
        uids = self._unique_ids(params, len(messages), name)
        work = [(str(m.get("phone") or ""), str(m["text"]), u) for m, u in zip(messages, uids)]
        return self._queue(params, work)

    def _queue(self, params: Mapping[str, Any], work: list[tuple[str, str, str | None]]) -> dict[str, Any]:
        """Validate, charge and store one send; the reply document of reference 2.4."""
        sender = self._sender(params)
        kind = "full" if sender else "eco"
        utf = kind == "full" and truthy(params.get("utf"))
        test, now = truthy(params.get("test")), self.clock()
        due = now
        if params.get("date"):
            when = st.parse_date(str(params["date"]))
            if when is None:
                raise Refused(1006, "Invalid date format (YYYY-MM-DD HH:MM:SS)")
            due = max(now, when)
        rows: list[_Row] = []
        seen: set[str] = set()
        texts: dict[str, tuple[str, int]] = {}  # given text -> (text as sent, parts)
        for raw, given, uid in work:
            phone = None if raw in self.invalid else st.normalise_phone(raw)
            if (phone or raw) in seen:
                continue  # a number repeated within one request is sent once
            seen.add(phone or raw)
            if given not in texts:
                body = given if utf else st.plain(given)
                texts[given] = (body, st.parts_of(body, utf))
                if texts[given][1] > st.MAX_PARTS:
                    raise Refused(3102, "The message is too long")
            rows.append(_Row(raw, phone, *texts[given], uid))
        needed = sum(row.parts for row in rows if row.phone)
        if needed > self.account.limits[kind]:
            raise Refused(3002 if kind == "full" else 3000, f"The {kind.upper()} limit is exhausted")
        template = Stored(
            id="",
            phone="",
            text="",
            sender=sender,
            type=kind,
            flash=truthy(params.get("flash")),
            utf=utf,
            parts=0,
            queued_at=now,
            due_at=due,
            dlr_url=str(params["dlr_url"]) if params.get("dlr_url") else None,
            stat_id=0 if test else self.account.new_stat_id(),
        )
        stamp = st.format_local_ts(now)
        stored: list[Stored] = []
        items = [self._item(template, row, stamp, test, stored) for row in rows]
        if self.process_after > 0:
            self.processing.append((now + self.process_after, stored))
        else:
            for message in stored:
                self.account.store(message)
        if not test:
            self.account.limits[kind] -= needed
        queued = sum(1 for i in items if i["status"] == "queued")
        document: dict[str, Any] = {"success": True, "queued": queued, "unsent": len(items) - queued}
        if truthy(params.get("details")):
            document["items"] = items
        return document

    def _item(self, template: Stored, row: _Row, stamp: str, test: bool, stored: list[Stored]) -> dict[str, Any]:
        """One recipient's reply item; its message (unless testing) goes to ``stored``."""
        message_id = secrets.token_hex(5) if test else self.account.new_id()
        if not test:
            t = template
            stored.append(
                Stored(
                    message_id,
                    row.phone or row.raw,
                    row.text,
                    t.sender,
                    t.type,
                    t.flash,
                    t.utf,
                    row.parts,
                    t.queued_at,
                    t.due_at,
                    row.unique_id,
                    None if row.phone else 3103,
                    t.dlr_url,
                    self.account.price * row.parts if row.phone else 0.0,
                    t.stat_id,
                )
            )
        shown = row.phone[1:] if row.phone and self.reply_phone == "digits" else row.phone
        item: dict[str, Any] = {"id": message_id, "phone": shown or row.raw}
        if row.phone:
            item.update(status="queued", queued=stamp, parts=row.parts, text=row.text)
        else:
            item.update(status="unsent", queued=stamp, error_code=3103, error_message="Incorrect number", text=row.text)
        return item

    # -- reports, limits, errors ---------------------------------------------------------------

    def _reports(self, params: Mapping[str, Any]) -> dict[str, Any]:
        ids, uids = as_list(params.get("id")), as_list(params.get("unique_id"))
        if len(ids) > st.MAX_REPORT_IDS:
            raise Refused(1006, f"At most {st.MAX_REPORT_IDS} ids per query")
        now = self.clock()
        found = self.account.find(ids, uids) if ids or uids else list(self.account.messages.values())
        items = [self.account.item(m, now) for m in found]
        phones = {st.normalise_phone(p) or p for p in as_list(params.get("phone"))}
        status, kind = params.get("status"), params.get("type")
        since, until = self._report_date(params, "date_from"), self._report_date(params, "date_to")
        stat_ids = set(as_list(params.get("stat_id")))
        queued = {m.id: m.queued_at for m in found}
        stats = {m.id: m.stat_id for m in found}
        items = [
            i
            for i in items
            if (not phones or i["phone"] in phones)
            and (not status or i["status"] == status or (status == "pending" and i["status"] == "in_progress"))
            and (not kind or i["type"] == kind)
            and (since is None or queued[i["id"]] >= since)
            and (until is None or queued[i["id"]] <= until)
            and (not stat_ids or str(stats[i["id"]]) in stat_ids)
        ]
        items = [self._shown(i) for i in items]
        if params.get("order") == "desc":
            items.reverse()
        try:
            limit = max(1, int(params.get("limit") or 100))
            page = max(1, int(params.get("page") or 1))
        except (TypeError, ValueError):
            raise Refused(1006) from None
        pages = max(1, -(-len(items) // limit))
        return {"paging": {"page": page, "count": pages}, "items": items[(page - 1) * limit : page * limit]}

    def _recived(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``messages/recived``: incoming messages from ``date_from`` (inclusive), by phone and
        ``read``, paged; ``read=true`` marks what it returns read (never returned again)."""
        since, until = self._report_date(params, "date_from"), self._report_date(params, "date_to")
        phones = {st.normalise_phone(p) or p for p in as_list(params.get("phone"))}
        found = [
            m
            for m in self.inbox
            if not m[4]
            and (since is None or int(m[3]) >= int(since))
            and (until is None or int(m[3]) <= int(until))
            and (not phones or m[1] in phones)
            and params.get("type") in (None, "", "ndi")
        ]
        if params.get("order") == "desc":
            found.reverse()
        try:
            limit = max(1, int(params.get("limit") or 100))
            page = max(1, int(params.get("page") or 1))
        except (TypeError, ValueError):
            raise Refused(1006) from None
        shown = found[(page - 1) * limit : page * limit]
        if st.truthy(params.get("read")):
            for m in shown:
                m[4] = True
        items = [
            {
                "id": m[0],
                "type": "ndi",
                "phone": m[1],
                "recived": st.format_local_ts(m[3]),
                "blacklist": False,
                "text": m[2],
            }
            for m in shown
        ]
        return {"paging": {"page": page, "count": max(1, -(-len(found) // limit))}, "items": items}

    def receive(self, phone: str, text: str) -> int:
        """An incoming message (MO) from ``phone`` (to the account's NDI number); returns its id."""
        with self.lock:
            ident = 2_477_793 + len(self.inbox)
            self.inbox.append([ident, st.normalise_phone(phone) or phone, text, self.clock(), False])
            return ident

    @staticmethod
    def _report_date(params: Mapping[str, Any], name: str) -> float | None:
        value = params.get(name)
        if not value:
            return None
        when = st.parse_date(str(value))
        if when is None:
            raise Refused(1006, f"Invalid {name} format (YYYY-MM-DD HH:MM:SS)")
        return when

    def _view(self, params: Mapping[str, Any]) -> dict[str, Any]:
        found = self.account.find(as_list(params.get("id")), as_list(params.get("unique_id")))
        if not found:
            raise Refused(1004, "Message not found")
        return self._shown(self.account.item(found[0], self.clock()))

    def _shown(self, item: dict[str, Any]) -> dict[str, Any]:
        """A report item as the gateway writes it: ``reply_phone="digits"`` drops the ``+``."""
        if self.reply_phone == "digits" and str(item.get("phone", "")).startswith("+"):
            return {**item, "phone": item["phone"][1:]}
        return item

    def _delete(self, params: Mapping[str, Any]) -> dict[str, Any]:
        now, deleted = self.clock(), False
        for message in self.account.find(as_list(params.get("id")), as_list(params.get("unique_id"))):
            if self.account.status(message, now)[0] == "saved":
                del self.account.messages[message.id]
                self.account.limits[message.type] += message.parts
                deleted = True
        return {"success": deleted}

    def _limits(self, params: Mapping[str, Any]) -> dict[str, Any]:
        items = [
            {"type": kind, "chars_limit": st.CHARS_LIMIT[kind], "value": value}
            for kind, value in self.account.limits.items()
        ]
        return {"items": items}

    @staticmethod
    def _error_view(code: str) -> dict[str, Any]:
        if code not in CODES:
            raise Refused(2002, "Invalid error code")
        return {"error": {"code": int(code), "type": TYPES[code], "message": CODES[code].meaning.capitalize()}}


_MAX_NESTING = 100
