"""The emulator's legacy API: ``/api/sms[/json]`` and ``/api/credit[/json]``.

Every reply is HTTP 200; ``error_code`` tells success ("000") from failure, as in production.
Checks run in the order a client meets them: credentials, text, recipients, type, sender,
length, signature, lists, the regulatory mention, ``request_id``, credit.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from smsgate import text as smstext
from smsgate.emulator import EmulatorReply, EmulatorRequest
from smsgate_octopush import schedule
from smsgate_octopush.emulator_data import PRICES, SentMessage, country, e164
from smsgate_octopush.request import FRANCE, LEGACY_MAX_CHARS, NO_PUB_MENTION, STOP_MENTION, legacy_length, signature

if TYPE_CHECKING:
    from smsgate_octopush.emulator import OctopushEmulator

_SENDER = re.compile(r"^[A-Za-z0-9]{3,11}$")
_LISTS = ("recipients_first_names", "recipients_last_names", "sms_fields_1", "sms_fields_2", "sms_fields_3")


def _xml(tag: str, value: Any) -> str:
    if isinstance(value, dict):
        inner = "".join(_xml(k, v) for k, v in value.items())
    elif isinstance(value, list):
        child = tag[:-1] if tag.endswith("s") else "item"
        inner = "".join(_xml(child, v) for v in value)
    else:
        inner = escape(str(value))
    return f"<{tag}>{inner}</{tag}>"


def _stringify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    return value if isinstance(value, str) else str(value)


def reply(document: dict[str, Any], xml: bool, *, strings: bool = False) -> EmulatorReply:
    """HTTP 200 with the document as JSON (every number a string with ``strings``, as in the
    official PHP client's dump of a real reply), or as ``<octopush>`` XML."""
    if not xml:
        return EmulatorReply.json(_stringify(document) if strings else document)
    if isinstance(document.get("successs"), dict):  # XML always nests <success> elements
        document = {**document, "successs": [document["successs"]]}
    body = '<?xml version="1.0" encoding="UTF-8"?>' + _xml("octopush", document)
    return EmulatorReply(200, body.encode("utf-8"), "text/xml; charset=utf-8")


def error(code: str, xml: bool) -> EmulatorReply:
    return reply({"error_code": code}, xml)


def _authenticate(emu: OctopushEmulator, params: dict[str, str]) -> str | None:
    if not params:
        return "100"
    login, key = params.get("user_login", ""), params.get("api_key", "")
    if not login:
        return "108"
    if not key:
        return "109"
    if login != emu.username or key != emu.password:
        return "101"
    return None


def _check(emu: OctopushEmulator, p: dict[str, str], numbers: list[str]) -> str | None:
    """The first error code the request deserves, before routing numbers."""
    text, sms_type = p.get("sms_text", ""), p.get("sms_type", "")
    if not text:
        return "107"
    if "sms_recipients" not in p:
        return "110"
    if not numbers:
        return "103"
    if sms_type not in ("XXX", "FR", "WWW"):
        return "112"
    sender = p.get("sms_sender", "")
    if sms_type != "XXX" and sender and not _SENDER.match(sender):
        return "106"
    if legacy_length(text) > LEGACY_MAX_CHARS:
        return "102"
    if p.get("request_keys"):
        if not p.get("request_sha1"):
            return "123"
        if signature(p["request_keys"], p) != p["request_sha1"].lower():
            return "124"
    if any(p.get(name) and len(p[name].split(",")) != len(numbers) for name in _LISTS):
        return "115"
    french = any((e164(n) or "").startswith(FRANCE) for n in numbers)
    if french and sms_type == "FR" and STOP_MENTION not in text:
        return "121"
    if french and sms_type == "XXX" and emu.require_no_pub and NO_PUB_MENTION not in text:
        return "122"
    return None


def _when(emu: OctopushEmulator, p: dict[str, str]) -> float | None:
    """The scheduled instant (Unix time) of a deferred send, ``None`` for now or the past.

    ``sms_mode=2`` with ``sending_date`` (the seed, the official Python client) or
    ``sending_time``; the official PHP client sends ``sending_time`` alone, only when it lies in
    the future, so a future ``sending_time`` defers the send without ``sms_mode`` too.
    """
    raw = (p.get("sending_date") or p.get("sending_time") or "").strip()
    if p.get("sms_mode") != "2":
        raw = (p.get("sending_time") or "").strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 11):
        return None
    at = schedule.from_legacy_timestamp(int(raw)).timestamp()
    return at if at > emu.clock() else None


