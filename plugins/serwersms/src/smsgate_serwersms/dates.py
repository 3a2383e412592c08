"""The gateway's ``YYYY-MM-DD HH:MM:SS`` timestamps, in its time zone.

The reference does not say which zone ``date`` (scheduling) and the reply timestamps are in
(*unverified*); SerwerSMS is a Polish service, so the zone is a setting that defaults to
``Europe/Warsaw``. Local wall-clock strings carry no offset: in the autumn hour that occurs
twice, the gateway can only read the earlier one.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime, timezone

FORMAT = "%Y-%m-%d %H:%M:%S"


@functools.lru_cache(maxsize=16)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def format_local(when: datetime, zone_name: str) -> str:
    """An aware ``when`` as the gateway's local ``YYYY-MM-DD HH:MM:SS``."""
    return when.astimezone(zone(zone_name)).strftime(FORMAT)


def parse_local(text: object, zone_name: str) -> datetime | None:
    """The gateway's local timestamp as an aware UTC datetime; ``None`` when absent or unreadable."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        naive = datetime.strptime(text.strip(), FORMAT)
    except ValueError:
        return None
    return naive.replace(tzinfo=zone(zone_name)).astimezone(timezone.utc)
