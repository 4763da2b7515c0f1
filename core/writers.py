"""How a batch of validated rows is written to its table.

The default is one dialect upsert on the primary key. A table whose writes must also maintain
derived data registers its own writer here (``usage_events`` keeps the daily rollups current and
counts a re-delivered event once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from .store import Store

Writer = Callable[[Store, Connection, str, list[dict[str, Any]]], int]
_WRITERS: dict[str, Writer] = {}


def register_writer(table_name: str) -> Callable[[Writer], Writer]:
    def decorate(fn: Writer) -> Writer:
        _WRITERS[table_name] = fn
        return fn

    return decorate


def upsert_writer(store: Store, conn: Connection, table_name: str, rows: list[dict[str, Any]]) -> int:
    return store.upsert(conn, table_name, rows)


def writer_for(table_name: str) -> Writer:
    from . import usage  # noqa: F401  (registers the usage_events writer)

    return _WRITERS.get(table_name, upsert_writer)
