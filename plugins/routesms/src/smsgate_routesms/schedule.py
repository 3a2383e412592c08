"""Scheduling fields of ``/bulksms/schedulemsg``: ``date`` (MM/DD/YYYY), ``time`` (hh:mm am/pm) and
``gmt`` (+hh:mm), written in the zone of the ``timezone`` option.

The gateway takes the wall-clock time together with its UTC offset, so any zone works as long as
its offset at that moment fits the documented ``gmt`` range: hours 0 to 12, minutes 00 or 30.
Offsets outside it (Asia/Kathmandu +05:45, Pacific/Auckland in summer +13:00, ...) are refused
before anything is sent. The time has minute precision; seconds are rounded up, so a message never
goes before the time asked for.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from smsgate import hookimpl
from smsgate.errors import ValidationError
from smsgate_routesms.settings import RoutesmsSettings
from smsgate_routesms.settings import zone as load_zone

MAX_GMT_HOURS = 12
_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2}) ?([ap]m)", re.IGNORECASE)
_GMT = re.compile(r"(?:GMT ?)?([+-])(\d{1,2}):(\d{2})", re.IGNORECASE)


def gmt_offset(offset: timedelta) -> str:
    """``offset`` as the gateway's ``gmt`` (``+05:30``); ``ValueError`` when out of its range."""
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    minutes, rest = divmod(abs(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if rest or minutes not in (0, 30) or hours > MAX_GMT_HOURS:
        raise ValueError(
            f"UTC offset {sign}{hours:02d}:{minutes:02d} is outside the gmt range -12:00..+12:00 (mm 00 or 30)"
        )
    return f"{sign}{hours:02d}:{minutes:02d}"


def fields(when: datetime, settings: RoutesmsSettings) -> dict[str, str]:
    """The ``schedule_format`` hook: the scheduling fields in the account's ``timezone``."""
    return zone_fields(when, settings.timezone)


def zone_fields(when: datetime, zone: str) -> dict[str, str]:
    """The ``date``, ``time`` and ``gmt`` fields for the aware datetime ``when``."""
    instant = when.astimezone(timezone.utc)
    if instant.second or instant.microsecond:
        instant = instant.replace(second=0, microsecond=0) + timedelta(minutes=1)
    local = instant.astimezone(load_zone(zone))
    offset = local.utcoffset() or timedelta(0)
    try:
        gmt = gmt_offset(offset)
    except ValueError as exc:
        rule = f"{zone} at {local:%Y-%m-%d %H:%M}: {exc}; choose another timezone option (e.g. UTC)"
        raise ValidationError("timezone", rule) from None
    hour12 = local.hour % 12 or 12
    meridiem = "am" if local.hour < 12 else "pm"
    return {"date": f"{local:%m/%d/%Y}", "time": f"{hour12:02d}:{local.minute:02d} {meridiem}", "gmt": gmt}


def parse_fields(date: str, time: str, gmt: str) -> datetime:
    """The UTC instant the three fields name (the gateway's side); ``ValueError`` when invalid.

    Accepts every documented form: ``GMT +1:30``, ``GMT -hh:mm``, ``+hh:mm``, ``-hh:mm``; hours
    ``00`` to ``12`` with ``am``/``pm`` (``12:15 am`` and ``00:15 am`` are both a quarter past
    midnight).
    """
    d, t, g = _DATE.fullmatch(date.strip()), _TIME.fullmatch(time.strip()), _GMT.fullmatch(gmt.strip())
    if d is None or t is None or g is None:
        raise ValueError("date must be MM/DD/YYYY, time hh:mm am|pm, gmt [GMT ]+hh:mm")
    hour, minute = int(t.group(1)), int(t.group(2))
    gh, gm = int(g.group(2)), int(g.group(3))
    if hour > 12 or minute > 59 or gh > MAX_GMT_HOURS or gm not in (0, 30):
        raise ValueError("time or gmt out of range")
    hour = hour % 12 + (12 if t.group(3).lower() == "pm" else 0)
    sign = -1 if g.group(1) == "-" else 1
    offset = timezone(sign * timedelta(hours=gh, minutes=gm))
    local = datetime(int(d.group(3)), int(d.group(1)), int(d.group(2)), hour, minute, tzinfo=offset)
    return local.astimezone(timezone.utc)


#: The ``schedule_format`` hook: this module's :func:`fields`.
schedule_format = hookimpl(fields)
