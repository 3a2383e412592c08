"""The ecosystem tests' summary line: how many documentation samples ran (tests/docs_samples.py)."""

from __future__ import annotations

import pytest

_DOCS = pytest.StashKey[bool]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[_DOCS] = any(item.path.name == "test_docs_samples.py" for item in items)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if config.stash.get(_DOCS, False):
        from docs_samples import counts

        terminalreporter.write_line(counts())
