"""Renewal metrics over contract terms found in the revenue timeline.

A contract is a subscription billed over a multi-month term: a timeline row whose
``interval_months`` is at least ``[metrics] renewal_min_months`` (default 12). Its terms end on the
anniversaries of the row's ``valid_from`` (every ``interval_months``) that the row reaches; a row
per billing period has exactly one, at its ``valid_to``. A term ending in month M is *renewed*
when the same subscription still has MRR at M's last second; its renewed value is that MRR
(upgrades included, so net dollar renewal can exceed 100 %).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Integer, and_, case, cast, func, select
from vitalsign.core.metric import Metric, MetricQuery
from vitalsign.core.store import table

from . import _segments, _sql, revenue


def min_months(query: MetricQuery) -> int:
    return int(query.options.get("renewal_min_months", 12))


class RenewalMetric(Metric):
    family = "renewals"
    segments = _segments.ACCOUNT_SEGMENTS
    unit = "percent"
    columns = ("value", "up_for_renewal", "renewed", "expiring_mrr", "renewed_mrr")
    dollars = False

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        # both renewal metrics of one call share the contract aggregates
        totals = _sql.memo(query, ("renewals", min_months(query)), lambda: self._totals(conn, query))
        found = {}
        for idx, seg, up, kept, expiring, renewed in totals:
            found[(idx, seg)] = {
                "value": revenue.rate(renewed, expiring) if self.dollars else revenue.rate(kept, up),
                "up_for_renewal": up,
                "renewed": kept,
                "expiring_mrr": revenue.money(expiring, query),
                "renewed_mrr": revenue.money(renewed, query),
            }
        empty = {"value": None, "up_for_renewal": 0, "renewed": 0, "expiring_mrr": 0.0, "renewed_mrr": 0.0}
        return _segments.monthly_rows(query, found, empty)

    @staticmethod
    def _totals(conn: Connection, query: MetricQuery) -> list[tuple[int, Any, int, int, float, float]]:
        """Per month and segment: contracts up for renewal, renewed, expiring and renewed MRR."""
        dialect = conn.dialect.name
        rt = table("revenue_timeline")
        months = _sql.months_table(_sql.query_indexes(query))
        rows = select(
            rt.c.source,
            rt.c.subscription_id,
            _sql.linked_account(rt.c.source, rt.c.source_account_id, "customer").label("account_id"),
            rt.c.mrr,
            _sql.month_index(rt.c.valid_from, dialect).label("fi"),
            func.coalesce(_sql.month_index(rt.c.valid_to, dialect), revenue.NEVER).label("ei"),
            cast(rt.c.interval_months, Integer).label("term"),
        ).where(
            rt.c.interval_months >= min_months(query),
            rt.c.mrr > 0,
            # the month index, not the indexed column: nearly every row qualifies, a scan is cheaper
            _sql.month_index(rt.c.valid_from, dialect) <= _sql.idx(query.end),
        )
        if query.account_id is not None:
            rows = rows.where(
                _sql.linked_account(rt.c.source, rt.c.source_account_id, "customer") == query.account_id
            )
        contract = _sql.materialize(conn, query, f"contracts{min_months(query)}", rows)
        age = months.c.idx - contract.c.fi
        terms = (
            select(
                months.c.idx,
                months.c.t_end,
                contract.c.source,
                contract.c.subscription_id,
                contract.c.account_id,
                contract.c.mrr,
            )
            .select_from(
                months.join(contract, and_(contract.c.fi < months.c.idx, contract.c.ei >= months.c.idx))
            )
            .where(age % contract.c.term == 0)
            .subquery("terms")
        )
        after = table("revenue_timeline").alias("after")
        renewed_mrr = (
            select(func.coalesce(func.sum(after.c.mrr), 0))
            .where(
                after.c.source == terms.c.source,
                after.c.subscription_id == terms.c.subscription_id,
                _sql.active_at(after, terms.c.t_end),
            )
            .scalar_subquery()
        )
        contracts = (
            select(
                terms.c.idx,
                terms.c.account_id,
                terms.c.source,
                terms.c.subscription_id,
                func.sum(terms.c.mrr).label("expiring"),
                func.max(renewed_mrr).label("renewed"),
            )
            .group_by(terms.c.idx, terms.c.account_id, terms.c.source, terms.c.subscription_id)
            .subquery("contracts")
        )
        seg, join = _segments.segment(conn, query, contracts.c.account_id)
        stmt = (
            select(
                contracts.c.idx,
                seg.label("seg"),
                func.count().label("up"),
                func.sum(case((contracts.c.renewed > 0, 1), else_=0)).label("kept"),
                func.sum(contracts.c.expiring).label("expiring"),
                func.sum(contracts.c.renewed).label("renewed"),
            )
            .select_from(join(contracts))
            .group_by(contracts.c.idx, seg)
        )
        if query.account_id is not None:
            stmt = stmt.where(contracts.c.account_id == query.account_id)
        return [
            (r.idx, r.seg, int(r.up), int(r.kept), float(r.expiring), float(r.renewed))
            for r in conn.execute(stmt)
        ]


class RenewalRate(RenewalMetric):
    name = "renewal_rate"
    description = "Contracts (terms of 12+ months) renewed / contracts whose term ended in the month (%)."


class NetDollarRenewalRate(RenewalMetric):
    name = "net_dollar_renewal_rate"
    description = "MRR of the renewed contracts after renewal (with expansion) / their expiring MRR (%)."
    dollars = True


METRICS: list[Metric] = [RenewalRate(), NetDollarRenewalRate()]

__all__ = ["METRICS"]
