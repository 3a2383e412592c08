"""The SMSC emulator's state: stored messages, deferred tasks and the per-minute request limits."""

from __future__ import annotations

from collections.abc import Hashable
from decimal import Decimal
from typing import Any

import attrs

from . import emulator_wire as wire

WINDOW = 60.0
#: Country prefix -> an MCC/MNC for ``op=1`` replies, longest prefix first (77 Kazakhstan before 7 Russia).
MCCMNC = (("380", "25501"), ("77", "40101"), ("48", "26001"), ("44", "23410"), ("49", "26201"), ("7", "25001"))
ERRORS = {
    1: "parameters error",
    2: "authorise error",
    3: "no money",
    4: "ip is blocked",
    5: "invalid date format",
    6: "message is denied",
    7: "invalid phone number",
    8: "message can't be delivered",
    9: "duplicate request, wait a minute",
}


@attrs.define
class SentSms:
    """One message SMSC accepted for one number."""

    id: int
    phone: str
    text: str
    sender: str | None
    parts: int
    cost: Decimal
    created: float
    leaves: float
    virtual: bool
    flash: bool


@attrs.define
class Task:
    """A deferred download task; ``csv`` is the file once ``status`` is 2 (completed)."""

    id: int
    name: str
    status: int
    created: float
    file: str
    csv: str

    def row(self) -> dict[str, Any]:
        created = wire.date_text(self.created)
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "created": created,
            "time": created,
            "file": self.file,
        }


class Refused(Exception):
    def __init__(self, code: int, ident: int | None = None) -> None:
        super().__init__(code)
        self.code, self.ident = code, ident


class Limits:
    """Per-minute request limits: ``allow`` records a request unless ``limit`` are already in the window."""

    def __init__(self) -> None:
        self.hits: dict[Hashable, list[float]] = {}

    def allow(self, key: Hashable, limit: int, now: float) -> bool:
        hits = [t for t in self.hits.get(key, ()) if now - t < WINDOW]
        allowed = len(hits) < limit
        if allowed:
            hits.append(now)
        self.hits[key] = hits
        if len(self.hits) > 50_000:
            self.hits = {k: v for k, v in self.hits.items() if v and now - v[-1] < WINDOW}
        return allowed


def digits_of(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def money(value: Decimal) -> str:
    return f"{value:.2f}"
