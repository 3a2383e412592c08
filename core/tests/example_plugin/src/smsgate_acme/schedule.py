"""Scheduling: Acme takes ``send_at`` as an ISO 8601 UTC timestamp."""

from __future__ import annotations

from datetime import datetime, timezone


def format(when: datetime) -> dict[str, str]:
    """The scheduling fields for an aware ``when`` (the core refused naive and past times)."""
    return {"send_at": when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
