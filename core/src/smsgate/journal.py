"""The journal: what was sent under which idempotency key, kept across process restarts.

With a journal, ``Gateway.send`` for a key that was already settled returns the recorded
result (``replayed=True``) instead of sending again; a key reused for *different* content is
refused with :class:`~smsgate.errors.KeyConflictError`; a key whose previous send was cut off
(the process died after ``sending`` was written, before ``done``) resumes by the delivery rules
(resent under the gateway's de-duplication key while its window is open, else looked up, else
settled ``unknown``). Two sends of one key at once in one process never both go out: the second
waits for the first and gets its result.

The file is JSON lines, appended and fsynced per record; it holds keys, content digests,
recipients, statuses, gateway ids and codes, never credentials (errors are scrubbed before they
are written). A last line torn by a crash is cut off when the journal is opened. Safe for the
threads of one process; one process per file.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import attrs

from smsgate.errors import KeyConflictError
from smsgate.models import Outcome, SendResult, Status

_Ident = tuple[str, str]


@attrs.frozen
class Claim:
    """The journal's answer to "may I send this key?".

    ``recorded``: already settled, here is the result (nothing to send). ``interrupted_at``:
    a previous process began sending at this time and died (resume by the rules). Neither:
    a fresh send, now recorded as ``sending``.
    """

    recorded: SendResult | None = None
    interrupted_at: float | None = None


class Journal:
    """An append-only JSON-lines journal at ``path``; ``fsync=False`` only for tests (a record
    must reach the disk before the request it announces is written)."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._done: dict[_Ident, dict[str, Any]] = {}
        self._sending: dict[_Ident, dict[str, Any]] = {}
        self._active: dict[_Ident, threading.Event] = {}
        if self.path.exists():
            self._repair()
            self._load()

    def _repair(self) -> None:
        """Cut a last line left unfinished by a crash, so the next record starts on its own line."""
        with self.path.open("rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
                f.flush()
                os.fsync(f.fileno())

    def _load(self) -> None:
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                    ident = (str(record["provider"]), str(record["key"]))
                except (ValueError, KeyError, TypeError):
                    continue
                if record.get("state") == "sending":
                    self._sending[ident] = record
                elif record.get("state") == "done":
                    self._sending.pop(ident, None)
                    self._done[ident] = record

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=True, sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            if self.fsync:
                os.fsync(out.fileno())

    def claim(self, provider: str, key: str, digest: str, recipients: tuple[str, ...], now: float) -> Claim:
        """Claim ``key`` for a send of content ``digest``; see :class:`Claim`. Raises
        ``KeyConflictError`` when the key was used for other content."""
        ident = (provider, key)
        while True:
            with self._lock:
                done = self._done.get(ident)
                if done is not None:
                    self._check(done, digest, key, provider)
                    return Claim(recorded=_result(done))
                active = self._active.get(ident)
                if active is None:
                    interrupted = self._sending.get(ident)
                    if interrupted is not None:
                        self._check(interrupted, digest, key, provider)
                    started = float(interrupted.get("at", now)) if interrupted is not None else now
                    record = {
                        "state": "sending",
                        "provider": provider,
                        "key": key,
                        "digest": digest,
                        "recipients": list(recipients),
                        "at": started,
                    }
                    self._active[ident] = threading.Event()
                    self._sending[ident] = record
                    self._append(record)
                    return Claim(interrupted_at=started if interrupted is not None else None)
            active.wait()  # the same key is being sent right now: wait for its result

    @staticmethod
    def _check(record: dict[str, Any], digest: str, key: str, provider: str) -> None:
        if record.get("digest", digest) != digest:
            raise KeyConflictError(key, provider=provider)

    def done(self, result: SendResult, digest: str) -> None:
        """Record ``result`` as the settled outcome of its key."""
        ident = (result.provider, result.key)
        record = {
            "state": "done",
            "provider": result.provider,
            "key": result.key,
            "digest": digest,
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
            self._append(record)
            self._sending.pop(ident, None)
            self._done[ident] = record
            self._release(ident)

    def abandon(self, provider: str, key: str) -> None:
        """The send of ``key`` stopped without a result (an interrupt): it stays ``sending``
        in the file, so the next claim resumes it by the delivery rules."""
        with self._lock:
            self._release((provider, key))

    def _release(self, ident: _Ident) -> None:
        event = self._active.pop(ident, None)
        if event is not None:
            event.set()

    def recorded(self, provider: str, key: str) -> SendResult | None:
        """The settled result of ``key``, if the journal has one."""
        with self._lock:
            record = self._done.get((provider, key))
        return None if record is None else _result(record)

    def interrupted(self, provider: str, key: str) -> bool:
        """Whether a send of ``key`` started and never finished."""
        with self._lock:
            ident = (provider, key)
            return ident in self._sending and ident not in self._active


def _result(record: dict[str, Any]) -> SendResult:
    outcomes = tuple(
        Outcome(o["recipient"], Status(o["status"]), o.get("message_id"), o.get("code"), o.get("reason"))
        for o in record["outcomes"]
    )
    return SendResult(str(record["provider"]), str(record["key"]), outcomes, None, 0, replayed=True)
