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


def partial_upsert_writer(store: Store, conn: Connection, table_name: str, rows: list[dict[str, Any]]) -> int:
    """Upsert rows that carry only the fields their source knew (``Stream.partial_children``).

    The plain upsert sends every column any row of the batch names, NULL where a row lacks it,
    so a contact seen only through a group call would erase the email an identify call stored.
    Here rows are grouped by the columns they carry and each group updates only those columns:
    an absent field keeps its stored value."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return sum(store.upsert(conn, table_name, group) for group in groups.values())


def writer_for(table_name: str) -> Writer:
    from . import usage  # noqa: F401  (registers the usage_events writer)

    return _WRITERS.get(table_name, upsert_writer)
