"""The journal: what was sent under which idempotency key, kept across process restarts.

With a journal, ``Gateway.send`` for a key that was already settled returns the recorded
result (``replayed=True``) instead of sending again; a key reused for *different* content is
refused with :class:`~smsgate.errors.KeyConflictError`; a key whose previous send was cut off
(the process died after ``sending`` was written, before ``done``) resumes by the delivery rules
(resent under the gateway's de-duplication key while its window is open, else looked up, else
settled ``unknown``). Two sends of one key at once in one process never both go out: the second
waits for the first and gets its result.

It lives in a store (``Journal.on(store)``, :mod:`smsgate.store`: SQLite by default, one
transaction per record, campaign rows moved in the same transaction) or in a JSON-lines file
(``Journal(path)``: appended and fsynced per record, loaded whole when opened; a last line torn
by a crash is cut off; :func:`import_journal` moves one into a store). It holds keys, content
digests, recipients, statuses, gateway ids and codes, never credentials (errors are scrubbed
before they are written). Safe for the threads of one process; one process per file.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from smsgate.errors import KeyConflictError
from smsgate.models import Outcome, SendResult, Status
from smsgate.store import RowRef, SendRecord, Store

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
    """The journal: a JSON-lines file at ``path`` (``fsync=False`` only for tests: a record must
    reach the disk before the request it announces is written), or a store
    (:meth:`Journal.on`, e.g. ``Journal.on(smsgate.store.open_store())``). Same meaning on both.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, fsync: bool = True, store: Store | None = None
    ) -> None:
        if (path is None) == (store is None):
            raise TypeError("Journal() takes a path or store=, not both")
        self.path = Path(path) if path is not None else None
        self.fsync = fsync
        self.store = store
        self._backend: _Backend = _StoreBackend(store) if store is not None else _JsonLines(Path(str(path)), fsync)
        self._lock = threading.Lock()
        self._active: dict[_Ident, threading.Event] = {}
        self._rows: dict[_Ident, tuple[RowRef, ...]] = {}

    @classmethod
    def on(cls, store: Store) -> Journal:
        """A journal kept in ``store`` (see :mod:`smsgate.store`)."""
        return cls(store=store)

    def bind(self, provider: str, key: str, rows: Sequence[RowRef]) -> None:
        """Tie campaign ``rows`` to the next send of ``key``: they are marked ``sending`` with
        its claim and get their outcomes with its result, in the same store transactions."""
        with self._lock:
            self._rows[(provider, key)] = tuple(rows)

    def claim(self, provider: str, key: str, digest: str, recipients: tuple[str, ...], now: float) -> Claim:
        """Claim ``key`` for a send of content ``digest``; see :class:`Claim`. Raises
        ``KeyConflictError`` when the key was used for other content."""
        ident = (provider, key)
        while True:
            with self._lock:
                done, interrupted = self._backend.get(ident)
                if done is not None:
                    self._rows.pop(ident, None)  # nothing to send: the caller settles its rows
                    self._check(done, digest, key, provider)
                    return Claim(recorded=_result(done))
                active = self._active.get(ident)
                if active is None:
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
                    self._backend.begin(record, self._rows.get(ident, ()))
                    self._active[ident] = threading.Event()
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
            "outcomes": list(outcome_records(result.outcomes)),
        }
        with self._lock:
            try:
                self._backend.settle(record, self._rows.pop(ident, ()))
            finally:
                self._release(ident)

    def abandon(self, provider: str, key: str) -> None:
        """The send of ``key`` stopped without a result (an interrupt): it stays ``sending``
        in the journal, so the next claim resumes it by the delivery rules."""
        with self._lock:
            self._rows.pop((provider, key), None)
            self._release((provider, key))

    def _release(self, ident: _Ident) -> None:
        event = self._active.pop(ident, None)
        if event is not None:
            event.set()

    def recorded(self, provider: str, key: str) -> SendResult | None:
        """The settled result of ``key``, if the journal has one."""
        with self._lock:
            record, _ = self._backend.get((provider, key))
        return None if record is None else _result(record)

    def interrupted(self, provider: str, key: str) -> bool:
        """Whether a send of ``key`` started and never finished."""
        with self._lock:
            ident = (provider, key)
            done, sending = self._backend.get(ident)
            return done is None and sending is not None and ident not in self._active


