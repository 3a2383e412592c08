"""Scheduling fields, with each API's time rule.

The legacy API wants a Unix timestamp; the seed documents it as "au format GMT+1". Octopush's
own clients show what that means on the wire: the official PHP client computes it with
``mktime()`` on a host set to Europe/Paris (its comment reads "GMT + 1 (Europe/Paris)"), the
official Python client with ``time.mktime()``, and the PHP SDK with ``DateTime::getTimestamp()``.
All three send the ordinary Unix time (seconds since 1970-01-01 UTC) of the instant; "GMT+1"
names the French wall clock the caller's date is read in, not an offset added to the number. An
aware datetime has no such ambiguity, so the timestamp is simply its Unix time, right on both
sides of a daylight-saving change (a number with 3600 added would be an hour late in winter and
summer alike against those clients and a gateway that reads them correctly).

The JSON API takes ISO 8601 with an explicit offset; the caller's own offset is kept.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from smsgate import hookimpl
from smsgate_octopush.settings import OctopushSettings


def legacy_timestamp(when: datetime) -> int:
    """``when`` (aware) as the legacy API's timestamp: its Unix time in whole seconds."""
    return calendar.timegm(when.utctimetuple())


def from_legacy_timestamp(value: int) -> datetime:
    """The instant (UTC) a legacy timestamp stands for."""
    return datetime.fromtimestamp(value, timezone.utc)


def legacy_fields(when: datetime) -> dict[str, str]:
    """``sms_mode=2`` and the date, under both names Octopush's clients use (see the README):
    ``sending_date`` (the seed, the official Python client) and ``sending_time`` (the official
    PHP client, the PHP SDK)."""
    stamp = str(legacy_timestamp(when))
    return {"sms_mode": "2", "sending_date": stamp, "sending_time": stamp}


def v1_send_at(when: datetime) -> str:
    """``send_at``: ISO 8601 with the offset of ``when`` (seconds precision), the form of the
    documentation's example and of ``DateTime::ATOM`` in the official PHP client."""
    return when.replace(microsecond=0).isoformat()


def v1_fields(when: datetime) -> dict[str, str]:
    return {"send_at": v1_send_at(when)}


#: The scheduling fields of each API (``settings.api``).
FIELDS: Mapping[str, Callable[[datetime], dict[str, str]]] = {"legacy": legacy_fields, "v1": v1_fields}


def fields(when: datetime, settings: OctopushSettings) -> dict[str, str]:
    """The ``schedule_format`` hook: the fields of the API in use."""
    return FIELDS[settings.api](when)


#: The ``schedule_format`` hook: this module's :func:`fields`.
schedule_format = hookimpl(fields)
