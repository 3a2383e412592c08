"""Planning: a ``Message`` checked and cut into ``Batch`` values before anything is sent.

Every rule that can be checked locally is checked here, so bad input fails with an error that
names the field and the rule, and nothing goes out: numbers (E.164), text (encoding and parts
against the gateway's maximum), flash and scheduling support, the time (aware, not past),
per-message options (validated against the provider's settings class).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from smsgate import config, idempotency, phone, text
from smsgate.errors import ValidationError
from smsgate.models import Batch, Item, Message
from smsgate.plugins import Hooks


@attrs.frozen(slots=False)  # a dict class: attrs sets its fields faster than a slotted one's
class Plan:
    """A message ready to send: its key, normalised recipients, effective settings, batches."""

    message: Message
    key: str
    recipients: tuple[str, ...]
    settings: Any
    batches: tuple[Batch, ...]


def _schedule(
    message: Message, hooks: Hooks, settings: Any, options: config.GatewayOptions, now: datetime
) -> dict[str, str]:
    when = message.send_at
    if when is None:
        return {}
    name = hooks.spec.name
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError(
            "send_at", "must be timezone-aware (e.g. datetime(..., tzinfo=ZoneInfo('Europe/Warsaw')))", provider=name
        )
    if when <= now - timedelta(seconds=options.schedule_grace):
        raise ValidationError("send_at", f"{when.isoformat()} is in the past", provider=name)
    if when <= now + timedelta(seconds=options.schedule_grace):
        return {}  # due now: send at once rather than schedule a moment in the past
    if not hooks.spec.capabilities.scheduling:
        raise ValidationError("send_at", f"the {name} gateway cannot schedule messages", provider=name)
    if when - now > _MAX_AHEAD:
        raise ValidationError("send_at", f"{when.isoformat()} is more than 10 years ahead", provider=name)
    try:
        return hooks.schedule_format(when, settings)
    except (OverflowError, ValueError) as exc:
        raise ValidationError("send_at", f"{when.isoformat()} cannot be scheduled: {exc}", provider=name) from None


_MAX_AHEAD = timedelta(days=3653)


def _clean(field: str, value: str, name: str) -> None:
    """Refuse text no gateway can carry: lone surrogates (not encodable in any charset)."""
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        where = exc.start
        rule = f"contains an unpaired surrogate (U+{ord(value[where]):04X} at {where}): not valid Unicode"
        raise ValidationError(field, rule, provider=name) from None


def _check_fields(message: Message, name: str) -> None:
    """Every caller-given string is valid Unicode; keys and senders are printable; options
    are plain values."""
    _clean("text", message.text, name)
    if message.key is not None:
        _clean("key", message.key, name)
        if not message.key.strip() or not message.key.isprintable():
            raise ValidationError("key", "must be printable and not blank", provider=name)
    if message.sender:  # "" is a provider's "no sender" (SerwerSMS: ECO+), not an error
        _clean("sender", message.sender, name)
        if not message.sender.strip() or not message.sender.isprintable():
            raise ValidationError(
                "sender", f"{message.sender!r} must be printable and not blank (no control characters)", provider=name
            )
    for key, value in message.options.items():
        values = value if isinstance(value, (list, tuple)) else (value,)  # per-recipient lists (mail merge)
        for item in values:
            if not isinstance(item, _SCALARS):
                rule = f"must be a string, number, boolean or a list of them, not {type(item).__name__}"
                raise ValidationError(f"options.{key}", rule, provider=name)
            if isinstance(item, str):
                _clean(f"options.{key}", item, name)


_SCALARS = (str, int, float, bool)


def _texts(message: Message, max_parts: int, name: str) -> text.TextInfo:
    if not message.text:
        raise ValidationError("text", "must not be empty", provider=name)
    if not message.text.strip():
        raise ValidationError("text", "must not be only whitespace", provider=name)
    info = text.analyse(message.text)
    text.check_parts(info, max_parts, provider=name)
    return info


def _batches(
    message: Message, items: tuple[Item, ...], key: str, size: int, schedule: dict[str, str]
) -> tuple[Batch, ...]:
    """``items`` cut into batches of at most ``size``; a message's only batch has its key."""
    if len(items) <= size:
        return (Batch(message, items, key, schedule),)
    return tuple(
        Batch(message, items[start : start + size], idempotency.sub_key(key, f"b{n}"), schedule, index=n)
        for n, start in enumerate(range(0, len(items), size))
    )


def plan(
    message: Message,
    hooks: Hooks,
    settings: Any,
    options: config.GatewayOptions,
    now: datetime,
) -> Plan:
    """Check ``message`` and cut it into batches of the gateway's maximum size."""
    spec = hooks.spec
    caps = spec.capabilities
    if not message.to:
        raise ValidationError("to", "needs at least one recipient", provider=spec.name)
    _check_fields(message, spec.name)
    recipients = phone.normalise_many(message.to, options.default_region)
    effective = config.override(settings, message.options) if message.options else settings
    if message.flash and not caps.flash:
        raise ValidationError("flash", f"the {spec.name} gateway cannot send flash messages", provider=spec.name)
    max_parts = min(caps.max_parts, options.max_parts or caps.max_parts)
    info = _texts(message, max_parts, spec.name)
    if info.encoding is text.Encoding.UCS2 and not caps.unicode:
        raise ValidationError("text", f"the {spec.name} gateway cannot send Unicode text", provider=spec.name)
    schedule = _schedule(message, hooks, effective, options, now)
    key = message.key or idempotency.new_key()
    size = max(1, min(caps.max_recipients, options.batch_size or caps.batch_size or caps.max_recipients))
    items = tuple([Item(r, message.text, idempotency.sub_key(key, r), info) for r in recipients])
    batches = _batches(message, items, key, size, schedule)
    return Plan(message, key, recipients, effective, batches)


def plan_personalised(
    messages: Sequence[Message],
    hooks: Hooks,
    settings: Any,
    options: config.GatewayOptions,
    now: datetime,
) -> tuple[list[Plan], list[Batch]]:
    """Plans for ``messages`` and personalised batches mixing them (each item keeps its own
    text), for gateways with the ``personalised`` operation. Messages that differ in anything
    but recipients and text go to different batches."""
    plans = [plan(m, hooks, settings, options, now) for m in messages]
    groups: dict[tuple[Any, ...], list[Item]] = {}
    first: dict[tuple[Any, ...], Plan] = {}
    for p in plans:
        m = p.message
        group = (m.sender, m.send_at, m.flash, tuple(sorted((k, repr(v)) for k, v in m.options.items())))
        first.setdefault(group, p)
        groups.setdefault(group, []).extend(item for b in p.batches for item in b.items)
    size = max(1, hooks.spec.capabilities.max_personalised)
    batches: list[Batch] = []
    for group, items in groups.items():
        lead = first[group]
        for n in range(0, len(items), size):
            chunk = tuple(items[n : n + size])
            key = idempotency.sub_key(lead.key, "p", n // size, len(chunk))
            batches.append(Batch(lead.message, chunk, key, lead.batches[0].schedule, index=n // size))
    return plans, batches
