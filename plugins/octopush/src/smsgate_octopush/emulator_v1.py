"""The emulator's JSON API: ``/v1/public/sms-campaign/send`` and ``/v1/public/wallet/check-balance``.

Errors are non-2xx replies with ``{"code": <HTTP status>, "message": ...}``: the real schema is
unverified, so the emulator invents no code space of its own. A ``request_id`` is refused for
24 hours after its campaign was accepted; ``simulation_mode`` validates little and changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from smsgate import text as smstext
from smsgate.emulator import EmulatorReply, EmulatorRequest
from smsgate_octopush.dlr import paris
from smsgate_octopush.emulator_data import PRICES, SentMessage, country, e164
from smsgate_octopush.request import V1_MAX_CHARS

if TYPE_CHECKING:
    from smsgate_octopush.emulator import OctopushEmulator

#: How long a ``request_id`` is remembered, in seconds.
DEDUP_WINDOW = 24 * 3600
MAX_CONTACTS = 500
_SENDER = re.compile(r"^[A-Za-z0-9 ]{3,11}$")
_COMPACT_OFFSET = re.compile(r"T.*[+-]\d{4}$")
_PRODUCTS = ("sms_premium", "sms_low_cost", "vocal_sms", "hlr", "euro")
_FLAGS = (
    "with_replies",
    "simulation_mode",
    "auto_optimize_text",
    "auto_remove_blacklisted_numbers",
    "recipient_tracking",
)


def error(status: int, message: str) -> EmulatorReply:
    return EmulatorReply.json({"code": status, "message": message}, status)


def _authenticated(emu: OctopushEmulator, request: EmulatorRequest) -> bool:
    return request.header("api-login") == emu.username and request.header("api-key") == emu.password


def _send_at(value: Any) -> float | str | None:
    """Epoch seconds of ``send_at``, ``None`` when absent, or an error message."""
    if value is None:
        return None
    if not isinstance(value, str):
        return "send_at must be an ISO 8601 date"
    text = value.strip().replace("Z", "+00:00")
    if _COMPACT_OFFSET.search(text):  # DATE_ISO8601 of the PHP client's README: +0100
        text = text[:-2] + ":" + text[-2:]
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return f"send_at {value!r} is not an ISO 8601 date"
    return (at if at.tzinfo is not None else at.replace(tzinfo=paris())).timestamp()


def _validate(body: dict[str, Any], simulation: bool) -> str | None:
    recipients, text = body.get("recipients"), body.get("text")
    if not isinstance(recipients, list) or not 1 <= len(recipients) <= MAX_CONTACTS:
        return f"recipients must be a list of 1 to {MAX_CONTACTS} contacts"
    if not all(isinstance(r, dict) and isinstance(r.get("phone_number"), str) for r in recipients):
        return "recipients.*.phone_number is required"
    if not isinstance(text, str) or not 1 <= len(text) <= V1_MAX_CHARS:
        return f"text must have 1 to {V1_MAX_CHARS} characters"
    if simulation:
        return None
    if body.get("type") not in ("sms_premium", "sms_low_cost"):
        return "type must be sms_premium or sms_low_cost"
    if body.get("purpose", "wholesale") not in ("alert", "wholesale"):
        return "purpose must be alert or wholesale"
    sender = body.get("sender")
    if sender is not None and (not isinstance(sender, str) or not _SENDER.match(sender)):
        return "sender must have 3 to 11 alphanumeric characters"
    if any(name in body and not isinstance(body[name], bool) for name in _FLAGS):
        return "boolean fields must be true or false"
    when = _send_at(body.get("send_at"))
    return when if isinstance(when, str) else None


def send(emu: OctopushEmulator, request: EmulatorRequest) -> EmulatorReply:
    if request.method != "POST":
        return error(405, "method not allowed")
    if not _authenticated(emu, request):
        return error(401, "authentication failed: check api-login and api-key")
    try:
        body = request.json()
    except ValueError:
        return error(400, "the body is not JSON")
    if not isinstance(body, dict):
        return error(400, "the body must be a JSON object")
    simulation = body.get("simulation_mode") is True
    problem = _validate(body, simulation)
    if problem:
        return error(400, problem)
    numbers = [e164(r["phone_number"]) for r in body["recipients"]]
    bad = next(
        (r["phone_number"] for r, n in zip(body["recipients"], numbers) if n is None or country(n) is None), None
    )
    if bad is not None and not simulation:
        return error(400, f"recipients: {bad!r} is not a valid phone number")
    contacts = [(n, r) for n, r in zip(numbers, body["recipients"]) if n is not None]
    if body.get("auto_remove_blacklisted_numbers") is True:
        contacts = [(n, r) for n, r in contacts if n not in emu.blacklist]
    product = body.get("type")
    sms_type = product if isinstance(product, str) and product in PRICES else "sms_premium"
    parts = smstext.analyse(body["text"]).parts
    price = PRICES[sms_type] * parts
    total = price * len(contacts)
    request_id = body.get("request_id") if isinstance(body.get("request_id"), str) else None
    when = _send_at(body.get("send_at"))
    at = when if isinstance(when, float) and when > emu.clock() else None
    with emu.lock:
        now = emu.clock()
        if not simulation and request_id and now - emu.v1_request_ids.get(request_id, -DEDUP_WINDOW) < DEDUP_WINDOW:
            return error(400, f"request_id {request_id!r} has already been used in the last 24 hours")
        if not simulation and total > emu.credit:
            return error(402, "not enough credit for this campaign")
        ticket = emu.ticket("v1")
        if not simulation:
            emu.credit -= total
            if request_id:
                emu.v1_request_ids[request_id] = now
            for number, contact in contacts:
                extra = tuple((k, str(v)) for k, v in contact.items() if k != "phone_number")
                emu.messages.append(
                    SentMessage(
                        "v1", ticket, number, body["text"], sms_type, body.get("sender"), request_id, at, price, extra
                    )
                )
        residual = emu.credit
    return EmulatorReply.json(
        {
            "sms_ticket": ticket,
            "number_of_contacts": len(contacts),
            "total_cost": float(total),
            "number_of_sms_needed": parts * len(contacts),
            "residual_credit": float(residual),
        }
    )


def balance(emu: OctopushEmulator, request: EmulatorRequest) -> EmulatorReply:
    if request.method != "GET":
        return error(405, "method not allowed")
    if not _authenticated(emu, request):
        return error(401, "authentication failed: check api-login and api-key")
    product = request.query_value("product_name")
    if product not in _PRODUCTS:
        return error(400, f"product_name must be one of {', '.join(_PRODUCTS)}")
    with emu.lock:
        credit = emu.credit
    amount = credit if product not in PRICES else (credit / PRICES[product]).quantize(Decimal("0.001"), ROUND_DOWN)
    document: dict[str, Any] = {"amount": float(amount), "unit": product}
    if request.query_value("with_details") in ("1", "true"):
        document["wallet_packs"] = [
            {"id": "pack_emulator", "credit": float(amount), "expiration_date": "2030-12-08T16:45:14+01:00"}
        ]
    return EmulatorReply.json(document)
