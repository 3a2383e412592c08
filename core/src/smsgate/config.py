"""Configuration: DSNs, options and settings, and the redaction of secrets.

A DSN names the provider, the credentials, the host and the options:
``bulksms://USER:PASSWORD@default?routing_group=2&tls=false``. ``default`` stands for the
gateway's production host; any other host (and port) replaces it. Options the core knows
(:class:`GatewayOptions`) are taken out; the rest must be fields of the provider's settings
class. Every conversion from strings goes through one cattrs converter; an unknown (with a "did
you mean" hint), ill-typed or rule-breaking option is an :class:`OptionError` (a
``ConfigurationError``) naming it and its rule, never quoting a secret. Plain HTTP to a host that
is not loopback is logged once per endpoint (logger ``smsgate.config``). Redaction lives in
:mod:`smsgate.redaction`; ``Redactor`` and ``secrets_of`` are re-exported here.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import math
import os
import threading
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

import attrs
import cattrs

from smsgate.errors import ConfigurationError, ValidationError
from smsgate.models import mapping
from smsgate.redaction import RedactingFilter, Redactor, secrets_of
from smsgate.spec import Endpoint, ProviderSpec, Secret

log = logging.getLogger("smsgate.config")

T = TypeVar("T")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a boolean (use true/false or 1/0)")


def _decimal(value: Any, _: type) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def _number(kind: type[T]) -> Any:
    def structure(value: Any, _: type) -> T:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        try:
            return kind(value)  # type: ignore[call-arg]
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not {'an integer' if kind is int else 'a number'}") from None

    return structure


converter = cattrs.Converter(forbid_extra_keys=True)
converter.register_structure_hook(bool, _bool)
converter.register_structure_hook(int, _number(int))
converter.register_structure_hook(float, _number(float))
converter.register_structure_hook(Decimal, _decimal)
converter.register_structure_hook(Secret, lambda v, _: v if isinstance(v, Secret) else Secret(str(v)))
converter.register_unstructure_hook(Secret, lambda _: "***")
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook_func(
    lambda t: t == tuple[str, ...],
    lambda v, _: (
        tuple(p.strip() for p in v.split(",") if p.strip()) if isinstance(v, str) else tuple(str(p) for p in v)
    ),
)


class OptionError(ConfigurationError, ValidationError, ValueError):
    """An option is unknown, ill-typed or breaks its rule. ``field`` names it; ``expected``
    is the rule (``"a number > 0"``) where there is one. Both a ``ConfigurationError`` and a
    ``ValidationError`` (and a ``ValueError`` for code that builds options itself)."""

    def __init__(self, field: str, rule: str, *, expected: str | None = None, provider: str | None = None) -> None:
        super().__init__(field, rule, provider=provider)
        self.expected = expected


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _host_port(value: str) -> bool:
    try:
        parts = urlsplit(f"//{value}")
        port = parts.port
    except ValueError:
        return False
    return bool(parts.hostname) and parts.netloc == value and "@" not in value and port != 0


def _region(value: Any) -> bool:
    from smsgate.phone import REGIONS  # pure and small; imported late to keep config light

    return isinstance(value, str) and value.strip().upper() in REGIONS


#: name -> (test, rule): what every core option must satisfy (``None`` is always allowed
#: for an optional one).
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "positive": (lambda v: _finite(v) and v > 0, "a number > 0"),
    "non_negative": (lambda v: _finite(v) and v >= 0, "a number >= 0"),
    "count": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "region": (_region, "a known region code such as PL or GB"),
    "hosts": (
        lambda v: isinstance(v, tuple) and all(isinstance(h, str) and _host_port(h) for h in v),
        "a comma-separated list of host or host:port",
    ),
}


def _option(default: Any, rule: str, *, optional: bool = False) -> Any:
    """An ``attrs`` field checked against ``_RULES[rule]``; the rule text is kept in its
    metadata so DSN errors can quote it."""
    test, text = _RULES[rule]

    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if not test(value):
            raise OptionError(attribute.name, f"must be {text}, got {_shown(value)}", expected=text)

    return attrs.field(default=default, validator=check, metadata={"rule": text})


def _shown(value: Any, kind: Any = None) -> str:
    """``repr(value)`` for an error message, shortened; never a secret's value."""
    if isinstance(value, Secret) or kind is Secret or "Secret" in str(kind):
        return "'***'"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@attrs.frozen(kw_only=True)
