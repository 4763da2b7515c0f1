"""The timeline's normalisation rules and options, one by one (no store needed)."""

from __future__ import annotations

import pytest
from vitalsign.core.errors import ConfigError
from vitalsign.metrics._timeline_rules import (
    Contribution,
    TimelineOptions,
    interval_months,
    line_contribution,
    sweep,
)
from vitalsign.testing.fakes.stripe import ts


@pytest.mark.parametrize(
    ("interval", "count", "months"),
    [("month", 1, 1.0), ("month", 3, 3.0), ("year", 1, 12.0), ("week", 1, 12 / 52), ("day", 1, 12 / 365)],
)
def test_interval_months(interval, count, months):
    assert interval_months(interval, count) == pytest.approx(months)


def test_annual_line_is_one_twelfth():
    mrr, original, months = line_contribution(
        net=120000, start=ts("2025-01-01"), end=ts("2026-01-01"), interval="year", count=1,
        proration=False, factor=1.0,
    )  # fmt: skip
    assert (round(mrr), round(original), months) == (10000, 10000, 12.0)


def test_proration_without_unit_amount_is_scaled_by_time():
    # a tiered price (no unit amount): 1/2 of a 30-day month billed 2500 -> 5000 a month
    mrr, _, _ = line_contribution(
        net=2500, start=ts("2025-04-16"), end=ts("2025-05-01"), interval="month", count=1,
        proration=True, factor=1.0, amount=2500, unit_amount=None, quantity=3,
    )  # fmt: skip
    assert round(mrr) == 5000


def test_proration_with_unit_amount_uses_the_line_terms_and_keeps_its_discount_ratio():
    # 8 seats x 10.00, 20 % off, prorated for 17 of 31 days: Stripe billed 4387 - 877
    mrr, _, _ = line_contribution(
        net=4387 - 877, start=ts("2025-03-15"), end=ts("2025-04-01"), interval="month", count=1,
        proration=True, factor=1.0, amount=4387, unit_amount=1000, quantity=8,
    )  # fmt: skip
    assert round(mrr) == 6400
    credit, _, _ = line_contribution(
        net=-2742, start=ts("2025-03-15"), end=ts("2025-04-01"), interval="month", count=1,
        proration=True, factor=1.0, amount=-2742, unit_amount=1000, quantity=5,
    )  # fmt: skip
    assert round(credit) == -5000


def test_line_without_known_interval_uses_its_own_length():
    mrr, _, months = line_contribution(
        net=30000, start=ts("2025-01-01"), end=ts("2025-04-01"), interval=None, count=None,
        proration=False, factor=1.0,
    )  # fmt: skip
    assert (round(mrr), months) == (10000, 3.0)


def c(start, end, mrr, qty=1, price="p1"):
    return Contribution(
        start=ts(start), end=ts(end), mrr=mrr, original=mrr, currency="usd", quantity=qty,
        price_id=price, product_id=None, months=1.0,
    )  # fmt: skip


def test_sweep_merges_equal_renewals_and_drops_fully_credited_time():
    out = sweep(
        [
            c("2025-01-01", "2025-02-01", 5000, qty=5),
            c("2025-02-01", "2025-03-01", 5000, qty=5),
            c("2025-03-01", "2025-04-01", 5000, qty=5),
            c("2025-03-15", "2025-04-01", -5000, qty=5),  # credit: unused time
            c("2025-03-15", "2025-04-01", 8000, qty=8),  # debit: remaining time
            c("2025-04-01", "2025-05-01", 8000, qty=8),
            c("2025-06-01", "2025-06-10", 0),  # a zero line leaves a gap, not a row
        ]
    )
    assert [(a, b, round(m), rep.quantity) for a, b, m, _, rep in out] == [
        (ts("2025-01-01"), ts("2025-03-15"), 5000, 5),
        (ts("2025-03-15"), ts("2025-05-01"), 8000, 8),
    ]


def test_options_defaults_and_validation(tmp_path):
    assert TimelineOptions.from_config({}) == TimelineOptions()
    with pytest.raises(ConfigError, match=r"metrics\.churn_recognition"):
        TimelineOptions.from_config({"churn_recognition": "whenever"})
    with pytest.raises(ConfigError, match=r"metrics\.past_due_churn_days"):
        TimelineOptions.from_config({"past_due_churn_days": "ten"})
    with pytest.raises(ConfigError, match=r"metrics\.currency"):
        TimelineOptions.from_config({"currency": "dollars"})
    with pytest.raises(ConfigError, match=r"metrics\.fx_rates\.eur must be a positive number"):
        TimelineOptions.from_config({"fx_rates": {"eur": -1}})
    with pytest.raises(ConfigError, match=r"metrics\.fx_rates_file: .* does not exist"):
        TimelineOptions.from_config({"fx_rates_file": "missing.csv"}, tmp_path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("rates.csv", "currency,rate\nEUR,1.1\ngbp,1.25\n"),
        ("rates.toml", "eur = 1.1\ngbp = 1.25\n"),
        ("rates.json", '{"eur": 1.1, "GBP": 1.25}'),
    ],
)
def test_rates_file_formats_relative_to_the_config(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    opts = TimelineOptions.from_config({"fx_rates_file": name, "fx_rates": {"gbp": 1.3}}, tmp_path)
    assert opts.fx_rates == {"eur": 1.1, "gbp": 1.3}  # inline wins over the file


def test_conversion_respects_minor_units_and_missing_rates_name_the_setting():
    opts = TimelineOptions(currency="usd", fx_rates={"jpy": 0.0067, "kwd": 3.25})
    assert opts.factor("usd", context="x") == 1.0
    assert round(10000 * opts.factor("jpy", context="x")) == 6700  # 10,000 yen -> 67.00 USD
    assert round(1000 * opts.factor("kwd", context="x")) == 325  # 1.000 KWD -> 3.25 USD
    with pytest.raises(ConfigError) as err:
        opts.factor("eur", context="subscription sub_1")
    assert "metrics.fx_rates" in str(err.value)
    assert "EUR" in str(err.value)
    assert "sub_1" in str(err.value)
