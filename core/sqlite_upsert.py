"""SQLite upserts without SQLAlchemy's per-value bind processing.

``Store.upsert`` on SQLite sends a batch as plain tuples to the DBAPI's ``executemany`` with the
same ``INSERT .. ON CONFLICT (pk) DO UPDATE`` statement, converting only what SQLAlchemy's types
would convert: :class:`~vitalsign.core.types.UTCDateTime` to its naive-UTC text
``YYYY-MM-DD HH:MM:SS.ffffff`` (by SQLite's ``strftime`` when a column holds Unix seconds only,
as the Stripe streams send them) and JSON columns to JSON text (compact, as SQLite's own
``json()`` writes it: it reads back the same). Conversions run a column at a time (``map`` over a transposed
batch), so a Stripe invoice row costs a few microseconds of Python instead of ~50 µs of compiled
parameter processing (profiled: the largest cost of writing the benchmark's 240k invoices).

A ``json_each`` statement with the batch as one parameter (what the usage writer does) was
measured too: on SQLite 3.40 each ``->>`` extraction re-reads the row's JSON, 23.6 µs a row of
16 values against 7.8 µs for ``executemany``, and still 34.9 against 18.5 µs with a busy thread
competing for the GIL, so it does not pay for rows this wide.

Only tables whose column types are known here take this path (:func:`sqlite_plan`); a value that
cannot be converted makes :func:`sqlite_rows` return None and the caller uses SQLAlchemy's
statement, which raises its usual error for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Float, Integer, String, Table
from sqlmodel.sql.sqltypes import AutoString

from .types import UTCDateTime

_PLAIN = (AutoString, String, Integer, Float, Boolean)
"""Types whose values SQLAlchemy hands to sqlite3 unchanged (booleans: sqlite3 stores 1/0)."""


def sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite text for a :class:`UTCDateTime` value: naive UTC,
    ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


@functools.lru_cache(maxsize=64)
def _other_timestamp(value: Any) -> str:
    """Aware datetimes (the engine stamps a whole batch with one ``synced_at``) and ISO text."""
    bound = UTCDateTime().process_bind_param(value, None)  # type: ignore[arg-type]
    assert bound is not None
    return sqlite_datetime(bound)


def _timestamp(value: Any) -> str | None:
    if value is None:
        return None
    if value.__class__ is datetime and value.tzinfo is None:
        return value.isoformat(" ", "microseconds")
    return _other_timestamp(value)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()  # None -> 'null', as SQLAlchemy's JSON type stores it


def _converter(column_type: Any) -> Callable[[Any], Any] | bool | None:
    """The conversion of one column: a function, None (value as it is) or False (unsupported)."""
    if isinstance(column_type, JSON):
        return _json
    if isinstance(column_type, UTCDateTime):
        return _timestamp
    if isinstance(column_type, _PLAIN):
        return None
    return False


def sqlite_plan(
    tbl: Table, columns: Sequence[str], update_columns: Sequence[str] | None, epoch: frozenset[str]
) -> str | None:
    """The statement for rows naming ``columns`` of ``tbl`` (None when a column type or default
    is not supported). ``update_columns`` empty or None means ``DO NOTHING``. A column the rows
    leave out gets its scalar Python-side default, as SQLAlchemy's INSERT gives it. Timestamp
    columns in ``epoch`` hold Unix seconds only: SQLite formats them (no Python per value)."""
    names = list(columns)
    if any(_converter(tbl.columns[c].type) is False for c in columns):
        return None
    marks = [_EPOCH_TEXT if c in epoch else "?" for c in columns]
    for column in tbl.columns:
        if column.name in columns or column.default is None:
            continue
        literal = _sql_literal(getattr(column.default, "arg", None)) if column.default.is_scalar else None
        if literal is None:
            return None
        names.append(column.name)
        marks.append(literal)
    keys = ", ".join(f'"{c.name}"' for c in tbl.primary_key.columns)
    if update_columns:
        action = "DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in update_columns)
    else:
        action = "DO NOTHING"
    quoted = ", ".join(f'"{c}"' for c in names)
    return f'INSERT INTO "{tbl.name}" ({quoted}) VALUES ({", ".join(marks)}) ON CONFLICT ({keys}) {action}'


_EPOCH_TEXT = "strftime('%Y-%m-%d %H:%M:%S.000000', ?, 'unixepoch')"
"""Unix seconds as SQLAlchemy's SQLite text of the same moment (NULL stays NULL)."""


def _sql_literal(value: Any) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None


def sqlite_rows(
    tbl: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], uniform: bool
) -> tuple[list[tuple[Any, ...]], frozenset[str]] | None:
    """``rows`` as tuples in ``columns`` order, converted as SQLAlchemy's types would bind them
    (None when a value cannot be), and the timestamp columns left as Unix seconds for
    :func:`sqlite_plan` to format. ``uniform``: every row has exactly ``columns`` as keys (then
    a C getter reads them)."""
    if uniform:
        getter = itemgetter(*columns)
        values: list[Any] = (
            [getter(row) for row in rows] if len(columns) > 1 else [(getter(row),) for row in rows]
        )
    else:
        values = [tuple(row.get(c) for c in columns) for row in rows]
    converting = [(i, fn) for i, c in enumerate(columns) if callable(fn := _converter(tbl.columns[c].type))]
    if not converting:
        return values, frozenset()
    by_column: list[Any] = list(zip(*values, strict=True))
    epoch = set()
    try:
        for i, fn in converting:
            column = by_column[i]
            if fn is _timestamp:
                if set(map(type, column)) <= _UNIX_SECONDS:
                    epoch.add(columns[i])
                    continue
                distinct = set(column)
                if len(distinct) * 4 <= len(column):  # synced_at: one value for the whole batch
                    by_column[i] = list(map({v: fn(v) for v in distinct}.__getitem__, column))
                    continue
            by_column[i] = list(map(fn, column))
    except (AttributeError, TypeError, ValueError):
        return None
    return list(zip(*by_column, strict=True)), frozenset(epoch)


_UNIX_SECONDS = {int, type(None)}
