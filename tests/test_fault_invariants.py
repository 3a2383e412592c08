"""The delivery promises for every shipped plugin, against its own emulator, under each fault.

For each provider and each fault the emulator can inject (a reply lost after processing, a 5xx
after processing, a gateway slower than the client's timeout, resets, garbage, throttling) one
message to two recipients is sent; then, counting what the emulator really took:

- never twice: each recipient taken at most once;
- never lost: ``accepted``/``scheduled`` only if taken, ``rejected`` only if not taken;
- complete: an outcome for every recipient.

And a client killed (SIGKILL) while it waits for a reply the gateway already processed, then
restarted with its journal: the same counts hold.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smsgate import Journal, Message, Status, connect
from smsgate.emulator import Emulator, Fault
from smsgate.plugins import Registry, emulator_class

PROVIDERS = ("bulksms", "serwersms", "routesms", "smsc", "octopush")
RECIPIENTS = ("+48500600700", "+48500600701")


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def taken(emulator: Any, text: str) -> Counter[str]:
    """How often the emulator took ``text`` per recipient (digits), from its own records."""
    if hasattr(emulator, "account"):  # SerwerSMS: stored, plus taken and still being processed
        items = [*emulator.account.messages.values(), *(m for _, batch in emulator.processing for m in batch)]
    else:
        messages = emulator.messages
        items = list(messages.values() if isinstance(messages, dict) else messages)
    counts: Counter[str] = Counter()
    for m in items:
        number = getattr(m, "msisdn", None) or getattr(m, "phone", None) or getattr(m, "destination", None)
        number = number or getattr(m, "recipient", None) or getattr(m, "to", None)
        if m.text == text:
            counts[_digits(str(number))[-9:]] += 1
    return counts


class Time:
    """A clock for long waits (lookup delays, Retry-After): waits up to ``cap`` seconds for real,
    the rest virtually, so a gateway's real processing still finishes before a lookup."""

    def __init__(self, cap: float = 1.0) -> None:
        self.cap = cap
        self.skipped = 0.0

    def clock(self) -> float:
        return time.time() + self.skipped

    def sleep(self, seconds: float) -> None:
        real = min(seconds, self.cap)
        time.sleep(real)
        self.skipped += seconds - real


FAULTS: dict[str, Callable[[Emulator], None]] = {
    "processed-then-502": lambda e: e.inject(Fault.PROCESSED_THEN_ERROR),
    "processed-then-504-always": lambda e: e.inject(Fault.PROCESSED_THEN_ERROR, status=504, times=10),
    "reply-lost": lambda e: e.inject(Fault.RESET_BEFORE_REPLY),
    "slower-than-timeout": lambda e: e.inject(Fault.SLOW, delay=0.6),
    "timeout-after-accept": lambda e: e.inject(Fault.TIMEOUT_AFTER_ACCEPT, delay=0.6),
    "dropped": lambda e: e.inject(Fault.DROP),
    "503-before": lambda e: e.inject(Fault.SERVER_ERROR, status=503),
    "throttled": lambda e: e.inject(Fault.THROTTLE, retry_after=1),
    "garbage": lambda e: e.inject(Fault.MALFORMED),
    "truncated": lambda e: e.inject(Fault.TRUNCATED),
}


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def emulator(provider: str) -> Iterator[Emulator]:
    registry = Registry()
    cls = emulator_class(registry.provider(provider).spec)
    with cls() as emu:
        yield emu


def check(emulator: Any, text: str, outcomes: dict[str, Status]) -> None:
    counts = taken(emulator, text)
    assert sorted(_digits(r)[-9:] for r in outcomes) == sorted(_digits(r)[-9:] for r in RECIPIENTS)
    for recipient, status in outcomes.items():
        n = counts[_digits(recipient)[-9:]]
        assert n <= 1, f"{recipient} taken {n} times"
        if status in (Status.ACCEPTED, Status.SCHEDULED):
            assert n == 1, f"{recipient} reported {status.value} but never taken"
        elif status is Status.REJECTED:
            assert n == 0, f"{recipient} reported rejected but taken"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_promises_hold_under_each_fault(provider: str, emulator: Emulator, fault: str) -> None:
    FAULTS[fault](emulator)
    clock = Time()
    dsn = emulator.dsn() + "&read_timeout=0.3&connect_timeout=1&attempts=3"
    text = f"fault {fault}"
    with connect(dsn, sleep=clock.sleep, clock=clock.clock) as gateway:
        result = gateway.send(Message(list(RECIPIENTS), text, key=f"k-{fault}"))
    check(emulator, text, {o.recipient: o.status for o in result.outcomes})


_CHILD = textwrap.dedent(
    """
    import sys
    from smsgate import Journal, Message, connect
    dsn, journal, text = sys.argv[1:4]
    with connect(dsn, journal=Journal(journal)) as gateway:
        print("sending", flush=True)
        gateway.send(Message(["+48500600700", "+48500600701"], text, key="killed-1"))
    """
)


def test_a_client_killed_mid_send_resumes_without_a_second_copy(
    provider: str, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.inject(Fault.TIMEOUT_AFTER_ACCEPT, delay=20)  # processed; the client waits for the reply
    journal = tmp_path / "journal.jsonl"
    text = "killed while waiting"
    dsn = emulator.dsn() + "&read_timeout=30"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, dsn, str(journal), text], stdout=subprocess.PIPE, env=dict(os.environ)
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"sending"
        deadline = time.time() + 10
        while not taken(emulator, text) and time.time() < deadline:
            time.sleep(0.05)
        assert taken(emulator, text), "the gateway processed the request"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    emulator.clear_faults()
    clock = Time()
    dsn = emulator.dsn() + "&read_timeout=2"
    with connect(dsn, journal=Journal(journal), sleep=clock.sleep, clock=clock.clock) as gateway:
        result = gateway.send(Message(list(RECIPIENTS), text, key="killed-1"))
    check(emulator, text, {o.recipient: o.status for o in result.outcomes})
    assert not result.replayed