def send(emu: OctopushEmulator, request: EmulatorRequest, *, xml: bool) -> EmulatorReply:
    p = request.params("utf-8")
    refused = _authenticate(emu, p)
    numbers = [n.strip() for n in p.get("sms_recipients", "").split(",") if n.strip()]
    refused = refused or _check(emu, p, numbers)
    if refused:
        return error(refused, xml)
    text, sms_type = p["sms_text"], p["sms_type"]
    simulation = p.get("request_mode") == "simu"
    request_id = p.get("request_id") or None
    parts = smstext.analyse(text).parts
    price = PRICES[sms_type] * parts
    successes: list[tuple[str, str]] = []
    failures: list[tuple[str, str]] = []
    for raw in numbers:
        number = e164(raw)
        where = country(number) if number else None
        if number is None or where is None:
            failures.append((raw, "150"))
        elif where in emu.unserved:
            failures.append((raw, "151"))
        else:
            successes.append((number, where))
    if not successes:
        return error("117", xml)
    with emu.lock:
        if request_id is not None and request_id in emu.legacy_request_ids:
            return error("120", xml)
        total = price * len(successes)
        if not simulation and total > emu.credit:
            return error("104", xml)
        ticket = emu.ticket("legacy")
        when = _when(emu, p)
        if not simulation:
            emu.credit -= total
            if request_id is not None:
                emu.legacy_request_ids.add(request_id)
            extra = tuple((k, p[k]) for k in _LISTS if p.get(k))
            sender = p.get("sms_sender") if sms_type != "XXX" else None
            for number, _ in successes:
                emu.messages.append(
                    SentMessage("legacy", ticket, number, text, sms_type, sender, request_id, when, price, extra)
                )
        balance = emu.credit
    document = _document(emu, ticket, total, balance, when, successes, failures, price, parts)
    return reply(document, xml, strings=emu.numbers_as == "strings")


def _document(
    emu: OctopushEmulator,
    ticket: str,
    total: Decimal,
    balance: Decimal,
    when: float | None,
    successes: list[tuple[str, str]],
    failures: list[tuple[str, str]],
    price: Decimal,
    parts: int,
) -> dict[str, Any]:
    at = datetime.fromtimestamp(when if when is not None else emu.clock(), timezone.utc)
    entries = [
        {"recipient": int(number[1:]), "country_code": where, "cost": float(price), "sms_needed": parts}
        for number, where in successes
    ]
    if emu.failures_as == "strings":
        failed: list[Any] = [raw for raw, _ in failures]
    else:
        failed = [{"recipient": raw, "error_code": code} for raw, code in failures]
    return {
        "error_code": "000",
        "cost": float(total),
        "balance": float(balance),
        "ticket": ticket,
        "sending_date": schedule.legacy_timestamp(at),
        "number_of_sendings": len(successes),
        "currency_code": "€",
        "failures": failed,
        "successs": entries[0] if len(entries) == 1 else entries,
    }


def credit(emu: OctopushEmulator, request: EmulatorRequest, *, xml: bool) -> EmulatorReply:
    p = request.params("utf-8")
    refused = _authenticate(emu, p)
    if refused:
        return error(refused, xml)
    with emu.lock:
        amount = emu.credit
    return reply({"error_code": "000", "credit": f"{amount:.3f}"}, xml)
