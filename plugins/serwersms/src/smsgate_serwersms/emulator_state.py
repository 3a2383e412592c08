"""The emulated SerwerSMS account: stored messages, limits, and the gateway's own rules for
numbers, texts and report statuses. Used by :mod:`.emulator` under its lock."""

from __future__ import annotations

import hashlib
import itertools
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from smsgate import text as smstext
from smsgate_serwersms.schedule import format_local, zone

ZONE = "Europe/Warsaw"
#: Most parts one text may have; longer texts get 3102 (unverified: 918 / 402 characters).
MAX_PARTS = 6
CHARS_LIMIT = {"eco": 918, "full": 918, "mms": 1000, "voice": 918}
MAX_NUMBERS = 100_000
MAX_PERSONALISED = 10_000
MAX_REPORT_IDS = 500


def truthy(value: Any) -> bool:
    """How a PHP gateway reads a boolean parameter: ``true``, ``1``, ``"true"``, ``"1"``..."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in ("1", "true", "on", "yes")


def as_list(value: Any) -> list[str]:
    """A ``string|array`` parameter as a list of strings (numbers allowed)."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value if not isinstance(v, (dict, list)) and v is not None]
    if isinstance(value, dict):  # a PHP-style form array with explicit indexes
        return [str(v) for _, v in sorted(value.items(), key=lambda kv: str(kv[0]).zfill(12))]
    return [str(value)]


def normalise_phone(raw: str) -> str | None:
    """The gateway's full form of a number (``+48`` added to 9-digit Polish numbers), or
    ``None`` for an incorrect number (error 3103)."""
    cleaned = raw.strip().replace(" ", "").replace("-", "")
    if cleaned.startswith("+"):
        digits = cleaned[1:]
    elif cleaned.startswith("00"):
        digits = cleaned[2:]
    elif len(cleaned) == 9:
        digits = "48" + cleaned
    else:
        digits = cleaned
    if not (digits.isascii() and digits.isdigit()) or not 10 <= len(digits) <= 15 or digits[0] == "0":
        return None
    return "+" + digits


def plain(text: str) -> str:
    """What becomes of a text sent without ``utf``: diacritics stripped, the rest as ``?``."""
    if smstext.is_gsm7(text):
        return text
    out = []
    for char in text:
        if smstext.is_gsm7(char):
            out.append(char)
            continue
        base = unicodedata.normalize("NFKD", char.replace("ł", "l").replace("Ł", "L"))
        base = "".join(c for c in base if not unicodedata.combining(c))
        out.append(base if base and smstext.is_gsm7(base) else "?")
    return "".join(out)


def parts_of(text: str, utf: bool) -> int:
    return smstext.analyse(text, force_unicode=utf).parts


@attrs.define
class Stored:
    """One message the gateway has (queued, scheduled or unsent)."""

    id: str
    phone: str
    text: str
    sender: str
    type: str
    flash: bool
    utf: bool
    parts: int
    queued_at: float
    due_at: float
    unique_id: str | None = None
    error_code: int | None = None
    dlr_url: str | None = None
    cost: float = 0.0
    #: The "package" (one send request) the message came in; ``messages/reports`` filters by it.
    stat_id: int = 0


@attrs.define
class Account:
    """The emulated account's state. Not thread-safe: the emulator holds its lock."""

    limits: dict[str, int]
    deliver_after: float = 0.0
    undelivered: Mapping[str, str] = attrs.field(factory=dict)
    price: float = 0.07
    messages: dict[str, Stored] = attrs.field(factory=dict)
    by_unique_id: dict[str, list[str]] = attrs.field(factory=dict)
    _counter: Iterator[int] = attrs.field(factory=lambda: itertools.count(1))
    _stat_ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(700_001))
    _salt: str = "serwersms-emulator"

    def new_id(self) -> str:
        """A 10-character hex id like the gateway's ("1c142d81c7")."""
        while True:
            candidate = hashlib.sha1(f"{self._salt}:{next(self._counter)}".encode()).hexdigest()[:10]
            if candidate not in self.messages:
                return candidate

    def new_stat_id(self) -> int:
        return next(self._stat_ids)

    def store(self, message: Stored) -> None:
        self.messages[message.id] = message
        if message.unique_id:
            self.by_unique_id.setdefault(message.unique_id, []).append(message.id)

    def status(self, message: Stored, now: float) -> tuple[str, str | None]:
        """``(status, reason)`` of a stored message at ``now``."""
        if message.error_code is not None:
            return "unsent", "wrong_number"
        if now < message.due_at:
            return "saved", None
        if now < message.due_at + self.deliver_after:
            return "sent", None
        reason = self.undelivered.get(message.phone)
        return ("undelivered", reason) if reason else ("delivered", None)

    def item(self, message: Stored, now: float) -> dict[str, Any]:
        """A ``messages/reports`` item (reference 2.6)."""
        status, reason = self.status(message, now)
        sent = format_local_ts(message.due_at) if status in ("sent", "delivered", "undelivered") else None
        done = message.due_at + self.deliver_after
        delivered = format_local_ts(done) if status == "delivered" else None
        return {
            "id": message.id,
            "phone": message.phone,
            "status": status,
            "queued": format_local_ts(message.queued_at),
            "sent": sent,
            "delivered": delivered,
            "sender": message.sender or None,
            "type": message.type,
            "text": message.text,
            "flash": message.flash,
            "utf": message.utf,
            "parts": message.parts,
            "cost": round(message.cost, 4),
            "method": "api",
            "mnc": 26001 if message.phone.startswith("+48") else None,
            "country": "PL" if message.phone.startswith("+48") else None,
            "network": None,
            "attachments": [],
            "reason": reason,
            "contact": None,
        }

    def find(self, ids: Iterable[str], unique_ids: Iterable[str]) -> list[Stored]:
        found: dict[str, Stored] = {}
        for message_id in ids:
            if message_id in self.messages:
                found[message_id] = self.messages[message_id]
        for uid in unique_ids:
            for message_id in self.by_unique_id.get(uid, ()):
                if message_id in self.messages:
                    found[message_id] = self.messages[message_id]
        return list(found.values())


def format_local_ts(timestamp: float) -> str:
    return format_local(datetime.fromtimestamp(timestamp, timezone.utc), ZONE)


def parse_date(value: str) -> float | None:
    """A ``date`` parameter (``YYYY-MM-DD HH:MM:SS``, Polish time) as a timestamp."""
    try:
        naive = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return naive.replace(tzinfo=zone(ZONE)).timestamp()
