"""send_time in the account's zone: both sides of each daylight-saving change, and the past."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.errors import ValidationError
from smsgate.gateway import Gateway
from smsgate.models import Message, Status
from smsgate.plugins import Registry
from smsgate.spec import Secret
from smsgate.testing import Connector, FakeClock
from smsgate_bulksms import schedule
from smsgate_bulksms.emulator import BulkSmsEmulator
from smsgate_bulksms.schedule import parse_local
from smsgate_bulksms.settings import BulkSmsSettings

UTC = timezone.utc
ACCOUNT = BulkSmsSettings(username="john", password=Secret("abcd1234"))
LONDON = ACCOUNT
NEW_YORK = attrs.evolve(ACCOUNT, timezone="America/New_York")


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "2026-03-29 00:30:00"),  # GMT, before the clocks go forward
        (datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC), "2026-03-29 00:59:59"),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "2026-03-29 02:00:00"),  # BST from 01:00 UTC
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "2026-03-29 02:30:00"),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "2026-10-25 01:30:00"),  # BST, first 01:30
        (datetime(2026, 10, 25, 2, 30, tzinfo=UTC), "2026-10-25 02:30:00"),  # GMT again
        (datetime(2026, 7, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), "2026-07-01 13:00:00"),
    ],
)
def test_london_both_sides_of_each_change(when: datetime, expected: str) -> None:
    assert schedule.fields(when, LONDON) == {"send_time": expected}


def test_second_pass_through_the_repeated_hour_is_refused() -> None:
    with pytest.raises(ValidationError, match="second time in Europe/London"):
        schedule.fields(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), LONDON)
    unix = attrs.evolve(ACCOUNT, schedule_field="send_time_unixtime")
    assert schedule.fields(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), unix) == {"send_time_unixtime": "1792891800"}


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 3, 8, 6, 59, tzinfo=UTC), "2026-03-08 01:59:00"),  # EST
        (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), "2026-03-08 03:00:00"),  # EDT
        (datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "2026-11-01 01:30:00"),  # EDT, first 01:30
        (datetime(2026, 11, 1, 7, 30, tzinfo=UTC), "2026-11-01 02:30:00"),  # EST
    ],
)
def test_account_in_another_zone(when: datetime, expected: str) -> None:
    assert schedule.fields(when, NEW_YORK) == {"send_time": expected}


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValidationError, match="aware"):
        schedule.fields(datetime(2026, 1, 1, 12, 0), LONDON)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(datetime(2001, 1, 1), datetime(2037, 12, 31), timezones=st.just(UTC)),
    st.sampled_from([LONDON, NEW_YORK]),
)
def test_the_gateway_reads_back_the_same_instant(when: datetime, account: BulkSmsSettings) -> None:
    try:
        written = schedule.fields(when, account)
    except ValidationError:  # only the second pass through a repeated hour
        local = when.astimezone(account.zone)
        assert local.fold == 1
        return
    read = parse_local(written["send_time"], account)
    assert read is not None
    assert read.timestamp() == when.replace(microsecond=0).timestamp()


def test_past_time_is_refused_before_sending(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    past = datetime.now(UTC) - timedelta(minutes=10)
    with pytest.raises(ValidationError, match="past"):
        gateway.send(Message("+447700900001", "late", send_at=past))
    assert emulator.requests == []


def test_scheduled_end_to_end_across_the_spring_change(
    emulator: BulkSmsEmulator, connector: Callable[..., Gateway], clock: FakeClock
) -> None:
    clock.now = datetime(2026, 3, 28, 23, 0, tzinfo=UTC).timestamp()
    emulator.clock = clock
    gateway = connector(clock=clock)
    when = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 02:30 BST
    result = gateway.send(Message("+447700900001", "after the change", send_at=when))
    assert [o.status for o in result.outcomes] == [Status.SCHEDULED]
    (submission,) = emulator.submissions.values()
    assert submission.due == when.timestamp()  # the emulator read the London wall time back
    batch_id = result.outcomes[0].message_id
    assert gateway.status(batch_id or "") == ()  # no status before it is sent
    clock.now = when.timestamp() + 1
    assert [r.status.value for r in gateway.status(batch_id or "")] == ["delivered"]


def test_emulator_account_in_new_york(registry: Registry, clock: FakeClock) -> None:
    with BulkSmsEmulator(timezone="America/New_York") as emulator:
        clock.now = datetime(2026, 3, 8, 5, 0, tzinfo=UTC).timestamp()
        emulator.clock = clock
        when = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
        with Connector(registry, emulator.dsn()) as connector:
            gateway = connector("timezone=America/New_York", clock=clock)
            result = gateway.send(Message("+15555550100", "hi", send_at=when))
            assert result.outcomes[0].status is Status.SCHEDULED
            assert ("send_time", "2026-03-08 03:30:00") in emulator.requests[-1].form("iso-8859-1").items()
        (submission,) = emulator.submissions.values()
        assert submission.due == when.timestamp()
        assert datetime.fromtimestamp(submission.due, ZoneInfo("America/New_York")).hour == 3
