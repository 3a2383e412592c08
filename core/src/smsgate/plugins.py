"""Plugin discovery and the typed façade over pluggy.

Providers register under the entry-point group ``smsgate.providers``; app-level plugins (which
wrap or override hooks of every provider, e.g. to reclassify a code or to log) under
``smsgate.plugins``. A plugin that fails to load is reported with its name and the error and
skipped; ``SMSGATE_STRICT_PLUGINS=1`` makes that fatal. ``SMSGATE_LOAD_PLUGINS`` (allow list,
comma-separated, may be empty) and ``SMSGATE_DISABLE_PLUGINS`` (block list) filter by name.

Each gateway gets a fresh ``pluggy.PluginManager`` with the core's defaults, the app plugins
and exactly one provider: hookimpls never need to ask which provider is being called.
"""

from __future__ import annotations

import logging
import operator
import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, overload

import attrs
import pluggy

from smsgate import _metadata, hookspecs
from smsgate.errors import GatewayError, MalformedResponseError, PluginError, SmsgateError, UnknownProviderError
from smsgate.handlers import RESULT_TYPES
from smsgate.inbound import InboundMessage
from smsgate.models import (
    Balance,
    BalanceQuery,
    Call,
    Classification,
    DeliveryReport,
    Failure,
    HttpRequest,
    HttpResponse,
    Operation,
    Price,
    Quote,
    Receipt,
    Reconcile,
    Send,
    StatusQuery,
)
from smsgate.spec import Endpoint, ProviderSpec

T = TypeVar("T")

log = logging.getLogger("smsgate.plugins")

PROVIDER_GROUP = "smsgate.providers"
PLUGIN_GROUP = "smsgate.plugins"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@attrs.frozen
class Provider:
    """A discovered provider: its spec, the plugin object holding its hookimpls, and where it
    came from."""

    spec: ProviderSpec
    plugin: object = attrs.field(eq=False)
    distribution: str = "(in-process)"
    version: str = "?"


@attrs.frozen
class LoadFailure:
    name: str
    group: str
    error: str


