"""The one place that touches package metadata (``importlib-metadata``, the backport).

The backport gives the same ``EntryPoint.dist`` and selection API on every supported Python.
"""

from __future__ import annotations

import functools

import importlib_metadata as _md

EntryPoint = _md.EntryPoint
PackageNotFoundError = _md.PackageNotFoundError


@functools.lru_cache(maxsize=1)
def _all() -> _md.EntryPoints:
    """Every installed entry point, read once (one scan of the installed distributions)."""
    return _md.entry_points()


def entry_points(group: str) -> tuple[EntryPoint, ...]:
    """The entry points of ``group``, one per name (the first found wins), sorted by name."""
    seen: dict[str, EntryPoint] = {}
    for ep in _all().select(group=group):
        seen.setdefault(ep.name, ep)
    return tuple(seen[name] for name in sorted(seen))


def distribution_of(ep: EntryPoint) -> tuple[str, str]:
    """``(name, version)`` of the distribution that declares ``ep`` (``("?", "?")`` if unknown)."""
    dist = ep.dist
    if dist is None:
        return ("?", "?")
    fields = _header(dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "")
    if "Name" not in fields or "Version" not in fields:  # unusual metadata: the full parser
        return (dist.metadata["Name"] or "?", dist.version or "?")
    return (fields["Name"] or "?", fields["Version"] or "?")


def _header(text: str) -> dict[str, str]:
    """The one-line fields of a core-metadata header (``Name``, ``Version``), read without the
    ``email`` package that ``Distribution.metadata`` imports and runs (about 10 ms at start-up)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line:  # the end of the header; the description follows
            break
        key, sep, value = line.partition(":")
        if sep and not line[0].isspace():
            fields.setdefault(key.strip(), value.strip())
    return fields


def version(distribution: str) -> str | None:
    try:
        return _md.version(distribution)
    except PackageNotFoundError:
        return None
