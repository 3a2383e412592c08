"""``send_at`` -> SMSC's ``time``/``tz``: each format on both sides of daylight-saving changes, a
time in the past refused, and every format read back by the emulator as the same instant."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import hypothesis
import hypothesis.strategies as st
import pytest

from smsgate.errors import ValidationError
from smsgate.gateway import Gateway
from smsgate.models import DeliveryStatus, Message, Status
from smsgate.spec import Secret
from smsgate.testing import Connector
from smsgate_smsc import emulator_wire, schedule
from smsgate_smsc.emulator import SmscEmulator
from smsgate_smsc.settings import SmscSettings, TimeFormat

WARSAW = ZoneInfo("Europe/Warsaw")
NEW_YORK = ZoneInfo("America/New_York")


def fields(when: datetime, time_format: TimeFormat) -> dict[str, str]:
    return dict(schedule.fields(when, SmscSettings(login="a", password=Secret("b"), time_format=time_format)))


# Warsaw springs forward on 2026-03-29 at 02:00 CET (UTC+1) to 03:00 CEST (UTC+2).
BEFORE_SPRING = datetime(2026, 3, 29, 1, 30, tzinfo=WARSAW)
AFTER_SPRING = datetime(2026, 3, 29, 3, 30, tzinfo=WARSAW)
# ... and falls back on 2026-10-25 at 03:00 CEST to 02:00 CET: 02:30 happens twice.
FIRST_0230 = datetime(2026, 10, 25, 2, 30, tzinfo=WARSAW, fold=0)
SECOND_0230 = datetime(2026, 10, 25, 2, 30, tzinfo=WARSAW, fold=1)


def test_timestamp_is_the_instant_on_both_sides_of_the_spring_change() -> None:
    assert fields(BEFORE_SPRING, "timestamp") == {
        "time": "0" + str(int(datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc).timestamp()))
    }
    assert fields(AFTER_SPRING, "timestamp") == {
        "time": "0" + str(int(datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc).timestamp()))
    }


def test_moscow_wall_time_on_both_sides_of_the_spring_change() -> None:
    assert fields(BEFORE_SPRING, "moscow") == {"time": "29.03.26 03:30", "tz": "0"}
    assert fields(AFTER_SPRING, "moscow") == {"time": "29.03.26 04:30", "tz": "0"}


def test_local_wall_time_with_tz_from_moscow_on_both_sides_of_the_spring_change() -> None:
    assert fields(BEFORE_SPRING, "local") == {"time": "29.03.26 01:30", "tz": "-2"}
    assert fields(AFTER_SPRING, "local") == {"time": "29.03.26 03:30", "tz": "-1"}


def test_the_repeated_autumn_hour_stays_two_different_instants() -> None:
    first, second = fields(FIRST_0230, "timestamp")["time"], fields(SECOND_0230, "timestamp")["time"]
    assert int(second[1:]) - int(first[1:]) == 3600
    assert fields(FIRST_0230, "moscow") == {"time": "25.10.26 03:30", "tz": "0"}
    assert fields(SECOND_0230, "moscow") == {"time": "25.10.26 04:30", "tz": "0"}
    assert fields(FIRST_0230, "local") == {"time": "25.10.26 02:30", "tz": "-1"}
    assert fields(SECOND_0230, "local") == {"time": "25.10.26 02:30", "tz": "-2"}


def test_new_york_around_its_change() -> None:
    # New York springs forward on 2026-03-08 at 02:00 EST (UTC-5) to 03:00 EDT (UTC-4).
    before, after = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK), datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK)
    assert fields(before, "local") == {"time": "08.03.26 01:30", "tz": "-8"}
    assert fields(after, "local") == {"time": "08.03.26 03:30", "tz": "-7"}
    assert fields(before, "moscow")["time"] == "08.03.26 09:30"
    assert fields(after, "moscow")["time"] == "08.03.26 10:30"


def test_zones_off_the_hour_only_in_unambiguous_formats() -> None:
    kolkata = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Asia/Kolkata"))  # UTC+5:30
    assert fields(kolkata, "moscow") == {"time": "01.07.26 09:30", "tz": "0"}
    assert fields(kolkata, "timestamp")["time"] == "0" + str(int(kolkata.timestamp()))
    with pytest.raises(ValidationError, match="whole number of hours"):
        fields(kolkata, "local")


def test_seconds_round_up_never_early() -> None:
    when = datetime(2026, 7, 1, 12, 0, 1, 500, tzinfo=timezone.utc)
    assert fields(when, "moscow")["time"] == "01.07.26 15:01"
    assert fields(when, "local") == {"time": "01.07.26 12:01", "tz": "-3"}
    assert int(fields(when, "timestamp")["time"][1:]) == int(when.timestamp()) + 1


def test_naive_and_window_conflicts_refused() -> None:
    with pytest.raises(ValidationError, match="aware"):
        fields(datetime(2026, 7, 1, 12, 0), "timestamp")
    settings = SmscSettings(login="a", password=Secret("b"), send_window="9-21")
    with pytest.raises(ValidationError, match="send_window"):
        schedule.fields(BEFORE_SPRING, settings)


ZONES = [
    "UTC",
    "Europe/Warsaw",
    "Europe/Moscow",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "Asia/Vladivostok",
    "Europe/Kaliningrad",
]


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(
    st.datetimes(datetime(2025, 1, 1), datetime(2037, 12, 31), timezones=st.sampled_from([ZoneInfo(z) for z in ZONES])),
    st.sampled_from(["timestamp", "moscow", "local"]),
)
def test_the_emulator_reads_every_format_back_as_the_same_instant(when: datetime, time_format: TimeFormat) -> None:
    try:
        got = fields(when, time_format)
    except ValidationError:
        assert time_format == "local"
        offset = (when.utcoffset() or timedelta(0)) - timedelta(hours=3)
        assert offset % timedelta(hours=1)
        return
    read = emulator_wire.send_time(got["time"], int(got.get("tz", "0")), 0.0)
    assert read is not None
    exact = when.timestamp()
    assert exact <= read < exact + (1 if time_format == "timestamp" else 60)


def test_past_time_refused_before_sending(gateway: Gateway, emulator: SmscEmulator) -> None:
    emulator.reset_log()
    with pytest.raises(ValidationError, match="past"):
        gateway.send(Message("+48500600700", "late", send_at=datetime.now(timezone.utc) - timedelta(hours=1)))
    assert emulator.requests == []


@pytest.mark.parametrize("time_format", ["timestamp", "moscow", "local"])
def test_scheduled_send_end_to_end(emulator: SmscEmulator, connector: Connector, time_format: str) -> None:
    gateway = connector(f"time_format={time_format}")
    when = datetime.now(WARSAW).replace(microsecond=0) + timedelta(days=2)
    result = gateway.send(Message("+48500600700", "later", send_at=when))
    (outcome,) = result.outcomes
    assert outcome.status is Status.SCHEDULED and outcome.message_id
    (sms,) = emulator.messages.values()
    assert when.timestamp() <= sms.leaves < when.timestamp() + 60
    (report,) = gateway.status(outcome.message_id, outcome.recipient)
    assert report.status is DeliveryStatus.PENDING and report.code == "-1"
    emulator.clock = lambda: when.timestamp() + 120
    (report,) = gateway.status(outcome.message_id, outcome.recipient)
    assert report.status is DeliveryStatus.DELIVERED
