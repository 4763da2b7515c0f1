"""The MRR normalisation rules of the revenue timeline (docs/metrics.md, "Revenue timeline").

Pure functions over plain values, so each rule is testable on its own:

- :class:`TimelineOptions` reads ``[metrics]`` (reporting currency, churn recognition, past-due
  policy, exchange rates) and names the setting in every error;
- :func:`line_contribution` turns one invoice line into MRR over its service period;
- :func:`sweep` adds the contributions of one subscription item into ``[from, to)`` intervals.
"""

from __future__ import annotations

import calendar
import csv
import itertools
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from vitalsign.core.errors import ConfigError

DAY = 86_400

ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()  # noqa: SIM905
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
CHURN_RECOGNITION = ("period_end", "cancellation")


def exponent(currency: str) -> int:
    """Digits of the minor unit, as Stripe counts them (JPY 0, USD 2, KWD 3)."""
    cur = currency.lower()
    return 0 if cur in ZERO_DECIMAL else 3 if cur in THREE_DECIMAL else 2


@dataclass(frozen=True)
class TimelineOptions:
    """``[metrics]`` settings the timeline reads.

    ``fx_rates`` maps a lowercase currency to the value of one unit of it in the reporting
    currency (``eur = 1.08`` with ``currency = "usd"``): one fixed rate per currency.
    """

    currency: str = "usd"
    churn_recognition: str = "period_end"
    past_due_churn_days: int | None = None
    fx_rates: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, metrics: Mapping[str, Any], base_dir: Path | None = None) -> TimelineOptions:
        currency = metrics.get("currency", "usd")
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
            raise ConfigError('metrics.currency must be a three-letter ISO code such as "usd"')
        churn = metrics.get("churn_recognition", "period_end")
        if churn not in CHURN_RECOGNITION:
            raise ConfigError(
                f"metrics.churn_recognition must be one of {', '.join(CHURN_RECOGNITION)} (got {churn!r})"
            )
        days = metrics.get("past_due_churn_days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
            raise ConfigError("metrics.past_due_churn_days must be a whole number of days (or left out)")
        rates: dict[str, float] = {}
        rates_file = metrics.get("fx_rates_file")
        if rates_file is not None:
            if not isinstance(rates_file, str):
                raise ConfigError("metrics.fx_rates_file must be a path")
            path = Path(rates_file)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            rates.update(_read_rates_file(path))
        inline = metrics.get("fx_rates", {})
        if not isinstance(inline, Mapping):
            raise ConfigError("metrics.fx_rates must be a table of currency = rate")
        rates.update(_check_rates(inline, "metrics.fx_rates"))
        return cls(
            currency=currency.lower(), churn_recognition=churn, past_due_churn_days=days, fx_rates=rates
        )

    def factor(self, currency: str | None, *, context: str) -> float:
        """Multiply an amount in minor units of ``currency`` by this to get reporting minor units."""
        cur = (currency or self.currency).lower()
        if cur == self.currency:
            return 1.0
        rate = self.fx_rates.get(cur)
        if rate is None:
            raise ConfigError(
                f"metrics.fx_rates: no exchange rate for {cur.upper()} (needed by {context}); add "
                f"{cur} = <{self.currency.upper()} per 1 {cur.upper()}> under [metrics.fx_rates] "
                f"or to the file named by metrics.fx_rates_file"
            )
        return rate * 10 ** (exponent(self.currency) - exponent(cur))


def _check_rates(raw: Mapping[str, Any], setting: str) -> dict[str, float]:
    rates = {}
    for cur, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{setting}.{cur} must be a positive number")
        rates[str(cur).lower()] = float(value)
    return rates


def _read_rates_file(path: Path) -> dict[str, float]:
    """``.toml``/``.json`` (a table currency = rate) or ``.csv`` (columns currency,rate)."""
    setting = "metrics.fx_rates_file"
    if not path.is_file():
        raise ConfigError(f"{setting}: {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix == ".csv":
            data = {}
            for row in csv.DictReader(text.splitlines()):
                data[row["currency"].strip()] = float(row["rate"])
        else:
            raise ConfigError(f"{setting}: {path.name} must be a .toml, .json or .csv file")
    except (ValueError, KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{setting}: cannot read rates from {path}: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigError(f"{setting}: {path} must map currencies to rates")
    return _check_rates(data, setting)


# ==================================================================== periods


def add_months(when: int, months: int) -> int:
    moment = datetime.fromtimestamp(when, UTC)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def interval_months(interval: str | None, count: int | None) -> float | None:
    """Months in one billing interval: month 1, quarter 3, year 12, week 12/52, day 12/365."""
    n = count or 1
    if interval == "month":
        return float(n)
    if interval == "year":
        return 12.0 * n
    if interval == "week":
        return n * 12 / 52
    if interval == "day":
        return n * 12 / 365
    return None


def full_period_start(end: int, interval: str, count: int) -> int:
    """Start of the whole billing period that ends at ``end``."""
    n = count or 1
    if interval == "month":
        return add_months(end, -n)
    if interval == "year":
        return add_months(end, -12 * n)
    if interval == "week":
        return end - 7 * DAY * n
    return end - DAY * n


@dataclass
class Contribution:
    """What one invoice line adds to its item's MRR over ``[start, end)`` (reporting minor units)."""

    start: int
    end: int
    mrr: float
    original: float
    currency: str
    quantity: int | None
    price_id: str | None
    product_id: str | None
    months: float


def line_contribution(
    *,
    net: int,
    start: int,
    end: int,
    interval: str | None,
    count: int | None,
    proration: bool,
    factor: float,
    amount: int | None = None,
    unit_amount: int | None = None,
    quantity: int | None = None,
) -> tuple[float, float, float] | None:
    """``(mrr, original_mrr, months)`` of a line whose amount after tax and discounts is ``net``.

    MRR = net / months of the price's interval. A proration covers part of a period, so it is
    first brought to the whole period: at the line's own terms when the price has a unit amount
    (unit x quantity, signed, times the line's net/amount ratio: exact whatever Stripe's rounding
    of the prorated cents), else by time (net x whole period / prorated part). A mid-period change
    then shows the new MRR at its full monthly rate from the day it happened. Without a known
    interval the period's own length decides (in months of 30.44 days, at least one).
    """
    if end <= start:
        return None
    months = interval_months(interval, count)
    value = float(net)
    if months is None:
        months = max(1.0, round((end - start) / (30.436875 * DAY)))
    elif proration and interval is not None:
        if unit_amount is not None and quantity is not None and amount:
            sign = 1.0 if amount > 0 else -1.0
            value = sign * unit_amount * quantity * _ratio(net, amount)
        else:
            whole = end - full_period_start(end, interval, count or 1)
            if whole > 0:
                value = value * whole / (end - start)
    original = value / months
    return original * factor, original, months


def _ratio(net: int, amount: int) -> float:
    """``net / amount`` (what discounts and inclusive tax leave of a line), snapped to the nearest
    simple fraction when that is within the line's cent rounding: a 20 % coupon leaves 4/5 of a
    prorated 4387 whatever Stripe rounded its 877 discount to."""
    exact = net / amount
    simple = Fraction(exact).limit_denominator(100)
    return float(simple) if abs(float(simple) - exact) <= 1 / abs(amount) else exact


def sweep(contributions: Iterable[Contribution]) -> list[tuple[int, int, float, float, Contribution]]:
    """Add contributions over time: ``[(from, to, mrr, original_mrr, representative)]``.

    Each returned interval has a constant sum; adjacent intervals with equal (rounded) MRR are
    merged and intervals summing to zero or less (credits that cancel a period) are dropped.
    The representative is the latest-starting positive line covering the interval (its price,
    quantity and interval describe the interval). One pass over the sorted boundaries, keeping
    the lines active between two boundaries (usually one or two).
    """
    items = sorted(contributions, key=lambda c: (c.start, c.end))
    if not items:
        return []
    points = sorted({c.start for c in items} | {c.end for c in items})
    out: list[tuple[int, int, float, float, Contribution]] = []
    active: list[Contribution] = []
    nxt = 0
    for a, b in itertools.pairwise(points):
        active = [c for c in active if c.end > a]
        while nxt < len(items) and items[nxt].start <= a:
            if items[nxt].end > a:
                active.append(items[nxt])
            nxt += 1
        if not active:
            continue
        mrr = sum(c.mrr for c in active)
        if round(mrr) <= 0:
            continue
        original = sum(c.original for c in active)
        positive = [c for c in active if c.mrr > 0] or active
        rep = max(positive, key=lambda c: (c.start, c.mrr))
        if out and out[-1][1] == a and round(out[-1][2]) == round(mrr) and _same(out[-1][4], rep):
            prev = out[-1]
            out[-1] = (prev[0], b, prev[2], prev[3], prev[4])
        else:
            out.append((a, b, mrr, original, rep))
    return out


def _same(a: Contribution, b: Contribution) -> bool:
    return a.price_id == b.price_id and a.quantity == b.quantity
