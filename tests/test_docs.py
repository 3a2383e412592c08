"""The docs stay honest: every hook is documented with its exact signature and tested."""

from __future__ import annotations

import inspect

import pytest
from ecosystem import ROOT

from smsgate import hookspecs

HOOKS = sorted(n for n, f in vars(hookspecs).items() if inspect.isfunction(f) and hasattr(f, "smsgate_spec"))


def _signature(name: str) -> str:
    return f"{name}{inspect.signature(getattr(hookspecs, name))}".replace("'", "")


def test_there_are_hooks() -> None:
    assert {"build_request", "parse_response", "classify_error", "schedule_format"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_signature(name: str) -> None:
    assert f"## `{_signature(name)}`" in (ROOT / "docs" / "hooks.md").read_text()


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_exercised_by_the_core_tests(name: str) -> None:
    outbox = (ROOT / "core/src/smsgate/builtin/outbox.py").read_text()
    if name not in hookspecs.APP_HOOKS:  # app hooks are for app plugins, not providers
        assert f"def {name}(" in outbox or f"{name} = handlers.{name}" in outbox
    tests = "".join(p.read_text() for p in (ROOT / "core" / "tests").glob("test_*.py"))
    assert f"test_hook_{name}" in tests, f"core/tests needs a test_hook_{name}"


def test_every_plugin_has_a_readme_with_its_dsn() -> None:
    for readme in ROOT.glob("plugins/*/README.md"):
        name = readme.parent.name
        assert f"{name}://" in readme.read_text(), f"{readme} must show the DSN"
        assert f"plugins/{name}" in (ROOT / "README.md").read_text()
