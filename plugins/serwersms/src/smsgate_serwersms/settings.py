"""SerwerSMS settings: the credentials and every option of the DSN (or of ``Message.options``).

``serwersms://USERNAME:PASSWORD@default`` authenticates with ``username``/``password`` in the
request body; ``serwersms://:API_TOKEN@default`` (no user) sends ``Authorization: Bearer
API_TOKEN``. ``auth=password`` or ``auth=token`` forces one scheme.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs

from smsgate.errors import ConfigurationError
from smsgate.spec import Secret

#: The placeholders the gateway replaces in a ``dlr_url`` (seed 001).
DLR_PLACEHOLDERS = frozenset({"#SMSID#", "#STAN#", "#DATA#", "#PRZYCZYNA#"})
_PLACEHOLDER = re.compile(r"#[A-Za-z_]+#")
_GROUP_ID = re.compile(r"^[0-9A-Za-z]+$")
#: What the official clients send in ``system`` is ``client_<language>`` (``client_python``,
#: ``client_php``...); smsgate names itself the same way.
DEFAULT_SYSTEM = "client_smsgate"


#: A sender name: ASCII letters and digits, with single spaces, dots or hyphens between them.
_SENDER_NAME = re.compile(r"[A-Za-z0-9]+(?:[ .-][A-Za-z0-9]+)*")
MAX_SENDER_NAME = 11


def sender_problem(sender: str) -> str | None:
    """Why ``sender`` cannot be a SerwerSMS sender field, or ``None`` when it can.

    Reference 2.3 and seed 001: an alphanumeric name (at most 11 characters, the GSM
    alphanumeric originator; ``2waySMS`` is one) or a number of 4 or 9 digits. Spaces, dots and
    hyphens between letters and digits are let through (common in approved names, *unverified*);
    other punctuation, non-ASCII letters, control characters and blanks are refused. ``""``
    (no sender: SMS ECO+) is valid.
    """
    if not sender:
        return None
    if not sender.strip():
        return "a sender must not be blank (leave it empty for SMS ECO+)"
    if any(not c.isprintable() for c in sender):
        return "a sender must not contain control characters (NUL, newline, tab...)"
    if sender.isascii() and sender.isdigit():
        return None if len(sender) in (4, 9) else f"a numeric sender must have 4 or 9 digits, not {len(sender)}"
    if not _SENDER_NAME.fullmatch(sender):
        return (
            f"{sender!r} is not a sender name: ASCII letters and digits (spaces, dots or hyphens only between "
            "them), or a 4- or 9-digit number"
        )
    if len(sender) > MAX_SENDER_NAME:
        return f"a sender name has at most {MAX_SENDER_NAME} characters, not {len(sender)}"
    return None


def _sender(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    problem = sender_problem(value)
    if problem:
        raise ValueError(f"{attribute.name}: {problem}")


def _url(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{attribute.name}: must be an http:// or https:// URL, not {value!r}")


def _dlr_url(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    _url(instance, attribute, value)
    if not value:
        return
    found = set(_PLACEHOLDER.findall(value))
    unknown = sorted(found - DLR_PLACEHOLDERS)
    if unknown:
        known = ", ".join(sorted(DLR_PLACEHOLDERS))
        raise ValueError(f"{attribute.name}: unknown placeholder(s) {', '.join(unknown)} (known: {known})")
    if "#SMSID#" not in found:
        raise ValueError(f"{attribute.name}: needs #SMSID# so that a report can be matched to its message")


def _ids(_: Any, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]) -> None:
    bad = [v for v in value if not _GROUP_ID.match(v)]
    if bad:
        raise ValueError(f"{attribute.name}: ids are alphanumeric, not {', '.join(map(repr, bad))}")


def _zone(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    from smsgate_serwersms.schedule import zone  # its module imports this one

    try:
        zone(value)
    except (LookupError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(
            f"{attribute.name}: unknown time zone {value!r} (an IANA name such as Europe/Warsaw)"
        ) from None


def _system(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or not value.isascii() or not value.isprintable():
        raise ValueError(f"{attribute.name}: must be a non-empty printable ASCII name")


@attrs.frozen(kw_only=True)
class SerwerSmsSettings:
    """Credentials and options; see the README for every field."""

    #: Login of the API user (Panel -> HTTPS API -> users). Empty for token authentication.
    username: str = ""
    #: The account password, or the API token (Panel -> HTTPS API -> API tokens).
    password: Secret = attrs.field(factory=lambda: Secret(""))
    #: ``auto``: a token when there is no username, else the password; or force one scheme.
    auth: Literal["auto", "password", "token"] = attrs.field(
        default="auto", validator=attrs.validators.in_(("auto", "password", "token"))
    )
    #: Default sender for messages without ``Message.sender``; empty sends SMS ECO+, set sends FULL.
    sender: str = attrs.field(default="", validator=_sender)
    #: ``test=true``: the gateway answers as usual but sends nothing.
    test: bool = False
    #: ``utf``: ``None`` (auto) sets it for text outside GSM 03.38; FULL only (needs a sender).
    utf: bool | None = None
    #: ``speed``: the priority channel (extra charge), FULL only.
    speed: bool = False
    #: ``vcard``: the text is a vCard.
    vcard: bool = False
    #: ``wap_push``: a WAP Push URL.
    wap_push: str = attrs.field(default="", validator=_url)
    #: ``dlr_url``: per-request push URL for delivery reports, with #SMSID# #STAN# #DATA# #PRZYCZYNA#.
    dlr_url: str = attrs.field(default="", validator=_dlr_url)
    #: ``group_id``: panel groups to send to as well (comma-separated in a DSN).
    group_id: tuple[str, ...] = attrs.field(default=(), validator=_ids)
    #: ``contact_id``: panel contacts to send to as well (comma-separated in a DSN).
    contact_id: tuple[str, ...] = attrs.field(default=(), validator=_ids)
    #: The zone of ``date`` (scheduling) and of the gateway's timestamps. Unverified: Polish time.
    timezone: str = attrs.field(default="Europe/Warsaw", validator=_zone)
    #: The old spelling of ``timezone``: accepted with a ``DeprecationWarning``, moved there.
    time_zone: str | None = attrs.field(default=None, repr=False, validator=attrs.validators.optional(_zone))
    #: The ``system`` field naming the integration, as every official client sends one.
    system: str = attrs.field(default=DEFAULT_SYSTEM, validator=_system)

    def __attrs_post_init__(self) -> None:
        if self.time_zone is not None:
            warnings.warn("serwersms: the option time_zone is now spelt timezone", DeprecationWarning, stacklevel=2)
            object.__setattr__(self, "timezone", self.time_zone)
            object.__setattr__(self, "time_zone", None)
        if not self.password.reveal().strip():
            raise ConfigurationError(
                "password: the DSN's secret part is empty: put the password "
                "(serwersms://USERNAME:PASSWORD@default) or the API token (serwersms://:API_TOKEN@default) there",
            )
        if self.username and not self.username.strip():
            raise ConfigurationError(
                "username: the DSN's user part is blank: give the API user, or leave it empty for an API token",
            )
        if self.auth == "password" and not self.username:
            raise ConfigurationError(
                "username: auth=password needs the username in the DSN (serwersms://USERNAME:PASSWORD@default)",
            )

    @property
    def scheme(self) -> Literal["password", "token"]:
        """The authentication scheme in use."""
        if self.auth == "auto":
            return "password" if self.username else "token"
        return self.auth
