"""Scheduling: date MM/DD/YYYY, time hh:mm am/pm and gmt +hh:mm in the zone of ``timezone``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate import Message, Status
from smsgate.errors import ValidationError
from smsgate.gateway import Gateway
from smsgate.testing.fixtures import GatewayTo
from smsgate_routesms.emulator import RoutesmsEmulator
from smsgate_routesms.schedule import gmt_offset, parse_fields, zone_fields

UTC = timezone.utc


@pytest.mark.parametrize(
    ("when", "zone", "expected"),
    [
        # Europe/Warsaw springs forward on 2026-03-29 at 01:00 UTC
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "Europe/Warsaw", ("03/29/2026", "01:30 am", "+01:00")),
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Europe/Warsaw", ("03/29/2026", "03:30 am", "+02:00")),
        # and falls back on 2026-10-25 at 01:00 UTC: the same wall time twice, told apart by gmt
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "Europe/Warsaw", ("10/25/2026", "02:30 am", "+02:00")),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "Europe/Warsaw", ("10/25/2026", "02:30 am", "+01:00")),
        # America/New_York, both sides of 2026-03-08 07:00 UTC
        (datetime(2026, 3, 8, 6, 59, tzinfo=UTC), "America/New_York", ("03/08/2026", "01:59 am", "-05:00")),
        (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), "America/New_York", ("03/08/2026", "03:00 am", "-04:00")),
        # half-hour zones are in the documented range
        (datetime(2026, 5, 1, 18, 30, tzinfo=UTC), "Asia/Kolkata", ("05/02/2026", "12:00 am", "+05:30")),
        (datetime(2026, 1, 10, 15, 0, tzinfo=UTC), "America/St_Johns", ("01/10/2026", "11:30 am", "-03:30")),
        # noon, midnight, UTC default
        (datetime(2026, 7, 4, 12, 5, tzinfo=UTC), "UTC", ("07/04/2026", "12:05 pm", "+00:00")),
        (datetime(2026, 7, 4, 0, 5, tzinfo=UTC), "UTC", ("07/04/2026", "12:05 am", "+00:00")),
        (datetime(2026, 7, 4, 23, 59, tzinfo=UTC), "UTC", ("07/04/2026", "11:59 pm", "+00:00")),
        # the seed's own examples: "03:45 am", "11:51 pm", gmt "-10:00"
        (datetime(2030, 3, 3, 13, 45, tzinfo=UTC), "Pacific/Honolulu", ("03/03/2030", "03:45 am", "-10:00")),
        (datetime(2030, 3, 4, 9, 51, tzinfo=UTC), "Pacific/Honolulu", ("03/03/2030", "11:51 pm", "-10:00")),
        # Auckland in winter is +12:00, the edge of the range
        (datetime(2026, 7, 1, 0, 0, tzinfo=UTC), "Pacific/Auckland", ("07/01/2026", "12:00 pm", "+12:00")),
    ],
)
def test_fields(when: datetime, zone: str, expected: tuple[str, str, str]) -> None:
    fields = zone_fields(when, zone)
    assert (fields["date"], fields["time"], fields["gmt"]) == expected
    assert parse_fields(*expected) == when


def test_the_time_given_in_another_zone_is_the_same_instant() -> None:
    when = datetime(2026, 3, 29, 4, 0, tzinfo=ZoneInfo("Europe/Warsaw"))  # after the change: 02:00 UTC
    assert zone_fields(when, "UTC") == {"date": "03/29/2026", "time": "02:00 am", "gmt": "+00:00"}


def test_seconds_round_up_never_earlier() -> None:
    fields = zone_fields(datetime(2026, 12, 31, 23, 59, 0, 1, tzinfo=UTC), "UTC")
    assert fields == {"date": "01/01/2027", "time": "12:00 am", "gmt": "+00:00"}


@pytest.mark.parametrize(
    ("when", "zone", "shown"),
    [
        (datetime(2026, 1, 15, 0, 0, tzinfo=UTC), "Pacific/Auckland", "+13:00"),  # NZ summer time
        (datetime(2026, 1, 15, 0, 0, tzinfo=UTC), "Asia/Kathmandu", "+05:45"),
        (datetime(2026, 1, 15, 0, 0, tzinfo=UTC), "Pacific/Kiritimati", "+14:00"),
        (datetime(2026, 1, 15, 0, 0, tzinfo=UTC), "Australia/Eucla", "+08:45"),
    ],
)
def test_offsets_outside_the_gmt_range_are_refused(when: datetime, zone: str, shown: str) -> None:
    with pytest.raises(ValidationError, match="outside the gmt range") as caught:
        zone_fields(when, zone)
    assert caught.value.field == "timezone" and shown in caught.value.rule and zone in caught.value.rule


@pytest.mark.parametrize(
    ("date", "time", "gmt", "expected"),
    [
        ("03/03/2018", "03:45 am", "GMT +1:30", datetime(2018, 3, 3, 2, 15, tzinfo=UTC)),
        ("03/03/2018", "11:51 pm", "-10:00", datetime(2018, 3, 4, 9, 51, tzinfo=UTC)),
        ("03/03/2018", "00:15 am", "GMT -05:00", datetime(2018, 3, 3, 5, 15, tzinfo=UTC)),
        ("03/03/2018", "12:15 AM", "+00:00", datetime(2018, 3, 3, 0, 15, tzinfo=UTC)),
    ],
)
def test_every_documented_form_is_read(date: str, time: str, gmt: str, expected: datetime) -> None:
    assert parse_fields(date, time, gmt) == expected


@pytest.mark.parametrize(
    ("date", "time", "gmt"),
    [
        ("2018-03-03", "03:45 am", "+01:00"),
        ("03/03/2018", "15:45", "+01:00"),
        ("03/03/2018", "13:00 pm", "+01:00"),
        ("03/03/2018", "03:45 am", "+13:00"),
        ("03/03/2018", "03:45 am", "+05:45"),
        ("13/03/2018", "03:45 am", "+01:00"),
    ],
)
def test_invalid_fields_are_refused(date: str, time: str, gmt: str) -> None:
    with pytest.raises(ValueError):
        parse_fields(date, time, gmt)


def test_gmt_offset_edges() -> None:
    assert gmt_offset(timedelta(hours=-12)) == "-12:00"
    assert gmt_offset(timedelta(hours=12, minutes=30)) == "+12:30"
    with pytest.raises(ValueError):
        gmt_offset(timedelta(hours=1, seconds=1))


ZONES = ["UTC", "Europe/Warsaw", "Europe/London", "America/New_York", "Asia/Kolkata", "America/St_Johns", "Asia/Tokyo"]


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 30), timezones=st.just(UTC)),
    st.sampled_from(ZONES),
)
def test_fields_round_trip(when: datetime, zone: str) -> None:
    exact = when.replace(second=0, microsecond=0)
    expected = exact if exact == when else exact + timedelta(minutes=1)
    assert parse_fields(**zone_fields(when, zone)) == expected


def test_scheduled_send_over_the_wire(start_emulator: Callable[..., RoutesmsEmulator], gateway_to: GatewayTo) -> None:
    emulator = start_emulator()
    gateway = gateway_to(emulator, "timezone=Europe/Warsaw")
    when = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    result = gateway.send(Message(["+48500600700", "+48500600701"], "later", send_at=when))
    assert [o.status for o in result.outcomes] == [Status.SCHEDULED, Status.SCHEDULED]
    assert all(o.message_id for o in result.outcomes)
    assert [r.path for r in emulator.requests] == ["/bulksms/schedulemsg"]
    assert [m.send_at for m in emulator.messages] == [when, when]


def test_a_time_in_the_past_is_refused_before_sending(emulator: RoutesmsEmulator, gateway: Gateway) -> None:
    with pytest.raises(ValidationError, match="in the past"):
        gateway.send(Message("+48500600700", "too late", send_at=datetime.now(UTC) - timedelta(hours=2)))
    assert emulator.requests == []


def test_an_offset_out_of_range_is_refused_before_sending(emulator: RoutesmsEmulator, gateway_to: GatewayTo) -> None:
    gateway = gateway_to(emulator, "timezone=Asia/Kathmandu")
    with pytest.raises(ValidationError, match="timezone"):
        gateway.send(Message("+48500600700", "x", send_at=datetime.now(UTC) + timedelta(days=1)))
    assert emulator.requests == []
