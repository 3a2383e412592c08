"""Enqueue a campaign for the workers (what ``--engine celery`` does).

The machine that enqueues reads the input file once: it plans every row in the store (the
core's :meth:`smsgate.Campaign.plan`: validated, ``planned``), keeps each row's rendered text
in the store for the workers (they need no copy of the file), then sends one task per chunk.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from celery import Celery

from smsgate.campaign import Campaign
from smsgate.campaign_input import Entry
from smsgate.errors import ConfigurationError
from smsgate.store.postgres import PostgresStore, Text
from smsgate_celery.settings import Settings
from smsgate_celery.tasks import SEND_CHUNK


def _texts(campaign: Campaign) -> Iterator[tuple[int, Text]]:
    for item in campaign._entries():
        if isinstance(item, Entry):
            yield item.row, Text(item.text, item.sender, item.send_at.isoformat() if item.send_at else None)


def enqueue(campaign: Campaign, *, app: Celery | None = None, chunk: int | None = None) -> int:
    """Plan ``campaign`` in its (PostgreSQL) store and enqueue it; returns the tasks sent."""
    store = campaign.store
    if not isinstance(store, PostgresStore):
        raise ConfigurationError(
            "--engine celery needs the PostgreSQL store shared with the workers (--store postgresql://...)"
        )
    if app is None:
        from smsgate_celery.app import app as default_app

        app = default_app
    settings = getattr(app.conf, "smsgate", None)
    size = chunk or (settings.chunk if isinstance(settings, Settings) else 100)
    record = campaign.plan()
    store.put_texts(record.name, _texts(campaign))
    tasks = math.ceil(store.claimable(record.name) / size)
    for _ in range(tasks):
        app.send_task(SEND_CHUNK, args=[record.name])
    if tasks == 0:  # nothing to send (all settled): let a task mark it finished
        app.send_task(SEND_CHUNK, args=[record.name])
    return tasks


def run(campaign: Campaign, **options: Any) -> dict[str, int]:
    """The ``smsgate.campaign_engines`` entry point: enqueue, then return rows per state (the
    workers send; ``smsgate campaign status NAME`` follows them)."""
    enqueue(campaign, **options)
    return campaign.store.counts(campaign.name)
