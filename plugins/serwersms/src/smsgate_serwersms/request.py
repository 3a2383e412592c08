"""The build handlers: pure request building for the SerwerSMS HTTPS API v2.

Every action is a JSON ``POST`` to ``<base>/<action>.json`` carrying the ``system`` field, with
``username``/``password`` in the body or an ``Authorization: Bearer`` header (reference 2.1,
2.2). Sends always ask for ``details`` so that every recipient gets its own item and id, and
carry one ``unique_id`` per recipient derived from the idempotency key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from smsgate import idempotency, phone, text
from smsgate.errors import InvalidRecipientError, ValidationError
from smsgate.models import BalanceQuery, Batch, Call, HttpRequest, Reconcile, Send, StatusQuery
from smsgate.spec import Endpoint
from smsgate_serwersms.schedule import format_local
from smsgate_serwersms.settings import SerwerSmsSettings, sender_problem

SEND_SMS = "messages/send_sms"
SEND_PERSONALIZED = "messages/send_personalized"
REPORTS = "messages/reports"
VIEW = "messages/view"
DELETE = "messages/delete"
LIMITS = "account/limits"
#: ``unique_id``: 3 to 50 characters of ``[a-zA-Z0-9]`` (reference 2.3).
UNIQUE_ID_LENGTH = 32
#: At most this many ids per ``messages/reports`` query (reference 2.6).
MAX_REPORT_IDS = 500
#: Parts one text may have (unverified: 918 GSM / 402 UCS-2 characters, the Polish norm).
MAX_PARTS = 6
#: Provider-specific operations for ``Gateway.call``.
CALLS = frozenset({"view", "delete", "error", "reports"})
#: ``messages/reports`` filters (reference 2.6) and their documented values.
REPORT_STATUSES = ("delivered", "undelivered", "pending", "sent", "unsent", "in_progress", "saved")
REPORT_TYPES = ("eco", "full", "mms", "voice")
REPORT_ORDERS = ("asc", "desc")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def unique_id(key: str) -> str:
    """The ``unique_id`` of one recipient: its idempotency key as 32 alphanumerics."""
    return idempotency.alnum_key(key, UNIQUE_ID_LENGTH)


def _one_or_many(values: Sequence[str]) -> str | list[str]:
    """A string for one value, an array for several (both are documented)."""
    return values[0] if len(values) == 1 else list(values)


def post(endpoint: Endpoint, action: str, body: Mapping[str, Any], settings: SerwerSmsSettings) -> HttpRequest:
    """``POST <action>.json`` with ``body``, the ``system`` field and the credentials."""
    document = dict(body)
    document["system"] = settings.system
    headers: tuple[tuple[str, str], ...] = ()
    if settings.scheme == "token":
        headers = (("Authorization", f"Bearer {settings.password.reveal()}"),)
    else:
        document["username"] = settings.username
        document["password"] = settings.password.reveal()
    return HttpRequest.json(endpoint.url(f"{action}.json"), document, headers=headers)


def effective_sender(batch: Batch, settings: SerwerSmsSettings) -> str:
    """``Message.sender`` when given (``""`` forces ECO+), else the settings' default."""
    sender = batch.message.sender if batch.message.sender is not None else settings.sender
    problem = sender_problem(sender)
    if problem:
        raise ValidationError("sender", problem)
    return sender


def wants_utf(texts: Sequence[str], sender: str, settings: SerwerSmsSettings) -> bool:
    """Whether to set ``utf``: forced by the setting, else whenever a text is outside GSM 03.38.

    ``utf`` exists only for SMS FULL, i.e. with a sender (reference 2.3); a Unicode text without
    a sender is refused rather than left to the gateway to strip, unless ``utf=false`` says so.
    """
    if settings.utf is False:
        return False
    if settings.utf is True:
        if not sender:
            raise ValidationError(
                "options.utf", "utf is SMS FULL only: set a sender (Message.sender or the DSN's sender)"
            )
        return True
    if all(text.is_gsm7(t) for t in texts):
        return False
    if not sender:
        raise ValidationError(
            "text",
            "has characters outside GSM 03.38, which need utf=true, and utf is SMS FULL only: set a sender "
            "(Message.sender or the DSN's sender), or set utf=false to let the gateway send it as ECO+ without them",
        )
    return True


def _check_parts(texts: Sequence[str]) -> None:
    """With ``utf`` forced on GSM text the parts are UCS-2 ones: 70 characters, 67 when split."""
    for t in texts:
        text.check_parts(text.analyse(t, force_unicode=True), MAX_PARTS)


