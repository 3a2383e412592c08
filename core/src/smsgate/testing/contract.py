"""The provider contract: the checks every provider plugin passes against its own emulator.

Subclass it in a plugin's tests and name the plugin and its code table::

    import smsgate_bulksms
    from smsgate.testing import ProviderContract

    class TestContract(ProviderContract):
        plugin = smsgate_bulksms
        codes = smsgate_bulksms.codes.CODES        # every documented code -> Verdict
        recipients = ("+447700900001", "+447700900002")

Every test talks to the plugin's emulator over loopback HTTP through a real ``Gateway``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from smsgate import config
from smsgate.emulator import Emulator, Fault
from smsgate.errors import GatewayError, SmsgateError, ValidationError
from smsgate.gateway import Gateway, connect
from smsgate.models import Failure, HttpResponse, Message, Send, Status, Verdict
from smsgate.plugins import Registry, emulator_class
from smsgate.spec import ProviderSpec, Secret
from smsgate.testing.kit import Connector, registry_for


class ProviderContract:
    """Mixin of contract tests; set ``plugin`` (and usually ``codes``) in the subclass."""

    plugin: object
    #: Every documented gateway code and its verdict; the contract walks it in full.
    codes: Mapping[str, Verdict] = {}
    recipients: tuple[str, ...] = ("+48500600700", "+48500600701")
    plain_text: str = "Hello from the smsgate contract"
    unicode_text: str = "Zażółć gęślą jaźń €"
    #: Extra DSN options appended to the emulator's DSN.
    dsn_options: str = ""
    #: Emulator constructor arguments.
    emulator_kwargs: Mapping[str, Any] = {}
    #: Whether the gateway answers a resend under a used de-duplication key with the first
    #: reply (BulkSMS). Octopush refuses it instead ("already sent"): the outcome is unknown.
    dedup_replays: bool = True

    # -- fixtures --------------------------------------------------------------------------

    @pytest.fixture
    def registry(self) -> Registry:
        return registry_for(self.plugin)

    @pytest.fixture
    def spec(self, registry: Registry) -> ProviderSpec:
        (provider,) = registry.providers.values()
        return provider.spec

    @pytest.fixture
    def emulator(self, spec: ProviderSpec) -> Iterator[Emulator]:
        with emulator_class(spec)(**self.emulator_kwargs) as emulator:
            yield emulator

    def dsn(self, emulator: Emulator) -> str:
        dsn = emulator.dsn()
        if self.dsn_options:
            dsn += ("&" if "?" in dsn else "?") + self.dsn_options.lstrip("?&")
        return dsn

    @pytest.fixture
    def gateway(self, emulator: Emulator, registry: Registry) -> Iterator[Gateway]:
        with Connector(registry, self.dsn(emulator)) as connector:
            yield connector()

    def secret(self, emulator: Emulator) -> str:
        dsn = config.Dsn.parse(self.dsn(emulator))
        assert dsn.password is not None, "the emulator's DSN must carry a secret"
        return dsn.password.reveal()

    # -- registration and configuration ----------------------------------------------------

    def test_contract_spec_is_valid(self, spec: ProviderSpec) -> None:
        assert attrs.has(spec.settings), "settings must be an attrs class"
        fields = attrs.fields_dict(spec.settings)
        for name in spec.credentials:
            assert name is None or name in fields, f"credential field {name!r} is not a setting"
        caps = spec.capabilities
        assert caps.max_recipients >= 1 and caps.max_parts >= 1 and caps.max_connections >= 1
        assert "send" in caps.operations
        assert spec.emulator, "every provider ships an emulator"

    def test_contract_secret_never_shown(self, gateway: Gateway, emulator: Emulator) -> None:
        secret = self.secret(emulator)
        dsn = config.Dsn.parse(self.dsn(emulator))
        for text in (repr(gateway), repr(gateway.settings), str(dsn), repr(dsn)):
            assert secret not in text
        assert any(isinstance(getattr(gateway.settings, f.name), Secret) for f in attrs.fields(type(gateway.settings)))

    # -- sending ---------------------------------------------------------------------------

    def test_contract_send_one(self, gateway: Gateway) -> None:
        result = gateway.send(Message(self.recipients[0], self.plain_text))
        assert [o.status for o in result.outcomes] == [Status.ACCEPTED], result
        assert result.outcomes[0].message_id
        assert result.outcomes[0].recipient == self.recipients[0]

    def test_contract_send_several_recipients(self, gateway: Gateway) -> None:
        result = gateway.send(Message(self.recipients, self.plain_text))
        assert [o.recipient for o in result.outcomes] == list(self.recipients)
        assert all(o.status is Status.ACCEPTED and o.message_id for o in result.outcomes), result

    def test_contract_send_unicode_and_long(self, gateway: Gateway) -> None:
        for text in (self.unicode_text, self.plain_text + " " + "x" * 200):
            result = gateway.send(Message(self.recipients[0], text))
            assert result.ok, result

    def test_contract_bad_number_refused_before_sending(self, gateway: Gateway, emulator: Emulator) -> None:
        emulator.reset_log()
        with pytest.raises(ValidationError, match="12ab"):
            gateway.send(Message([self.recipients[0], "12ab"], self.plain_text))
        assert emulator.requests == []

    def test_contract_preview_sends_nothing_and_hides_secret(self, gateway: Gateway, emulator: Emulator) -> None:
        emulator.reset_log()
        requests = gateway.preview(Message(self.recipients, self.plain_text))
        assert requests and emulator.requests == []
        secret = self.secret(emulator)
        for request in requests:
            assert secret not in request.url and secret.encode() not in request.body
            assert all(secret not in v for _, v in request.headers)

    def test_contract_schedule(self, gateway: Gateway, spec: ProviderSpec) -> None:
        when = datetime.now(timezone.utc) + timedelta(days=2)
        message = Message(self.recipients[0], self.plain_text, send_at=when)
        if not spec.capabilities.scheduling:
            with pytest.raises(ValidationError, match="send_at"):
                gateway.send(message)
            return
        result = gateway.send(message)
        assert [o.status for o in result.outcomes] == [Status.SCHEDULED], result
        with pytest.raises(ValidationError, match="past"):
            gateway.send(attrs.evolve(message, send_at=datetime.now(timezone.utc) - timedelta(hours=1)))

    # -- failures --------------------------------------------------------------------------

    def test_contract_code_table(self, gateway: Gateway) -> None:
        assert self.codes, "declare the gateway's code table in `codes`"
        message = Message(self.recipients[0], self.plain_text)
        operation = Send(gateway.prepare(message)[0].batches[0])
        for code, expected in self.codes.items():
            failure = Failure(GatewayError("test", code=code), operation)
            got = gateway.hooks.classify_error(failure, gateway.settings).verdict
            assert got is expected, f"code {code}: {got} != {expected}"

    def test_contract_unreadable_reply_is_never_accepted(self, gateway: Gateway, emulator: Emulator) -> None:
        emulator.inject(Fault.MALFORMED, times=10)
        result = gateway.send(Message(self.recipients[0], self.plain_text))
        assert all(o.status is not Status.ACCEPTED for o in result.outcomes)
        assert result.error is not None

    def test_contract_lost_reply_is_unknown_or_deduplicated(
        self, gateway: Gateway, emulator: Emulator, spec: ProviderSpec
    ) -> None:
        emulator.inject(Fault.RESET_BEFORE_REPLY)
        result = gateway.send(Message(self.recipients[0], self.plain_text, key="contract-lost-reply"))
        (outcome,) = result.outcomes
        caps = spec.capabilities
        if (caps.dedup and self.dedup_replays) or "reconcile" in caps.operations:
            assert outcome.status is Status.ACCEPTED, result
        else:
            assert outcome.status is Status.UNKNOWN, result
        if caps.dedup:
            assert result.requests >= 2, "resent under the same key"

    def test_contract_secret_absent_from_logs_and_errors(
        self, emulator: Emulator, registry: Registry, caplog: pytest.LogCaptureFixture
    ) -> None:
        secret = self.secret(emulator)
        caplog.set_level(logging.DEBUG)
        texts: list[str] = []
        with connect(self.dsn(emulator), registry=registry, sleep=lambda _: None) as gateway:
            for fault in (Fault.SERVER_ERROR, Fault.MALFORMED, Fault.RESET_BEFORE_REPLY):
                emulator.inject(fault, times=10)
                result = gateway.send(Message(self.recipients[0], self.plain_text))
                texts += [repr(result), str(result.error), repr(getattr(result.error, "body", ""))]
                emulator.clear_faults()
        wrong = self.dsn(emulator).replace(secret, secret[::-1] + "x")
        with connect(wrong, registry=registry, sleep=lambda _: None) as gateway:
            result = gateway.send(Message(self.recipients[0], self.plain_text))
            assert not result.ok
            texts += [repr(result), str(result.error), repr(getattr(result.error, "body", ""))]
        for text in [*texts, caplog.text]:
            assert secret not in text

    def test_contract_parser_never_crashes(self, gateway: Gateway) -> None:
        hypothesis = pytest.importorskip("hypothesis")
        st = hypothesis.strategies
        plan = gateway.prepare(Message(self.recipients[0], self.plain_text))[0]
        operation = Send(plan.batches[0])

        @hypothesis.settings(max_examples=200, deadline=None)  # type: ignore[untyped-decorator]
        @hypothesis.given(st.sampled_from([200, 400, 500]), st.binary(max_size=300))  # type: ignore[untyped-decorator]
        def check(status: int, body: bytes) -> None:
            try:
                receipt = gateway.hooks.parse_response(operation, HttpResponse(status, body), plan.settings)
            except SmsgateError:
                return
            assert all(o.status in Status for o in receipt.outcomes)

        check()
