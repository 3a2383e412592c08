"""The documentation site's generated capability matrix covers every installed provider."""

from __future__ import annotations

import importlib.util

from ecosystem import PLUGINS, ROOT

from smsgate.plugins import Registry

_spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "mkdocs_hooks.py")
assert _spec is not None and _spec.loader is not None
mkdocs_hooks = importlib.util.module_from_spec(_spec)  # the site's hook module, at the repository root
_spec.loader.exec_module(mkdocs_hooks)


def test_capability_matrix_has_a_row_per_provider_from_its_spec() -> None:
    page = mkdocs_hooks.capability_matrix()
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in page.splitlines() if line.startswith("| [")}
    registry = Registry()
    for name in [*PLUGINS, "outbox"]:
        if name in registry.providers:
            caps = registry.provider(name).spec.capabilities
            label = f"[{name}](providers/{name}.md)" if name in PLUGINS else name
            row = rows.get(label) or next(line for line in page.splitlines() if line.startswith(f"| {name} |"))
            assert f" | {caps.max_recipients} | {caps.max_parts} | " in row, row
    for failure in registry.failures:
        assert f"**{failure.name}** failed to load" in page


def test_links_out_of_docs_name_the_repository_file() -> None:
    text = mkdocs_hooks._outside_links("see [the results](../benchmarks/RESULTS.md).")
    assert text == "see the results (`benchmarks/RESULTS.md` in the repository)."
