"""The tasks. A task carries only a campaign's name: the rows it sends are whatever it claims
in the store, so a message delivered twice, late, or to two workers at once sends nothing twice.

- ``smsgate.send_chunk(campaign)``: claim one chunk and send it.
- ``smsgate.send_chunk(campaign, sweep=True)``: claim and send chunks until none is claimable.

A task whose store fails mid-chunk (PostgreSQL restarted, its connection terminated) is retried
after a lease, on a new connection; the rows it held wait for their lease to end, as a dead
worker's do.

After its work a task looks at what is left: rows claimable now (a released chunk, a dead
worker's expired lease) get another task; rows under a live lease get one sweep, booked in the
store (one at a time per campaign) for when the first lease ends; a task that claimed rows books
one for when its own lease would end. So the campaign finishes even when every message of a dead
worker is lost, and no lease is waited on by more than one sweep. The last task marks the
campaign ``finished``.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import attrs
from celery import Celery, Task

from smsgate.errors import SmsgateError
from smsgate.store.postgres import PostgresStore, open_postgres
from smsgate_celery.app import app
from smsgate_celery.settings import Settings
from smsgate_celery.worker import ChunkResult, Gateways, finished, run_chunk

log = logging.getLogger("smsgate.celery")

SEND_CHUNK = "smsgate.send_chunk"
#: Retries of a task whose store failed mid-chunk (each after a lease): about an hour by default.
MAX_RETRIES = 30
_resources: dict[int, tuple[PostgresStore, Gateways]] = {}
_lock = threading.Lock()


def _settings(celery: Celery) -> Settings:
    found = getattr(celery.conf, "smsgate", None)
    return found if isinstance(found, Settings) else Settings.from_env()


def resources(settings: Settings) -> tuple[PostgresStore, Gateways]:
    """This process's store connection and gateways (a forked child opens its own)."""
    pid = os.getpid()
    with _lock:
        found = _resources.get(pid)
        if found is None or found[0].closed:
            store = open_postgres(settings.store_url())
            found = (store, Gateways(store, settings.rates))
            _resources.clear()  # a parent's connection is not ours to use (or close) after fork
            _resources[pid] = found
        return found


@app.task(name=SEND_CHUNK, bind=True)
def send_chunk(self: Task[Any, Any], campaign: str, sweep: bool = False) -> dict[str, Any]:
    settings = _settings(self.app)
    store, gateways = resources(settings)
    total = ChunkResult()
    while True:
        try:
            done = run_chunk(store, gateways, campaign, limit=settings.chunk, lease=settings.lease)
        except SmsgateError as error:
            if error.code == "unknown-campaign":
                log.error("smsgate: %s", error)
                return attrs.asdict(total)
            raise
        except Exception as exc:  # the store went away mid-chunk: try again once a lease has passed
            log.warning("smsgate: campaign %s: %s; retrying", campaign, type(exc).__name__)
            raise self.retry(exc=exc, countdown=settings.lease + 1.0, max_retries=MAX_RETRIES) from None
        total.claimed += done.claimed
        total.settled += done.settled
        total.requests += done.requests
        total.lost = total.lost or done.lost
        for state, n in done.counts.items():
            total.counts[state] = total.counts.get(state, 0) + n
        if done.claimed:
            book_sweep(self.app, store, campaign, settings.lease + 1.0)
        if not sweep or not done.claimed or done.lost:
            break
    follow_up(self.app, store, campaign)
    return attrs.asdict(total)


def book_sweep(celery: Celery, store: PostgresStore, campaign: str, delay: float) -> bool:
    """Enqueue the campaign's one sweep ``delay`` seconds from now, unless one is pending."""
    if store.due_sweep(campaign, delay):
        celery.send_task(SEND_CHUNK, args=[campaign], kwargs={"sweep": True}, countdown=max(0.0, delay))
        return True
    return False


def follow_up(celery: Celery, store: PostgresStore, campaign: str) -> None:
    if store.claimable(campaign):
        celery.send_task(SEND_CHUNK, args=[campaign])
        return
    leased, first = store.leases(campaign)
    if leased and first is not None:
        book_sweep(celery, store, campaign, first + 1.0)
        return
    if finished(store, campaign):
        record = store.campaign(campaign)
        if record is not None and record.state != "finished":
            store.save_campaign(attrs.evolve(record, state="finished"))
