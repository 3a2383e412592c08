"""The BulkSMS settings: the DSN's credentials and every provider option, typed and validated.

Each option is a DSN query parameter (``bulksms://USER:PASS@default?routing_group=2``) and may be
overridden per message through ``Message.options``. Options named like an EAPI parameter map
onto that parameter; ``None`` means "not sent" (the gateway's own default applies).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

import attrs

from smsgate import Secret
from smsgate.errors import ConfigurationError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

#: ``api_version`` values: ``2.0`` is ``send_sms/2/2.0``; the others are ``send_sms/1/<value>``.
API_VERSION = re.compile(r"^(2\.0|1\.\d{1,2}|1\.x|current)$")
#: The ``optional_fields`` get_report 2.0 can add to each row, in any order.
REPORT_FIELDS = ("body", "completed_time", "created_time", "credits", "origin_address", "source_id")
_NUMERIC_SENDER = re.compile(r"^\+?[0-9]{1,16}$")
_GROUP_ID = re.compile(r"^[0-9]{1,10}$")
_NO_PASSWORD = Secret("")


def sender_problem(sender: str) -> str | None:
    """Why ``sender`` cannot be a BulkSMS sender id, or ``None`` when it can: ISO-8859-1 text,
    printable (no NUL, newline or other control character), not blank, at most 11 characters
    unless numeric (up to 16 digits)."""
    if not sender:
        return "must not be empty"
    if not sender.isprintable():
        return "must be printable text: no NUL, newline, tab or other control character"
    if not sender.strip():
        return "must not be blank (spaces only)"
    try:
        sender.encode("iso-8859-1")
    except UnicodeEncodeError:
        return "must be ISO-8859-1 text"
    if _NUMERIC_SENDER.match(sender):
        return None
    if len(sender) > 11:
        return f"an alphanumeric sender id has at most 11 characters, not {len(sender)}"
    return None


def _latin1(instance: Any, attribute: Any, value: str | None) -> None:
    if value is None:
        return
    try:
        value.encode("iso-8859-1")
    except UnicodeEncodeError:
        raise ValueError(f"{attribute.name} must be ISO-8859-1 text (the EAPI's form encoding)") from None


def _api_version(instance: Any, attribute: Any, value: str) -> None:
    if not API_VERSION.match(value):
        raise ValueError(f"api_version must be 2.0, current, 1.x or 1.<n> (e.g. 1.1), not {value!r}")


def _timezone(instance: Any, attribute: Any, value: str) -> None:
    from zoneinfo import ZoneInfo  # here, not at the top: discovery does not need it

    try:
        ZoneInfo(value)
    except (ValueError, OSError, LookupError):  # ZoneInfoNotFoundError is a KeyError (LookupError)
        raise ValueError(f"timezone must be an IANA time-zone name (e.g. Europe/London), not {value!r}") from None


def _sender(instance: Any, attribute: Any, value: str | None) -> None:
    problem = None if value is None else sender_problem(value)
    if problem:
        raise ValueError(f"sender {value!r}: {problem}")


def _msg_class(instance: Any, attribute: Any, value: int | None) -> None:
    if value is not None and value not in (0, 1, 2, 3):
        raise ValueError(f"msg_class must be 0, 1, 2 or 3 (0 = flash, 2 = normal), not {value!r}")


def _positive(instance: Any, attribute: Any, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, not {value!r}")


def _port(instance: Any, attribute: Any, value: int | None) -> None:
    if value is not None and not 1 <= value <= 65535:
        raise ValueError(f"report_port must be from 1 to 65535, not {value!r}")


def _groups(instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    bad = [g for g in value if not _GROUP_ID.match(g)]
    if bad:
        raise ValueError(f"dest_group_id takes numeric phonebook group ids, not {', '.join(map(repr, bad))}")


def _report_fields(instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    unknown = [f for f in value if f not in REPORT_FIELDS]
    if unknown:
        raise ValueError(f"report_fields: unknown field(s) {', '.join(unknown)} (known: {', '.join(REPORT_FIELDS)})")
    if len(set(value)) != len(value):
        raise ValueError("report_fields: a field is listed twice")


@attrs.frozen(kw_only=True)
class BulkSmsSettings:
    """Credentials and options of one BulkSMS EAPI account."""

    username: str = attrs.field(default="", validator=_latin1)
    password: Secret = _NO_PASSWORD

    # -- which API and where ------------------------------------------------------------------
    api_version: str = attrs.field(default="2.0", validator=_api_version)
    report_port: int | None = attrs.field(default=None, validator=_port)
    timezone: str = attrs.field(default="Europe/London", validator=_timezone)
    schedule_field: Literal["send_time", "send_time_unixtime"] = "send_time"

    # -- send_sms / send_batch parameters --------------------------------------------------------
    sender: str | None = attrs.field(default=None, validator=_sender)
    repliable: bool | None = None
    msg_class: int | None = attrs.field(default=None, validator=_msg_class)
    want_report: bool | None = None
    routing_group: int | None = attrs.field(default=None, validator=_positive)
    source_id: str | None = attrs.field(default=None, validator=_latin1)
    strip_dup_recipients: bool | None = None
    dest_group_id: tuple[str, ...] = attrs.field(default=(), validator=_groups)
    scheduling_description: str | None = attrs.field(default=None, validator=_latin1)
    test_always_succeed: bool = False
    test_always_fail: bool = False

    # -- get_report ----------------------------------------------------------------------------------
    report_fields: tuple[str, ...] = attrs.field(default=(), validator=_report_fields)

    def __attrs_post_init__(self) -> None:
        if not self.username.strip():
            raise ConfigurationError(
                "username: the DSN needs the account's user name (bulksms://USERNAME:PASSWORD@host)",
            )
        if not self.password.reveal().strip():
            raise ConfigurationError(
                "password: the DSN needs the account's password (bulksms://USERNAME:PASSWORD@host)",
            )
        if self.test_always_succeed and self.test_always_fail:
            raise ValueError("test_always_succeed and test_always_fail cannot both be set")
        if self.repliable and self.sender is not None:
            raise ValueError("repliable cannot be combined with sender (the gateway picks the reply number)")

    @property
    def v2(self) -> bool:
        """Whether this account talks ``send_sms`` 2.0 (batch ids) rather than 1.x (message ids)."""
        return self.api_version == "2.0"

    @property
    def zone(self) -> ZoneInfo:
        """The account's time zone, in which ``send_time`` and report times are written."""
        from zoneinfo import ZoneInfo  # here, not at the top: discovery does not need it

        return ZoneInfo(self.timezone)
