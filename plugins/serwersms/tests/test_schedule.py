"""``date`` in Polish local time (the zone is a setting): both sides of each DST change, the
past refused, and a scheduled send stored as ``saved`` by the emulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from serwersms_support import body

from smsgate.errors import ValidationError
from smsgate.gateway import Gateway
from smsgate.models import Message, Status
from smsgate_serwersms.emulator import SerwerSmsEmulator
from smsgate_serwersms.schedule import format_local, parse_local

Offline = Callable[..., Gateway]
UTC = timezone.utc


@pytest.mark.parametrize(
    ("when", "local"),
    [
        # spring forward, 2030-03-31: 02:00 CET becomes 03:00 CEST
        (datetime(2030, 3, 31, 0, 59, 59, tzinfo=UTC), "2030-03-31 01:59:59"),
        (datetime(2030, 3, 31, 1, 0, 0, tzinfo=UTC), "2030-03-31 03:00:00"),
        # fall back, 2030-10-27: 03:00 CEST becomes 02:00 CET (02:xx happens twice)
        (datetime(2030, 10, 27, 0, 30, tzinfo=UTC), "2030-10-27 02:30:00"),
        (datetime(2030, 10, 27, 1, 30, tzinfo=UTC), "2030-10-27 02:30:00"),
        (datetime(2030, 10, 27, 2, 0, tzinfo=UTC), "2030-10-27 03:00:00"),
        # an aware time in another zone is converted, not copied
        (datetime(2030, 7, 1, 9, 0, tzinfo=ZoneInfo("America/New_York")), "2030-07-01 15:00:00"),
    ],
)
def test_schedule_format_around_dst(offline: Offline, when: datetime, local: str) -> None:
    gateway = offline()
    assert gateway.hooks.schedule_format(when, gateway.settings) == {"date": local}
    (request,) = gateway.preview(Message("+48500600700", "Hi", send_at=when), redact=False)
    assert body(request)["date"] == local


def test_the_zone_is_a_setting(offline: Offline) -> None:
    gateway = offline("timezone=UTC")
    when = datetime(2030, 7, 1, 10, 0, tzinfo=UTC)
    assert gateway.hooks.schedule_format(when, gateway.settings) == {"date": "2030-07-01 10:00:00"}


def test_the_zone_option_is_timezone_and_the_old_spelling_still_works(offline: Offline) -> None:
    when = datetime(2030, 7, 1, 10, 0, tzinfo=UTC)
    gateway = offline("timezone=UTC")
    assert gateway.hooks.schedule_format(when, gateway.settings) == {"date": "2030-07-01 10:00:00"}
    with pytest.warns(DeprecationWarning, match="timezone"):
        old = offline("time_zone=Asia/Tokyo")
    assert (old.settings.timezone, old.settings.time_zone) == ("Asia/Tokyo", None)
    assert old.hooks.schedule_format(when, old.settings) == {"date": "2030-07-01 19:00:00"}


def test_the_past_is_refused_before_sending(offline: Offline) -> None:
    with pytest.raises(ValidationError, match="past"):
        offline().preview(Message("+48500600700", "Hi", send_at=datetime.now(UTC) - timedelta(hours=2)))
    with pytest.raises(ValidationError, match="timezone-aware"):
        offline().preview(Message("+48500600700", "Hi", send_at=datetime(2030, 1, 1)))


def test_local_timestamps_round_trip_outside_the_repeated_hour() -> None:
    for when in (datetime(2030, 3, 31, 1, 0, tzinfo=UTC), datetime(2030, 10, 27, 2, 0, tzinfo=UTC)):
        assert parse_local(format_local(when, "Europe/Warsaw"), "Europe/Warsaw") == when
    # the repeated autumn hour can only be read as its first occurrence
    late = datetime(2030, 10, 27, 1, 30, tzinfo=UTC)
    assert parse_local(format_local(late, "Europe/Warsaw"), "Europe/Warsaw") == late - timedelta(hours=1)
    assert parse_local("garbage", "Europe/Warsaw") is None and parse_local(None, "Europe/Warsaw") is None


def test_scheduled_send_is_saved_until_due(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    when = datetime.now(UTC) + timedelta(days=3)
    result = gateway.send(Message("+48500600700", "Later", send_at=when))
    (outcome,) = result.outcomes
    assert outcome.status is Status.SCHEDULED and outcome.message_id
    (report,) = gateway.status(outcome.message_id)
    assert report.raw["status"] == "saved"
    assert gateway.call("delete", id=outcome.message_id) == {"success": True}
    assert gateway.call("delete", id=outcome.message_id) == {"success": False}
