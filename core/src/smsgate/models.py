"""The values that cross the core/plugin boundary: frozen attrs records, no raw dicts.

``Message`` is what a caller sends; ``Batch`` is one request's worth of it after planning;
``Outcome`` is the truth about one recipient; ``SendResult`` gathers them per message.
``HttpRequest`` and ``HttpResponse`` are what hooks build and read: the transport is the only
code that turns them into network traffic.
"""

from __future__ import annotations

import codecs
import enum
import json as _json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import attrs

from smsgate.errors import SmsgateError
from smsgate.text import TextInfo

if TYPE_CHECKING:
    from smsgate.inbound import InboundMessage


def _recipients(value: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    """attrs converter: any mapping to a plain dict (typed, unlike ``dict`` itself)."""
    return dict(value)


_IANA = {"iso8859-1": "ISO-8859-1", "cp1251": "windows-1251", "cp1252": "windows-1252", "koi8-r": "KOI8-R"}


def charset_name(encoding: str) -> str:
    """The IANA charset name of a Python codec (``latin-1`` -> ``ISO-8859-1``), for headers."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return encoding
    return _IANA.get(name, name)


def _pairs(value: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    if type(value) is tuple and all(type(p) is tuple and len(p) == 2 for p in value):
        return value  # already pairs (the common case): no copy
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k), str(v)) for k, v in items)


@attrs.frozen
class Message:
    """One text to one or more recipients.

    ``key`` is the idempotency key: give a stable one (an order id, a database key) to make
    resends after a crash safe. Without one, ``Gateway.send`` draws a random key per call (the
    same on every attempt of that call, so retries are safe, but a restarted process cannot
    recognise the message); ``Gateway.send_many`` with a journal derives keys from the content
    and its occurrence in the input (see ``smsgate.idempotency.content_key``). A key reused for
    different content is refused (``KeyConflictError``) by the journal.
    ``options`` holds provider options for this message only (validated like DSN options).
    """

    to: tuple[str, ...] = attrs.field(converter=_recipients)
    text: str
    sender: str | None = None
    send_at: datetime | None = None
    flash: bool = False
    key: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=mapping, hash=False)


class Status(str, enum.Enum):
    """What the gateway said about one recipient."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


@attrs.frozen
class Outcome:
    """The truth about one recipient of one message."""

    recipient: str
    status: Status
    message_id: str | None = None
    code: str | None = None
    reason: str | None = None
    parts: int | None = None
    cost: Decimal | None = None
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.status in (Status.ACCEPTED, Status.SCHEDULED)


@attrs.frozen
class Receipt:
    """What ``parse_response`` returns for a send: one outcome per recipient it knows about."""

    outcomes: tuple[Outcome, ...]
    cost: Decimal | None = None
    balance: Decimal | None = None


@attrs.frozen
class SendResult:
    """The outcome of sending one :class:`Message`: every recipient, in the caller's order."""

    provider: str
    key: str
    outcomes: tuple[Outcome, ...]
    error: SmsgateError | None = attrs.field(default=None, eq=False)
    requests: int = 0
    cost: Decimal | None = None
    #: True when nothing was sent: the journal already had this key settled, and this is
    #: its recorded result.
    replayed: bool = False

    @property
    def ok(self) -> bool:
        """True when every recipient is accepted or scheduled."""
        return bool(self.outcomes) and all(o.ok for o in self.outcomes)

    def by_status(self, status: Status) -> tuple[Outcome, ...]:
        """The outcomes with ``status``, in the caller's order (``result.by_status(Status.UNKNOWN)``)."""
        return tuple(o for o in self.outcomes if o.status is status)


@attrs.frozen
class Item:
    """One recipient of a batch, with its own text (personalised sends) and correlation key."""

    recipient: str
    text: str
    key: str
    info: TextInfo


@attrs.frozen(slots=False)  # a dict class: attrs sets a frozen one's fields faster than a slotted one's
class Batch:
    """One request's worth of a message, planned by the core: numbers normalised, text
    analysed, split to the gateway's maximum, scheduling fields computed.

    ``key`` is the idempotency key of this request: the same on every attempt. ``dedup_key``
    is what a plugin puts in the gateway's de-duplication field: the key bound to a digest of
    the batch's content, so a key reused for other content is never taken for a resend (the
    gateway would replay the first message's reply). ``index`` is
    the batch's position among its message's batches; ``resume`` marks a resend of only the
    recipients a gateway lacked after an ambiguous failure (send group-wide extras once: on
    ``index == 0 and not resume``).
    """

    message: Message
    items: tuple[Item, ...]
    key: str
    schedule: Mapping[str, str] = attrs.field(factory=dict, converter=mapping, hash=False)
    index: int = 0
    resume: bool = False
    _digest: str = attrs.field(init=False, default="", eq=False, repr=False)  # content_digest, once

    @property
    def dedup_key(self) -> str:
        return f"{self.key}#{self.digest}"

    @property
    def digest(self) -> str:
        """:func:`content_digest` of this batch (computed once)."""
        if not self._digest:
            object.__setattr__(self, "_digest", content_digest(self))
        return self._digest

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple([i.recipient for i in self.items])

    @property
    def text(self) -> str:
        return self.items[0].text if self.items else self.message.text

    @property
    def info(self) -> TextInfo:
        return self.items[0].info

    @property
    def personalised(self) -> bool:
        return len({i.text for i in self.items}) > 1


def content_digest(batch: Batch) -> str:
    """A short digest of what a batch asks the gateway to do: recipients, texts, sender,
    send time, flash and options (16 hex digits). Derived from the message, never from the
    time of planning, so a resend after a restart has the same digest."""
    return message_digest(batch.message, ((i.recipient, i.text) for i in batch.items))


def message_digest(message: Message, items: Iterable[tuple[str, str]] | None = None) -> str:
    """A short digest of ``message`` (or of ``items``, (recipient, text) pairs, sent with its
    sender, send time, flash and options): what an idempotency key is bound to."""
    import hashlib

    m = message
    pairs = items if items is not None else ((r, m.text) for r in m.to)
    parts = [
        *(f"{r}\x1f{t}" for r, t in pairs),
        repr(m.sender),
        repr(m.send_at.isoformat() if m.send_at else None),
        repr(m.flash),
        repr(sorted((str(k), repr(v)) for k, v in m.options.items())),
    ]
    data = "\x1e".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:16]


