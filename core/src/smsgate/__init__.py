"""smsgate: send SMS through HTTP gateways, with providers as plugins.

>>> import smsgate
>>> with smsgate.connect("bulksms://user:secret@default") as gw:   # doctest: +SKIP
...     result = gw.send(smsgate.Message(to="+48500600700", text="Hello"))
...     print(result.ok, [(o.recipient, o.status.value) for o in result.outcomes])

- :func:`connect` (a DSN or ``$SMSGATE_DSN``) gives a :class:`Gateway`: ``send``, ``send_many``,
  ``preview``, ``balance``, ``status``.
- :class:`Message` is what you send; :class:`SendResult` holds one :class:`Outcome` per recipient
  (``accepted``, ``scheduled``, ``rejected``, ``unknown``).
- :class:`Campaign` sends a file of personalised messages, resumable (:mod:`smsgate.store`).
- :class:`Journal` keeps "never twice" across restarts; :data:`hookimpl` marks a plugin's hooks.
- Errors derive from :class:`SmsgateError`; bad input raises :class:`ValidationError` before
  anything is sent.

- :func:`connect_async` (:mod:`smsgate.aio`) gives an :class:`AsyncGateway` for asyncio code.

The names are imported on first use, so ``import smsgate`` (and a plugin importing
``smsgate.hookimpl``) stays cheap; ``dir(smsgate)`` lists them all.
"""

from __future__ import annotations

import importlib

# Not ``typing.TYPE_CHECKING``: importing typing alone costs ``import smsgate`` several ms, and
# type checkers treat any constant of this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from smsgate.aio import AsyncGateway, connect_async
    from smsgate.campaign import Campaign
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
    from smsgate.gateway import Gateway, connect
    from smsgate.hookspecs import hookimpl
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

#: Every public name and the module it lives in: imported on first use (PEP 562), so that
#: ``import smsgate`` costs next to nothing and a plugin pays only for what it touches.
_LAZY = {
    "AsyncGateway": "smsgate.aio",
    "connect_async": "smsgate.aio",
    "Campaign": "smsgate.campaign",
    "Gateway": "smsgate.gateway",
    "connect": "smsgate.gateway",
    "hookimpl": "smsgate.hookspecs",
    "Journal": "smsgate.journal",
    "Registry": "smsgate.plugins",
    **dict.fromkeys(
        [
            *("AuthenticationError", "ConfigurationError", "GatewayError", "InsufficientCreditError"),
            *("InvalidRecipientError", "MalformedResponseError", "MessageTooLongError", "PluginError"),
            *("RateLimitedError", "SmsgateError", "TransportError", "UnknownProviderError", "ValidationError"),
        ],
        "smsgate.errors",
    ),
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
        if name.isidentifier() and not name.startswith("__"):
            try:  # a submodule not imported yet (``smsgate.errors.X`` after ``import smsgate``)
                return importlib.import_module(f"smsgate.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"smsgate.{name}":
                    raise
        raise AttributeError(f"module 'smsgate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AsyncGateway",
    "AuthenticationError",
    "Balance",
    "Campaign",
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
    "connect_async",
    "hookimpl",
]