class _Backend(Protocol):
    def get(self, ident: _Ident) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(the ``done`` record, the ``sending`` record) of ``ident``."""

    def begin(self, record: dict[str, Any], rows: Sequence[RowRef]) -> None: ...

    def settle(self, record: dict[str, Any], rows: Sequence[RowRef]) -> None: ...


class _JsonLines:
    """The JSON-lines file: appended and fsynced per record, loaded whole when opened."""

    def __init__(self, path: Path, fsync: bool) -> None:
        self.path = path
        self.fsync = fsync
        self._done: dict[_Ident, dict[str, Any]] = {}
        self._sending: dict[_Ident, dict[str, Any]] = {}
        if self.path.exists():
            self._repair()
            for record in read_records(self.path):
                ident = (str(record["provider"]), str(record["key"]))
                if record.get("state") == "sending":
                    self._sending[ident] = record
                elif record.get("state") == "done":
                    self._sending.pop(ident, None)
                    self._done[ident] = record

    def _repair(self) -> None:
        """Cut a last line left unfinished by a crash, so the next record starts on its own line."""
        with self.path.open("rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
                f.flush()
                os.fsync(f.fileno())

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=True, sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            if self.fsync:
                os.fsync(out.fileno())

    def get(self, ident: _Ident) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return self._done.get(ident), self._sending.get(ident)

    def begin(self, record: dict[str, Any], rows: Sequence[RowRef]) -> None:
        self._append(record)
        self._sending[(record["provider"], record["key"])] = record

    def settle(self, record: dict[str, Any], rows: Sequence[RowRef]) -> None:
        self._append(record)
        ident = (record["provider"], record["key"])
        self._sending.pop(ident, None)
        self._done[ident] = record


class _StoreBackend:
    """A :class:`~smsgate.store.Store`'s ``sends``: each record one durable transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, ident: _Ident) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        found = self.store.send_record(*ident)
        if found is None:
            return None, None
        record = {
            "provider": found.provider,
            "key": found.key,
            "digest": found.digest,
            "recipients": list(found.recipients),
            "at": found.started_at,
            "state": found.state,
            "outcomes": [dict(o) for o in found.outcomes],
        }
        return (record, None) if found.state == "done" else (None, record)

    def begin(self, record: dict[str, Any], rows: Sequence[RowRef]) -> None:
        self.store.begin(_send_record(record, started=float(record["at"])), rows)

    def settle(self, record: dict[str, Any], rows: Sequence[RowRef]) -> None:
        found = self.store.send_record(record["provider"], record["key"])
        started = found.started_at if found is not None else 0.0
        recipients = found.recipients if found is not None else ()
        self.store.settle(_send_record({**record, "recipients": recipients}, started=started), rows)


def _send_record(record: dict[str, Any], *, started: float) -> SendRecord:
    return SendRecord(
        str(record["provider"]),
        str(record["key"]),
        str(record.get("digest", "")),
        tuple(record.get("recipients", ())),
        str(record["state"]),
        started,
        tuple(record.get("outcomes", ())),
    )


def read_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The readable records of a JSON-lines journal file, in order (torn lines skipped)."""
    with Path(path).open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                record = json.loads(line)
                str(record["provider"]), str(record["key"])
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(record, dict):
                yield record


def import_journal(path: str | os.PathLike[str], store: Store) -> int:
    """Copy a JSON-lines journal file into ``store`` (one time, when moving to the store):
    settled keys keep their results, interrupted ones stay ``sending`` and resume by the rules.
    Keys the store already has are left alone. Returns how many keys were added."""
    latest: dict[_Ident, dict[str, Any]] = {}
    started: dict[_Ident, float] = {}
    for record in read_records(path):
        ident = (str(record["provider"]), str(record["key"]))
        if record.get("state") == "sending":
            started.setdefault(ident, float(record.get("at", 0.0)))
            latest[ident] = record
        elif record.get("state") == "done":
            latest[ident] = {**record, "recipients": latest.get(ident, {}).get("recipients", ())}
    return store.import_sends(_send_record(r, started=started.get(i, 0.0)) for i, r in latest.items())


def _result(record: dict[str, Any]) -> SendResult:
    outcomes = tuple(
        Outcome(o["recipient"], Status(o["status"]), o.get("message_id"), o.get("code"), o.get("reason"))
        for o in record["outcomes"]
    )
    return SendResult(str(record["provider"]), str(record["key"]), outcomes, None, 0, replayed=True)


def outcome_records(outcomes: Iterable[Outcome]) -> tuple[dict[str, Any], ...]:
    """Outcomes as the plain records a journal or store keeps (the one place of that format)."""
    return tuple(
        {
            "recipient": o.recipient,
            "status": o.status.value,
            "message_id": o.message_id,
            "code": o.code,
            "reason": o.reason,
        }
        for o in outcomes
    )
