"""The SMSC settings: credentials from the DSN and every send option, typed and validated.

``smsc://LOGIN:PASSWORD@default`` signs requests with ``login`` + ``psw``; ``smsc://:APIKEY@default``
(no login) with ``apikey``. ``auth=password`` or ``auth=apikey`` makes the choice explicit.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs

from smsgate.errors import ConfigurationError
from smsgate.spec import Secret

Auth = Literal["auto", "password", "apikey"]
Charset = Literal["utf-8", "windows-1251", "koi8-r"]
TimeFormat = Literal["timestamp", "moscow", "local"]
MessageType = Literal["sms", "push", "ping", "hlr", "bin", "bin_hex", "call", "viber", "soc"]

#: Python codec of each charset SMSC accepts (``charset`` parameter; the gateway's default is windows-1251).
CODECS: dict[str, str] = {"utf-8": "utf-8", "windows-1251": "cp1251", "koi8-r": "koi8_r"}

#: Request flag of each non-SMS message type (send.php ``push=1``, ``bin=2`` ...).
TYPE_FLAGS: dict[str, tuple[str, str]] = {
    "push": ("push", "1"),
    "ping": ("ping", "1"),
    "hlr": ("hlr", "1"),
    "bin": ("bin", "1"),
    "bin_hex": ("bin", "2"),
    "call": ("call", "1"),
    "viber": ("viber", "1"),
    "soc": ("soc", "1"),
}

_NO_SECRET = Secret("")
_VALID = re.compile(r"^(\d{1,2}):([0-5]\d)$")
_WINDOW = re.compile(r"^(\d{1,2})-(\d{1,2})$")


def sender_problem(sender: str) -> str | None:
    """Why ``sender`` is not a usable SMSC sender id, or ``None`` when it is.

    SMSC allows Latin letters, digits, space and some symbols, up to 11 characters, or up to
    15 digits; ``""`` and ``"."`` switch the account's default sender off. Spaces alone are no
    sender id.
    """
    if sender in ("", "."):
        return None
    if not sender.strip():
        return 'must not be blank (spaces only); "" or "." turns the default sender off'
    if not sender.isascii() or not sender.isprintable():
        return "must be printable ASCII (Latin letters, digits, space, some symbols)"
    digits = sender[1:] if sender.startswith("+") else sender
    if digits.isdigit():
        return None if len(digits) <= 15 else "a numeric sender has at most 15 digits"
    return None if len(sender) <= 11 else "an alphanumeric sender has at most 11 characters"


def window_hours(window: str) -> tuple[int, int]:
    """``"h1-h2"`` as two hours; raises ``ValueError`` unless ``0 <= h1 < h2 <= 24``."""
    match = _WINDOW.match(window)
    if match is None:
        raise ValueError(f"send_window {window!r} must look like h1-h2 (hours, e.g. 9-21)")
    h1, h2 = int(match[1]), int(match[2])
    if not 0 <= h1 < h2 <= 24:
        raise ValueError(f"send_window {window!r}: need 0 <= h1 < h2 <= 24")
    return h1, h2


def _check_sender(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    problem = None if value is None else sender_problem(value)
    if problem:
        raise ValueError(f"sender {value!r} {problem}")


def _check_translit(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if value not in (0, 1, 2):
        raise ValueError(f"translit must be 0 (none), 1 (translit) or 2 (mpaHc/Ium), not {value!r}")


def _check_valid(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    match = _VALID.match(value)
    minutes = int(match[1]) * 60 + int(match[2]) if match else -1
    if not 1 <= minutes <= 24 * 60:
        raise ValueError(f"valid {value!r} must be a lifetime hh:mm from 00:01 to 24:00")


def _check_maxsms(_: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"maxsms must be at least 1, not {value}")


def _check_window(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        window_hours(value)


def _check_tz(_: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and not -23 <= value <= 23:
        raise ValueError(f"tz is hours from Moscow time, -23 to 23, not {value}")


def _check_groups(_: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for group in value:
        if not group.isdigit():
            raise ValueError(f"groups: {group!r} is not a contact group number (digits only; sent as G<number>)")


@attrs.frozen(kw_only=True)
class SmscSettings:
    """Credentials and options of one SMSC account (DSN query or ``Message.options``)."""

    #: The account login (DSN user); empty with an API key.
    login: str = ""
    #: The password, its lower-case MD5, or the API key (DSN password).
    password: Secret = _NO_SECRET
    #: ``auto``: API key when the DSN has no login, else login + password.
    auth: Auth = "auto"
    #: Default sender id; ``Message.sender`` wins. ``""`` or ``"."``: no sender at all.
    sender: str | None = attrs.field(default=None, validator=_check_sender)
    #: 0 none, 1 "translit", 2 "mpaHc/Ium" (look-alike Latin).
    translit: int = attrs.field(default=0, validator=_check_translit)
    #: Shorten links in the text (``tinyurl=1``).
    tinyurl: bool = False
    #: Message lifetime ``hh:mm`` (``valid``).
    valid: str | None = attrs.field(default=None, validator=_check_valid)
    #: Most parts the gateway may cut a long text into (``maxsms``); longer texts are refused here.
    maxsms: int | None = attrs.field(default=None, validator=_check_maxsms)
    #: Request and reply charset.
    charset: Charset = "utf-8"
    #: How ``send_at`` is written: ``0<unix time>``, Moscow wall time, or its own wall time + ``tz``.
    time_format: TimeFormat = "timestamp"
    #: Hour window ``h1-h2`` (``time=h1-h2``): send only between those hours; not with ``send_at``.
    send_window: str | None = attrs.field(default=None, validator=_check_window)
    #: Hours from Moscow time of ``send_window`` (``tz``); omitted: the account's own setting.
    tz: int | None = attrs.field(default=None, validator=_check_tz)
    #: Contact groups to send to as well (``G<number>`` in ``phones``).
    groups: tuple[str, ...] = attrs.field(default=(), validator=_check_groups)
    #: Message type; everything but ``sms`` adds its flag (``push=1``, ``bin=2`` ...).
    message_type: MessageType = "sms"
    #: Send numbers without ``+`` so that SMSC may auto-correct them.
    autocorrect: bool = False
    #: Test mode: ``cost=1``, SMSC checks and prices the request and sends nothing.
    test: bool = False
    #: Check the ``sha1`` field of delivery-report callbacks (*unverified* formula, see README).
    callback_check: bool = False

    def __attrs_post_init__(self) -> None:
        if self.auth == "apikey" and self.login:
            raise ValueError("auth=apikey takes the API key as the DSN password and no login (smsc://:KEY@default)")
        if self.auth == "password" and not self.login:
            raise ValueError("auth=password needs a login (smsc://LOGIN:PASSWORD@default)")
        if self.tz is not None and self.send_window is None:
            raise ValueError("tz only applies to send_window; send_at carries its own time zone")
        if self.login and not self.login.strip():
            raise ConfigurationError("login: must not be blank (smsc://LOGIN:PASSWORD@...)")
        if not self.password.reveal().strip():
            raise ConfigurationError(
                "password: the DSN needs the password or API key, not blank "
                "(smsc://LOGIN:PASSWORD@... or smsc://:KEY@...)",
            )

    @property
    def uses_apikey(self) -> bool:
        return self.auth == "apikey" or (self.auth == "auto" and not self.login)

    @property
    def codec(self) -> str:
        return CODECS[self.charset]
