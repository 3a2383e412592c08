"""The typed handler table, the code table and the façade's result checks."""

from __future__ import annotations

from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from core_kit import dsn_for

from smsgate import Message, Status, connect, hookimpl
from smsgate.builtin import outbox
from smsgate.builtin.outbox import variant
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.codes import Code, CodeTable
from smsgate.errors import (
    AuthenticationError,
    GatewayError,
    InsufficientCreditError,
    MalformedResponseError,
    PluginError,
)
from smsgate.gateway import Gateway
from smsgate.handlers import Handlers
from smsgate.models import (
    Balance,
    BalanceQuery,
    Classification,
    Failure,
    HttpRequest,
    HttpResponse,
    Receipt,
    Reconcile,
    Send,
    Verdict,
)
from smsgate.plugins import Registry
from smsgate.spec import Endpoint, ProviderSpec


def test_operations_are_derived_from_the_table() -> None:
    assert outbox.handlers.operations == frozenset({"send", "reconcile", "status", "balance"})
    assert outbox.provider_spec().capabilities.operations == outbox.handlers.operations
    half = Handlers()

    @half.build(Send)
    def build(operation: Send, settings: Any, endpoint: Endpoint) -> HttpRequest:
        return HttpRequest("POST", "http://x/")

    assert half.operations == frozenset(), "an operation counts only when it can be built and parsed"


def test_a_handler_for_an_unknown_type_is_refused() -> None:
    with pytest.raises(PluginError, match="no operation type"):
        Handlers().build(str)  # type: ignore[type-var]


def test_variants_pick_the_first_matching_handler() -> None:
    table = Handlers()

    @table.build(BalanceQuery, when=lambda s: s.api == "v1")
    def v1(operation: BalanceQuery, settings: Any, endpoint: Endpoint) -> HttpRequest:
        return HttpRequest("GET", "http://x/v1")

    @table.build(BalanceQuery)
    def legacy(operation: BalanceQuery, settings: Any, endpoint: Endpoint) -> HttpRequest:
        return HttpRequest("GET", "http://x/legacy")

    endpoint = Endpoint("x")
    assert table.build_request(BalanceQuery(), SimpleNamespace(api="v1"), endpoint).url.endswith("/v1")  # type: ignore[union-attr]
    assert table.build_request(BalanceQuery(), SimpleNamespace(api="x"), endpoint).url.endswith("/legacy")  # type: ignore[union-attr]


TABLE = CodeTable(
    Code("0", "ok", None),
    Code("1", "bad password", Verdict.FATAL, error=AuthenticationError),
    Code("2", "no credit", Verdict.FATAL, error=InsufficientCreditError),
    Code("3", "busy", Verdict.RETRY),
    Code("4", "already sent", Verdict.AMBIGUOUS, final=True),
    fallback=lambda code: Code(code, "an SMPP error", Verdict.FATAL) if code.isdigit() else None,
)


def test_the_code_table_classifies_and_builds_errors() -> None:
    assert TABLE.verdicts == {"1": Verdict.FATAL, "2": Verdict.FATAL, "3": Verdict.RETRY, "4": Verdict.AMBIGUOUS}
    failure = Failure(GatewayError("x", code="4", retry_after=3.0), Send.__new__(Send))
    assert TABLE.classify(failure) == Classification(Verdict.AMBIGUOUS, 3.0, "code 4: already sent", True)
    assert TABLE.classify(Failure(GatewayError("x", code="99"), Send.__new__(Send))) is not None  # the fallback
    assert TABLE.classify(Failure(GatewayError("x", code="zz"), Send.__new__(Send))) is None
    error = TABLE.error("2", http_status=200)
    assert isinstance(error, InsufficientCreditError) and error.code == "2" and error.message == "no credit"
    assert TABLE.meaning("77") == "an SMPP error" and TABLE.meaning("zz") == "undocumented code zz"
    assert TABLE.codes_with(AuthenticationError) == frozenset({"1"})
    with pytest.raises(ValueError, match="twice"):
        CodeTable(Code("1", "a"), Code("1", "b"))


class _WrongType:
    """An app plugin whose parse_response answers a send with a Balance."""

    @hookimpl(tryfirst=True)
    def parse_response(self, operation: Any, response: HttpResponse) -> object:
        return Balance(amount=1) if isinstance(operation, Send) else None  # type: ignore[arg-type]


