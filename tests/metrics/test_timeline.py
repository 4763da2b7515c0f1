"""The revenue timeline built from Stripe data: hand-computed MRR per month, SQLite and PostgreSQL.

Each scenario goes through the whole path: the billing simulator of the fake Stripe issues the
invoices, the real connector syncs them through the official client, the engine's after-sync hook
rebuilds ``revenue_timeline``, and MRR is read the way the metrics layer reads it (SUM of the rows
covering the instant; a month's value at its last second). Amounts are cents.
"""

from __future__ import annotations

import pytest
from vitalsign.testing.fakes.stripe import ts
from vitalsign.testing.stripe_sandbox import StripeSandbox


@pytest.fixture
def box(store):
    with StripeSandbox(store) as sandbox:
        yield sandbox


def catalogue(box, amount, *, interval="month", count=1, nickname="Plan", **price):
    product = box.fake.create_product(nickname)
    return box.fake.create_price(
        product["id"], amount, interval=interval, interval_count=count, nickname=nickname, **price
    )


def customer(box, name="Acme"):
    return box.fake.create_customer(
        email=f"billing@{name.lower()}.io", name=name, metadata={"account_id": f"ACC-{name}"}
    )


def test_seat_plan_quantity_change_mid_period_counts_new_seats_from_the_change(box):
    seat = catalogue(box, 1000, nickname="Seat")
    cus = customer(box)
    sub = box.fake.create_subscription(cus["id"], [(seat["id"], 5)], start=ts("2025-01-01"))
    box.fake.advance(ts("2025-03-15"))
    box.fake.update_item(sub["id"], at=ts("2025-03-15"), quantity=8)
    box.fake.advance(ts("2025-06-01"))

    assert box.sync().status == "success"

    # 5 x $10 until 15 March; the proration pair (credit 5 seats, debit 8 seats for 17 of 31
    # days) scaled to the whole month moves MRR to 8 x $10 from that day on.
    assert box.mrr_at("2025-03-14T12:00:00") == 5000
    assert box.mrr_at("2025-03-15T12:00:00") == 8000
    assert box.month_ends("2025-01", "2025-06") == {
        "2025-01": 5000,
        "2025-02": 5000,
        "2025-03": 8000,
        "2025-04": 8000,
        "2025-05": 8000,
        "2025-06": 8000,
    }
    [last] = [r for r in box.rows("revenue_timeline") if r.valid_to is None]
    assert (last.quantity, last.mrr, last.source_account_id) == (8, 8000, cus["id"])


def test_annual_plan_is_one_twelfth_per_month(box):
    annual = catalogue(box, 120000, interval="year", nickname="Annual")
    cus = customer(box)
    box.fake.create_subscription(cus["id"], [(annual["id"], 1)], start=ts("2025-02-01"))
    box.fake.advance(ts("2026-03-01"))
    box.sync()
    months = box.month_ends("2025-01", "2026-03")
    assert months["2025-01"] == 0
    assert {months[m] for m in months if m != "2025-01"} == {10000}
    [row] = [r for r in box.rows("revenue_timeline")]
    assert (row.interval_months, row.valid_to) == (12.0, None)


def test_forever_and_repeating_coupons_reduce_mrr_while_they_apply(box):
    plan = catalogue(box, 5000, nickname="Pro")
    forever = box.fake.create_coupon(percent_off=20, duration="forever")
    three_months = box.fake.create_coupon(percent_off=25, duration="repeating", duration_in_months=3)
    a, b = customer(box, "Alpha"), customer(box, "Beta")
    sub_a = box.fake.create_subscription(
        a["id"], [(plan["id"], 1)], start=ts("2025-01-01"), coupon=forever["id"]
    )
    sub_b = box.fake.create_subscription(
        b["id"], [(plan["id"], 2)], start=ts("2025-01-01"), coupon=three_months["id"]
    )
    box.fake.advance(ts("2025-06-01"))
    box.sync()
    assert set(box.month_ends("2025-01", "2025-06", subscription=sub_a["id"]).values()) == {4000}
    assert box.month_ends("2025-01", "2025-06", subscription=sub_b["id"]) == {
        "2025-01": 7500,
        "2025-02": 7500,
        "2025-03": 7500,
        "2025-04": 10000,
        "2025-05": 10000,
        "2025-06": 10000,
    }
    coupons = {r.source_id: r for r in box.rows("coupons")}
    assert coupons[three_months["id"]].duration_in_months == 3