def first_request(batch: Batch) -> bool:
    """Whether ``batch`` is the first request of its message. Panel groups and contacts go with
    the first only, and never with a resend of the recipients reconciliation found missing:
    their members carry no ``unique_id`` to look up, so resending them could send twice."""
    return batch.index == 0 and not batch.resume


def _flags(batch: Batch, settings: SerwerSmsSettings, sender: str, utf: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"details": True}
    if batch.message.flash:
        body["flash"] = True
    if settings.test:
        body["test"] = True
    if utf:
        body["utf"] = True
    if settings.speed:
        if not sender:
            raise ValidationError("options.speed", "the priority channel is SMS FULL only: set a sender")
        body["speed"] = 1
    return body


def _send_sms(batch: Batch, settings: SerwerSmsSettings, sender: str, utf: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"phone": _one_or_many(batch.recipients), "text": batch.text}
    if sender:
        body["sender"] = sender
    body.update(_flags(batch, settings, sender, utf))
    if settings.vcard:
        if "BEGIN:VCARD" not in batch.text or "END:VCARD" not in batch.text:
            raise ValidationError(
                "text", "with vcard=true the text must be a vCard (BEGIN:VCARD ... END:VCARD, one tag a line)"
            )
        body["vcard"] = True
    if settings.wap_push:
        body["wap_push"] = settings.wap_push
    return body


def _send_personalized(batch: Batch, settings: SerwerSmsSettings, sender: str, utf: bool) -> dict[str, Any]:
    if settings.group_id:
        raise ValidationError(
            "options.group_id",
            "messages/send_personalized sends a group one text of its own (its `text` parameter), which a "
            "personalised send has no place for: send to panel groups with Gateway.send",
        )
    for name in ("vcard", "wap_push", "contact_id", "dlr_url"):
        if getattr(settings, name):
            raise ValidationError(
                f"options.{name}", "is not a parameter of personalised sends (messages/send_personalized)"
            )
    body: dict[str, Any] = {"messages": [{"phone": i.recipient, "text": i.text} for i in batch.items]}
    if sender:
        body["sender"] = sender
    body.update(_flags(batch, settings, sender, utf))
    return body


def build_send(operation: Send, settings: SerwerSmsSettings, endpoint: Endpoint) -> HttpRequest:
    """``messages/send_sms`` (one text) or ``messages/send_personalized`` (texts differ)."""
    batch = operation.batch
    sender = effective_sender(batch, settings)
    texts = list(dict.fromkeys([i.text for i in batch.items])) or [batch.text]
    utf = wants_utf(texts, sender, settings)
    if utf:
        _check_parts(texts)
    if len(texts) > 1:  # batch.personalised: its items' texts differ
        action, body = SEND_PERSONALIZED, _send_personalized(batch, settings, sender, utf)
    else:
        action, body = SEND_SMS, _send_sms(batch, settings, sender, utf)
    body.update(batch.schedule)
    body["unique_id"] = _one_or_many([unique_id(i.key) for i in batch.items])
    if first_request(batch):
        if settings.group_id:
            body["group_id"] = _one_or_many(settings.group_id)
        if settings.contact_id:
            body["contact_id"] = _one_or_many(settings.contact_id)
    if settings.dlr_url:
        body["dlr_url"] = settings.dlr_url
    return post(endpoint, action, body, settings)


def build_reconcile(operation: Reconcile, settings: SerwerSmsSettings, endpoint: Endpoint) -> HttpRequest:
    """``messages/reports`` filtered by the batch's ``unique_id`` values, all on one page."""
    ids = [unique_id(i.key) for i in operation.batch.items]
    body = {"unique_id": _one_or_many(ids), "page": 1, "limit": len(ids)}
    return post(endpoint, REPORTS, body, settings)


def build_status(operation: StatusQuery, settings: SerwerSmsSettings, endpoint: Endpoint) -> HttpRequest:
    """``messages/reports`` by message ``id`` (at most 500), optionally by phone too."""
    ids = list(operation.message_ids)
    if not ids or len(ids) > MAX_REPORT_IDS:
        raise ValidationError("message_id", f"give 1 to {MAX_REPORT_IDS} message ids per query, not {len(ids)}")
    body: dict[str, Any] = {"id": _one_or_many(ids), "page": 1, "limit": len(ids)}
    if operation.recipient:
        body["phone"] = report_phone(operation.recipient)
    return post(endpoint, REPORTS, body, settings)


