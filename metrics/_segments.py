"""Putting non-revenue facts (tickets, survey answers, usage rows) in the account segments of
``--by`` and filtering them to one account, through their links to accounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, String, and_, cast, func, literal, select, tuple_
from sqlalchemy.sql.elements import ColumnElement
from vitalsign.core.metric import MetricQuery
from vitalsign.core.store import table

from . import _sql, revenue

ACCOUNT_SEGMENTS: tuple[str, ...] = ("plan", "owner", "cohort")

Joiner = Callable[[Any], Any]


def segment(
    conn: Connection, query: MetricQuery, account_id: ColumnElement[Any]
) -> tuple[ColumnElement[Any], Joiner]:
    """``(segment expression, joiner)``: ``joiner(from_clause)`` adds what the expression needs."""
    if query.by is None:
        return literal("", String), lambda source: source
    if query.by == "account":
        accounts = table("accounts")
        label = literal("#", String) + cast(accounts.c.id, String) + literal(" ", String)
        expr = _sql.seg_or_none(label + func.coalesce(accounts.c.name, literal("", String)))
        return expr, lambda source: source.outerjoin(accounts, accounts.c.id == account_id)
    segs = revenue.account_segments(conn, query)
    expr = segs.c.seg if query.by == "cohort" else _sql.seg_or_none(segs.c.seg)
    return expr, lambda source: source.outerjoin(segs, segs.c.account_id == account_id)


def records_of_account(source: Any, source_id: Any, account_id: int, kind: str) -> ColumnElement[bool]:
    """True for records of sources linked (as ``kind``) to ``account_id``: an indexed lookup."""
    links = table("identity_links")
    linked = select(links.c.source, links.c.external_id).where(
        links.c.account_id == account_id, links.c.source_kind == kind
    )
    return tuple_(source, source_id).in_(linked)


def company_account(source: Any, source_account_id: Any) -> ColumnElement[Any]:
    return _sql.linked_account(source, source_account_id, "company")


def contact_company(source: Any, contact_id: Any) -> ColumnElement[Any]:
    contacts = table("contacts")
    return (
        select(contacts.c.source_account_id)
        .where(and_(contacts.c.source == source, contacts.c.source_id == contact_id))
        .scalar_subquery()
    )


def output(query: MetricQuery, seg: Any) -> str:
    return revenue.output_segment(query, seg)


def monthly_rows(
    query: MetricQuery, found: dict[tuple[int, Any], dict[str, Any]], empty: dict[str, Any]
) -> list[dict[str, Any]]:
    """One row per month of the query (and per segment seen), ``empty`` where nothing was found."""
    segs = sorted({s for _, s in found}, key=lambda s: (s is None, str(s))) if query.by else [""]
    rows: list[dict[str, Any]] = []
    for i in _sql.query_indexes(query):
        for seg in segs:
            row: dict[str, Any] = {"period": _sql.period(i)}
            if query.by:
                row["segment"] = output(query, seg)
            row.update(found.get((i, seg if query.by else ""), empty))
            rows.append(row)
    return rows