def test_trial_counts_zero_then_the_paid_plan_from_conversion(box):
    plan = catalogue(box, 3000)
    cus = customer(box)
    sub = box.fake.create_subscription(cus["id"], [(plan["id"], 1)], start=ts("2025-01-01"), trial_days=14)
    box.fake.advance(ts("2025-03-01"))
    box.sync()
    assert box.mrr_at("2025-01-10") == 0
    assert box.mrr_at("2025-01-15T00:00:00") == 3000
    assert box.month_ends("2025-01", "2025-03") == {"2025-01": 3000, "2025-02": 3000, "2025-03": 3000}
    [row] = box.rows("subscriptions", source_id=sub["id"])
    assert (row.status, row.trial_end.isoformat()) == ("active", "2025-01-15T00:00:00+00:00")


def test_cancellation_at_period_end_churns_when_the_paid_period_ends(box):
    plan = catalogue(box, 2000)
    cus = customer(box)
    sub = box.fake.create_subscription(cus["id"], [(plan["id"], 1)], start=ts("2025-01-01"))
    box.fake.advance(ts("2025-03-05"))
    box.fake.cancel_subscription(sub["id"], at=ts("2025-03-10"), at_period_end=True)
    box.fake.advance(ts("2025-05-01"))
    box.sync()
    assert box.month_ends("2025-01", "2025-04") == {
        "2025-01": 2000,
        "2025-02": 2000,
        "2025-03": 2000,
        "2025-04": 0,
    }
    [row] = box.rows("revenue_timeline")
    assert row.valid_to.isoformat() == "2025-04-01T00:00:00+00:00"


def test_churn_at_cancellation_request_is_an_option(box):
    box.metrics["churn_recognition"] = "cancellation"
    plan = catalogue(box, 2000)
    cus = customer(box)
    sub = box.fake.create_subscription(cus["id"], [(plan["id"], 1)], start=ts("2025-01-01"))
    box.fake.advance(ts("2025-03-05"))
    box.fake.cancel_subscription(sub["id"], at=ts("2025-03-10"), at_period_end=True)
    box.fake.advance(ts("2025-05-01"))
    box.sync()
    assert box.month_ends("2025-02", "2025-03") == {"2025-02": 2000, "2025-03": 0}
    assert box.mrr_at("2025-03-09") == 2000


def test_reactivation_two_months_after_churn(box):
    plan = catalogue(box, 2000)
    bigger = catalogue(box, 2500, nickname="Bigger")
    cus = customer(box)
    first = box.fake.create_subscription(cus["id"], [(plan["id"], 1)], start=ts("2025-01-01"))
    box.fake.advance(ts("2025-02-10"))
    box.fake.cancel_subscription(first["id"], at=ts("2025-02-10"))
    box.fake.advance(ts("2025-05-01"))
    box.fake.create_subscription(cus["id"], [(bigger["id"], 1)], start=ts("2025-05-01"))
    box.fake.advance(ts("2025-06-15"))
    box.sync()
    assert box.month_ends("2025-01", "2025-06", account=cus["id"]) == {
        "2025-01": 2000,
        "2025-02": 2000,
        "2025-03": 0,
        "2025-04": 0,
        "2025-05": 2500,
        "2025-06": 2500,
    }


def test_inclusive_tax_is_taken_out_and_exclusive_tax_never_counts(box):
    inclusive = catalogue(box, 12000, nickname="EU plan", tax_behavior="inclusive")
    exclusive = catalogue(box, 10000, nickname="US plan", tax_behavior="exclusive")
    a, b = customer(box, "Eu"), customer(box, "Us")
    sub_a = box.fake.create_subscription(
        a["id"], [(inclusive["id"], 1)], start=ts("2025-01-01"), tax_rate=0.2
    )
    sub_b = box.fake.create_subscription(
        b["id"], [(exclusive["id"], 1)], start=ts("2025-01-01"), tax_rate=0.2
    )
    box.fake.advance(ts("2025-02-01"))
    box.sync()
    assert box.mrr_at("2025-01-31", subscription=sub_a["id"]) == 10000  # 120.00 incl. 20.00 VAT
    assert box.mrr_at("2025-01-31", subscription=sub_b["id"]) == 10000  # 20.00 tax on top
    lines = {r.subscription_id: r for r in box.rows("invoice_lines") if r.period_start.month == 1}
    assert (lines[sub_a["id"]].inclusive_tax_amount, lines[sub_b["id"]].exclusive_tax_amount) == (2000, 2000)


