"""The receiver's store in the SQLite campaign store (:class:`SqliteInboundStore`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smsgate.store.inbound_sql import SqlInboundStore
from smsgate.store.sqlite import SqliteStore

__all__ = ["SqliteInboundStore"]


class SqliteInboundStore(SqlInboundStore):
    """An :class:`~smsgate.inbound.InboundStore` in a SQLite campaign store: ``store`` (a
    :class:`~smsgate.store.sqlite.SqliteStore`, whose connection it shares), or the store file
    at ``path`` (opened, and migrated, here; closed with this one, as ``store`` is when
    ``owned``). Its ``inbound_v1_*`` tables are created by the store's migrations
    (:data:`smsgate.store.sqlite.MIGRATIONS`)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        store: Any = None,
        clock: Callable[[], float] = time.time,
        owned: bool = False,
    ) -> None:
        if store is None:
            if path is None:
                raise ValueError("SqliteInboundStore needs a path or a store")
            if str(path) == ":memory:":
                raise ValueError("SqliteInboundStore needs a file (in memory: MemoryInboundStore)")
            store, owned = SqliteStore(path), True
        elif not isinstance(store, SqliteStore):
            raise TypeError(f"SqliteInboundStore needs a SqliteStore, not {type(store).__name__}")
        elif path is not None and Path(path).resolve() != store.path.resolve():
            raise ValueError("SqliteInboundStore: give the store's path or the store, not another file")
        super().__init__(store, owned=owned, clock=clock)
        self.path = store.path
