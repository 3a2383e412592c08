"""Scheduling (``date``) and the gateway's ``YYYY-MM-DD HH:MM:SS`` timestamps, in its time zone.

The reference does not say which zone ``date`` (scheduling) and the reply timestamps are in
(*unverified*); SerwerSMS is a Polish service, so the zone is a setting that defaults to
``Europe/Warsaw``. Local wall-clock strings carry no offset: in the autumn hour that occurs
twice, the gateway can only read the earlier one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from smsgate import hookimpl
from smsgate_serwersms.settings import SerwerSmsSettings

if TYPE_CHECKING:
    import zoneinfo

FORMAT = "%Y-%m-%d %H:%M:%S"


@functools.lru_cache(maxsize=16)
def zone(name: str) -> zoneinfo.ZoneInfo:
    import zoneinfo  # here, not at the top: discovery does not need it

    return zoneinfo.ZoneInfo(name)


def format_local(when: datetime, zone_name: str) -> str:
    """An aware ``when`` as the gateway's local ``YYYY-MM-DD HH:MM:SS``."""
    return when.astimezone(zone(zone_name)).strftime(FORMAT)


def fields(when: datetime, settings: SerwerSmsSettings) -> Mapping[str, str]:
    """The ``schedule_format`` hook: ``date`` in the gateway's ``timezone``."""
    return {"date": format_local(when, settings.timezone)}


def parse_local(text: object, zone_name: str) -> datetime | None:
    """The gateway's local timestamp as an aware UTC datetime; ``None`` when absent or unreadable.

    ``YYYY-MM-DD HH:MM:SS`` is the documented form; an ISO 8601 time (``T``, fractions, an
    offset) is read too, in the gateway's zone unless it carries its own offset.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        when = datetime.strptime(text.strip(), FORMAT)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone(zone_name))
    try:
        return when.astimezone(timezone.utc)
    except (OverflowError, ValueError):  # year 1 in a zone east of UTC
        return None


#: The ``schedule_format`` hook: this module's :func:`fields`.
schedule_format = hookimpl(fields)
