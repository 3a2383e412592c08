"""The emulator's ``latency``/``jitter`` option: a reply goes out ``latency ± jitter`` after its
request arrived (the emulator's own work inside that time, as on a real gateway), and waiting
costs no CPU."""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from smsgate.emulator import Emulator, EmulatorReply, EmulatorRequest, Fault, parse_duration


class _Ok(Emulator):
    name = "ok"

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        return EmulatorReply.text("ok")


class _Busy(Emulator):
    """Takes ``work`` seconds to handle each request (as a gateway's processing does)."""

    name = "busy"
    work = 0.0

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        time.sleep(self.work)
        return EmulatorReply.text("ok")


def _timed(conn: http.client.HTTPConnection) -> float:
    """Seconds from just before the request is written to the end of the reply."""
    start = time.monotonic()
    conn.request("GET", "/")
    conn.getresponse().read()
    return time.monotonic() - start


def _get(emu: Emulator, path: str = "/") -> tuple[int, float]:
    start = time.monotonic()
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.monotonic() - start
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("50ms", 0.05), ("0.05s", 0.05), ("0.05", 0.05), ("2m", 120.0), (" 1 ms ", 0.001), (0.2, 0.2), (".5", 0.5)],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "fast", "-5ms", "5h", "nan", float("nan"), -1.0, float("inf")])
def test_parse_duration_refuses(bad: str | float) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_default_has_no_latency() -> None:
    with _Ok() as emu:
        assert emu.latency == 0.0 and emu.jitter == 0.0
        status, took = _get(emu)
    assert status == 200 and took < 0.2


def test_every_reply_waits_latency_plus_minus_jitter() -> None:
    with _Ok(latency="150ms", jitter="30ms", seed=1) as emu:
        took = [_get(emu)[1] for _ in range(4)]
        emu.inject(Fault.SERVER_ERROR)  # fault replies are late too
        status, late = _get(emu)
    assert status == 503
    assert all(0.115 <= t < 0.6 for t in [*took, late]), took


def test_latency_is_settable_after_start() -> None:
    with _Ok() as emu:
        emu.latency = 0.12
        assert _get(emu)[1] >= 0.11
        emu.latency = 0.0
        assert _get(emu)[1] < 0.1


def test_waiting_replies_run_in_parallel_and_cost_no_cpu() -> None:
    with _Ok(latency=0.4, max_connections=32) as emu:
        results: list[float] = []

        def one() -> None:
            results.append(_get(emu)[1])

        threads = [threading.Thread(target=one) for _ in range(16)]
        cpu, wall = time.process_time(), time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    assert len(results) == 16 and min(results) >= 0.39
    assert wall < 1.6  # 16 x 0.4 s serially would be 6.4 s
    assert cpu < 0.5 * wall  # sleeping, not spinning (client and server share this process)


def test_stop_wakes_a_reply_held_by_latency() -> None:
    emu = _Ok(latency=30.0).start()
    errors: list[BaseException] = []

    def one() -> None:
        try:
            _get(emu)
        except BaseException as exc:  # the connection closes early: that is the point
            errors.append(exc)

    thread = threading.Thread(target=one)
    thread.start()
    time.sleep(0.2)
    start = time.monotonic()
    emu.stop()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - start < 5


def test_jitter_does_not_touch_the_global_random_state() -> None:
    import random

    random.seed(7)
    expected = random.random()
    random.seed(7)
    with _Ok(latency=0.01, jitter=0.005) as emu:
        _get(emu)
    assert random.random() == expected


def test_processing_within_the_latency_adds_nothing() -> None:
    with _Busy(latency=0.3) as emu:
        emu.work = 0.2  # the gateway's own work: inside its round trip, not on top of it
        conn = http.client.HTTPConnection(emu.host, emu.port, timeout=5)
        try:
            took = [_timed(conn) for _ in range(3)]
        finally:
            conn.close()
    assert all(0.3 - 0.001 <= t < 0.45 for t in took), took  # 0.5 s when the work was added


def test_a_reply_is_never_earlier_than_arrival_plus_latency_nor_than_its_processing() -> None:
    with _Busy(latency=0.15, jitter=0.05, seed=3) as emu:
        conn = http.client.HTTPConnection(emu.host, emu.port, timeout=5)
        try:
            _timed(conn)
            time.sleep(0.3)  # idle on a kept-alive connection: the latency counts from the next request
            fast = [_timed(conn) for _ in range(6)]
            emu.work = 0.4  # longer than the latency: the reply waits for the work, and no more
            slow = _timed(conn)
        finally:
            conn.close()
    assert all(0.1 - 0.001 <= t < 0.3 for t in fast), fast  # never before arrival + latency - jitter
    assert 0.4 <= slow < 0.55, slow  # 0.55 s or more if the latency came on top


def test_lateness_counts_held_replies_and_how_far_past_due_they_went() -> None:
    with _Busy() as emu:
        _get(emu)
        assert emu.lateness.replies == 0  # no latency: nothing is held, nothing is due
    with _Busy(latency=0.1) as emu:
        conn = http.client.HTTPConnection(emu.host, emu.port, timeout=5)
        try:
            _timed(conn)
            _timed(conn)
            on_time = emu.lateness.total
            emu.work = 0.3  # work past the latency: that reply goes out about 0.2 s past due
            _timed(conn)
        finally:
            conn.close()
    late = emu.lateness
    assert late.replies == 3
    assert 0.0 <= on_time < 0.05, on_time
    assert 0.19 <= late.worst < 0.3, late.worst
    assert late.total == pytest.approx(on_time + late.worst)
    assert late.mean == pytest.approx(late.total / 3)