def _names(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset(n.strip() for n in value.split(",") if n.strip())


def _plugin_name(plugin: object) -> str:
    return getattr(plugin, "__name__", type(plugin).__name__)


def _validate(plugin: object, name: str) -> pluggy.PluginManager:
    """Register ``plugin`` in a scratch manager so a misspelt or ill-typed hookimpl fails."""
    problem = hookspecs.incompatibility(plugin)  # before pluggy: an old plugin's hooks may not match
    if problem is not None:
        raise PluginError(f"plugin {name!r} cannot be loaded: {problem}")
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(plugin, name=name)
        pm.check_pending()
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin {name!r} is invalid: {exc}") from exc
    return pm


def _spec_of(plugin: object, name: str) -> ProviderSpec | None:
    pm = _validate(plugin, name)
    impls = pm.hook.provider_spec.get_hookimpls()
    if not impls:
        return None
    spec = impls[-1].function()
    if not isinstance(spec, ProviderSpec):
        raise PluginError(f"plugin {name!r}: provider_spec returned {type(spec).__name__}, not ProviderSpec")
    if not _NAME.match(spec.name):
        raise PluginError(f"plugin {name!r}: provider name {spec.name!r} must match {_NAME.pattern}")
    caps = spec.capabilities
    if caps.dedup is not None and not (caps.dedup_window or 0) > 0:
        raise PluginError(
            f"plugin {name!r}: capabilities.dedup={caps.dedup!r} needs dedup_window (seconds the gateway "
            "recognises a repeated key): without it no resend under the key is safe"
        )
    if caps.lookup_delay < 0:
        raise PluginError(f"plugin {name!r}: capabilities.lookup_delay must be >= 0")
    return spec


class Registry:
    """The installed providers and app plugins. Build one per app (or test); ``connect`` uses
    a lazily built default one."""

    def __init__(self, *, load_entrypoints: bool = True, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.strict = env.get("SMSGATE_STRICT_PLUGINS", "") not in ("", "0", "false")
        self.allow = _names(env.get("SMSGATE_LOAD_PLUGINS"))
        self.block = _names(env.get("SMSGATE_DISABLE_PLUGINS")) or frozenset()
        self.providers: dict[str, Provider] = {}
        self.extensions: list[object] = []
        self.failures: list[LoadFailure] = []
        if load_entrypoints:
            self._load(PROVIDER_GROUP)
            self._load(PLUGIN_GROUP)

    def _wanted(self, name: str) -> bool:
        return name not in self.block and (self.allow is None or name in self.allow)

    def _load(self, group: str) -> None:
        for ep in _metadata.entry_points(group):
            if not self._wanted(ep.name):
                continue
            dist, version = _metadata.distribution_of(ep)
            try:
                plugin = ep.load()
                if group == PROVIDER_GROUP:
                    self.register(plugin, distribution=dist, version=version)
                else:
                    self.add_extension(plugin)
            except Exception as exc:  # a broken plugin must not take the host down
                if self.strict:
                    raise PluginError(f"plugin {ep.name!r} from {dist} failed to load: {exc}") from exc
                log.error("smsgate: skipping plugin %r from %s: %s: %s", ep.name, dist, type(exc).__name__, exc)
                self.failures.append(LoadFailure(ep.name, group, f"{type(exc).__name__}: {exc}"))

    def register(self, plugin: object, *, distribution: str = "(in-process)", version: str = "?") -> ProviderSpec:
        """Register a provider plugin (a module or object with hookimpls, one of them
        ``provider_spec``). Raises ``PluginError`` on a bad or duplicate plugin."""
        name = _plugin_name(plugin)
        spec = _spec_of(plugin, name)
        if spec is None:
            raise PluginError(f"plugin {name!r} has no provider_spec hookimpl; use add_extension()")
        if spec.name in self.providers and self.providers[spec.name].plugin is not plugin:
            other = self.providers[spec.name].distribution
            raise PluginError(f"conflicting providers named {spec.name!r}: {distribution} and {other}")
        self.providers[spec.name] = Provider(spec, plugin, distribution, version)
        return spec

    def add_extension(self, plugin: object) -> None:
        """Register an app-level plugin whose hookimpls apply to every provider."""
        _validate(plugin, _plugin_name(plugin))
        if plugin not in self.extensions:
            self.extensions.append(plugin)

    def provider(self, name: str) -> Provider:
        try:
            return self.providers[name]
        except KeyError:
            failures = {f.name: f.error for f in self.failures}
            raise UnknownProviderError(name, tuple(sorted(self.providers)), failures) from None

    def hooks(self, name: str) -> Hooks:
        """A fresh plugin manager for provider ``name``: core defaults, app plugins, provider."""
        from smsgate import defaults

        provider = self.provider(name)
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        pm.register(defaults, name="smsgate.defaults")
        for ext in self.extensions:
            pm.register(ext)
        pm.register(provider.plugin, name=f"provider:{name}")
        pm.check_pending()
        return Hooks(pm, provider.spec)


_default: Registry | None = None


def default_registry() -> Registry:
    """The registry of installed plugins, loaded once per process."""
    global _default
    if _default is None:
        _default = Registry()
    return _default


class Hooks:
    """Typed façade over one gateway's plugin manager: the only code that calls pluggy.

    The manager is built complete for one gateway (``Registry.hooks``). A hook with a single
    plain implementation (no other plugin wraps or answers it) is called directly, which is
    what pluggy would do, without its per-call bookkeeping. Every result is checked: a hook
    that returns the wrong type for an operation (``Send`` -> ``Receipt``, ``BalanceQuery`` ->
    ``Balance``, ...) raises ``PluginError`` naming the plugin; a parser that crashes becomes
    ``MalformedResponseError`` here, once, for every plugin.
    """

    def __init__(self, pm: pluggy.PluginManager, spec: ProviderSpec) -> None:
        self.pm = pm
        self.spec = spec
        self._calls: dict[str, Callable[..., Any]] = {}
        for name in _HOOKS:
            caller = getattr(pm.hook, name)
            impls = caller.get_hookimpls()
            if len(impls) == 1 and not (impls[0].hookwrapper or impls[0].wrapper):
                self._calls[name] = _direct(impls[0].function, impls[0].argnames)
            else:
                self._calls[name] = caller

    def _expect(self, hook: str, value: object, kind: type[T] | tuple[type[Any], ...], what: object) -> T:
        if not isinstance(value, kind):
            got = "nothing" if value is None else type(value).__name__
            name = getattr(what, "__name__", type(what).__name__)
            raise PluginError(
                f"{hook} of provider {self.spec.name!r} returned {got} for {name}", provider=self.spec.name
            )
        return value

    def build_request(self, operation: Operation, settings: Any, endpoint: Endpoint) -> HttpRequest:
        value = self._calls["build_request"](operation=operation, settings=settings, endpoint=endpoint)
        return self._expect("build_request", value, HttpRequest, operation)

    @overload
    def parse_response(self, operation: Send | Reconcile, response: HttpResponse, settings: Any) -> Receipt: ...
    @overload
    def parse_response(self, operation: Quote, response: HttpResponse, settings: Any) -> Price: ...
    @overload
    def parse_response(
        self, operation: StatusQuery, response: HttpResponse, settings: Any
    ) -> tuple[DeliveryReport, ...]: ...
    @overload
    def parse_response(self, operation: BalanceQuery, response: HttpResponse, settings: Any) -> Balance: ...
    @overload
    def parse_response(self, operation: Call, response: HttpResponse, settings: Any) -> object: ...
    @overload
    def parse_response(self, operation: Operation, response: HttpResponse, settings: Any) -> object: ...

    def parse_response(self, operation: Operation, response: HttpResponse, settings: Any) -> object:
        """The plugin's reading of ``response``, of the type ``operation`` calls for.
        ``GatewayError`` and ``PluginError`` pass; any other failure of the parser is an
        unreadable reply (``MalformedResponseError``)."""
        try:
            value = self._calls["parse_response"](operation=operation, response=response, settings=settings)
        except (GatewayError, PluginError):
            raise
        except SmsgateError as error:
            raise MalformedResponseError(str(error), http_status=response.status) from None
        except Exception as exc:
            raise MalformedResponseError(
                f"the {self.spec.name} plugin could not read the reply: {type(exc).__name__}",
                http_status=response.status,
                body=response.text()[:500],
            ) from None
        kind = RESULT_TYPES.get(type(operation), object)
        if value is None or not isinstance(value, kind):
            self._expect("parse_response", value, kind, operation)
        if isinstance(operation, StatusQuery):
            for report in value:
                self._expect("parse_response", report, DeliveryReport, operation)
        return value

    def classify_error(self, failure: Failure, settings: Any) -> Classification:
        value = self._calls["classify_error"](failure=failure, settings=settings)
        return self._expect("classify_error", value, Classification, failure.operation)

    def schedule_format(self, when: datetime, settings: Any) -> dict[str, str]:
        value = self._calls["schedule_format"](when=when, settings=settings)
        return dict(self._expect("schedule_format", value, Mapping, when))

    def parse_delivery_report(self, request: HttpRequest, settings: Any) -> tuple[DeliveryReport, ...]:
        """The reports in a callback; a crashing parser is an unreadable callback."""
        try:
            value = self._calls["parse_delivery_report"](request=request, settings=settings)
        except SmsgateError:
            raise
        except Exception as exc:
            raise MalformedResponseError(
                f"unreadable {self.spec.name} delivery report: {type(exc).__name__}", provider=self.spec.name
            ) from None
        reports: tuple[object, ...] = tuple(self._expect("parse_delivery_report", value, (tuple, list), request))
        return tuple(self._expect("parse_delivery_report", r, DeliveryReport, request) for r in reports)

    def parse_inbound(self, request: HttpRequest, settings: Any) -> tuple[InboundMessage, ...] | None:
        """The incoming messages in a callback, or ``None`` when it is not one (or the provider
        reads no incoming messages); a crashing parser is an unreadable callback."""
        try:
            value = self.pm.hook.parse_inbound(request=request, settings=settings)
        except SmsgateError:
            raise
        except Exception as exc:
            raise MalformedResponseError(
                f"unreadable {self.spec.name} incoming message: {type(exc).__name__}", provider=self.spec.name
            ) from None
        if value is None:
            return None
        found: tuple[object, ...] = tuple(self._expect("parse_inbound", value, (tuple, list), request))
        return tuple(self._expect("parse_inbound", m, InboundMessage, request) for m in found)

    def listens(self, hook: str) -> bool:
        """Whether any plugin implements the app hook ``hook`` (``hookspecs.APP_HOOKS``)."""
        return bool(getattr(self.pm.hook, hook).get_hookimpls())

    def on_delivery_report(self, report: DeliveryReport, gateway: str) -> None:
        """Tell every app plugin a report was stored (``hookspecs.on_delivery_report``); what
        an implementation raises goes to the caller."""
        self.pm.hook.on_delivery_report(report=report, gateway=gateway)

    def on_inbound(self, message: InboundMessage, gateway: str) -> None:
        """Tell every app plugin an incoming message was stored (``hookspecs.on_inbound``)."""
        self.pm.hook.on_inbound(message=message, gateway=gateway)


_HOOKS = ("build_request", "parse_response", "classify_error", "schedule_format", "parse_delivery_report")


def _direct(function: Callable[..., Any], argnames: tuple[str, ...]) -> Callable[..., Any]:
    """Call one hookimpl as pluggy does: with only the arguments it names."""

    if not argnames:
        return lambda **kwargs: function()
    if len(argnames) == 1:
        (only,) = argnames
        return lambda **kwargs: function(kwargs[only])
    pick = operator.itemgetter(*argnames)  # a tuple of the named arguments, in order

    def call(**kwargs: Any) -> Any:
        return function(*pick(kwargs))

    return call


def emulator_class(spec: ProviderSpec) -> type[Any]:
    """The provider's emulator class, imported from ``spec.emulator`` (``"module:Class"``)."""
    if not spec.emulator:
        raise PluginError(f"provider {spec.name!r} ships no emulator", provider=spec.name)
    import importlib

    module, _, name = spec.emulator.partition(":")
    try:
        cls: type[Any] = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"provider {spec.name!r}: cannot load emulator {spec.emulator!r}: {exc}") from exc
    return cls
