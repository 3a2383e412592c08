"""Scheduling: ``send_time`` is a wall-clock time in the time zone the account is set to.

The EAPI takes ``send_time`` as ``yyyy-MM-dd HH:mm:ss`` in the account's zone (the ``timezone``
option, an IANA name) or ``send_time_unixtime`` as seconds since the Unix epoch (the
``schedule_field`` option). A wall-clock time in the hour repeated when the clocks go back is
ambiguous: the first occurrence is written as usual (that is how the gateway will read it), the
second is refused, since the gateway would send it an hour early; use
``schedule_field=send_time_unixtime`` for such times.
"""

from __future__ import annotations

from datetime import datetime, timezone

from smsgate import hookimpl
from smsgate.errors import ValidationError
from smsgate_bulksms.settings import BulkSmsSettings

SEND_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _second_of_two(local: datetime) -> bool:
    """Whether ``local`` is the later of two instants with the same wall-clock time."""
    if not local.fold:
        return False
    wall = local.replace(tzinfo=None)
    zone = local.tzinfo
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    return first.utcoffset() != second.utcoffset()


def fields(when: datetime, settings: BulkSmsSettings) -> dict[str, str]:
    """The scheduling parameter for the aware datetime ``when``."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError("send_at", "must be timezone-aware")
    if settings.schedule_field == "send_time_unixtime":
        return {"send_time_unixtime": str(int(when.astimezone(timezone.utc).timestamp()))}
    local = when.astimezone(settings.zone)
    if _second_of_two(local):
        raise ValidationError(
            "send_at",
            f"{when.isoformat()} is {local.strftime(SEND_TIME_FORMAT)} for the second time in {settings.timezone} "
            "(the clocks go back); send_time cannot tell which one is meant, so the gateway would send an hour "
            "early. Use schedule_field=send_time_unixtime, or another time",
        )
    return {"send_time": local.strftime(SEND_TIME_FORMAT)}


#: How the gateway writes report times: the HTTP push documents ``completed_time`` as
#: ``yy-MM-dd HH:mm:ss`` (two-digit year); get_report's format is not documented, and the
#: four-digit ``yyyy-MM-dd HH:mm:ss`` of ``send_time`` is read as well.
REPORT_TIME_FORMATS = (SEND_TIME_FORMAT, "%y-%m-%d %H:%M:%S")


def parse_local(text: str, settings: BulkSmsSettings) -> datetime | None:
    """A report time written in the account's zone (``yy-MM-dd HH:mm:ss`` as the HTTP push
    documentation gives it, or ``yyyy-MM-dd HH:mm:ss``), or ``None`` in any other format. The
    two never overlap: ``%Y`` takes exactly four digits and ``%y`` exactly two."""
    value = text.strip()
    for layout in REPORT_TIME_FORMATS:
        try:
            wall = datetime.strptime(value, layout)
        except ValueError:
            continue
        return wall.replace(tzinfo=settings.zone)
    return None


#: The ``schedule_format`` hook: this module's :func:`fields`.
schedule_format = hookimpl(fields)
