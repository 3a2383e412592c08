"""Scheduling fields, with each API's time rule.

The legacy API wants a Unix-style timestamp "in GMT+1": the wall-clock time at a fixed UTC+1
offset, counted in seconds as if it were UTC. It is a fixed offset, not Paris time: in summer
(CEST, UTC+2) the same instant gives a timestamp one hour smaller than a Paris wall clock would.
The JSON API takes ISO 8601 with an explicit offset; the caller's own offset is kept.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone

#: The legacy API's time base.
GMT_PLUS_1 = timezone(timedelta(hours=1), "GMT+1")


def legacy_timestamp(when: datetime) -> int:
    """``when`` (aware) as the legacy API's GMT+1 timestamp."""
    return calendar.timegm(when.astimezone(GMT_PLUS_1).timetuple())


def from_legacy_timestamp(value: int) -> datetime:
    """The instant a legacy GMT+1 timestamp stands for (UTC)."""
    wall = datetime(1970, 1, 1) + timedelta(seconds=value)
    return wall.replace(tzinfo=GMT_PLUS_1).astimezone(timezone.utc)


def legacy_fields(when: datetime) -> dict[str, str]:
    """``sms_mode=2`` and the date, under both names clients use (see the README)."""
    stamp = str(legacy_timestamp(when))
    return {"sms_mode": "2", "sending_date": stamp, "sending_time": stamp}


def v1_send_at(when: datetime) -> str:
    """``send_at``: ISO 8601 with the offset of ``when`` (seconds precision)."""
    return when.replace(microsecond=0).isoformat()


def v1_fields(when: datetime) -> dict[str, str]:
    return {"send_at": v1_send_at(when)}
