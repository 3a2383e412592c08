"""The hook specifications: the whole contract between the core and a provider plugin.

Every hook is a pure function of its arguments: no I/O, no sleeping, no clocks, no environment.
That is what makes ``Gateway.preview``, recorded-reply tests and one shared retry engine work.

Each gateway gets its own plugin manager holding its provider plugin plus the app-level
plugins, so a provider's hookimpls never need to check which provider is being called. Every
hook is ``firstresult``: the call stops at the first non-``None`` result. An app plugin can
therefore override a hook (``tryfirst=True``, return a value), wrap it (``wrapper=True``), or
decline (return ``None``) and let the provider answer.

Plugin authors import the marker as ``from smsgate import hookimpl``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from smsgate.models import Classification, DeliveryReport, Failure, HttpRequest, HttpResponse, Operation
    from smsgate.spec import Endpoint, ProviderSpec

PROJECT = "smsgate"
#: Bumped when a hook changes incompatibly; plugins may compare it.
HOOKSPEC_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(firstresult=True)
def provider_spec() -> ProviderSpec | None:
    """Register the provider: its name (the DSN scheme), settings class, default host and
    capabilities. Called once at discovery. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def build_request(operation: Operation, settings: Any, endpoint: Endpoint) -> HttpRequest | None:
    """Turn an operation into the exact HTTP request to send.

    :param operation: ``Send``, ``Reconcile``, ``Quote`` (each with the planned ``Batch``),
        ``StatusQuery``, ``BalanceQuery`` or a provider-specific ``Call``.
    :param settings: the provider's settings instance (credentials and options, validated).
    :param endpoint: where the gateway lives (DSN host and port, or the provider's default).
    :returns: an ``HttpRequest``; raise ``smsgate.errors.ValidationError`` for a parameter
        combination the gateway forbids. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def parse_response(operation: Operation, response: HttpResponse, settings: Any) -> Any:
    """Read the gateway's reply to ``operation``.

    :returns: for ``Send``/``Reconcile`` a ``Receipt`` (one ``Outcome`` per recipient the
        gateway answered for; ``Reconcile`` leaves out recipients the gateway does not have);
        for ``Quote`` a ``Price``; for ``StatusQuery`` a tuple of ``DeliveryReport``; for
        ``BalanceQuery`` a ``Balance``; for ``Call`` plain data.
    :raises smsgate.errors.GatewayError: (or a subclass) when the reply is an error for the
        whole request, with the gateway's ``code``; ``MalformedResponseError`` with the body
        when the reply cannot be read. Never return success for an unreadable reply.
        Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def classify_error(failure: Failure, settings: Any) -> Classification | None:
    """Map a failed attempt to a verdict: ``retry``, ``throttled``, ``fatal`` or ``ambiguous``.

    ``failure.error`` is the ``GatewayError`` raised by ``parse_response`` (with ``code`` and
    ``http_status``) or a ``TransportError`` (with ``kind`` and ``written``). Return ``None``
    for failures the provider has no opinion on: the core's own rules (refused connection is
    ``retry``, a timeout after writing is ``ambiguous``, 429 is ``throttled``...) answer last.
    Also called for per-recipient rejection codes (as a ``GatewayError`` with that code) to
    mark outcomes ``retryable``. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def schedule_format(when: datetime, settings: Any) -> Mapping[str, str] | None:
    """Turn an aware ``datetime`` into the gateway's own scheduling fields, with the
    gateway's time-zone rule (``{"send_time": "2026-03-29 02:30:00"}``). The core has already
    refused naive datetimes and times in the past. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def parse_delivery_report(request: HttpRequest, settings: Any) -> tuple[DeliveryReport, ...] | None:
    """Read a delivery-report callback (push) the gateway sent to us, given as the incoming
    ``HttpRequest``, into normalised ``DeliveryReport`` values. Raise
    ``MalformedResponseError`` when it is not one. Stops at the first non-None result.
    """
