"""docs/delivery-semantics.md's provider table says what each installed provider declares."""

from __future__ import annotations

from pathlib import Path

from smsgate.plugins import Registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "delivery-semantics.md"
HEADER = "| provider | de-dup field | de-dup window | lookup | lookup delay |"


def documented() -> dict[str, list[str]]:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER)
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def declared(registry: Registry, name: str) -> list[str]:
    caps = registry.provider(name).spec.capabilities
    field = f"`{caps.dedup}`" if caps.dedup else "none"
    window = f"{caps.dedup_window:.0f} s" if caps.dedup and caps.dedup_window else "-"
    lookup = "yes" if "reconcile" in caps.operations else "no"
    return [field, window, lookup, f"{caps.lookup_delay:.0f} s"]


def test_the_table_matches_every_installed_provider() -> None:
    registry = Registry()
    rows = documented()
    assert sorted(rows) == sorted(registry.providers), "one row per installed provider"
    for name in registry.providers:
        assert rows[name] == declared(registry, name), f"docs/delivery-semantics.md row for {name}"
