"""The build handlers of both APIs, and Octopush's own rules, checked before anything is sent:
text length (the legacy API counts some characters twice), the "STOP au XXXXX" mention of premium
SMS to France, the sender, the mail-merge lists and the legacy ``request_sha1`` signature.

- The legacy API (``www.octopush-dm.com``): form POSTs in UTF-8, credentials in the body
  (``user_login``, ``api_key``), JSON replies from ``/api/sms/json``.
- The JSON API (``api.octopush.com/v1/public``): header authentication (``api-login``,
  ``api-key``) and a JSON body.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from smsgate import phone
from smsgate.errors import SmsgateError, ValidationError
from smsgate.idempotency import alnum_key
from smsgate.models import BalanceQuery, Batch, HttpRequest, Send
from smsgate.spec import Endpoint
from smsgate_octopush.settings import SIGNATURE_FIELDS, OctopushSettings

#: Production hosts: the legacy API (the spec's default host) and the JSON API.
LEGACY_HOST = "www.octopush-dm.com"
V1_HOST = "api.octopush.com"
LEGACY_SEND_PATH = "/api/sms/json"
LEGACY_CREDIT_PATH = "/api/credit"
#: Path prefix of the JSON API.
V1_PREFIX = "/v1/public/"
V1_SEND_PATH = V1_PREFIX + "sms-campaign/send"
V1_BALANCE_PATH = V1_PREFIX + "wallet/check-balance"
#: Contacts per JSON-API request.
V1_MAX_RECIPIENTS = 500


def legacy_endpoint(endpoint: Endpoint) -> Endpoint:
    """``endpoint``, or the legacy API's production host when it names the JSON API's."""
    return attrs.evolve(endpoint, host=LEGACY_HOST) if endpoint.host == V1_HOST else endpoint


def v1_endpoint(endpoint: Endpoint) -> Endpoint:
    """``endpoint``, or the JSON API's production host when it names the legacy API's: the
    DSN's ``default`` resolves to the legacy host. Any other host (a reseller, an emulator) is
    kept as given."""
    return attrs.evolve(endpoint, host=V1_HOST) if endpoint.host == LEGACY_HOST else endpoint


def credentials(settings: OctopushSettings) -> tuple[str, str]:
    """The login e-mail and the API key, refused when missing."""
    if not settings.login:
        raise ValidationError("login", "the DSN needs the Octopush account e-mail as its user part")
    if not settings.api_key:
        raise ValidationError("api_key", "the DSN needs the Octopush API key as its password part")
    return settings.login, settings.api_key.reveal()


# -- the rules -------------------------------------------------------------------------------------

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
            code="102",
        )


def check_v1_text(text: str) -> None:
    if len(text) > V1_MAX_CHARS:
        raise ValidationError("text", f"{len(text)} characters exceed the Octopush limit of {V1_MAX_CHARS}")


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
            code="121",
        )


def _sender(batch: Batch, settings: OctopushSettings) -> str | None:
    """The sender to send: the message's, else the DSN's."""
    return batch.message.sender if batch.message.sender is not None else settings.sender


def legacy_sender(batch: Batch, settings: OctopushSettings) -> str | None:
    """The sender, checked against the legacy API's rule (error 106)."""
    sender = _sender(batch, settings)
    if sender is None:
        return None
    if settings.legacy_type == "XXX":
        raise ValidationError(
            "sender",
            "low-cost SMS (type XXX) take no sender: Octopush sends them from its own number; "
            "leave the sender out or use type=premium",
        )
    if not _LEGACY_SENDER.match(sender):
        raise ValidationError("sender", f"{sender!r} must be 3 to 11 characters from a-z, A-Z, 0-9", code="106")
    return sender


def v1_sender(batch: Batch, settings: OctopushSettings) -> str | None:
    """The sender, checked against the JSON API's rule."""
    sender = _sender(batch, settings)
    if sender is not None and not _V1_SENDER.match(sender):
        raise ValidationError("sender", f"{sender!r} must be 3 to 11 letters or digits, spaces only between them")
    return sender


def _digits(number: str) -> str:
    with contextlib.suppress(SmsgateError):
        number = phone.normalise(number)
    return "".join(c for c in number if c.isdigit())


