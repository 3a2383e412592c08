"""MkDocs hooks for the documentation site (``nox -s docs``; configured in mkdocs.yml).

- ``providers.md``, the capability matrix, is generated at build time from the specs of the
  installed provider plugins, so it cannot drift from the code.
- Each plugin's README becomes ``providers/NAME.md``.
- Links that leave ``docs/`` (``../benchmarks/RESULTS.md``) name the repository file instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
_OUTSIDE = re.compile(r"\[([^\]]+)\]\(\.\./([^)#\s]+)\)")

_YES, _NO = "yes", "–"


def _flag(value: object) -> str:
    return _YES if value else _NO


def capability_matrix() -> str:
    """The Markdown page: one row per installed provider, from its ``ProviderSpec``."""
    from smsgate.plugins import Registry

    registry = Registry()
    rows = []
    for name, provider in sorted(registry.providers.items()):
        spec, caps = provider.spec, provider.spec.capabilities
        dedup = f"`{caps.dedup}` ({caps.dedup_window:g} s)" if caps.dedup and caps.dedup_window else _NO
        page = f"[{name}](providers/{name}.md)" if (ROOT / "plugins" / name / "README.md").is_file() else name
        cells = [
            page,
            f"`{provider.distribution}` {provider.version}",
            f"`{spec.default_host}`" if spec.default_host else "account-specific",
            str(caps.max_recipients),
            str(caps.max_parts),
            _flag(caps.scheduling),
            dedup,
            _flag(caps.flash),
            _flag(caps.unicode),
            f"`{caps.test_mode}`" if caps.test_mode else _NO,
            str(caps.max_connections),
            ", ".join(sorted(caps.operations)),
            _flag(caps.delivery_reports),
            " + ".join(m for m in ("push", "pull") if m in caps.inbound) or _NO,
        ]
        rows.append("| " + " | ".join(cells) + " |")
    head = [
        "provider",
        "distribution",
        "default host",
        "recipients / request",
        "max parts",
        "scheduling",
        "de-duplication (window)",
        "flash",
        "Unicode",
        "test mode",
        "connections",
        "operations",
        "delivery reports",
        "incoming messages",
    ]
    lines = [
        "# Providers",
        "",
        "Generated from the installed plugins' `provider_spec` when the site was built "
        "(`smsgate providers --json` shows the same on your machine). Each provider's page lists its DSN and "
        "every option. Incoming messages: `push`, the gateway calls `smsgate serve`; `pull`, "
        "`smsgate inbound fetch` asks for them ([Inbound](inbound.md)).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *rows,
    ]
    for failure in registry.failures:
        lines.append(f"\n**{failure.name}** failed to load: `{failure.error}`")
    return "\n".join(lines) + "\n"


def _outside_links(markdown: str) -> str:
    return _OUTSIDE.sub(lambda m: f"{m[1]} (`{m[2]}` in the repository)", markdown)


def on_files(files: Any, config: Any) -> Any:
    """Add the generated matrix and the plugin READMEs to the site."""
    import importlib

    File = importlib.import_module("mkdocs.structure.files").File  # mkdocs: only in the docs session

    generated = {"providers.md": capability_matrix()}
    for readme in sorted(ROOT.glob("plugins/*/README.md")):
        generated[f"providers/{readme.parent.name}.md"] = readme.read_text(encoding="utf-8")
    for path, content in generated.items():
        files.append(File.generated(config, path, content=content))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return _outside_links(markdown)
