"""Configuration: DSNs, options and settings, and the redaction of secrets.

A DSN names the provider, the credentials, the host and the options:
``bulksms://USER:PASSWORD@default?routing_group=2&tls=false``. ``default`` stands for the
gateway's production host; any other host (and port) replaces it. Options the core knows
(:class:`GatewayOptions`) are taken out; the rest must be fields of the provider's settings
class. Every conversion from strings goes through one cattrs converter; an unknown or ill-typed
option is an error that names it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import weakref
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

import attrs
import cattrs

from smsgate.errors import ConfigurationError, ValidationError
from smsgate.models import HttpRequest, mapping
from smsgate.spec import Endpoint, ProviderSpec, Secret

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


@attrs.frozen(kw_only=True)
class GatewayOptions:
    """Options the core itself reads from a DSN, the same for every provider."""

    tls: bool | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_connections: int | None = None
    attempts: int = 4
    max_retry_time: float = 60.0
    backoff: float = 0.5
    backoff_max: float = 30.0
    default_region: str | None = None
    max_parts: int | None = None
    batch_size: int | None = None
    schedule_grace: float = 60.0
    concurrency: int | None = None
    backup: bool = False
    backup_hosts: tuple[str, ...] = ()


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
        parts = urlsplit(text.strip())
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


def dsn_from_env(env: Mapping[str, str] | None = None) -> str:
    value = (os.environ if env is None else env).get("SMSGATE_DSN", "").strip()
    if not value:
        raise ConfigurationError("no DSN given and SMSGATE_DSN is not set")
    return value


def _field_types(cls: type[Any]) -> dict[str, Any]:
    attrs.resolve_types(cls)
    return {f.name: f.type for f in attrs.fields(cls)}


def _convert(name: str, value: Any, kind: Any, where: str) -> Any:
    try:
        return converter.structure(value, kind)
    except Exception as exc:  # cattrs raises several kinds; all mean "ill-typed"
        detail = "; ".join(cattrs.transform_error(exc)) if isinstance(exc, cattrs.BaseValidationError) else str(exc)
        raise ValidationError(f"{where}{name}", f"invalid value {value!r}: {detail}") from None


def build_settings(cls: type[T], values: Mapping[str, Any], *, where: str = "option ") -> T:
    """Structure ``values`` (strings or typed values) into the settings class ``cls``, naming
    any unknown, ill-typed, missing or invalid option."""
    types = _field_types(cls)
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if name not in types:
            known = ", ".join(sorted(n for n in types if not n.startswith("_")))
            raise ValidationError(f"{where}{name}", f"unknown option (known: {known})")
        kwargs[name] = _convert(name, value, types[name], where)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValidationError(where.strip() or "options", str(exc)) from None
    except ValueError as exc:
        raise ValidationError(where.strip() or "options", str(exc)) from None


def override(settings: T, options: Mapping[str, Any], *, where: str = "options.") -> T:
    """``settings`` with per-message ``options`` applied, validated like DSN options."""
    if not options:
        return settings
    types = _field_types(type(settings))
    changes = {}
    for name, value in options.items():
        if name not in types:
            known = ", ".join(sorted(types))
            raise ValidationError(f"{where}{name}", f"unknown option (known: {known})")
        changes[name] = _convert(name, value, types[name], where)
    try:
        return attrs.evolve(settings, **changes)  # type: ignore[misc]
    except (TypeError, ValueError) as exc:
        raise ValidationError(where.rstrip("."), str(exc)) from None


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
    settings = build_settings(spec.settings, provider_values)
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
    return settings, options, endpoint


def secrets_of(settings: Any) -> tuple[str, ...]:
    """Every ``Secret`` value held by an attrs settings instance."""
    return tuple(
        v.reveal()
        for v in (getattr(settings, f.name) for f in attrs.fields(type(settings)))
        if isinstance(v, Secret) and v
    )


_CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|password|login", re.IGNORECASE)


class Redactor:
    """Replaces secrets (and their URL- and JSON-escaped forms) with ``***``."""

    MASK = "***"

    #: Secrets shorter than this are masked only where they stand alone (not inside words).
    SHORT = 6

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for s in secrets:
            if s:
                forms |= {s, quote(s, safe=""), quote_plus(s), quote(s), json.dumps(s)[1:-1]}
        ordered = sorted(forms, key=len, reverse=True)
        self.forms = tuple(f for f in ordered if len(f) >= self.SHORT)
        short = [re.escape(f) for f in ordered if len(f) < self.SHORT]
        self._short = re.compile(rf"(?<![\w]){'|'.join(short)}(?![\w])") if short else None
        self._bytes = tuple(
            sorted(
                {f.encode(enc, "ignore") for f in self.forms for enc in ("utf-8", "latin-1")} - {b""},
                key=len,
                reverse=True,
            )
        )
        self._short_bytes = re.compile(self._short.pattern.encode()) if self._short else None
        _register(self)

    def __call__(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, self.MASK)
        return self._short.sub(self.MASK, text) if self._short else text

    def bytes(self, data: bytes) -> bytes:
        for form in self._bytes:
            if form in data:
                data = data.replace(form, self.MASK.encode())
        return self._short_bytes.sub(self.MASK.encode(), data) if self._short_bytes else data

    def request(self, request: HttpRequest) -> HttpRequest:
        """``request`` with secrets masked, and credential headers masked whole."""
        return HttpRequest(
            request.method,
            self(request.url),
            tuple((k, self.MASK if _CREDENTIAL_HEADER.search(k) else self(v)) for k, v in request.headers),
            self.bytes(request.body),
        )


# -- log redaction: every logger smsgate or urllib3 writes to scrubs known secrets ------------

_redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()
_lock = threading.Lock()


def _register(redactor: Redactor) -> None:
    with _lock:
        _redactors.add(redactor)


class RedactingFilter(logging.Filter):
    """Scrubs every live gateway's secrets from log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _lock:
            redactors = tuple(_redactors)
        if redactors:
            text = record.getMessage()
            for redactor in redactors:
                text = redactor(text)
            record.msg, record.args = text, None
        return True


_FILTER = RedactingFilter()
for _name in (
    "smsgate",
    "smsgate.gateway",
    "smsgate.transport",
    "smsgate.plugins",
    "urllib3.connectionpool",
    "urllib3.util.retry",
    "urllib3.poolmanager",
    "urllib3.response",
):
    logging.getLogger(_name).addFilter(_FILTER)