def merge_columns(batch: Batch, settings: OctopushSettings, *, commas: bool = True) -> dict[str, list[str]]:
    """The mail-merge lists of this batch, by option name, one value per batch recipient.

    The lists follow the message's ``to`` order; a message cut into several batches gets each
    batch's share. ``commas=False``: values must not contain commas (the legacy API joins them).
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
                code="115",
            )
        if not commas and any("," in v for v in values):
            raise ValidationError(
                f"options.{name}",
                "values must not contain commas (the legacy API joins them with commas)",
            )
        by_number = {_digits(number): value for number, value in zip(to, values)}
        try:
            out[name] = [by_number[_digits(r)] for r in batch.recipients]
        except KeyError:
            raise ValidationError(
                f"options.{name}",
                "cannot be matched to the recipients: write the numbers in international form",
            ) from None
    return out


def signature(keys: str, fields: Mapping[str, str]) -> str:
    """``request_sha1``: hex SHA-1 of the values of the fields ``keys`` name, in key order,
    skipping fields that are not sent."""
    names = (SIGNATURE_FIELDS[k] for k in keys if k in SIGNATURE_FIELDS)
    joined = "".join(fields[name] for name in names if name in fields)
    import hashlib  # here, not at the top: discovery does not need it

    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


# -- the legacy API --------------------------------------------------------------------------------


def legacy_fields(batch: Batch, settings: OctopushSettings) -> dict[str, str]:
    """The form fields of a send, in the order the clients send them; raises
    ``ValidationError`` for what the gateway would refuse."""
    login, key = credentials(settings)
    text = batch.text
    sms_type = settings.legacy_type
    check_legacy_text(text)
    check_stop_mention(text, sms_type, batch.recipients)
    sender = legacy_sender(batch, settings)
    columns = merge_columns(batch, settings, commas=False)
    fields = {
        "user_login": login,
        "api_key": key,
        "sms_text": text,
        "sms_recipients": ",".join(batch.recipients),
        "sms_type": sms_type,
    }
    if sender is not None:
        fields["sms_sender"] = sender
    for name in ("sms_mode", "sending_date", "sending_time"):
        if name in batch.schedule:
            fields[name] = batch.schedule[name]
    if settings.simulation:
        fields["request_mode"] = "simu"
    fields["request_id"] = alnum_key(batch.dedup_key)  # the key bound to the batch's content
    if settings.with_replies:
        fields["with_replies"] = "1"
    if settings.transactional:
        fields["transactional"] = "1"
    if settings.msisdn_sender:
        fields["msisdn_sender"] = "1"
    for name, values in columns.items():
        field, _ = MERGE_FIELDS[name]
        if field is not None:
            fields[field] = ",".join(values)
    if settings.request_keys:
        fields["request_keys"] = settings.request_keys
        fields["request_sha1"] = signature(settings.request_keys, fields)
    return fields


def build_legacy_send(operation: Send, settings: OctopushSettings, endpoint: Endpoint) -> HttpRequest:
    url = legacy_endpoint(endpoint).url(LEGACY_SEND_PATH)
    return HttpRequest.form(url, legacy_fields(operation.batch, settings))


def build_legacy_balance(operation: BalanceQuery, settings: OctopushSettings, endpoint: Endpoint) -> HttpRequest:
    """The account's credit in euros (``/api/credit``)."""
    login, key = credentials(settings)
    return HttpRequest.form(legacy_endpoint(endpoint).url(LEGACY_CREDIT_PATH), {"user_login": login, "api_key": key})


# -- the JSON API ----------------------------------------------------------------------------------


def headers(settings: OctopushSettings) -> tuple[tuple[str, str], ...]:
    login, key = credentials(settings)
    return (("api-key", key), ("api-login", login), ("cache-control", "no-cache"))


def v1_body(batch: Batch, settings: OctopushSettings) -> dict[str, Any]:
    """The JSON document of a send; raises ``ValidationError`` for what the API refuses."""
    check_v1_text(batch.text)
    sender = v1_sender(batch, settings)
    columns = merge_columns(batch, settings)
    recipients: list[dict[str, str]] = []
    for n, number in enumerate(batch.recipients):
        contact = {"phone_number": number}
        for name, values in columns.items():
            contact[MERGE_FIELDS[name][1]] = values[n]
        recipients.append(contact)
    body: dict[str, Any] = {
        "recipients": recipients,
        "text": batch.text,
        "type": settings.v1_type,
        "purpose": "alert" if settings.transactional else "wholesale",
    }
    if sender is not None:
        body["sender"] = sender
    if "send_at" in batch.schedule:
        body["send_at"] = batch.schedule["send_at"]
    if settings.with_replies:
        body["with_replies"] = True
    if settings.simulation:
        body["simulation_mode"] = True
    body["request_id"] = alnum_key(batch.dedup_key)  # the key bound to the batch's content
    for name in ("auto_optimize_text", "auto_remove_blacklisted_numbers", "list_name", "recipient_tracking"):
        value = getattr(settings, name)
        if value is not None:
            body[name] = value
    return body


def build_v1_send(operation: Send, settings: OctopushSettings, endpoint: Endpoint) -> HttpRequest:
    url = v1_endpoint(endpoint).url(V1_SEND_PATH)
    return HttpRequest.json(url, v1_body(operation.batch, settings), headers=headers(settings))


def build_v1_balance(operation: BalanceQuery, settings: OctopushSettings, endpoint: Endpoint) -> HttpRequest:
    query = (("product_name", settings.v1_type), ("country_code", settings.balance_country), ("with_details", "1"))
    return HttpRequest.get(v1_endpoint(endpoint).url(V1_BALANCE_PATH), query, headers=headers(settings))
