"""The hook specifications: the whole contract between the core and a provider plugin.

Every hook is a pure function of its arguments: no I/O, no sleeping, no clocks, no environment.
That is what makes ``Gateway.preview``, recorded-reply tests and one shared retry engine work.

Each gateway gets its own plugin manager holding its provider plugin plus the app-level
plugins, so a provider's hookimpls never need to check which provider is being called. Every
provider hook is ``firstresult``: the call stops at the first non-``None`` result. An app plugin
can therefore override a hook (``tryfirst=True``, return a value), wrap it (``wrapper=True``), or
decline (return ``None``) and let the provider answer. The two app hooks (:data:`APP_HOOKS`:
``on_delivery_report``, ``on_inbound``) are notifications instead: every implementation is
called, and providers do not implement them.

Plugin authors import the marker as ``from smsgate import hookimpl``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from smsgate.inbound import InboundMessage
    from smsgate.models import Classification, DeliveryReport, Failure, HttpRequest, HttpResponse, Operation
    from smsgate.spec import Endpoint, ProviderSpec

PROJECT = "smsgate"
#: Bumped when a hook changes incompatibly. A plugin declares the version it is written
#: against as a module attribute, ``SMSGATE_HOOKS = 1``; the registry refuses a plugin
#: outside ``MIN_HOOKSPEC_VERSION..HOOKSPEC_VERSION`` with a ``PluginError`` saying what to do.
#: A plugin that declares nothing is taken as written for the current version.
HOOKSPEC_VERSION = 1
#: The oldest hook-spec version this core still serves (raised when support for one ends).
MIN_HOOKSPEC_VERSION = 1
#: What changed in each version, for the error message (version -> change).
HOOKSPEC_CHANGES: dict[int, str] = {
    1: "provider_spec, build_request, parse_response, classify_error, schedule_format, parse_delivery_report, "
    "parse_inbound; the app hooks on_delivery_report and on_inbound (added: nothing changed for plugins)",
}
#: Hooks for app plugins (reactions to what the receiver stored), not for providers.
APP_HOOKS = ("on_delivery_report", "on_inbound")


def declared_version(plugin: object) -> int | None:
    """The ``SMSGATE_HOOKS`` a plugin declares, or ``None``."""
    value = getattr(plugin, "SMSGATE_HOOKS", None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"SMSGATE_HOOKS must be an int (the hook-spec version), not {value!r}")
    return value


def incompatibility(plugin: object) -> str | None:
    """Why this core cannot serve ``plugin``'s hook-spec version, or ``None`` when it can."""
    try:
        version = declared_version(plugin)
    except TypeError as exc:
        return str(exc)
    if version is None or MIN_HOOKSPEC_VERSION <= version <= HOOKSPEC_VERSION:
        return None
    if version < MIN_HOOKSPEC_VERSION:
        return (
            f"it is written against smsgate hook spec version {version}, which this smsgate no longer "
            f"serves (it speaks versions {MIN_HOOKSPEC_VERSION} to {HOOKSPEC_VERSION}: "
            f"{HOOKSPEC_CHANGES.get(HOOKSPEC_VERSION, '')}); upgrade the plugin, or install an older "
            "smsgate that still serves its version"
        )
    return (
        f"it needs smsgate hook spec version {version}, newer than this smsgate's {HOOKSPEC_VERSION}; "
        "upgrade smsgate (pip install -U smsgate)"
    )


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
        ``StatusQuery``, ``BalanceQuery``, ``InboxQuery`` or a provider-specific ``Call``.
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
        ``BalanceQuery`` a ``Balance``; for ``InboxQuery`` an ``Inbox``; for ``Call`` plain data.
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


@hookspec(firstresult=True)
def parse_inbound(request: HttpRequest, settings: Any) -> tuple[InboundMessage, ...] | None:
    """Read an incoming-message callback (MO push: a reply, a STOP) the gateway sent to us into
    ``smsgate.inbound.InboundMessage`` values. Return ``None`` when the request is not an
    incoming message (e.g. a delivery report on a URL the gateway shares for both); raise
    ``MalformedResponseError`` when it is unreadable and ``smsgate.inbound.CallbackRejectedError``
    when the gateway's own signature does not match. Stops at the first non-None result.
    """


@hookspec
def on_delivery_report(report: DeliveryReport, gateway: str) -> None:
    """App hook: a delivery report was stored (once; ``gateway`` is its configured name). Called
    by the receiver after the report is in the store and before it is acknowledged; every
    implementation runs. One that raises makes the receiver answer 500: the report stays stored,
    not handled, and the gateway's resend runs the hooks again (make them idempotent).
    """


@hookspec
def on_inbound(message: InboundMessage, gateway: str) -> None:
    """App hook: an incoming message was stored (once; ``message.gateway`` and ``gateway`` are its
    configured gateway name), after the opt-out keywords were applied: auto-replies, tickets.
    Called by the receiver and by ``smsgate inbound fetch``; every implementation runs. One that
    raises leaves the message stored but not handled: its resend (or next pull) runs it again.
    """
