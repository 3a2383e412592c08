"""Octopush's own rules, checked before anything is sent: text length (the legacy API counts
some characters twice), the "STOP au XXXXX" mention of premium SMS to France, the sender, the
mail-merge lists and the legacy ``request_sha1`` signature.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Mapping

from smsgate import phone
from smsgate.errors import SmsgateError, ValidationError
from smsgate.models import Batch
from smsgate_octopush.settings import SIGNATURE_FIELDS, OctopushSettings

PROVIDER = "octopush"

#: The legacy API's limit, in characters, where each of :data:`DOUBLE` counts two.
LEGACY_MAX_CHARS = 459
#: Characters the legacy API counts twice.
DOUBLE = frozenset("{}€[]~^¨|&$@\n\r\t")
#: The JSON API's limit on ``text``, in characters.
V1_MAX_CHARS = 1224
#: The mention a premium (``FR``) SMS to France must carry, exactly (error 121).
STOP_MENTION = "STOP au XXXXX"
#: The mention the return-code table asks of standard SMS (error 122); see the README.
NO_PUB_MENTION = "no PUB=STOP"
#: Recipients in France (the scope of the STOP rule): the +33 numbering plan.
FRANCE = "+33"

_LEGACY_SENDER = re.compile(r"^[A-Za-z0-9]{3,11}$")
#: The JSON API: 3 to 11 letters or digits, spaces allowed inside (one page allows spaces).
_V1_SENDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ]{1,9}[A-Za-z0-9]$")

#: Mail-merge options -> (legacy field, JSON-API recipient key). ``None``: not in that API.
MERGE_FIELDS: Mapping[str, tuple[str | None, str]] = {
    "first_names": ("recipients_first_names", "first_name"),
    "last_names": ("recipients_last_names", "last_name"),
    "fields_1": ("sms_fields_1", "param1"),
    "fields_2": ("sms_fields_2", "param2"),
    "fields_3": ("sms_fields_3", "param3"),
    "fields_4": (None, "param4"),
    "fields_5": (None, "param5"),
}


def legacy_length(text: str) -> int:
    """``text``'s length as the legacy API counts it: characters, :data:`DOUBLE` ones twice."""
    return len(text) + sum(1 for c in text if c in DOUBLE)


def check_legacy_text(text: str) -> None:
    length = legacy_length(text)
    if length > LEGACY_MAX_CHARS:
        raise ValidationError(
            "text",
            f"{length} characters exceed the Octopush legacy limit of {LEGACY_MAX_CHARS} "
            "(each of { } € [ ] ~ ^ ¨ | & $ @ newline, carriage return and tab counts two)",
            provider=PROVIDER,
            code="102",
        )


def check_v1_text(text: str) -> None:
    if len(text) > V1_MAX_CHARS:
        raise ValidationError(
            "text", f"{len(text)} characters exceed the Octopush limit of {V1_MAX_CHARS}", provider=PROVIDER
        )


def check_stop_mention(text: str, sms_type: str, recipients: Iterable[str]) -> None:
    """Premium SMS (``FR``) to numbers in France must contain "STOP au XXXXX" (error 121)."""
    if sms_type != "FR" or STOP_MENTION in text:
        return
    french = [r for r in recipients if r.startswith(FRANCE)]
    if french:
        raise ValidationError(
            "text",
            f'premium SMS (type FR) to France ({french[0]}) must contain the mention "{STOP_MENTION}" '
            "exactly as written (Octopush replaces XXXXX with its short number); add it, or use type=low_cost",
            provider=PROVIDER,
            code="121",
        )


def sender_for(batch: Batch, settings: OctopushSettings) -> str | None:
    """The sender to send: the message's, else the DSN's; checked against the API's rule."""
    sender = batch.message.sender if batch.message.sender is not None else settings.sender
    if sender is None:
        return None
    if settings.api == "legacy":
        if settings.legacy_type == "XXX":
            raise ValidationError(
                "sender",
                "low-cost SMS (type XXX) take no sender: Octopush sends them from its own number; "
                "leave the sender out or use type=premium",
                provider=PROVIDER,
            )
        if not _LEGACY_SENDER.match(sender):
            raise ValidationError(
                "sender", f"{sender!r} must be 3 to 11 characters from a-z, A-Z, 0-9", provider=PROVIDER, code="106"
            )
    elif not _V1_SENDER.match(sender):
        raise ValidationError(
            "sender", f"{sender!r} must be 3 to 11 letters or digits, spaces only between them", provider=PROVIDER
        )
    return sender


def _digits(number: str) -> str:
    with contextlib.suppress(SmsgateError):
        number = phone.normalise(number)
    return "".join(c for c in number if c.isdigit())


def merge_columns(batch: Batch, settings: OctopushSettings) -> dict[str, list[str]]:
    """The mail-merge lists of this batch, by option name, one value per batch recipient.

    The lists follow the message's ``to`` order; a message cut into several batches gets each
    batch's share.
    """
    columns = {name: getattr(settings, name) for name in MERGE_FIELDS if getattr(settings, name)}
    if not columns:
        return {}
    to = batch.message.to
    out: dict[str, list[str]] = {}
    for name, values in columns.items():
        if len(values) != len(to):
            raise ValidationError(
                f"options.{name}",
                f"has {len(values)} values for {len(to)} recipients: give one per recipient, in order",
                provider=PROVIDER,
                code="115",
            )
        if settings.api == "legacy" and any("," in v for v in values):
            raise ValidationError(
                f"options.{name}",
                "values must not contain commas (the legacy API joins them with commas)",
                provider=PROVIDER,
            )
        by_number = {_digits(number): value for number, value in zip(to, values)}
        try:
            out[name] = [by_number[_digits(r)] for r in batch.recipients]
        except KeyError:
            raise ValidationError(
                f"options.{name}",
                "cannot be matched to the recipients: write the numbers in international form",
                provider=PROVIDER,
            ) from None
    return out


def signature(keys: str, fields: Mapping[str, str]) -> str:
    """``request_sha1``: hex SHA-1 of the values of the fields ``keys`` name, in key order,
    skipping fields that are not sent."""
    names = (SIGNATURE_FIELDS[k] for k in keys if k in SIGNATURE_FIELDS)
    joined = "".join(fields[name] for name in names if name in fields)
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()
