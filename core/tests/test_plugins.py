"""Discovery, isolation of broken plugins, allow/block lists, and app plugins wrapping hooks."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from core_kit import dsn_for

from smsgate import Message, PluginError, Status, UnknownProviderError, connect, hookimpl
from smsgate.builtin import outbox
from smsgate.builtin.outbox_emulator import OutboxEmulator
from smsgate.models import Classification, Failure, Verdict
from smsgate.plugins import PROVIDER_GROUP, Registry


def test_installed_providers_are_discovered() -> None:
    registry = Registry(env={})
    provider = registry.provider("outbox")
    assert provider.distribution == "smsgate" and provider.version != "?"


def test_allow_and_block_lists() -> None:
    assert "outbox" not in Registry(env={"SMSGATE_DISABLE_PLUGINS": "outbox,other"}).providers
    assert Registry(env={"SMSGATE_LOAD_PLUGINS": ""}).providers == {}
    assert "outbox" in Registry(env={"SMSGATE_LOAD_PLUGINS": "outbox"}).providers


def test_unknown_scheme_names_no_unpublished_distribution(registry: Registry) -> None:
    with pytest.raises(UnknownProviderError, match="no smsgate provider for scheme 'twilio'") as info:
        connect("twilio://a:b@default", registry=registry)
    assert "pip install smsgate-" not in str(info.value) and "smsgate.providers" in str(info.value)


def test_misspelt_hookimpl_fails_loudly() -> None:
    @hookimpl
    def build_reqest(operation: Any) -> None:  # the typo is the point
        return None

    broken = SimpleNamespace(__name__="typo", provider_spec=outbox.provider_spec, build_reqest=build_reqest)
    with pytest.raises(PluginError, match="build_reqest"):
        Registry(load_entrypoints=False).register(broken)


def test_hookimpl_with_unknown_argument_fails() -> None:
    @hookimpl
    def classify_error(failure: Failure, colour: str) -> None:
        return None

    with pytest.raises(PluginError, match="colour"):
        Registry(load_entrypoints=False).add_extension(SimpleNamespace(__name__="bad", classify_error=classify_error))


def test_duplicate_provider_names_conflict() -> None:
    registry = Registry(load_entrypoints=False)
    registry.register(outbox)
    clone = SimpleNamespace(__name__="clone", provider_spec=outbox.provider_spec)
    with pytest.raises(PluginError, match="conflicting providers named 'outbox'"):
        registry.register(clone, distribution="smsgate-clone")


def test_broken_entry_point_is_skipped_or_fatal(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from smsgate import _metadata

    class Broken:
        name = "broken"
        dist = None

        def load(self) -> Any:
            raise ImportError("no module named 'smsgate_broken'")

    real = _metadata.entry_points
    monkeypatch.setattr(
        _metadata, "entry_points", lambda group: (*real(group), *([Broken()] if group == PROVIDER_GROUP else []))
    )
    registry = Registry(env={})
    assert "outbox" in registry.providers
    assert [f.name for f in registry.failures] == ["broken"] and "smsgate_broken" in registry.failures[0].error
    assert "skipping plugin 'broken'" in caplog.text
    with pytest.raises(PluginError, match="'broken'"):
        Registry(env={"SMSGATE_STRICT_PLUGINS": "1"})


class Reclassify:
    """An app-level plugin: the app treats the outbox's 'no_credit' as worth a retry."""

    @hookimpl(tryfirst=True)
    def classify_error(self, failure: Failure) -> Classification | None:
        if failure.code == "no_credit":
            return Classification(Verdict.RETRY, reason="credit is topped up automatically")
        return None


class Recorder:
    """An app-level plugin wrapping a provider hook (a logging or metrics plugin)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl(wrapper=True)
    def build_request(self, operation: Any) -> Any:
        request = yield
        self.seen.append(request.url)
        return request


def test_app_plugin_reclassifies_a_gateway_code(registry: Registry, emulator: OutboxEmulator) -> None:
    emulator.credit = 0
    sleeps: list[float] = []
    with connect(dsn_for(emulator), registry=registry, sleep=sleeps.append) as gateway:
        assert gateway.send(Message("+48500600700", "x")).outcomes[0].retryable is False
    registry.add_extension(Reclassify())
    with connect(dsn_for(emulator, options="attempts=2"), registry=registry, sleep=sleeps.append) as gateway:
        result = gateway.send(Message("+48500600700", "x"))
    assert result.requests == 2 and len(sleeps) == 1
    assert result.outcomes[0].status is Status.REJECTED and result.outcomes[0].retryable


def test_app_plugin_wraps_a_provider_hook(registry: Registry, emulator: OutboxEmulator) -> None:
    recorder = Recorder()
    registry.add_extension(recorder)
    with connect(dsn_for(emulator), registry=registry) as gateway:
        gateway.send(Message("+48500600700", "x"))
    assert recorder.seen == [f"{emulator.base_url}/v1/send"]


def test_provider_hooks_never_see_other_providers(registry: Registry) -> None:
    hooks = registry.hooks("nodedup")
    names = [name for name, _ in hooks.pm.list_name_plugin()]
    assert sum(n.startswith("provider:") for n in names) == 1


def test_no_log_from_quiet_discovery(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    Registry(env={})
    assert "skipping" not in caplog.text
