"""smsgate: send SMS through HTTP gateways, with providers as plugins.

>>> import smsgate
>>> with smsgate.connect("bulksms://user:secret@default") as gw:   # doctest: +SKIP
...     result = gw.send(smsgate.Message(to="+48500600700", text="Hello"))
"""

from __future__ import annotations

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
