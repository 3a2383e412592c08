"""What a provider plugin declares about itself, and the values the core hands back to it.

A provider's ``provider_spec`` hook returns one :class:`ProviderSpec`. The core validates the
name, resolves credentials and options from the DSN into the provider's settings class, and
passes those settings and the resolved :class:`Endpoint` to every hook.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode

import attrs

OPERATIONS = frozenset({"send", "status", "balance", "quote", "reconcile", "personalised", "inbox"})
#: How a gateway hands over incoming messages (MO): it calls us (``push``: ``parse_inbound``),
#: or we ask it (``pull``: the ``inbox`` operation, ``Gateway.fetch_inbound``).
INBOUND = frozenset({"push", "pull"})


class Secret:
    """A credential. Its ``repr`` and ``str`` never show the value; ``reveal()`` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


@attrs.frozen
class Endpoint:
    """Where a gateway lives: the DSN's host and port, or the provider's default."""

    host: str
    port: int | None = None
    tls: bool = True

    @property
    def base_url(self) -> str:
        return _base_url(self.host, self.port, self.tls)

    def url(self, path: str, query: Iterable[tuple[str, str]] = (), *, port: int | None = None) -> str:
        """The absolute URL of ``path`` (with an optional query) on this endpoint."""
        base = _base_url(self.host, port if port is not None else self.port, self.tls)
        qs = urlencode(tuple(query), quote_via=quote) if query else ""
        return f"{base}/{path.lstrip('/')}" + (f"?{qs}" if qs else "")


@functools.lru_cache(maxsize=64)
def _base_url(host: str, port: int | None, tls: bool) -> str:
    scheme = "https" if tls else "http"
    host = f"[{host}]" if ":" in host else host
    default = 443 if tls else 80
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def _names(value: Iterable[str]) -> frozenset[str]:
    """attrs converter: any iterable of names to a frozenset (typed, unlike ``frozenset``)."""
    return frozenset(value)


@attrs.frozen
class Capabilities:
    """What a gateway can do; the core plans and validates against it before sending.

    - ``max_recipients``: most numbers one request may carry; ``batch_size`` the default
      batch (``None``: the maximum). The DSN's ``batch_size`` overrides it, up to the maximum.
    - ``max_parts``: concatenated parts the gateway accepts for one text.
    - ``dedup``: the name of the gateway field that de-duplicates resends of a key we send
      (``stop_dup_id``, ``request_id`` ...), or ``None``. Only then are ambiguous failures resent.
    - ``dedup_window``: seconds, from the first attempt, during which the gateway recognises a
      repeated key (BulkSMS "a few hours", SMSC one minute, Octopush 24 h). Required with
      ``dedup``: the core never resends under the key once the window may have closed.
    - ``lookup_delay``: seconds the gateway may still be processing a request after we stopped
      waiting for its reply. With the ``reconcile`` operation, a lookup that does not list a
      recipient proves absence only when made at least this long after the last attempt was
      written; the core waits that long before it looks up.
    - ``max_connections``: concurrent connections the gateway allows per account.
    - ``operations``: which of ``send status balance quote reconcile personalised`` it supports.
    - ``max_personalised``: messages per personalised request (0: none).
    - ``calls``: names of provider-specific operations for ``Gateway.call``.
    - ``inbound``: how incoming messages (MO) arrive, a subset of ``{"push", "pull"}``
      (:data:`INBOUND`); ``pull`` is added when ``operations`` has ``inbox``.
    """

    max_recipients: int = 1
    batch_size: int | None = None
    max_parts: int = 1
    scheduling: bool = False
    dedup: str | None = None
    dedup_window: float | None = None
    lookup_delay: float = 0.0
    test_mode: str | None = None
    unicode: bool = True
    flash: bool = False
    max_connections: int = 4
    operations: frozenset[str] = frozenset({"send"})
    max_personalised: int = 0
    delivery_reports: bool = False
    calls: frozenset[str] = frozenset()
    inbound: frozenset[str] = attrs.field(default=frozenset(), converter=_names)

    def __attrs_post_init__(self) -> None:
        unknown = self.inbound - INBOUND
        if unknown:
            raise ValueError(f"capabilities.inbound: unknown {sorted(unknown)} (known: push, pull)")
        if "inbox" in self.operations and "pull" not in self.inbound:
            object.__setattr__(self, "inbound", self.inbound | {"pull"})


@attrs.frozen
class ProviderSpec:
    """A provider's registration record, returned by its ``provider_spec`` hook.

    ``settings`` is an attrs class of the provider's options; its ``Secret`` fields are
    redacted everywhere. ``credentials`` names the two settings fields the DSN's user and
    password fill (``("username", "password")``; ``None`` for a part the gateway does not use).
    ``emulator`` is an import path (``"pkg.module:Class"``) so discovery imports nothing heavy.
    """

    name: str
    settings: type[Any]
    default_host: str
    credentials: tuple[str | None, str | None] = ("username", "password")
    default_port: int | None = None
    tls: bool = True
    capabilities: Capabilities = Capabilities()
    description: str = ""
    emulator: str | None = None
    backup_hosts: tuple[str, ...] = ()
    docs: str = ""
