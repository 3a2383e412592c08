"""The Octopush settings: credentials and every provider option, typed and validated.

One settings class serves both APIs; ``api`` picks the wire format. Options that only one API
knows are refused with the other, so a DSN never silently carries an option that is not sent.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs

from smsgate.errors import ConfigurationError
from smsgate.spec import Secret

Api = Literal["legacy", "v1"]
#: ``premium``/``low_cost``/``world`` work with either API; the gateways' own names are accepted too.
SmsType = Literal["premium", "low_cost", "world", "FR", "XXX", "WWW", "sms_premium", "sms_low_cost"]

#: ``sms_type`` of the legacy API for each accepted ``type`` value.
LEGACY_TYPES: dict[str, str] = {
    "premium": "FR",
    "low_cost": "XXX",
    "world": "WWW",
    "FR": "FR",
    "XXX": "XXX",
    "WWW": "WWW",
    "sms_premium": "FR",
    "sms_low_cost": "XXX",
}
#: ``type`` of the JSON API for each accepted value (it has no "world" product).
V1_TYPES: dict[str, str] = {
    "premium": "sms_premium",
    "low_cost": "sms_low_cost",
    "FR": "sms_premium",
    "XXX": "sms_low_cost",
    "sms_premium": "sms_premium",
    "sms_low_cost": "sms_low_cost",
}

#: ``request_keys`` letters and the legacy fields they sign: the reference's table, plus ``M``
#: (``sms_mode``), which the official Python client's table has too.
SIGNATURE_FIELDS: dict[str, str] = {
    "T": "sms_text",
    "R": "sms_recipients",
    "M": "sms_mode",
    "Y": "sms_type",
    "S": "sms_sender",
    "D": "sms_date",
    "a": "recipients_first_names",
    "b": "recipients_last_names",
    "c": "sms_fields_1",
    "d": "sms_fields_2",
    "e": "sms_fields_3",
    "W": "with_replies",
    "N": "transactional",
    "Q": "request_id",
}

#: Options only the legacy API has, and only the JSON API has (refused with the other one).
LEGACY_ONLY = ("request_keys", "msisdn_sender")
V1_ONLY = (
    "fields_4",
    "fields_5",
    "auto_optimize_text",
    "auto_remove_blacklisted_numbers",
    "list_name",
    "recipient_tracking",
)

#: 3 to 11 letters or digits, spaces allowed inside (the JSON API; the legacy API allows none).
_SENDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ]{1,9}[A-Za-z0-9]$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _sender(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not _SENDER.match(value):
        raise ValueError(
            f"sender {value!r} must be 3 to 11 letters or digits, spaces only between them (legacy API: no spaces)"
        )


def _request_keys(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    unknown = sorted(set(value) - set(SIGNATURE_FIELDS))
    if unknown:
        known = "".join(SIGNATURE_FIELDS)
        raise ValueError(f"request_keys has unknown letters {''.join(unknown)!r} (known: {known})")


def _country(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _COUNTRY.match(value):
        raise ValueError(f"balance_country {value!r} must be an ISO 3166 alpha-2 code such as FR")


@attrs.frozen(kw_only=True)
class OctopushSettings:
    """Credentials (the account e-mail and the API key) and every Octopush option.

    Options of one API only (:data:`LEGACY_ONLY`, :data:`V1_ONLY`) are refused with the other.
    """

    login: str = ""
    api_key: Secret = attrs.field(factory=lambda: Secret(""))
    api: Api = "legacy"
    type: SmsType = "premium"
    sender: str | None = attrs.field(default=None, validator=_sender)
    simulation: bool = False
    transactional: bool = False
    with_replies: bool = False
    msisdn_sender: bool = False
    request_keys: str = attrs.field(default="", validator=_request_keys)
    first_names: tuple[str, ...] = ()
    last_names: tuple[str, ...] = ()
    fields_1: tuple[str, ...] = ()
    fields_2: tuple[str, ...] = ()
    fields_3: tuple[str, ...] = ()
    fields_4: tuple[str, ...] = ()
    fields_5: tuple[str, ...] = ()
    auto_optimize_text: bool | None = None
    auto_remove_blacklisted_numbers: bool | None = None
    list_name: str | None = None
    recipient_tracking: bool | None = None
    balance_country: str = attrs.field(default="FR", validator=_country)

    def __attrs_post_init__(self) -> None:
        if not self.login.strip():
            raise ConfigurationError(
                "login: the DSN needs the Octopush account e-mail as its user part, not blank "
                "(octopush://LOGIN%40example.com:API_KEY@default)",
            )
        if not self.api_key.reveal().strip():
            raise ConfigurationError(
                "api_key: the DSN needs the Octopush API key as its password part, not blank "
                "(octopush://LOGIN%40example.com:API_KEY@default)",
            )
        other = V1_ONLY if self.api == "legacy" else LEGACY_ONLY
        defaults = attrs.fields_dict(type(self))
        used = [name for name in other if getattr(self, name) != defaults[name].default]
        if used:
            which = "JSON (api=v1)" if self.api == "legacy" else "legacy (api=legacy)"
            raise ValueError(f"option {used[0]} belongs to the Octopush {which} API, not to api={self.api}")
        if self.api == "v1" and self.type not in V1_TYPES:
            raise ValueError(f"type {self.type!r} has no equivalent in the JSON API (use premium or low_cost)")

    @property
    def legacy_type(self) -> str:
        """``sms_type`` for the legacy API: ``FR``, ``XXX`` or ``WWW``."""
        return LEGACY_TYPES[self.type]

    @property
    def v1_type(self) -> str:
        """``type`` for the JSON API: ``sms_premium`` or ``sms_low_cost``."""
        return V1_TYPES[self.type]
