"""How a batch of validated rows is written to its table.

The default is one dialect upsert on the primary key. A table whose writes must also maintain
derived data registers its own writer here (``usage_events`` keeps the daily rollups current and
counts a re-delivered event once). Such a writer may also register a preparer: per-row work
that needs no database (normalising values, encoding the batch), which the engine runs when it
validates the batch, in the read-ahead thread of a stream that reads ahead, so the transaction
spends its time in the database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from .store import Store

Writer = Callable[[Store, Connection, str, list[dict[str, Any]]], int]
Preparer = Callable[[str, list[dict[str, Any]]], list[dict[str, Any]]]
"""``(dialect name, rows) -> rows``"""
_WRITERS: dict[str, Writer] = {}
_PREPARERS: dict[str, Preparer] = {}


def register_writer(table_name: str, *, prepare: Preparer | None = None) -> Callable[[Writer], Writer]:
    """Register ``fn`` as the writer of ``table_name``; ``prepare`` readies validated rows for it
    outside the transaction (the writer must also accept rows that were not prepared)."""

    def decorate(fn: Writer) -> Writer:
        _WRITERS[table_name] = fn
        if prepare is not None:
            _PREPARERS[table_name] = prepare
        return fn

    return decorate


def _unchanged(dialect: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows


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


def preparer_for(table_name: str) -> Preparer:
    from . import usage  # noqa: F401  (registers the usage_events preparer)

    return _PREPARERS.get(table_name, _unchanged)
