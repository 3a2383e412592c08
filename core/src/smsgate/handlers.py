"""A provider's typed handler table: one ``build`` and one ``parse`` function per operation.

The hooks stay what the design card names (``build_request``, ``parse_response``: one place
for an app plugin to wrap every request); behind them a plugin registers exact-typed handlers
instead of an ``isinstance`` chain, and the operations it supports are derived from the table::

    # request.py
    def build_send(operation: Send, settings: AcmeSettings, endpoint: Endpoint) -> HttpRequest: ...
    # reply.py
    def parse_send(operation: Send, response: HttpResponse, settings: AcmeSettings) -> Receipt: ...

    # __init__.py: every build_*/parse_* function, filed by its first parameter's operation type
    handlers = Handlers.collect(request, reply)

    build_request = handlers.build_request      # the hookimpls, marked already
    parse_response = handlers.parse_response

    SPEC = ProviderSpec(..., capabilities=Capabilities(..., operations=handlers.operations))
    provider_spec = provides(SPEC)
    # the other hooks are marked beside their functions (codes.py: classify_error =
    # hookimpl(classify)) and imported here: from smsgate_acme.codes import classify_error

Handlers may also be registered one by one (``handlers.build(Send)(build_send)``); a provider
with variants (Octopush's two APIs) registers a handler per variant with ``when=``, a predicate
on the settings; the first registered handler whose predicate holds answers.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from smsgate.errors import PluginError
from smsgate.hookspecs import hookimpl
from smsgate.models import (
    Balance,
    BalanceQuery,
    Call,
    HttpRequest,
    HttpResponse,
    Inbox,
    InboxQuery,
    Operation,
    Price,
    Quote,
    Receipt,
    Reconcile,
    Send,
    StatusQuery,
)
from smsgate.spec import Endpoint, ProviderSpec

Op = TypeVar("Op", Send, Reconcile, Quote, StatusQuery, BalanceQuery, Call, InboxQuery)
B = TypeVar("B", bound=Callable[..., HttpRequest])
P = TypeVar("P", bound=Callable[..., Any])

#: The operation types a handler may be registered for, with their names in
#: ``Capabilities.operations`` and the type ``parse`` must return for them.
OPERATION_NAMES: dict[type[Any], str] = {
    Send: "send",
    Reconcile: "reconcile",
    Quote: "quote",
    StatusQuery: "status",
    BalanceQuery: "balance",
    Call: "call",
    InboxQuery: "inbox",
}
RESULT_TYPES: dict[type[Any], type[Any] | tuple[type[Any], ...]] = {
    Send: Receipt,
    Reconcile: Receipt,
    Quote: Price,
    StatusQuery: tuple,
    BalanceQuery: Balance,
    Call: object,
    InboxQuery: Inbox,
}

_Predicate = Callable[[Any], bool]


def _always(settings: Any) -> bool:
    return True


class Handlers:
    """The table. ``build_request`` and ``parse_response`` are ready-marked hookimpls."""

    def __init__(self) -> None:
        self._build: dict[type[Any], list[tuple[_Predicate, Callable[..., HttpRequest]]]] = {}
        self._parse: dict[type[Any], list[tuple[_Predicate, Callable[..., Any]]]] = {}

    @classmethod
    def collect(cls, *modules: ModuleType) -> Handlers:
        """The table of every ``build_*`` and ``parse_*`` function defined in ``modules`` whose
        first parameter is annotated with operation types (``def build_send(operation: Send,
        ...)``; ``Send | Reconcile`` registers for both). Other functions are left alone; two
        handlers of one side for one operation are an error, raised at import."""
        table = cls()
        for module in modules:
            for name, function in vars(module).items():
                side = name.partition("_")[0]
                if side not in ("build", "parse") or getattr(function, "__module__", None) != module.__name__:
                    continue
                registered = table._build if side == "build" else table._parse
                for kind in _operation_types(function):
                    if kind in registered:
                        raise PluginError(f"{module.__name__}.{name}: a second {side} handler for {kind.__name__}")
                    registered[kind] = [(_always, function)]
        return table

    def build(self, kind: type[Op], *, when: _Predicate = _always) -> Callable[[B], B]:
        """Register ``function(operation, settings, endpoint) -> HttpRequest`` for ``kind``."""
        _known(kind)

        def register(function: B) -> B:
            self._build.setdefault(kind, []).append((when, function))
            return function

        return register

    def parse(self, kind: type[Op], *, when: _Predicate = _always) -> Callable[[P], P]:
        """Register ``function(operation, response, settings) -> result`` for ``kind``; the
        result's type is checked by the core (``Send`` -> ``Receipt``, ``BalanceQuery`` ->
        ``Balance``, ...)."""
        _known(kind)

        def register(function: P) -> P:
            self._parse.setdefault(kind, []).append((when, function))
            return function

        return register

    @property
    def operations(self) -> frozenset[str]:
        """What the table implements: an operation counts when it can be built and parsed."""
        both = set(self._build) & set(self._parse)
        return frozenset(OPERATION_NAMES[k] for k in both if k is not Call)

    def supports(self, kind: type[Any], settings: Any) -> bool:
        """Whether ``kind`` has a build and a parse handler for these settings."""
        return _pick(self._build, kind, settings) is not None and _pick(self._parse, kind, settings) is not None

    @hookimpl
    def build_request(self, operation: Operation, settings: Any, endpoint: Endpoint) -> HttpRequest | None:
        """The hookimpl: the handler for ``type(operation)``, or ``None`` (not ours)."""
        function = _pick(self._build, type(operation), settings)
        return None if function is None else function(operation, settings, endpoint)

    @hookimpl
    def parse_response(self, operation: Operation, response: HttpResponse, settings: Any) -> Any:
        """The hookimpl: the handler for ``type(operation)``, or ``None`` (not ours)."""
        function = _pick(self._parse, type(operation), settings)
        return None if function is None else function(operation, response, settings)


def _operation_types(function: Callable[..., Any]) -> tuple[type[Any], ...]:
    """The operation types the first parameter of ``function`` is annotated with (none: not a
    handler). Only that annotation is evaluated, in the function's module (as ``get_type_hints``
    would), so names imported for type checking only elsewhere in the signature do not matter."""
    parameters = list(inspect.signature(function).parameters.values())
    hint = parameters[0].annotation if parameters else None
    if isinstance(hint, str):
        try:
            hint = eval(hint, getattr(function, "__globals__", {}))
        except Exception as exc:
            where = f"{function.__module__}.{function.__name__}"
            raise PluginError(f"{where}: cannot read the annotation of its first parameter ({exc})") from None
    kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return tuple(k for k in kinds if k in OPERATION_NAMES)


def _known(kind: type[Any]) -> None:
    if kind not in OPERATION_NAMES:
        known = ", ".join(t.__name__ for t in OPERATION_NAMES)
        raise PluginError(f"no operation type {kind!r}: handlers are registered for {known}")


def _pick(table: dict[type[Any], list[tuple[_Predicate, Any]]], kind: type[Any], settings: Any) -> Any:
    for when, function in table.get(kind, ()):
        if when(settings):
            return function
    return None


def provides(spec: ProviderSpec) -> Callable[[], ProviderSpec]:
    """The ``provider_spec`` hookimpl answering ``spec`` (``provider_spec = provides(SPEC)``)."""

    @hookimpl
    def provider_spec() -> ProviderSpec:
        return spec

    return provider_spec
