"""Runs one gateway emulator in its own process, so that the client's CPU time and memory are
measured without the server's, and the two use both cores.

Protocol (see :class:`benchmarks.servers.EmulatorProcess`): the parent writes one JSON line
``{"emulator": "module:Class", "kwargs": {...}, "dsns": {"name": {dsn kwargs}}, "count": "messages"}``;
this process answers one JSON line with its DSNs and credentials, then answers each ``stats`` line
with counters, and stops at end of input or after ``LIFETIME`` seconds, whichever comes first.
The emulator's request log is trimmed every second (counted, not kept) so that its memory stays
bounded on long runs, and what it stores is then frozen out of the garbage collector's scans
(``gc.freeze``), as a long-running server with a large heap is tuned: a full collection over a
million stored records holds every handler thread for tens of milliseconds, and the replies due
then go out late (``emulator.lateness``, reported with the stats).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import threading
import time
from typing import Any

LIFETIME = 3600.0  # seconds: a server never outlives a runaway parent by more than this (latency runs are long)


class _Trimmer:
    """Counts and forgets the emulator's logged requests once a second."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.trimmed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            self.trim()

    def trim(self) -> None:
        log: list[Any] = self.emulator.requests
        n = len(log)
        del log[:n]  # one bytecode under the GIL: appends on other threads are kept
        self.trimmed += n
        gc.freeze()  # what the emulator stores stays out of the collector's scans (see the module doc)

    @property
    def total(self) -> int:
        return self.trimmed + len(self.emulator.requests)


def _stored(emulator: Any, path: str | None) -> int | None:
    if not path:
        return None
    value: Any = emulator
    try:
        for name in path.split("."):
            value = getattr(value, name)
        return len(value)
    except (AttributeError, TypeError):
        return None


def _rss_kib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def main() -> int:
    spec = json.loads(sys.stdin.readline())
    module, _, name = str(spec["emulator"]).partition(":")
    cls = getattr(importlib.import_module(module), name)
    emulator = cls(host="127.0.0.1", **spec.get("kwargs", {})).start()
    trimmer = _Trimmer(emulator)
    watchdog = threading.Timer(LIFETIME, os._exit, args=(3,))
    watchdog.daemon = True
    watchdog.start()
    dsns = {key: emulator.dsn(**kwargs) for key, kwargs in spec.get("dsns", {"default": {}}).items()}
    hello = {
        "dsns": dsns,
        "base_url": emulator.base_url,
        "username": getattr(emulator, "username", None),
        "password": getattr(emulator, "password", None),
        "pid": os.getpid(),
    }
    print(json.dumps(hello), flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "stats":
                stats = {
                    "requests": trimmer.total,
                    "errors": len(emulator.errors),
                    "error_samples": [repr(e)[:200] for e in emulator.errors[:3]],
                    "stored": _stored(emulator, spec.get("count")),
                    "cpu": time.process_time(),
                    "held": emulator.lateness.replies,
                    "late": emulator.lateness.total,
                    "rss_kib": _rss_kib(),
                }
                print(json.dumps(stats), flush=True)
    finally:
        trimmer.stop.set()
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
