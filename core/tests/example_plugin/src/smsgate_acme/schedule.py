"""Scheduling: Acme takes ``send_at`` as an ISO 8601 UTC timestamp."""

from __future__ import annotations

from datetime import datetime, timezone

from smsgate import hookimpl
from smsgate_acme.settings import AcmeSettings


def fields(when: datetime, settings: AcmeSettings) -> dict[str, str]:
    """The ``schedule_format`` hook: the scheduling fields for an aware ``when`` (the core
    refused naive and past times)."""
    return {"send_at": when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


#: The ``schedule_format`` hook: this module's :func:`fields`.
schedule_format = hookimpl(fields)
