"""The receiver's store in the PostgreSQL campaign store (:class:`PostgresInboundStore`).

Needs ``smsgate[postgres]`` (psycopg 3), like :mod:`smsgate.store.postgres`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from smsgate.store.inbound_sql import SqlInboundStore
from smsgate.store.postgres import PostgresStore, open_postgres

__all__ = ["PostgresInboundStore"]


class PostgresInboundStore(SqlInboundStore):
    """An :class:`~smsgate.inbound.InboundStore` in a PostgreSQL campaign store: ``store`` (a
    :class:`~smsgate.store.postgres.PostgresStore`, whose connection it shares), or the store at
    ``url`` (``postgresql://...[?schema=NAME]``, opened and migrated here; closed with this one,
    as ``store`` is when ``owned``).
    Its ``inbound_v1_*`` tables are the store's shared migrations, translated.

    Several receivers on one database (serve workers) may get the same resent report at once:
    ``INSERT ... ON CONFLICT DO NOTHING`` lets one of them store and apply it, in the same
    transaction as the campaign rows' update; the others wait for that commit and see it."""

    def __init__(
        self,
        url: str | None = None,
        *,
        store: PostgresStore | None = None,
        clock: Callable[[], float] = time.time,
        owned: bool = False,
    ) -> None:
        if store is None:
            if url is None:
                raise ValueError("PostgresInboundStore needs a URL or a store")
            super().__init__(open_postgres(url), owned=True, clock=clock)
        elif url is not None:
            raise ValueError("PostgresInboundStore: give a URL or a store, not both")
        else:
            super().__init__(store, owned=owned, clock=clock)
