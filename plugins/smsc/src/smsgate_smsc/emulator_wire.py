"""The SMSC emulator's wire formats: request charsets, the ``time`` field, and replies in ``fmt`` 0-3.

``fmt=3`` (JSON) and the ``fmt=1`` number lists follow the reference; ``fmt=0`` strings and ``fmt=2``
XML are the documented error shapes plus simple success shapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

from smsgate.emulator import EmulatorReply, EmulatorRequest

from .settings import CODECS

#: Moscow keeps UTC+3 all year; ``tz`` moves wall times by whole hours from it.
MOSCOW = timezone(timedelta(hours=3), "MSK")
_WINDOW = re.compile(r"^(\d{1,2})-(\d{1,2})$")


def params(request: EmulatorRequest) -> tuple[dict[str, str], str]:
    """The request's parameters decoded in the charset it names (default windows-1251), and that
    charset's Python codec."""
    named = request.params("latin-1").get("charset", "").strip().lower()
    codec = CODECS.get(named, "cp1251")
    return request.params(codec), codec


def fmt_of(values: Mapping[str, str]) -> int:
    value = values.get("fmt", "0").strip()
    return int(value) if value in ("0", "1", "2", "3") else 0


def date_text(stamp: float) -> str:
    """A Unix time as SMSC writes it: ``DD.MM.YYYY hh:mm:ss``, Moscow time."""
    return datetime.fromtimestamp(stamp, MOSCOW).strftime("%d.%m.%Y %H:%M:%S")


def send_time(value: str, tz: int, now: float) -> float | None:
    """When a send with ``time=value`` leaves (Unix time), ``None`` for at once.

    ``0<ts>``, ``DDMMYYhhmm``, ``DD.MM.YY hh:mm`` (in the zone ``tz`` hours from Moscow), ``+m``
    and ``h1-h2``. Raises ``ValueError`` for anything else (SMSC error 5).
    """
    value = value.strip()
    if not value:
        return None
    zone = timezone(timedelta(hours=3 + tz))
    if value.startswith("+") and value[1:].isdigit():
        return now + 60 * int(value[1:])
    if value.isdigit() and len(value) == 10:
        return datetime.strptime(value, "%d%m%y%H%M").replace(tzinfo=zone).timestamp()
    if value.isdigit() and value.startswith("0") and len(value) > 1:
        return float(int(value[1:]))
    window = _WINDOW.match(value)
    if window:
        h1, h2 = int(window[1]), int(window[2])
        if not 0 <= h1 < h2 <= 24:
            raise ValueError("bad hour window")
        local = datetime.fromtimestamp(now, zone)
        if h1 <= local.hour < h2:
            return None
        start = local.replace(hour=h1, minute=0, second=0, microsecond=0)
        return (start if local.hour < h1 else start + timedelta(days=1)).timestamp()
    return datetime.strptime(value, "%d.%m.%y %H:%M").replace(tzinfo=zone).timestamp()


# -- replies ----------------------------------------------------------------------------------


def _reply(text: str, codec: str, kind: str) -> EmulatorReply:
    charset = next((name for name, c in CODECS.items() if c == codec), "windows-1251")
    return EmulatorReply(200, text.encode(codec, errors="replace"), f"{kind}; charset={charset}")


def as_json(document: Any, codec: str) -> EmulatorReply:
    return _reply(json.dumps(document, ensure_ascii=False, separators=(",", ":")), codec, "application/json")


def as_text(text: str, codec: str) -> EmulatorReply:
    return _reply(text, codec, "text/plain")


def as_xml(fields: Iterable[tuple[str, Any]], codec: str, root: str = "result") -> EmulatorReply:
    inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields)
    return _reply(f"<{root}>{inner}</{root}>", codec, "text/xml")


def error(fmt: int, code: int, text: str, codec: str, ident: int | None = None) -> EmulatorReply:
    """An SMSC error in the requested format."""
    if fmt == 3:
        doc: dict[str, Any] = {"error": text, "error_code": code}
        return as_json({**doc, "id": ident} if ident else doc, codec)
    if fmt == 2:
        return as_xml([("error", text), ("error_code", code), *([("id", ident)] if ident else [])], codec)
    if fmt == 1:
        return as_text(f"{ident or 0},-{code}", codec)
    return as_text(f"ERROR = {code} ({text})", codec)