def report_phone(number: str) -> str:
    """A ``messages/reports`` phone filter "in the full format" (reference 2.6): E.164. A national
    number (digits only: there is no default region here) goes as written, for the gateway reads
    those as Polish (the official clients' examples send ``500600700``)."""
    try:
        return phone.normalise(number)
    except InvalidRecipientError:
        national = number.strip().replace(" ", "").replace("-", "")
        if national.isascii() and national.isdigit():
            return national
        raise


def _strings(name: str, value: Any) -> list[str]:
    values = [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value
    if not isinstance(values, (list, tuple)) or not values:
        raise ValidationError(name, "give a string or a non-empty list of strings")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (str, int)) or not str(v).strip():
            raise ValidationError(name, f"{v!r} is not an id")
        out.append(str(v).strip())
    return out


def _positive(name: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(name, f"must be a whole number from 1, not {value!r}")
    return value


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValidationError(name, f"must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _report_date(name: str, value: Any, settings: SerwerSmsSettings) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(name, "must be timezone-aware (it is sent in the gateway's timezone)")
        return format_local(value, settings.timezone)
    if isinstance(value, str) and _DATE.match(value.strip()):
        return value.strip()
    raise ValidationError(name, f"an aware datetime or 'YYYY-MM-DD HH:MM:SS' in the gateway's time zone, not {value!r}")


def reports(params: Mapping[str, Any], settings: SerwerSmsSettings, endpoint: Endpoint) -> HttpRequest:
    """``messages/reports`` with any of its filters (reference 2.6), validated: ``id`` (at most
    500), ``unique_id``, ``phone`` (sent in E.164), ``date_from``/``date_to`` (queue time),
    ``status``, ``type``, ``stat_id``, ``show_contact``, ``page``, ``limit``, ``order``."""
    known = {"id", "unique_id", "phone", "date_from", "date_to", "status", "type", "stat_id", "show_contact"}
    known |= {"page", "limit", "order"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValidationError(
            "params", f"reports has no filter {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    body: dict[str, Any] = {}
    for name in ("id", "unique_id", "phone"):
        if params.get(name) is not None:
            values = _strings(name, params[name])
            if name == "id" and len(values) > MAX_REPORT_IDS:
                raise ValidationError("id", f"at most {MAX_REPORT_IDS} ids per query, not {len(values)}")
            if name == "phone":
                values = [report_phone(v) for v in values]
            body[name] = _one_or_many(values)
    for name in ("date_from", "date_to"):
        if params.get(name) is not None:
            body[name] = _report_date(name, params[name], settings)
    for name, allowed in (("status", REPORT_STATUSES), ("type", REPORT_TYPES), ("order", REPORT_ORDERS)):
        if params.get(name) is not None:
            body[name] = _choice(name, params[name], allowed)
    if params.get("stat_id") is not None:
        body["stat_id"] = _positive("stat_id", params["stat_id"])
    if params.get("show_contact") is not None:
        if not isinstance(params["show_contact"], bool):
            raise ValidationError("show_contact", f"must be true or false, not {params['show_contact']!r}")
        body["show_contact"] = params["show_contact"]
    for name in ("page", "limit"):
        if params.get(name) is not None:
            body[name] = _positive(name, params[name])
    return post(endpoint, REPORTS, body, settings)


def build_balance(operation: BalanceQuery, settings: SerwerSmsSettings, endpoint: Endpoint) -> HttpRequest:
    """``account/limits``."""
    return post(endpoint, LIMITS, {}, settings)


def build_call(operation: Call, settings: SerwerSmsSettings, endpoint: Endpoint) -> HttpRequest:
    """``view`` (messages/view), ``delete`` (messages/delete), ``error`` (error/<code>) or
    ``reports`` (messages/reports with any filter): ``CALLS``."""
    params = dict(operation.params)
    if operation.name == "reports":
        return reports(params, settings, endpoint)
    if operation.name == "error":
        code = str(params.pop("code", ""))
        if not code.isdigit() or params:
            raise ValidationError("code", "error takes one numeric code: call('error', code=3103)")
        return post(endpoint, f"error/{code}", {}, settings)
    if operation.name not in ("view", "delete"):
        raise ValidationError("call", f"no operation {operation.name!r} (known: {', '.join(sorted(CALLS))})")
    allowed = {"view": {"id", "unique_id", "show_contact"}, "delete": {"id", "unique_id"}}[operation.name]
    unknown = sorted(set(params) - allowed)
    if unknown or not (params.get("id") or params.get("unique_id")):
        raise ValidationError("params", f"{operation.name} takes id or unique_id ({', '.join(sorted(allowed))})")
    return post(endpoint, VIEW if operation.name == "view" else DELETE, params, settings)