# -- operations: what build_request is asked to build -------------------------------------


@attrs.frozen
class Send:
    """Submit a batch."""

    batch: Batch


@attrs.frozen
class Reconcile:
    """After an ambiguous failure: ask the gateway which recipients of ``batch`` it has."""

    batch: Batch


@attrs.frozen
class Quote:
    """Price a batch without sending it."""

    batch: Batch


@attrs.frozen
class StatusQuery:
    """Pull delivery status for messages the gateway accepted earlier."""

    message_ids: tuple[str, ...] = attrs.field(converter=_recipients)
    recipient: str | None = None


@attrs.frozen
class BalanceQuery:
    """Ask for the account's remaining credit."""


@attrs.frozen
class Call:
    """A provider-specific operation (``Gateway.call(name, **params)``)."""

    name: str
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=mapping, hash=False)


@attrs.frozen
class InboxQuery:
    """Pull the incoming messages (MO) the gateway keeps: those after ``since``, the cursor a
    previous pull returned (``None``: from the oldest the gateway still has)."""

    since: str | None = None


Operation = Send | Reconcile | Quote | StatusQuery | BalanceQuery | Call | InboxQuery


@attrs.frozen
class Inbox:
    """What ``parse_response`` returns for an :class:`InboxQuery`: the messages (oldest first,
    ``gateway`` unset), the cursor to pass as ``since`` next time (``None``: keep the old one),
    and ``more``: the gateway has more after this page (pull again with ``cursor``)."""

    messages: tuple[InboundMessage, ...]
    cursor: str | None = None
    more: bool = False


@attrs.frozen
class Balance:
    amount: Decimal
    unit: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict, converter=mapping, hash=False)


@attrs.frozen
class Price:
    cost: Decimal
    parts: int | None = None
    unit: str | None = None


