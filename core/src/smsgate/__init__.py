"""smsgate: send SMS through HTTP gateways, with providers as plugins.

>>> import smsgate
>>> with smsgate.connect("bulksms://user:secret@default") as gw:   # doctest: +SKIP
...     result = gw.send(smsgate.Message(to="+48500600700", text="Hello"))

The names below are imported on first use, so ``import smsgate`` (and a plugin importing
``smsgate.hookimpl``) stays cheap.
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