def test_weekly_and_quarterly_plans_are_normalised_to_months(box):
    weekly = catalogue(box, 1000, interval="week", nickname="Weekly")
    quarterly = catalogue(box, 30000, interval="month", count=3, nickname="Quarterly")
    a, b = customer(box, "Wk"), customer(box, "Qt")
    sub_w = box.fake.create_subscription(a["id"], [(weekly["id"], 1)], start=ts("2025-01-06"))
    sub_q = box.fake.create_subscription(b["id"], [(quarterly["id"], 1)], start=ts("2025-01-01"))
    box.fake.advance(ts("2025-04-15"))
    box.sync()
    assert box.mrr_at("2025-02-28T23:59:59", subscription=sub_w["id"]) == 4333  # 10.00 x 52 / 12
    assert box.month_ends("2025-01", "2025-04", subscription=sub_q["id"]) == {
        m: 10000 for m in ("2025-01", "2025-02", "2025-03", "2025-04")
    }


def test_metered_items_and_one_time_charges_add_nothing(box):
    plan = catalogue(box, 4000, nickname="Base")
    metered = catalogue(box, 5, nickname="API calls", usage_type="metered")
    setup = catalogue(box, 50000, interval=None, nickname="Onboarding")
    cus = customer(box)
    sub = box.fake.create_subscription(
        cus["id"], [(plan["id"], 1), (metered["id"], 1)], start=ts("2025-01-01")
    )
    box.fake.add_invoice_item(sub["id"], setup["id"])
    box.fake.advance(ts("2025-03-01"))
    box.sync()
    assert box.month_ends("2025-01", "2025-03") == {"2025-01": 4000, "2025-02": 4000, "2025-03": 4000}
    kinds = {r.description: r.kind for r in box.rows("invoice_lines")}
    assert kinds["Onboarding"] == "invoiceitem"


def test_past_due_counts_until_canceled_and_optionally_churns_after_n_days(box):
    plan = catalogue(box, 6000)
    cus = customer(box)
    sub = box.fake.create_subscription(cus["id"], [(plan["id"], 1)], start=ts("2025-01-01"))
    box.fake.advance(ts("2025-03-15"))
    box.fake.fail_next_payment(sub["id"])
    box.fake.advance(ts("2025-04-20"))
    assert box.fake.get("subscription", sub["id"])["status"] == "past_due"
    box.sync()
    assert box.month_ends("2025-03", "2025-05") == {"2025-03": 6000, "2025-04": 6000, "2025-05": 6000}

    box.metrics["past_due_churn_days"] = 10
    box.sync()
    assert box.mrr_at("2025-04-10T23:00:00") == 6000
    assert box.mrr_at("2025-04-11T00:00:00") == 0  # the open invoice of 1 April + 10 days


def test_other_currencies_are_converted_with_the_configured_rates(box, tmp_path):
    eur = catalogue(box, 10000, currency="eur", nickname="EUR plan")
    jpy = catalogue(box, 10000, currency="jpy", nickname="JPY plan")
    a, b = customer(box, "Paris"), customer(box, "Tokyo")
    sub_e = box.fake.create_subscription(a["id"], [(eur["id"], 1)], start=ts("2025-01-01"))
    sub_j = box.fake.create_subscription(b["id"], [(jpy["id"], 1)], start=ts("2025-01-01"))
    box.fake.advance(ts("2025-02-01"))

    summary = box.sync()
    assert summary.status == "failed"
    assert "metrics.fx_rates" in summary.error
    assert "no exchange rate for EUR" in summary.error or "no exchange rate for JPY" in summary.error

    rates = tmp_path / "rates.csv"
    rates.write_text("currency,rate\njpy,0.0067\n")
    box.metrics.update({"fx_rates": {"eur": 1.1}, "fx_rates_file": str(rates)})
    assert box.sync().status == "success"
    assert box.mrr_at("2025-01-31", subscription=sub_e["id"]) == 11000  # 100.00 EUR x 1.1
    assert box.mrr_at("2025-01-31", subscription=sub_j["id"]) == 6700  # 10,000 JPY x 0.0067
    rows = {r.subscription_id: r for r in box.rows("revenue_timeline")}
    assert (rows[sub_j["id"]].original_currency, rows[sub_j["id"]].original_mrr) == ("jpy", 10000)
    assert rows[sub_j["id"]].currency == "usd"


def test_rebuild_replaces_rows_and_follows_incremental_changes(box):
    plan = catalogue(box, 1000, nickname="Seat")
    cus = customer(box)
    sub = box.fake.create_subscription(cus["id"], [(plan["id"], 3)], start=ts("2025-01-01"))
    box.fake.advance(ts("2025-02-01"))
    box.sync()
    before = len(box.rows("revenue_timeline"))
    box.clock.advance(days=1)
    box.fake.update_item(sub["id"], at=ts("2025-02-11"), quantity=6, proration_behavior="always_invoice")
    box.clock.advance(days=1)
    box.sync()
    assert box.mrr_at("2025-02-10") == 3000
    assert box.mrr_at("2025-02-12") == 6000
    assert len(box.rows("revenue_timeline")) == before + 1