class GatewayOptions:
    """Options the core itself reads from a DSN, the same for every provider; each is checked
    against its rule (a ``ConfigurationError`` naming it otherwise).

    ``max_reply_bytes`` caps a reply's size after decompression (1 MiB); ``attempt_timeout``
    caps one attempt from connect to the reply's last byte (default: ``connect_timeout +
    read_timeout``), however slowly the reply trickles in.
    """

    tls: bool | None = None
    connect_timeout: float = _option(5.0, "positive")
    read_timeout: float = _option(30.0, "positive")
    attempt_timeout: float | None = _option(None, "positive", optional=True)
    max_reply_bytes: int = _option(1 << 20, "count")
    max_connections: int | None = _option(None, "count", optional=True)
    attempts: int = _option(4, "count")
    max_retry_time: float = _option(60.0, "non_negative")
    backoff: float = _option(0.5, "non_negative")
    backoff_max: float = _option(30.0, "non_negative")
    default_region: str | None = _option(None, "region", optional=True)
    max_parts: int | None = _option(None, "count", optional=True)
    batch_size: int | None = _option(None, "count", optional=True)
    schedule_grace: float = _option(60.0, "non_negative")
    concurrency: int | None = _option(None, "count", optional=True)
    backup: bool = False
    backup_hosts: tuple[str, ...] = _option((), "hosts")


_CORE_OPTIONS = frozenset(f.name for f in attrs.fields(GatewayOptions))


@attrs.frozen(repr=False)
class Dsn:
    """A parsed DSN. ``repr`` and ``str`` hide the password."""

    scheme: str
    user: str | None
    password: Secret | None
    host: str
    port: int | None
    options: Mapping[str, str] = attrs.field(factory=dict, converter=mapping, hash=False)

    @classmethod
    def parse(cls, text: str) -> Dsn:
        if "://" not in text:
            raise ConfigurationError("DSN must look like scheme://user:secret@host?option=value")
        try:
            parts = urlsplit(text.strip())
        except ValueError as exc:  # the message may quote the netloc, secret included: not shown
            raise ConfigurationError(_bad_url(str(exc))) from None
        try:
            port = parts.port
        except ValueError:
            raise ConfigurationError("DSN port must be a number from 1 to 65535") from None
        if not parts.hostname:
            raise ConfigurationError("DSN needs a host (use 'default' for the gateway's own)")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        options: dict[str, str] = {}
        for key, value in pairs:
            if key in options:
                raise ConfigurationError(f"DSN option {key!r} is given twice")
            options[key] = value
        password = unquote(parts.password) if parts.password is not None else None
        return cls(
            scheme=parts.scheme.lower(),
            user=unquote(parts.username) if parts.username else None,
            password=Secret(password) if password is not None else None,
            host=parts.hostname,
            port=port,
            options=options,
        )

    def __str__(self) -> str:
        auth = ""
        if self.user is not None or self.password is not None:
            auth = quote(self.user or "", safe="") + (":***" if self.password else "") + "@"
        port = f":{self.port}" if self.port else ""
        query = "&".join(f"{k}={quote_plus(v)}" for k, v in self.options.items())
        return f"{self.scheme}://{auth}{self.host}{port}" + (f"?{query}" if query else "")

    def __repr__(self) -> str:
        return f"Dsn({str(self)!r})"


def _bad_url(reason: str) -> str:
    if "IPv6" in reason:
        return "DSN host: an IPv6 address needs both brackets, e.g. scheme://user:secret@[::1]:8025"
    return "DSN is not a valid URL: percent-encode special characters in the user and secret (%XX)"


def dsn_from_env(env: Mapping[str, str] | None = None) -> str:
    value = (os.environ if env is None else env).get("SMSGATE_DSN", "").strip()
    if not value:
        raise ConfigurationError("no DSN given and SMSGATE_DSN is not set")
    return value


def _field_types(cls: type[Any]) -> dict[str, Any]:
    attrs.resolve_types(cls)
    return {f.name: f.type for f in attrs.fields(cls)}


def _rule_of(cls: type[Any], name: str) -> str | None:
    field = attrs.fields_dict(cls).get(name)
    rule = field.metadata.get("rule") if field is not None else None
    return rule if isinstance(rule, str) else None


def _convert(cls: type[Any], name: str, value: Any, kind: Any, where: str) -> Any:
    try:
        return converter.structure(value, kind)
    except Exception as exc:  # cattrs raises several kinds; all mean "ill-typed"
        rule = _rule_of(cls, name)
        if rule is not None:
            raise OptionError(f"{where}{name}", f"must be {rule}, got {_shown(value, kind)}", expected=rule) from None
        detail = "; ".join(cattrs.transform_error(exc)) if isinstance(exc, cattrs.BaseValidationError) else str(exc)
        if isinstance(value, Secret) or "Secret" in str(kind):
            detail = "not a valid secret"
        raise OptionError(f"{where}{name}", f"invalid value {_shown(value, kind)}: {detail}") from None


