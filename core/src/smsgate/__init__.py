"""smsgate: send SMS through HTTP gateways, with providers as plugins.

>>> import smsgate
>>> with smsgate.connect("bulksms://user:secret@default") as gw:   # doctest: +SKIP
...     result = gw.send(smsgate.Message(to="+48500600700", text="Hello"))
...     print(result.ok, [(o.recipient, o.status.value) for o in result.outcomes])

- :func:`connect` (a DSN or ``$SMSGATE_DSN``) gives a :class:`Gateway`: ``send``, ``send_many``,
  ``preview``, ``balance``, ``status``.
- :class:`Message` is what you send; :class:`SendResult` holds one :class:`Outcome` per recipient
  (``accepted``, ``scheduled``, ``rejected``, ``unknown``).
- :class:`Journal` keeps "never twice" across restarts; :data:`hookimpl` marks a plugin's hooks.
- Errors derive from :class:`SmsgateError`; bad input raises :class:`ValidationError` before
  anything is sent.

The names are imported on first use, so ``import smsgate`` (and a plugin importing
``smsgate.hookimpl``) stays cheap; ``dir(smsgate)`` lists them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from smsgate.errors import (
    AuthenticationError,
    ConfigurationError,
    GatewayError,
    InsufficientCreditError,
    InvalidRecipientError,
    MalformedResponseError,
    MessageTooLongError,
    PluginError,
    RateLimitedError,
    SmsgateError,
    TransportError,
    UnknownProviderError,
    ValidationError,
)
from smsgate.hookspecs import hookimpl

if TYPE_CHECKING:
    from smsgate.gateway import Gateway, connect
    from smsgate.journal import Journal
    from smsgate.models import (
        Balance,
        DeliveryReport,
        DeliveryStatus,
        HttpRequest,
        HttpResponse,
        Message,
        Outcome,
        Price,
        SendResult,
        Status,
        Verdict,
    )
    from smsgate.plugins import Registry
    from smsgate.spec import Capabilities, Endpoint, ProviderSpec, Secret

__version__ = "0.1.0"

_LAZY = {
    "Gateway": "smsgate.gateway",
    "connect": "smsgate.gateway",
    "Journal": "smsgate.journal",
    "Registry": "smsgate.plugins",
    **dict.fromkeys(
        [
            *("Balance", "DeliveryReport", "DeliveryStatus", "HttpRequest", "HttpResponse", "Message"),
            *("Outcome", "Price", "SendResult", "Status", "Verdict"),
        ],
        "smsgate.models",
    ),
    **dict.fromkeys(("Capabilities", "Endpoint", "ProviderSpec", "Secret"), "smsgate.spec"),
}


def __dir__() -> list[str]:
    """Every public name, the lazy ones included (for ``dir()``, ``help()`` and completion)."""
    return sorted({*globals(), *__all__})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'smsgate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AuthenticationError",
    "Balance",
    "Capabilities",
    "ConfigurationError",
    "DeliveryReport",
    "DeliveryStatus",
    "Endpoint",
    "Gateway",
    "GatewayError",
    "HttpRequest",
    "HttpResponse",
    "InsufficientCreditError",
    "InvalidRecipientError",
    "Journal",
    "MalformedResponseError",
    "Message",
    "MessageTooLongError",
    "Outcome",
    "PluginError",
    "Price",
    "ProviderSpec",
    "RateLimitedError",
    "Registry",
    "Secret",
    "SendResult",
    "SmsgateError",
    "Status",
    "TransportError",
    "UnknownProviderError",
    "ValidationError",
    "Verdict",
    "connect",
    "hookimpl",
]
