"""The ``routesms`` settings: credentials and every provider option, typed and validated.

Options come from the DSN query (``routesms://USER:PASSWORD@host:port?sender=Shop&dlr=false``)
or per message from ``Message.options``; the core converts the strings and these validators
give the messages.
"""

from __future__ import annotations

import re
from datetime import timezone, tzinfo
from typing import Any, Literal

import attrs

from smsgate import Secret
from smsgate.errors import ConfigurationError

MAX_NUMERIC_SOURCE = 18
MAX_ALPHANUMERIC_SOURCE = 11
_NUMERIC_SOURCE = re.compile(r"\+?[0-9]+")
_ALPHANUMERIC_SOURCE = re.compile(r"[A-Za-z0-9]+(?:[ .-][A-Za-z0-9]+)*")
_DLT_VALUE = re.compile(r"[0-9A-Za-z,._-]{1,100}")


def source_problem(source: str) -> str | None:
    """Why ``source`` is not a valid sender address, or ``None`` when it is.

    Seed 002: "Max Length of 18 if numeric. Max Length of 11 if alphanumeric." A numeric sender
    may start with ``+`` (which is not counted). An alphanumeric one is ASCII letters and digits,
    with single spaces, dots or hyphens between them (*unverified*: "the SMSC may enforce
    additional restrictions"); other punctuation, control characters and blanks are refused.
    """
    if not source or not source.strip():
        return "must not be empty or blank (the gateway answers 1702 for a blank source)"
    if any(not c.isprintable() for c in source):
        return "must not contain control characters (NUL, newline, tab...)"
    if _NUMERIC_SOURCE.fullmatch(source):
        digits = len(source.lstrip("+"))
        if digits > MAX_NUMERIC_SOURCE:
            return f"a numeric source has at most {MAX_NUMERIC_SOURCE} digits, not {digits}"
        return None
    if not _ALPHANUMERIC_SOURCE.fullmatch(source):
        return (
            "a source is ASCII letters and digits (spaces, dots or hyphens only between them), "
            f"or a number of up to {MAX_NUMERIC_SOURCE} digits"
        )
    if len(source) > MAX_ALPHANUMERIC_SOURCE:
        return f"an alphanumeric source has at most {MAX_ALPHANUMERIC_SOURCE} characters, not {len(source)}"
    return None


def zone(name: str) -> tzinfo:
    """The zone called ``name``; ``UTC`` needs no time-zone database (Windows without tzdata)."""
    if name == "UTC":
        return timezone.utc
    from zoneinfo import ZoneInfo  # here, not at the top: discovery does not need it

    return ZoneInfo(name)


def _sender(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value:
        problem = source_problem(value)
        if problem is not None:
            raise ValueError(f"{attribute.name} {value!r}: {problem}")


def _zone(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    try:
        zone(value)
    except (LookupError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"{attribute.name} {value!r} is not an IANA time zone (e.g. UTC, Asia/Kolkata)") from None


def _dlt(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value and not _DLT_VALUE.fullmatch(value):
        raise ValueError(f"{attribute.name} {value!r}: use up to 100 letters, digits and , . _ -")


@attrs.frozen(kw_only=True)
class RoutesmsSettings:
    """Credentials and options of one RouteSMS (or white-label) HTTP account."""

    #: The HTTP account's user name (DSN user part); required.
    username: str = ""
    #: The HTTP account's password (DSN password part); required, never shown.
    password: Secret = attrs.field(factory=lambda: Secret(""))
    #: Default ``source`` (sender) when ``Message.sender`` is not set.
    sender: str = attrs.field(default="", validator=_sender)
    #: Ask for delivery reports (``dlr=1``); the push URL is registered with the account.
    dlr: bool = True
    #: ``latin1``: texts that fit ISO-8859-1 go as type 5 (flash: 7); ``gsm``: never.
    charset: Literal["gsm", "latin1"] = "gsm"
    #: Case of the UCS-2 hex of Unicode texts (types 2 and 6).
    hex_case: Literal["upper", "lower"] = "upper"
    #: IANA zone in which a scheduled time is written (``date``, ``time``, ``gmt``).
    timezone: str = attrs.field(default="UTC", validator=_zone)
    #: India DLT: the principal entity id (``entityid``); sent when set.
    entityid: str = attrs.field(default="", validator=_dlt)
    #: India DLT: the registered template id (``tempid``); sent when set.
    tempid: str = attrs.field(default="", validator=_dlt)
    #: India DLT: the telemarketer id chain (``tmid``); sent when set.
    tmid: str = attrs.field(default="", validator=_dlt)

    def __attrs_post_init__(self) -> None:
        missing = [name for name in ("username", "password") if not str(_plain(getattr(self, name))).strip()]
        if missing:
            raise ConfigurationError(
                f"{' and '.join(missing)}: the DSN needs the HTTP account's credentials "
                "(routesms://USERNAME:PASSWORD@host:port)",
            )


def _plain(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value