def _unknown(name: str, known: Collection[str], where: str, also: Collection[str] = ()) -> OptionError:
    """An unknown option's error, with a "did you mean" when a known name is close."""
    close = difflib.get_close_matches(name, sorted({*known, *also}), n=1, cutoff=0.7)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(sorted(n for n in known if not n.startswith("_"))) or "none"
    return OptionError(f"{where}{name}", f"unknown option{hint} (known: {listed})")


def _construct(build: Callable[[], T], cls: type[Any], raw: Mapping[str, Any], where: str) -> T:
    """``build()``, a rule broken by one option reported against its raw value."""
    try:
        return build()
    except OptionError as exc:
        if exc.expected is None or exc.field not in raw:
            raise
        kind = _field_types(cls).get(exc.field)
        shown = _shown(raw[exc.field], kind)
        raise OptionError(
            f"{where}{exc.field}", f"must be {exc.expected}, got {shown}", expected=exc.expected
        ) from None
    except (TypeError, ValueError) as exc:
        raise OptionError(where.strip() or "options", str(exc)) from None


def build_settings(cls: type[T], values: Mapping[str, Any], *, where: str = "option ", also: Collection[str] = ()) -> T:
    """Structure ``values`` (strings or typed values) into the settings class ``cls``, naming
    any unknown, ill-typed, missing or invalid option (``OptionError``, a
    ``ConfigurationError``). ``also``: other valid names, for "did you mean" hints only."""
    types = _field_types(cls)
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if name not in types:
            raise _unknown(name, types, where, also)
        kwargs[name] = _convert(cls, name, value, types[name], where)
    return _construct(lambda: cls(**kwargs), cls, values, where)


def override(settings: T, options: Mapping[str, Any], *, where: str = "options.") -> T:
    """``settings`` with per-message ``options`` applied, validated like DSN options."""
    if not options:
        return settings
    cls = type(settings)
    types = _field_types(cls)
    changes = {}
    try:
        for name, value in options.items():
            if name not in types:
                raise _unknown(name, types, where)
            changes[name] = _convert(cls, name, value, types[name], where)
        return _construct(lambda: attrs.evolve(settings, **changes), cls, options, where)  # type: ignore[misc]
    except OptionError as exc:  # a message's option: invalid input, not configuration
        raise ValidationError(exc.field, exc.rule, provider=exc.provider) from None


# -- endpoints ---------------------------------------------------------------------------------

_warned: set[tuple[str, int | None]] = set()
_warned_lock = threading.Lock()


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (IPv4, IPv6, IPv4-mapped)."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _warn_plaintext(endpoint: Endpoint, provider: str) -> None:
    """Warn once per endpoint when credentials would cross a network in clear text."""
    if endpoint.tls or is_loopback(endpoint.host):
        return
    key = (endpoint.host.lower(), endpoint.port)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(
        "smsgate: the %s gateway at %s is reached without TLS: credentials and messages cross the "
        "network in clear text",
        provider,
        endpoint.base_url,
    )


def resolve(spec: ProviderSpec, dsn: Dsn) -> tuple[Any, GatewayOptions, Endpoint]:
    """The provider settings, the core options and the endpoint a DSN describes."""
    core = {k: v for k, v in dsn.options.items() if k in _CORE_OPTIONS}
    provider_values: dict[str, Any] = {k: v for k, v in dsn.options.items() if k not in _CORE_OPTIONS}
    user_field, password_field = spec.credentials
    for field, value in ((user_field, dsn.user), (password_field, dsn.password)):
        if value is not None and field is not None:
            provider_values[field] = value
        elif value is not None:
            raise ConfigurationError(f"the {spec.name} DSN takes no such credential part", provider=spec.name)
    options = build_settings(GatewayOptions, core)
    settings = build_settings(spec.settings, provider_values, also=_CORE_OPTIONS)
    tls = spec.tls if options.tls is None else options.tls
    if dsn.host == "default":
        if not spec.default_host:
            raise ConfigurationError(
                f"the {spec.name} gateway has no default host: put your account's host (and port) in the DSN",
                provider=spec.name,
            )
        endpoint = Endpoint(spec.default_host, dsn.port or spec.default_port, tls)
    else:
        endpoint = Endpoint(dsn.host, dsn.port, tls)
    _warn_plaintext(endpoint, spec.name)
    return settings, options, endpoint


__all__ = [
    "ConfigurationError",
    "Dsn",
    "GatewayOptions",
    "OptionError",
    "RedactingFilter",
    "Redactor",
    "build_settings",
    "converter",
    "dsn_from_env",
    "override",
    "resolve",
    "secrets_of",
]
