"""Satisfaction metrics over ``survey_responses``: NPS, CSAT and CES.

Every answer is first mapped onto the scale its metric is defined on, from the scale it was
asked on (``scale_min``..``scale_max``): NPS onto 0-10, CSAT onto 1-5, CES onto 1-7, linearly.
Monthly counts are small, so a trailing window (``--window 90`` or ``[metrics]
satisfaction_window_days``) gives each month the answers of the days ending with it instead of
the calendar month's. An answer belongs to the account of its company (or of its contact's
company) for ``--by`` and ``--account``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Float, and_, case, cast, func, select
from sqlalchemy.sql.elements import ColumnElement
from vitalsign.core.metric import Metric, MetricQuery
from vitalsign.core.store import table

from . import _segments, _sql

EPS = 1e-9


def window_days(query: MetricQuery) -> int | None:
    value = query.options.get("window_days", query.options.get("satisfaction_window_days"))
    return int(value) if value else None


def mapped_score(low: float, high: float) -> ColumnElement[Any]:
    """The answer's score mapped linearly onto ``low..high``."""
    sr = table("survey_responses")
    span = sr.c.scale_max - sr.c.scale_min
    share = cast(sr.c.score - sr.c.scale_min, Float) / case((span == 0, None), else_=span)
    return low + share * (high - low)


class SurveyMetric(Metric):
    family = "satisfaction"
    segments = _segments.ACCOUNT_SEGMENTS
    kind: str

    def aggregates(self) -> list[Any]:
        raise NotImplementedError

    def values(self, row: Any) -> dict[str, Any]:
        raise NotImplementedError

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        sr = table("survey_responses")
        months = _sql.months_table(_sql.query_indexes(query), window_days=window_days(query))
        company = func.coalesce(
            sr.c.source_account_id, _segments.contact_company(sr.c.source, sr.c.contact_id)
        )
        seg, join = _segments.segment(conn, query, _segments.company_account(sr.c.source, company))
        during = and_(sr.c.submitted_at >= months.c.w_from, sr.c.submitted_at < months.c.w_to)
        stmt = (
            select(months.c.idx, seg.label("seg"), func.count().label("responses"), *self.aggregates())
            .select_from(join(months.join(sr, during)))
            .where(sr.c.kind == self.kind, sr.c.deleted.is_(False))
            .group_by(months.c.idx, seg)
        )
        if query.account_id is not None:
            stmt = stmt.where(_segments.records_of_account(sr.c.source, company, query.account_id, "company"))
        found = {(row.idx, row.seg): self.values(row) for row in conn.execute(stmt)}
        return _segments.monthly_rows(query, found, self.values(None))


class NPS(SurveyMetric):
    name = "nps"
    description = "Net promoter score: % promoters (9-10) - % detractors (0-6), -100..100."
    unit = "score"
    kind = "nps"
    columns = ("value", "promoters", "passives", "detractors", "responses")

    def aggregates(self) -> list[Any]:
        score = mapped_score(0, 10)
        return [
            func.sum(case((score >= 9 - EPS, 1), else_=0)).label("promoters"),
            func.sum(case((score <= 6 + EPS, 1), else_=0)).label("detractors"),
        ]

    def values(self, row: Any) -> dict[str, Any]:
        if row is None:
            return {"value": None, "promoters": 0, "passives": 0, "detractors": 0, "responses": 0}
        n, p, d = int(row.responses), int(row.promoters), int(row.detractors)
        return {
            "value": round(100.0 * (p - d) / n, 2),
            "promoters": p,
            "passives": n - p - d,
            "detractors": d,
            "responses": n,
        }


class CSAT(SurveyMetric):
    name = "csat"
    description = "Customer satisfaction: % of answers 4-5 on a 1-5 scale (other scales mapped)."
    unit = "percent"
    kind = "csat"
    columns = ("value", "satisfied", "responses")

    def aggregates(self) -> list[Any]:
        return [func.sum(case((mapped_score(1, 5) >= 4 - EPS, 1), else_=0)).label("satisfied")]

    def values(self, row: Any) -> dict[str, Any]:
        if row is None:
            return {"value": None, "satisfied": 0, "responses": 0}
        n, s = int(row.responses), int(row.satisfied)
        return {"value": round(100.0 * s / n, 2), "satisfied": s, "responses": n}


class CES(SurveyMetric):
    name = "ces"
    description = "Customer effort score: mean answer on a 1-7 scale (other scales mapped)."
    unit = "score"
    kind = "ces"
    columns = ("value", "responses")

    def aggregates(self) -> list[Any]:
        return [func.avg(mapped_score(1, 7)).label("mean")]

    def values(self, row: Any) -> dict[str, Any]:
        if row is None:
            return {"value": None, "responses": 0}
        return {"value": round(float(row.mean), 2), "responses": int(row.responses)}


METRICS: list[Metric] = [NPS(), CSAT(), CES()]