def _bare_registry(*extensions: object) -> Registry:
    registry = Registry(load_entrypoints=False)
    registry.register(variant("bare", dedup=None, operations=frozenset({"send"})))
    for extension in extensions:
        registry.add_extension(extension)
    return registry


def test_a_result_of_the_wrong_type_is_a_plugin_error_naming_the_plugin(emulator: OutboxEmulator) -> None:
    with connect(dsn_for(emulator, "bare"), registry=_bare_registry(_WrongType()), sleep=lambda _: None) as gateway:
        result = gateway.send(Message("+48500600700", "hi"))
    assert result.outcomes[0].status is Status.UNKNOWN, "the request went out: the reply was not read"
    assert isinstance(result.error, PluginError) and "'bare' returned Balance for Send" in str(result.error)
    assert len(emulator.messages) == 1


class _Crash:
    @hookimpl(tryfirst=True)
    def parse_response(self) -> object:
        raise RecursionError("deep")


def test_a_crashing_parser_is_an_unreadable_reply(emulator: OutboxEmulator) -> None:
    with connect(dsn_for(emulator, "bare"), registry=_bare_registry(_Crash()), sleep=lambda _: None) as gateway:
        result = gateway.send(Message("+48500600700", "hi"))
    assert result.outcomes[0].status is Status.UNKNOWN
    assert isinstance(result.error, MalformedResponseError) and "RecursionError" in str(result.error)
    assert len(emulator.messages) == 1 and len(emulator.requests) == 1


def test_the_provider_spec_type_is_checked() -> None:
    assert isinstance(outbox.provider_spec(), ProviderSpec)


def _module(name: str, source: str) -> ModuleType:
    module = ModuleType(name)
    exec(compile("from __future__ import annotations\n" + source, name, "exec"), module.__dict__)
    return module


_REQUEST = """
from smsgate.models import HttpRequest, Reconcile, Send

def build_send(operation: Send, settings, endpoint) -> HttpRequest:
    return HttpRequest("POST", "http://gw/send")

def build_lookup(operation: Reconcile, settings, endpoint) -> HttpRequest:
    return HttpRequest("GET", "http://gw/lookup")

def build_body(text: str) -> bytes:  # a helper, not a handler
    return text.encode()
"""
_REPLY = """
from smsgate.models import Receipt, Reconcile, Send

def parse_results(operation: Send | Reconcile, response, settings) -> Receipt:
    return Receipt(())
"""


def test_collect_files_handlers_by_their_first_parameters_operation_type(gateway: Gateway) -> None:
    request, reply = _module("acme_request", _REQUEST), _module("acme_reply", _REPLY)
    table = Handlers.collect(request, reply)
    assert table.operations == frozenset({"send", "reconcile"}), "a union files one parse handler under both"
    batch = gateway.prepare(Message("+48500100200", "hi", key="k"))[0].batches[0]
    endpoint = Endpoint("gw", None, True)
    built = [table.build_request(op, None, endpoint) for op in (Send(batch), Reconcile(batch))]
    assert [b.url if b else None for b in built] == [
        "http://gw/send",
        "http://gw/lookup",
    ]
    assert table.parse_response(Reconcile(batch), HttpResponse(200, b"", ()), None) == Receipt(())


def test_collect_refuses_two_handlers_for_one_operation_at_import() -> None:
    twice = _module("twice", _REQUEST + "\ndef build_send_again(operation: Send, settings, endpoint): ...\n")
    with pytest.raises(PluginError, match="a second build handler for Send"):
        Handlers.collect(twice)


def test_collect_names_a_handler_whose_annotation_cannot_be_read() -> None:
    broken = _module("broken", "def build_send(operation: Sned, settings, endpoint): ...\n")
    with pytest.raises(PluginError, match=r"broken\.build_send.*Sned"):
        Handlers.collect(broken)


def test_collect_ignores_what_another_module_defined() -> None:
    request = _module("acme_request", _REQUEST)
    again = _module("again", "")
    vars(again)["build_send"] = request.build_send  # as if imported: defined in acme_request, not here
    assert Handlers.collect(again).operations == frozenset()