def sent(
    fmt: int, ident: int, cnt: int, cost_mode: int, cost: str, balance: str, phones: list[Any], codec: str
) -> EmulatorReply:
    """A successful send: ``id``, ``cnt``, then cost (``cost>=2``) and balance (``cost=3``)."""
    extra: list[tuple[str, str]] = [("cost", cost)] if cost_mode >= 2 else []
    extra += [("balance", balance)] if cost_mode == 3 else []
    if fmt == 3:
        doc: dict[str, Any] = {"id": ident, "cnt": cnt, **dict(extra)}
        return as_json({**doc, "phones": phones} if phones else doc, codec)
    if fmt == 2:
        return as_xml([("id", ident), ("cnt", cnt), *extra], codec)
    if fmt == 1:
        return as_text(",".join([str(ident), str(cnt), *(v for _, v in extra)]), codec)
    tail = "".join(f", {k.upper()} - {v}" for k, v in extra)
    return as_text(f"OK - {cnt} SMS, ID - {ident}{tail}", codec)


def priced(fmt: int, cost: str, cnt: int, phones: list[Any], codec: str) -> EmulatorReply:
    """A ``cost=1`` answer: the price and number of SMS, nothing sent; in JSON with the
    ``err=1``/``op=1`` per-number entries too (this emulator's reading: the reference documents
    them for sends, not for price requests)."""
    if fmt == 3:
        doc: dict[str, Any] = {"cost": cost, "cnt": cnt}
        return as_json({**doc, "phones": phones} if phones else doc, codec)
    if fmt == 2:
        return as_xml([("cost", cost), ("cnt", cnt)], codec)
    if fmt == 1:
        return as_text(f"{cost},{cnt}", codec)
    return as_text(f"OK - {cnt} SMS, COST - {cost}", codec)


def statuses(fmt: int, entries: Sequence[dict[str, Any]], listed: bool, codec: str) -> EmulatorReply:
    """status.php: one entry, or (list request) one per id with ``id`` and ``phone`` appended."""
    if fmt == 3:
        return as_json(list(entries) if listed else entries[0], codec)
    if fmt == 2:
        inner = "".join(
            "<status>" + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in e.items()) + "</status>" for e in entries
        )
        return _reply(f"<result>{inner}</result>", codec, "text/xml")
    if fmt == 1:
        rows = [
            ",".join(str(e[k]) for k in ("status", "last_timestamp", "err", *(("id", "phone") if listed else ())))
            for e in entries
        ]
        return as_text("\n".join(rows), codec)
    rows = [f"Status = {e['status']}, check_time = {e['last_date']}, err = {e['err']}" for e in entries]
    return as_text("\n".join(rows), codec)


def balance(fmt: int, amount: str, currency: str | None, credit: str | None, codec: str) -> EmulatorReply:
    fields = [
        ("balance", amount),
        *([("credit", credit)] if credit else []),
        *([("currency", currency)] if currency else []),
    ]
    if fmt == 3:
        return as_json(dict(fields), codec)
    if fmt == 2:
        return _reply(f"<balance>{escape(amount)}</balance>", codec, "text/xml")
    return as_text(",".join(v for _, v in fields), codec)


def tasks(fmt: int, rows: Sequence[dict[str, Any]], codec: str) -> EmulatorReply:
    """downloads.php ``get_list=1``: ``id, name, status, created, time, file`` per task."""
    keys = ("id", "name", "status", "created", "time", "file")
    if fmt == 3:
        return as_json([{k: r[k] for k in keys} for r in rows], codec)
    if fmt == 2:
        inner = "".join("<task>" + "".join(f"<{k}>{escape(str(r[k]))}</{k}>" for k in keys) + "</task>" for r in rows)
        return _reply(f"<result>{inner}</result>", codec, "text/xml")
    return as_text("\n".join(",".join(str(r[k]) for k in keys) for r in rows), codec)
