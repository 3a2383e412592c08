"""Helpers for campaign tests: input files, and what an emulator took per recipient."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

NUMBER_FIELDS = ("to", "msisdn", "destination", "recipient", "phone")


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def people(n: int, *, same_every: int = 3, first: int = 0) -> list[dict[str, str]]:
    """``n`` rows with distinct numbers; every ``same_every``-th row has the shared name "Ann"
    (identical texts), the others their own."""
    return [
        {"phone": f"+4850{first + i:07d}", "first_name": "Ann" if i % same_every == 0 else f"P{first + i}"}
        for i in range(n)
    ]


def taken(emulator: Any) -> Counter[tuple[str, str]]:
    """(number's digits, text) -> how many times the emulator took it, for every emulator."""
    found = getattr(emulator, "messages", None)
    if found is None:
        found = emulator.account.messages
    items = found.values() if isinstance(found, dict) else found
    out: Counter[tuple[str, str]] = Counter()
    for m in items:
        number = next(str(getattr(m, f)) for f in NUMBER_FIELDS if getattr(m, f, None))
        out[("".join(c for c in number if c.isdigit()), str(m.text))] += 1
    return out
