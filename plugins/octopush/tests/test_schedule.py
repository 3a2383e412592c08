"""Scheduling: the legacy API's Unix timestamp (what Octopush's own clients compute with
``mktime`` for a French wall-clock time) and the JSON API's ISO 8601 with offset, on both sides
of the daylight-saving changes of France."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from smsgate.errors import ValidationError
from smsgate.gateway import Gateway
from smsgate.models import Message, Status
from smsgate_octopush.emulator import OctopushEmulator
from smsgate_octopush.schedule import from_legacy_timestamp, legacy_timestamp

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def paris_host() -> Iterator[Callable[..., int]]:
    """``mktime`` as the official clients run it: on a host whose local zone is Europe/Paris
    (the PHP client's comment: "GMT + 1 (Europe/Paris)"). Gives ``mktime(y, m, d, h, i)``."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Paris"
    time.tzset()

    def mktime(year: int, month: int, day: int, hour: int, minute: int) -> int:
        # octopush-sms-python: int(time.mktime(datetime.datetime(y, m, d, h, i).timetuple()))
        return int(time.mktime(datetime(year, month, day, hour, minute).timetuple()))

    try:
        yield mktime
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.parametrize(
    "local",
    [
        (2026, 3, 29, 1, 30),  # CET (UTC+1), just before the spring change
        (2026, 3, 29, 3, 30),  # CEST (UTC+2), just after it
        (2026, 10, 25, 1, 30),  # CEST, before the autumn change
        (2026, 10, 25, 3, 30),  # CET, after it
        (2031, 1, 15, 10, 30),  # winter
        (2031, 7, 15, 10, 30),  # summer
    ],
)
def test_legacy_timestamp_is_what_the_official_clients_send(
    paris_host: Callable[..., int], local: tuple[int, int, int, int, int]
) -> None:
    """The golden value is the official client's own computation for the same Paris time."""
    year, month, day, hour, minute = local
    when = datetime(year, month, day, hour, minute, tzinfo=PARIS)
    assert legacy_timestamp(when) == paris_host(*local)
    assert legacy_timestamp(when) == int(when.timestamp())  # plain Unix time, no offset added


def test_spring_forward_2026() -> None:
    before = datetime(2026, 3, 29, 1, 30, tzinfo=PARIS)  # CET, UTC+1 = 00:30 UTC
    after = datetime(2026, 3, 29, 3, 30, tzinfo=PARIS)  # CEST, UTC+2 = 01:30 UTC
    assert legacy_timestamp(before) == int(datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc).timestamp())
    assert legacy_timestamp(after) == int(datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc).timestamp())
    assert legacy_timestamp(after) - legacy_timestamp(before) == 3600  # one real hour apart


def test_fall_back_2026() -> None:
    first = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=0)  # CEST = 00:30 UTC
    second = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1)  # CET, an hour later = 01:30 UTC
    assert legacy_timestamp(first) == int(datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc).timestamp())
    assert legacy_timestamp(second) - legacy_timestamp(first) == 3600


def test_other_zones_and_round_trip() -> None:
    warsaw = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Warsaw"))  # 10:00 UTC
    assert legacy_timestamp(warsaw) == int(datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc).timestamp())
    assert legacy_timestamp(warsaw.replace(microsecond=999_999)) == legacy_timestamp(warsaw)  # whole seconds
    assert from_legacy_timestamp(legacy_timestamp(warsaw)) == warsaw


def test_seed_curl_example_timestamp() -> None:
    """The seed's ``sending_date=1455975613`` is 2016-02-20 14:40:13 in Paris (13:40:13 UTC)."""
    assert from_legacy_timestamp(1455975613) == datetime(2016, 2, 20, 14, 40, 13, tzinfo=PARIS)


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
    stamp = str(int(datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc).timestamp()))
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
