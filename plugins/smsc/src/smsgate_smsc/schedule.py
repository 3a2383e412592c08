"""``send_at`` as SMSC's ``time`` (and ``tz``) fields.

SMSC reads ``time`` as ``0<unix time>``, as ``DDMMYYhhmm`` / ``DD.MM.YY hh:mm`` wall time in the zone
``tz`` hours from **Moscow** (omitted: the account's own zone), as ``+m`` minutes or as an
``h1-h2`` hour window. An aware datetime is written in one of three unambiguous ways
(option ``time_format``):

- ``timestamp`` (default): ``time=0<unix seconds>``: an instant, no zone involved at all.
- ``moscow``: Moscow wall time with ``tz=0`` (Moscow keeps UTC+3 all year since 2014).
- ``local``: the datetime's own wall time with ``tz`` = its UTC offset minus Moscow's, in whole hours
  (a zone 30 or 45 minutes off the hour is refused: use one of the other two).

Wall times have minute precision; seconds are rounded up, so a message never leaves early.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone, tzinfo

from smsgate import hookimpl
from smsgate.errors import ValidationError

from .settings import SmscSettings

_WALL = "%d.%m.%y %H:%M"


def moscow() -> tzinfo:
    """Moscow's zone: tz database rules when available, else its fixed UTC+3."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Moscow")
    except (ImportError, LookupError, OSError, ValueError):  # no tz database on this system
        return timezone(timedelta(hours=3), "MSK")


def _minute_up(when: datetime) -> datetime:
    if when.second or when.microsecond:
        return when.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return when


def fields(when: datetime, settings: SmscSettings) -> Mapping[str, str]:
    """The ``time`` (and ``tz``) fields for the aware datetime ``when``."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError("send_at", "must be timezone-aware")
    if settings.send_window is not None:
        raise ValidationError("send_at", "cannot be combined with send_window (both use SMSC's time field)")
    if settings.time_format == "timestamp":
        seconds = int(when.timestamp())
        if seconds < when.timestamp():
            seconds += 1
        return {"time": f"0{seconds}"}
    if settings.time_format == "moscow":
        return {"time": _minute_up(when.astimezone(moscow())).strftime(_WALL), "tz": "0"}
    own = when.utcoffset() or timedelta(0)
    msk = when.astimezone(moscow()).utcoffset() or timedelta(0)
    hours, rest = divmod(own - msk, timedelta(hours=1))
    if rest:
        raise ValidationError(
            "send_at",
            f"{when.isoformat()} is not a whole number of hours from Moscow time; "
            "use time_format=timestamp or time_format=moscow",
        )
    return {"time": _minute_up(when).strftime(_WALL), "tz": str(hours)}


#: The ``schedule_format`` hook: this module's :func:`fields`.
schedule_format = hookimpl(fields)
