"""SQL building blocks shared by the metric families: month boundaries, dialect differences,
percentiles, per-query temporary tables and the mapping of source records to accounts.

Months are handled as integer indexes (``year * 12 + month - 1``) so that bucketing, shifting and
window ordering are plain integer arithmetic on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    Float,
    Integer,
    String,
    Table,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select, Subquery
from vitalsign.core.metric import MetricQuery, Month
from vitalsign.core.store import table
from vitalsign.core.types import UTCDateTime

ZERO_DECIMAL_CURRENCIES = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
NO_SEGMENT = "(none)"


# ---------------------------------------------------------------- months


def idx(month: Month) -> int:
    """The month's integer index."""
    return month.year * 12 + month.month - 1


def month_at(index: int) -> Month:
    return Month(index // 12, index % 12 + 1)


def period(index: int) -> str:
    return str(month_at(index))


def month_start(month: Month) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def month_end(month: Month) -> datetime:
    """The month's last second: where a monthly value is taken."""
    return month_start(month.next()) - timedelta(seconds=1)


def ts(value: datetime) -> ColumnElement[Any]:
    return literal(value, UTCDateTime)


def day(value: date) -> ColumnElement[Any]:
    return literal(value, Date)


def month_index(expr: Any, dialect: str) -> ColumnElement[int]:
    """The month index of a timestamp or date column."""
    if dialect == "sqlite":  # ISO text 'YYYY-MM-DD...': substr is cheaper than strftime
        return cast(func.substr(expr, 1, 4), Integer) * 12 + cast(func.substr(expr, 6, 2), Integer) - 1
    return cast(extract("year", expr), Integer) * 12 + cast(extract("month", expr), Integer) - 1


def hours_between(start: Any, end: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 24.0
    return extract("epoch", end - start) / 3600.0


def days_between(start: Any, end: Any, dialect: str) -> ColumnElement[Any]:
    """Days from one date column to another."""
    if dialect == "sqlite":
        return func.julianday(end) - func.julianday(start)
    return cast(end - start, Integer)


def months_table(indexes: Iterable[int], name: str = "months", window_days: int | None = None) -> Subquery:
    """One row per month: ``idx``, ``t_start`` (first instant), ``t_end`` (last second),
    ``d_start``/``d_end`` (first and last day) and the flow window ``[w_from, w_to)``: the
    calendar month, or the ``window_days`` days ending with the month when given."""
    rows = []
    for i in indexes:
        m = month_at(i)
        w_to = month_start(m.next())
        w_from = month_start(m) if window_days is None else w_to - timedelta(days=window_days)
        rows.append(
            select(
                literal(i, Integer).label("idx"),
                ts(month_start(m)).label("t_start"),
                ts(month_end(m)).label("t_end"),
                day(m.first_day()).label("d_start"),
                day(month_end(m).date()).label("d_end"),
                ts(w_from).label("w_from"),
                ts(w_to).label("w_to"),
            )
        )
    if len(rows) == 1:
        return rows[0].subquery(name)
    return union_all(*rows).subquery(name)


def query_indexes(query: MetricQuery) -> list[int]:
    return list(range(idx(query.start), idx(query.end) + 1))


def as_of(month: Month, now: datetime | None = None) -> datetime:
    """The instant a month's value is taken at: its last second, or now for the current month."""
    end = month_end(month)
    current = now or datetime.now(UTC)
    return min(end, current.replace(microsecond=0)) if current >= month_start(month) else end


# ---------------------------------------------------------------- percentiles


def percentile_rows(
    sub: Subquery, value: str, groups: Sequence[str], fractions: Sequence[tuple[str, int]]
) -> Select[Any]:
    """Interpolated percentiles (PERCENTILE_CONT semantics) of ``sub.value`` per ``groups``.

    ``fractions`` are ``(column_name, percent)``; the ranks come from window functions and the
    interpolation uses integer arithmetic only, so the statement is the same on both databases.
    Both windows share one ordering (one sort), and only the rows at the ranks interpolated
    reach the final grouping.
    """
    cols = [sub.c[g] for g in groups]
    v = sub.c[value]
    ranked = select(
        *cols,
        v.label("v"),
        func.row_number().over(partition_by=cols, order_by=v).label("rn"),
        func.count().over(partition_by=cols, order_by=v, rows=(None, None)).label("n"),
    ).subquery("ranked")
    needed = []
    outs = []
    for label, pct in fractions:
        lo = 1 + (ranked.c.n - 1) * pct // 100
        frac = cast((ranked.c.n - 1) * pct % 100, Float) / 100.0
        needed += [ranked.c.rn == lo, ranked.c.rn == lo + 1]
        outs.append(
            func.sum(
                case(
                    (ranked.c.rn == lo, ranked.c.v * (1.0 - frac)),
                    (ranked.c.rn == lo + 1, ranked.c.v * frac),
                    else_=0.0,
                )
            ).label(label)
        )
    rcols = [ranked.c[g] for g in groups]
    return select(*rcols, func.max(ranked.c.n).label("n"), *outs).where(or_(*needed)).group_by(*rcols)


def percentile_rows_repeated(
    sub: Subquery, value: str, groups: Sequence[str], fractions: Sequence[tuple[str, int]]
) -> Select[Any]:
    """:func:`percentile_rows` for values that repeat a lot (whole days): the rows are first
    counted per distinct value, and ranks become running sums of those counts, so the window
    functions sort a few thousand ``(value, count)`` rows instead of every row. Same results."""
    cols = [sub.c[g] for g in groups]
    v = sub.c[value]
    counted = select(*cols, v.label("v"), func.count().label("c")).group_by(*cols, v).subquery("counted")
    ccols = [counted.c[g] for g in groups]
    ranked = select(
        *ccols,
        counted.c.v,
        counted.c.c,
        # PostgreSQL sums integers to numeric: cast back, the rank arithmetic is integer
        cast(
            func.sum(counted.c.c).over(partition_by=ccols, order_by=counted.c.v, rows=(None, 0)), Integer
        ).label("cum"),
        cast(
            func.sum(counted.c.c).over(partition_by=ccols, order_by=counted.c.v, rows=(None, None)), Integer
        ).label("n"),
    ).subquery("ranked")
    needed = []
    outs = []
    for label, pct in fractions:
        lo = 1 + (ranked.c.n - 1) * pct // 100
        frac = cast((ranked.c.n - 1) * pct % 100, Float) / 100.0
        first = ranked.c.cum - ranked.c.c  # ranks first..cum hold this value (first exclusive)
        needed += [and_(first < lo, lo <= ranked.c.cum), and_(first < lo + 1, lo + 1 <= ranked.c.cum)]
        outs.append(
            (
                func.sum(case((and_(first < lo, lo <= ranked.c.cum), ranked.c.v * (1.0 - frac)), else_=0.0))
                + func.sum(case((and_(first < lo + 1, lo + 1 <= ranked.c.cum), ranked.c.v * frac), else_=0.0))
            ).label(label)
        )
    rcols = [ranked.c[g] for g in groups]
    return select(*rcols, func.max(ranked.c.n).label("n"), *outs).where(or_(*needed)).group_by(*rcols)


# ---------------------------------------------------------------- temporary tables per query

_counter = itertools.count(1)
_cache: dict[tuple[int, int, str], str] = {}
_stale: dict[int, list[str]] = {}
_tables: dict[str, Table] = {}


def _forget(key: tuple[int, int, str], name: str) -> None:
    _cache.pop(key, None)
    _tables.pop(name, None)
    _stale.setdefault(key[1], []).append(name)


def materialize(
    conn: Connection, query: MetricQuery, name: str, stmt: Select[Any], indexes: Sequence[Sequence[str]] = ()
) -> Table:
    """``stmt`` as a temporary table, built once per query and connection.

    Several metrics of one ``vitalsign metrics`` call share intermediate results (the account
    MRR change points) this way instead of recomputing them. The table lives as long as the
    query object; it is dropped lazily on the next materialisation on the same connection.
    """
    dbapi = id(conn.connection.dbapi_connection)
    key = (id(query), dbapi, name)
    tmp = _cache.get(key)
    if tmp is not None and _temp_exists(conn, tmp):
        return _tables[tmp]
    for stale in _stale.pop(dbapi, []):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stale}")
    tmp = f"vs_{name}_{next(_counter)}"
    create = stmt.into(tmp, temporary=True)
    conn.execute(create)
    tbl = create.table
    for i, cols in enumerate(indexes):
        conn.exec_driver_sql(f"CREATE INDEX {tmp}_ix{i} ON {tmp} ({', '.join(cols)})")
    _cache[key] = tmp
    _tables[tmp] = tbl
    weakref.finalize(query, _forget, key, tmp)
    return tbl


def _temp_exists(conn: Connection, name: str) -> bool:
    if conn.dialect.name == "sqlite":
        sql = "SELECT 1 FROM sqlite_temp_master WHERE name = ?"
        return conn.exec_driver_sql(sql, (name,)).first() is not None
    return conn.exec_driver_sql("SELECT to_regclass(%s)", (f"pg_temp.{name}",)).scalar() is not None


# ---------------------------------------------------------------- accounts and segments


def linked_account(source: Any, external_id: Any, kind: str) -> ColumnElement[Any]:
    """The account id a source record is linked to (NULL when unlinked): a primary-key lookup."""
    links = table("identity_links")
    return (
        select(links.c.account_id)
        .where(links.c.source == source, links.c.source_kind == kind, links.c.external_id == external_id)
        .scalar_subquery()
    )


def link_of(links: Any, source: Any, external_id: Any, kind: str) -> ColumnElement[bool]:
    """The join condition of a source record with its ``identity_links`` row."""
    return and_(links.c.source == source, links.c.source_kind == kind, links.c.external_id == external_id)


def account_key(account_id: Any, source: Any, source_account_id: Any) -> ColumnElement[str]:
    """A string naming the account; an unlinked record counts as its own account."""
    return case(
        (account_id.is_not(None), literal("a", String) + cast(account_id, String)),
        else_=literal("c", String) + source + literal(":", String) + source_account_id,
    )


def owner_by_account() -> Subquery:
    """``account_id -> owner`` from the owners of the CRM companies linked to each account."""
    links, sa, owners = table("identity_links"), table("source_accounts"), table("owners")
    return (
        select(links.c.account_id.label("account_id"), func.max(owners.c.name).label("owner"))
        .select_from(
            links.join(
                sa,
                and_(
                    sa.c.source == links.c.source,
                    sa.c.source_id == links.c.external_id,
                    sa.c.kind == links.c.source_kind,
                ),
            ).join(owners, and_(owners.c.source == sa.c.source, owners.c.source_id == sa.c.owner_id))
        )
        .where(links.c.account_id.is_not(None), sa.c.owner_id.is_not(None))
        .group_by(links.c.account_id)
        .subquery("owner_by_account")
    )


def seg_or_none(expr: Any) -> ColumnElement[str]:
    return func.coalesce(expr, literal(NO_SEGMENT, String))


def in_or_true(column: Any, values: Sequence[Any] | None) -> ColumnElement[bool]:
    if values is None:
        return literal(True) == literal(True)
    return column.in_(list(values))


def active_at(rt: Table, instant: ColumnElement[Any]) -> ColumnElement[bool]:
    return and_(rt.c.valid_from <= instant, or_(rt.c.valid_to.is_(None), rt.c.valid_to > instant))


# ---------------------------------------------------------------- results shared within a query

_memos: dict[int, dict[Any, Any]] = {}


def memo(query: MetricQuery, key: Any, compute: Any) -> Any:
    """``compute()`` once per query object and ``key``: the metrics of one ``vitalsign metrics``
    call share aggregates (e.g. the revenue series) instead of recomputing them."""
    cache = _memos.get(id(query))
    if cache is None:
        cache = _memos[id(query)] = {}
        weakref.finalize(query, _memos.pop, id(query), None)
    if key not in cache:
        cache[key] = compute()
    return cache[key]
