"""A campaign's input: rows streamed from CSV (a header row) or JSON lines, a text template,
and each row checked against the gateway before anything is sent."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import string
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from smsgate import phone, plan
from smsgate.errors import ConfigurationError, SmsgateError
from smsgate.models import Message

#: Columns tried, in order, for the recipient's number when none is named.
NUMBER_COLUMNS = ("phone", "to", "number", "recipient", "msisdn", "mobile")
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


class Template:
    """A ``str.format`` template over a row's columns (``"Hi {first_name}"``); only plain
    names (no attribute or index access, no format specs that run code)."""

    def __init__(self, text: str) -> None:
        if not text:
            raise ConfigurationError("the text template is empty")
        self.text = text
        names: list[str] = []
        try:
            for _, field, _, _ in string.Formatter().parse(text):
                if field is None:
                    continue
                if not field.isidentifier():
                    raise ConfigurationError(
                        f"template field {{{field}}}: use plain column names like {{first_name}} "
                        "(write {{ and }} for literal braces)"
                    )
                names.append(field)
        except ValueError as exc:
            raise ConfigurationError(f"template: {exc} (write {{{{ and }}}} for literal braces)") from None
        self.fields = tuple(dict.fromkeys(names))

    def render(self, row: Mapping[str, str]) -> str:
        return self.text.format_map({k: row[k] for k in self.fields})


def source_digest(path: str | os.PathLike[str]) -> str:
    """A digest of the input file's bytes (read in chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_rows(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(row number, columns)`` for each data row, from 1; CSV (UTF-8, a header row) unless
    the name ends in ``.jsonl``/``.ndjson``/``.json`` (one JSON object per line). A row that
    cannot be read yields ``{"__error__": reason}``."""
    p = Path(path)
    try:
        if p.suffix.lower() in JSON_SUFFIXES:
            yield from _json_rows(p)
        else:
            yield from _csv_rows(p)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{p} is not UTF-8 text") from None


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise ConfigurationError(f"{path} is empty: a CSV needs a header row")
        for n, row in enumerate(reader, 1):
            if None in row:
                yield n, {"__error__": "more fields than the header has columns"}
                continue
            yield n, {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}


def _json_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8") as f:
        n = 0
        for line in f:
            if not line.strip():
                continue
            n += 1
            try:
                value = json.loads(line)
            except ValueError as exc:
                yield n, {"__error__": f"not JSON: {exc}"}
                continue
            if not isinstance(value, dict):
                yield n, {"__error__": "not a JSON object"}
                continue
            yield n, {str(k): "" if v is None else str(v) for k, v in value.items()}


def header(path: str | os.PathLike[str]) -> tuple[str, ...] | None:
    """The CSV's column names (``None`` for JSON lines)."""
    p = Path(path)
    if p.suffix.lower() in JSON_SUFFIXES:
        return None
    with p.open(encoding="utf-8-sig", newline="") as f:
        return tuple(c.strip() for c in next(csv.reader(f), []))


def number_column(columns: tuple[str, ...] | None, given: str | None) -> str | None:
    """The column holding the number: ``given``, else the first of :data:`NUMBER_COLUMNS`
    (``None`` for JSON lines: looked up per row)."""
    if given:
        if columns is not None and given not in columns:
            raise ConfigurationError(f"no column {given!r} in the input (columns: {', '.join(columns)})")
        return given
    if columns is None:
        return None
    lowered = {c.lower(): c for c in columns}
    for name in NUMBER_COLUMNS:
        if name in lowered:
            return lowered[name]
    raise ConfigurationError(
        f"no number column in the input (columns: {', '.join(columns)}): name one of "
        f"{', '.join(NUMBER_COLUMNS)} or pass --to-column"
    )


@attrs.frozen
class Entry:
    """A valid row: its normalised number, rendered text and what the gateway makes of it."""

    row: int
    recipient: str
    text: str
    sender: str | None
    send_at: datetime | None
    parts: int
    encoding: str

    @property
    def text_digest(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@attrs.frozen
class Invalid:
    row: int
    reason: str


class Checker:
    """Turns rows into :class:`Entry` or :class:`Invalid` with the gateway's own planning (the
    same checks a send makes: number, template fields, encoding, parts, scheduling)."""

    def __init__(
        self,
        gateway: Any,
        template: Template,
        to_column: str | None,
        *,
        sender: str | None = None,
        send_at: datetime | None = None,
        now: datetime,
    ) -> None:
        self.gateway = gateway
        self.template = template
        self.to_column = to_column
        self.sender = sender
        self.send_at = send_at
        self.now = now

    def _send_at(self, n: int, row: Mapping[str, str]) -> datetime | Invalid | None:
        """The row's ``send_at`` column (ISO 8601), else the campaign's."""
        if not row.get("send_at"):
            return self.send_at
        try:
            return datetime.fromisoformat(row["send_at"].replace("Z", "+00:00"))
        except ValueError:
            return Invalid(n, f"send_at {row['send_at']!r} is not an ISO 8601 date-time")

    def quick(self, n: int, row: Mapping[str, str], recipient: str | None = None) -> Entry | Invalid:
        """A row already validated: rendered, its number normalised (or ``recipient``, as
        stored), without the gateway's checks (``parts`` and ``encoding`` are not computed)."""
        if "__error__" in row:
            return Invalid(n, row["__error__"])
        try:
            text = self.template.render(row)
            if recipient is None:
                column = self.to_column or next((c for c in NUMBER_COLUMNS if row.get(c)), NUMBER_COLUMNS[0])
                recipient = phone.normalise(row.get(column, ""), self.gateway.options.default_region)
        except (KeyError, SmsgateError) as exc:
            return Invalid(n, str(exc))
        sender = row.get("sender") or self.sender
        send_at = self._send_at(n, row)
        if isinstance(send_at, Invalid):
            return send_at
        return Entry(n, recipient, text, sender, send_at, 0, "")

    def check(self, n: int, row: Mapping[str, str]) -> Entry | Invalid:
        if "__error__" in row:
            return Invalid(n, row["__error__"])
        column = self.to_column or next((c for c in NUMBER_COLUMNS if row.get(c)), NUMBER_COLUMNS[0])
        number = row.get(column, "")
        if not number:
            return Invalid(n, f"no number in column {column!r}")
        missing = [f for f in self.template.fields if not row.get(f)]
        if missing:
            return Invalid(n, f"template variable(s) missing or empty: {', '.join(missing)}")
        text = self.template.render(row)
        sender = row.get("sender") or self.sender
        send_at = self._send_at(n, row)
        if isinstance(send_at, Invalid):
            return send_at
        gw = self.gateway
        message = Message(number, text, sender, send_at, key="check")
        try:
            if hasattr(gw, "hooks"):  # a Gateway: plan only (no request built)
                p = plan.plan(message, gw.hooks, gw.settings, gw.options, self.now)
            else:  # a Router: checked against the gateway that would send it
                p, _ = gw.prepare(message)
        except SmsgateError as error:
            return Invalid(n, str(error))
        info = p.batches[0].info
        return Entry(n, p.recipients[0], text, sender, send_at, info.parts, info.encoding.value)