class DeliveryStatus(str, enum.Enum):
    """Normalised delivery state, the same for every gateway."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    UNKNOWN = "unknown"

    @property
    def final(self) -> bool:
        return self not in (DeliveryStatus.PENDING, DeliveryStatus.UNKNOWN)


@attrs.frozen
class DeliveryReport:
    """One delivery report (pulled or pushed), normalised."""

    message_id: str
    status: DeliveryStatus
    recipient: str | None = None
    code: str | None = None
    reason: str | None = None
    at: datetime | None = None
    raw: Mapping[str, str] = attrs.field(factory=dict, converter=mapping, hash=False)


# -- HTTP values ------------------------------------------------------------------------------


@attrs.frozen
class HttpRequest:
    """An HTTP request as data: what a hook builds and what ``preview`` shows."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    body: bytes = b""

    @classmethod
    def get(
        cls,
        url: str,
        query: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        encoding: str = "utf-8",
    ) -> HttpRequest:
        """A GET with ``query`` URL-encoded in ``encoding``."""
        qs = urlencode(_pairs(query), encoding=encoding, quote_via=quote)
        return cls("GET", f"{url}?{qs}" if qs else url, headers)

    @classmethod
    def form(
        cls,
        url: str,
        fields: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        encoding: str = "utf-8",
    ) -> HttpRequest:
        """A POST with an ``application/x-www-form-urlencoded`` body in ``encoding``."""
        body = urlencode(_pairs(fields), encoding=encoding).encode("ascii")
        ctype = f"application/x-www-form-urlencoded; charset={charset_name(encoding)}"
        return cls("POST", url, (("Content-Type", ctype), *_pairs(headers)), body)

    @classmethod
    def json(
        cls,
        url: str,
        document: Any,
        *,
        method: str = "POST",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    ) -> HttpRequest:
        """A request with a UTF-8 JSON body."""
        body = _COMPACT_JSON.encode(document).encode()
        ctype = "application/json; charset=utf-8"
        return cls(method, url, (("Content-Type", ctype), *_pairs(headers)), body)

    def header(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), default)


#: ``json.dumps(document, ensure_ascii=False, separators=(",", ":"))`` without building an
#: encoder per call (an encoder keeps no state between calls: safe to share across threads).
_COMPACT_JSON = _json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@attrs.frozen
class HttpResponse:
    """An HTTP reply as data, for ``parse_response``."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)

    def header(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), default)

    def text(self, encoding: str | None = None) -> str:
        """The body decoded with ``encoding``, else the declared charset, else UTF-8."""
        if encoding is None:
            ctype = self.header("content-type", "") or ""
            _, _, charset = ctype.partition("charset=")
            encoding = charset.split(";")[0].strip() or "utf-8"
        try:
            return self.body.decode(encoding, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` when it is not JSON."""
        return _json.loads(self.body.decode("utf-8", errors="strict"))

    def retry_after(self) -> float | None:
        """The Retry-After header in seconds (delta-seconds or an HTTP date), if any."""
        value = self.header("Retry-After")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        from email.utils import parsedate_to_datetime  # only for the rare HTTP-date form

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


# -- classification --------------------------------------------------------------------------


class Verdict(str, enum.Enum):
    """What a failure means for resending."""

    RETRY = "retry"  # nothing was done; safe to resend
    THROTTLED = "throttled"  # resend after a delay (Retry-After honoured)
    FATAL = "fatal"  # do not resend unchanged
    AMBIGUOUS = "ambiguous"  # the gateway may have it; resend only under a de-duplication key


@attrs.frozen
class Failure:
    """A failed attempt, as ``classify_error`` sees it.

    ``after_ambiguous`` is true when an earlier attempt of the same request ended ambiguously,
    so a "duplicate" answer now means the first attempt got through.
    """

    error: SmsgateError
    operation: Operation
    attempt: int = 1
    after_ambiguous: bool = False

    @property
    def code(self) -> str | None:
        return self.error.code

    @property
    def http_status(self) -> int | None:
        return getattr(self.error, "http_status", None)


@attrs.frozen
class Classification:
    """``classify_error``'s answer: a verdict, and a delay in seconds when the gateway set one."""

    verdict: Verdict
    retry_after: float | None = None
    reason: str = ""
    #: Settle now, never resend (an "already sent" answer, RouteSMS 1715): with ``AMBIGUOUS``
    #: the outcome is ``unknown`` (then reconciled where the gateway can look it up). With
    #: ``FATAL`` it means definitive even after an ambiguous attempt (a gateway that replays
    #: the original reply to a repeated key): ``rejected`` rather than ``unknown``.
    final: bool = False
