"""The journal: what was sent under which idempotency key, kept across process restarts.

With a journal, ``Gateway.send`` for a message whose ``key`` was already settled returns the
recorded result instead of sending again, and a message whose previous send was cut off (the
process died after ``sending`` was written, before ``done``) is resent only where the gateway
de-duplicates by our key; elsewhere it settles ``unknown`` rather than risk a second copy.

The file is JSON lines, appended and flushed per record; it holds keys, recipients, statuses,
gateway ids and codes, never credentials (the gateway scrubs error texts before they are
written). Safe for the threads of one process.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from smsgate.models import Outcome, SendResult, Status


class Journal:
    """An append-only JSON-lines journal at ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._done: dict[tuple[str, str], dict[str, Any]] = {}
        self._sending: set[tuple[str, str]] = set()
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                    ident = (record["provider"], record["key"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash
                if record.get("state") == "sending":
                    self._sending.add(ident)
                elif record.get("state") == "done":
                    self._sending.discard(ident)
                    self._done[ident] = record

    def _append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def recorded(self, provider: str, key: str) -> SendResult | None:
        """The settled result of ``key``, if the journal has one."""
        with self._lock:
            record = self._done.get((provider, key))
        if record is None:
            return None
        outcomes = tuple(
            Outcome(o["recipient"], Status(o["status"]), o.get("message_id"), o.get("code"), o.get("reason"))
            for o in record["outcomes"]
        )
        return SendResult(provider, key, outcomes, None, 0)

    def interrupted(self, provider: str, key: str) -> bool:
        """Whether a send of ``key`` started and never finished (the process died)."""
        with self._lock:
            return (provider, key) in self._sending

    def sending(self, provider: str, key: str, recipients: tuple[str, ...]) -> None:
        with self._lock:
            self._sending.add((provider, key))
            self._append({"state": "sending", "provider": provider, "key": key, "recipients": list(recipients)})

    def done(self, result: SendResult) -> None:
        record = {
            "state": "done",
            "provider": result.provider,
            "key": result.key,
            "outcomes": [
                {
                    "recipient": o.recipient,
                    "status": o.status.value,
                    "message_id": o.message_id,
                    "code": o.code,
                    "reason": o.reason,
                }
                for o in result.outcomes
            ],
        }
        with self._lock:
            self._sending.discard((result.provider, result.key))
            self._done[(result.provider, result.key)] = record
            self._append(record)
