"""The build handlers for send.php, status.php, balance.php and downloads.php, one exact-typed
function per operation (registered in the handler table of ``__init__``).

Every request is a form POST (SMSC takes GET or POST; POST keeps credentials out of URLs and has no
length limit) with ``fmt=3`` (JSON replies) and the configured ``charset``. Sends carry ``cost=3``
(cost and new balance come back), ``err=1`` and ``op=1`` (one entry per number) and ``id``: the
request's idempotency key as a 32-bit integer, the same on every attempt.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from smsgate.errors import ValidationError
from smsgate.idempotency import int_key
from smsgate.models import (
    BalanceQuery,
    Batch,
    Call,
    HttpRequest,
    Quote,
    Reconcile,
    Send,
    StatusQuery,
)
from smsgate.spec import Endpoint

from .settings import TYPE_FLAGS, SmscSettings, sender_problem, window_hours

SEND, STATUS, BALANCE, DOWNLOADS = "/sys/send.php", "/sys/status.php", "/sys/balance.php", "/sys/downloads.php"
#: Longest text SMSC takes in ``mes`` (it splits it into paid parts itself).
MAX_CHARS = 1000
CALLS = frozenset({"tasks", "download"})

Fields = list[tuple[str, str]]


def message_id(batch: Batch) -> int:
    """The ``id`` SMSC stores the batch under: its ``dedup_key`` (the key bound to the batch's
    content) as an integer in 1..2147483647, so a key reused for other content is another id."""
    return int_key(batch.dedup_key)


def common(settings: SmscSettings) -> Fields:
    """Credentials, ``fmt=3`` and ``charset``: the head of every request."""
    secret = settings.password.reveal()
    if not secret:
        raise ValidationError(
            "password", "the DSN needs the password or API key (smsc://LOGIN:PASSWORD@... or smsc://:KEY@...)"
        )
    auth = [("apikey", secret)] if settings.uses_apikey else [("login", settings.login), ("psw", secret)]
    return [*auth, ("fmt", "3"), ("charset", settings.charset)]


def _post(endpoint: Endpoint, path: str, fields: Fields, settings: SmscSettings) -> HttpRequest:
    for name, value in fields:
        try:
            value.encode(settings.codec)
        except UnicodeEncodeError:
            field = "text" if name in ("mes", "list") else name
            raise ValidationError(field, f"cannot be written in {settings.charset}; use charset=utf-8") from None
    # Built by hand rather than with ``HttpRequest.form``: its header would name the Python codec
    # (``charset=cp1251``); SMSC's own name of the charset (``windows-1251``) is the IANA one.
    body = urlencode(fields, encoding=settings.codec).encode("ascii")
    ctype = f"application/x-www-form-urlencoded; charset={settings.charset}"
    return HttpRequest("POST", endpoint.url(path), (("Content-Type", ctype),), body)


def _number(recipient: str, settings: SmscSettings) -> str:
    return recipient.lstrip("+") if settings.autocorrect else recipient


def _texts(batch: Batch, settings: SmscSettings) -> Fields:
    """``phones`` + ``mes``, or ``list`` (one ``phone:text`` line per number) when personalised."""
    for item in batch.items:
        if len(item.text) > MAX_CHARS:
            raise ValidationError("text", f"{len(item.text)} characters exceed SMSC's maximum of {MAX_CHARS}")
        if settings.maxsms is not None and item.info.parts > settings.maxsms:
            raise ValidationError(
                "text", f"needs {item.info.parts} parts but maxsms={settings.maxsms} (SMSC would cut it)"
            )
    if settings.message_type == "bin_hex":
        for item in batch.items:
            if len(item.text) % 2 or any(c not in string.hexdigits for c in item.text):
                raise ValidationError("text", "message_type=bin_hex needs the binary message as hex digits")
    if batch.personalised:
        if settings.groups:
            raise ValidationError("groups", "contact groups cannot take personalised texts")
        lines = []
        for item in batch.items:
            if "\n" in item.text or "\r" in item.text:
                raise ValidationError(
                    "text", "personalised texts cannot hold line breaks (SMSC's list has one line per number)"
                )
            lines.append(f"{_number(item.recipient, settings)}:{item.text}")
        return [("list", "\n".join(lines))]
    phones = [_number(r, settings) for r in batch.recipients] + [f"G{g}" for g in settings.groups]
    return [("phones", ",".join(phones)), ("mes", batch.text)]


def _options(batch: Batch, settings: SmscSettings) -> Fields:
    """``sender``, ``translit``, type flag, ``tinyurl``, ``valid`` and ``maxsms``."""
    out: Fields = []
    sender = batch.message.sender if batch.message.sender is not None else settings.sender
    if sender is not None:
        problem = sender_problem(sender)
        if problem:
            raise ValidationError("sender", f"{sender!r} {problem}")
        out.append(("sender", sender))
    if settings.translit:
        out.append(("translit", str(settings.translit)))
    if batch.message.flash:
        if settings.message_type != "sms":
            raise ValidationError("flash", f"a flash message cannot also be message_type={settings.message_type}")
        out.append(("flash", "1"))
    if settings.message_type != "sms":
        out.append(TYPE_FLAGS[settings.message_type])
    if settings.tinyurl:
        out.append(("tinyurl", "1"))
    if settings.valid is not None:
        out.append(("valid", settings.valid))
    if settings.maxsms is not None:
        out.append(("maxsms", str(settings.maxsms)))
    return out


def _when(batch: Batch, settings: SmscSettings) -> Fields:
    if batch.schedule and settings.send_window is not None:
        raise ValidationError("send_at", "cannot be combined with send_window (both use SMSC's time field)")
    if settings.send_window is not None:
        h1, h2 = window_hours(settings.send_window)
        out = [("time", f"{h1}-{h2}")]
        return out + ([("tz", str(settings.tz))] if settings.tz is not None else [])
    return [(k, v) for k, v in batch.schedule.items()]


def build_send(operation: Send, settings: SmscSettings, endpoint: Endpoint) -> HttpRequest:
    """send.php: the batch with ``cost=3`` (``cost=1`` in test mode), ``err=1`` and ``op=1``."""
    batch = operation.batch
    fields = [*common(settings), *_texts(batch, settings), *_options(batch, settings), *_when(batch, settings)]
    fields += [("id", str(message_id(batch))), ("cost", "1" if settings.test else "3"), ("err", "1"), ("op", "1")]
    return _post(endpoint, SEND, fields, settings)


def build_quote(operation: Quote, settings: SmscSettings, endpoint: Endpoint) -> HttpRequest:
    """send.php with ``cost=1``: the price, nothing sent."""
    batch = operation.batch
    fields = [*common(settings), *_texts(batch, settings), *_options(batch, settings), ("cost", "1")]
    return _post(endpoint, SEND, fields, settings)


def _lookup(ids: list[str], phones: list[str], settings: SmscSettings, endpoint: Endpoint) -> HttpRequest:
    id_list, phone_list = ",".join(ids), ",".join(p.lstrip("+") for p in phones)
    return _post(endpoint, STATUS, [*common(settings), ("phone", phone_list), ("id", id_list)], settings)


def build_reconcile(operation: Reconcile, settings: SmscSettings, endpoint: Endpoint) -> HttpRequest:
    """status.php for every number of the batch under its ``id``: which of them SMSC has."""
    batch = operation.batch
    ident = str(message_id(batch))
    return _lookup([ident] * len(batch.items), list(batch.recipients), settings, endpoint)


def build_status(query: StatusQuery, settings: SmscSettings, endpoint: Endpoint) -> HttpRequest:
    """status.php: SMSC finds a message by its id *and* number, so ``recipient`` is required."""
    if not query.message_ids:
        raise ValidationError("message_id", "give at least one SMSC message id")
    if not query.recipient:
        raise ValidationError("recipient", "SMSC looks messages up by id and phone number: give the recipient too")
    for ident in query.message_ids:
        if not ident.isdigit():
            raise ValidationError("message_id", f"{ident!r} is not an SMSC message id (digits)")
    return _lookup(list(query.message_ids), [query.recipient] * len(query.message_ids), settings, endpoint)


def build_balance(operation: BalanceQuery, settings: SmscSettings, endpoint: Endpoint) -> HttpRequest:
    """balance.php with ``cur=1`` (the currency comes back too)."""
    return _post(endpoint, BALANCE, [*common(settings), ("cur", "1")], settings)


def _integer(params: Mapping[str, Any], name: str) -> str:
    value = params[name]
    if isinstance(value, bool) or not str(value).isdigit():
        raise ValidationError(f"call.{name}", f"must be a non-negative integer, not {value!r}")
    return str(int(value))


def build_call(operation: Call, settings: SmscSettings, endpoint: Endpoint) -> HttpRequest:
    """downloads.php: ``tasks`` (``get_list=1``, optional ``cnt``, ``after_id``) or ``download``
    (``get_file=1`` with ``id`` or ``name``, given as ``task_name``). SMSC answers at most three
    identical requests a minute."""
    params = dict(operation.params)
    if operation.name == "tasks":
        allowed: tuple[str, ...] = ("cnt", "after_id")
        fields = [("get_list", "1")] + [(n, _integer(params, n)) for n in allowed if n in params]
    elif operation.name == "download":
        # ``task_name`` stands for SMSC's ``name``: ``Gateway.call(name, **params)`` takes ``name`` itself.
        allowed = ("id", "name", "task_name")
        given = [n for n in allowed if n in params]
        if len(given) != 1:
            raise ValidationError("call.download", "give exactly one of id (task id) or task_name (task name)")
        key = given[0]
        value = _integer(params, "id") if key == "id" else str(params[key])
        fields = [("get_file", "1"), ("id" if key == "id" else "name", value)]
    else:
        raise ValidationError("call", f"unknown SMSC operation {operation.name!r} (known: {', '.join(sorted(CALLS))})")
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValidationError(f"call.{unknown[0]}", f"unknown parameter (known: {', '.join(allowed)})")
    return _post(endpoint, DOWNLOADS, [*common(settings), *fields], settings)
