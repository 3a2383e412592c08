"""Scheduling: the legacy API's fixed GMT+1 timestamp and the JSON API's ISO 8601 with offset,
on both sides of the daylight-saving changes of France (where a GMT+1 clock and a Paris clock
agree in winter and differ by an hour in summer)."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from smsgate.errors import ValidationError
from smsgate.gateway import Gateway
from smsgate.models import Message, Status
from smsgate_octopush.emulator import OctopushEmulator
from smsgate_octopush.schedule import from_legacy_timestamp, legacy_timestamp

PARIS = ZoneInfo("Europe/Paris")


def wall(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> int:
    """Seconds of a wall-clock time counted as if it were UTC."""
    return calendar.timegm(datetime(year, month, day, hour, minute, second).timetuple())


def test_spring_forward_2026() -> None:
    before = datetime(2026, 3, 29, 1, 30, tzinfo=PARIS)  # CET, UTC+1: GMT+1 and Paris agree
    after = datetime(2026, 3, 29, 3, 30, tzinfo=PARIS)  # CEST, UTC+2: GMT+1 shows 02:30
    assert legacy_timestamp(before) == wall(2026, 3, 29, 1, 30, 0)
    assert legacy_timestamp(after) == wall(2026, 3, 29, 2, 30, 0)
    assert legacy_timestamp(after) - legacy_timestamp(before) == 3600  # one real hour apart


def test_fall_back_2026() -> None:
    first = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=0)  # CEST
    second = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1)  # CET, an hour later
    assert legacy_timestamp(first) == wall(2026, 10, 25, 1, 30, 0)
    assert legacy_timestamp(second) == wall(2026, 10, 25, 2, 30, 0)


def test_other_zones_and_round_trip() -> None:
    warsaw = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Warsaw"))  # 10:00 UTC
    assert legacy_timestamp(warsaw) == wall(2026, 7, 1, 11, 0, 0)
    assert legacy_timestamp(warsaw) == int(warsaw.timestamp()) + 3600
    assert from_legacy_timestamp(legacy_timestamp(warsaw)) == warsaw


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 3, 29, 1, 30, tzinfo=PARIS), "2026-03-29T01:30:00+01:00"),
        (datetime(2026, 3, 29, 3, 30, tzinfo=PARIS), "2026-03-29T03:30:00+02:00"),
        (datetime(2026, 3, 29, 0, 30, 15, 999, tzinfo=timezone.utc), "2026-03-29T00:30:15+00:00"),
    ],
)
def test_v1_send_at_keeps_the_offset(offline: Callable[..., Gateway], when: datetime, expected: str) -> None:
    gateway = offline("api=v1")
    fields = gateway.hooks.schedule_format(when, gateway.settings)
    assert fields == {"send_at": expected}
    assert datetime.fromisoformat(fields["send_at"]) == when.replace(microsecond=0)


def test_legacy_fields(offline: Callable[..., Gateway]) -> None:
    gateway = offline()
    when = datetime(2026, 3, 29, 3, 30, tzinfo=PARIS)
    stamp = str(wall(2026, 3, 29, 2, 30, 0))
    assert gateway.hooks.schedule_format(when, gateway.settings) == {
        "sms_mode": "2",
        "sending_date": stamp,
        "sending_time": stamp,
    }


@pytest.mark.parametrize("api", ["legacy", "v1"])
@pytest.mark.parametrize("local", [(2031, 3, 30, 1, 30), (2031, 3, 30, 3, 30)])  # either side of the change
def test_emulator_schedules_the_right_instant(
    online: Callable[..., Gateway], emulator: OctopushEmulator, api: str, local: tuple[int, int, int, int, int]
) -> None:
    year, month, day, hour, minute = local
    when = datetime(year, month, day, hour, minute, tzinfo=PARIS)
    result = online(api).send(Message("+48500600700", "later", send_at=when))
    assert result.outcomes[0].status is Status.SCHEDULED
    assert emulator.messages[0].send_at == when.timestamp()


@pytest.mark.parametrize("api", ["legacy", "v1"])
def test_past_and_naive_times_are_refused(online: Callable[..., Gateway], emulator: OctopushEmulator, api: str) -> None:
    gateway = online(api)
    with pytest.raises(ValidationError, match="past"):
        gateway.send(Message("+48500600700", "late", send_at=datetime.now(timezone.utc) - timedelta(hours=1)))
    with pytest.raises(ValidationError, match="timezone-aware"):
        gateway.send(Message("+48500600700", "late", send_at=datetime(2031, 1, 1, 12, 0)))
    assert emulator.requests == []
