"""The metric and health-component contracts, shared by built-in and third-party plugins.

A metric computes its rows in SQL inside the database (SQLAlchemy Core, the same statement on
SQLite and PostgreSQL) and returns them as plain dicts; the CLI adds ``"metric"`` and formats
them as table, JSON or CSV (docs/metrics.md holds the contract).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from sqlalchemy import Connection

__all__ = ["ComponentScore", "HealthComponent", "Metric", "MetricQuery", "Month"]


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, ``Month(2026, 3)``; ``str()`` gives ``"2026-03"``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        try:
            year, month = text.split("-")
            value = cls(int(year), int(month))
        except ValueError:
            raise ValueError(f"{text!r} is not a month like 2026-03") from None
        if not 1 <= value.month <= 12:
            raise ValueError(f"{text!r} is not a month like 2026-03")
        return value

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def until(self, end: Month) -> list[Month]:
        """Every month from this one to ``end``, inclusive."""
        months, current = [], self
        while current <= end:
            months.append(current)
            current = current.next()
        return months

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class MetricQuery:
    """What a metric is asked for: inclusive months, an optional segment, and the options of the
    ``[metrics]`` config table (currency, gross margin, trailing windows...)."""

    start: Month
    end: Month
    by: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    account_id: int | None = None

    @property
    def months(self) -> list[Month]:
        return self.start.until(self.end)

    @property
    def currency(self) -> str:
        return str(self.options.get("currency", "usd")).lower()


class Metric:
    """Base class of a KPI. Subclasses set the class attributes and implement ``compute``.

    ``columns`` are the value columns of a row (``("value",)`` for one-number metrics);
    ``segments`` the ``--by`` values it supports (``plan``, ``owner``, ``cohort``...).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    family: ClassVar[str] = ""
    unit: ClassVar[str] = ""  # money | percent | count | hours | days | score | ratio
    columns: ClassVar[tuple[str, ...]] = ("value",)
    segments: ClassVar[tuple[str, ...]] = ()

    def compute(self, conn: Connection, query: MetricQuery) -> list[dict[str, Any]]:
        """Rows ``{"period": "YYYY-MM", ["segment": ...,] **columns}`` for every month asked."""
        raise NotImplementedError


@dataclass(frozen=True)
class ComponentScore:
    """One component of one account's health: its input value, its 0-100 score and why."""

    input: float | None
    score: float | None
    detail: str = ""


class HealthComponent:
    """One weighted component of the health score, scoring every account for a month."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    default_weight: ClassVar[float] = 1.0

    def evaluate(
        self,
        conn: Connection,
        *,
        period: Month,
        account_ids: Sequence[int] | None,
        options: Mapping[str, Any],
    ) -> dict[int, ComponentScore]:
        """Scores by account id for ``period`` (all accounts when ``account_ids`` is None)."""
        raise NotImplementedError
