"""The synthetic company written straight into the store: what the metrics read matches the model."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from vitalsign.core.metric import Month
from vitalsign.core.store import table
from vitalsign.testing import synthetic

END = datetime(2026, 7, 1, tzinfo=UTC)


def test_written_store_matches_the_model(sqlite_data):
    company = synthetic.build(accounts=40, months=12, seed=11, end=END, events_per_account=300)
    counts = synthetic.write_store(company, sqlite_data.store, batch=500)
    assert counts["accounts"] == 40
    assert counts["tickets"] == len(company.tickets) > 0
    assert counts["survey_responses"] == len(company.answers) > 0
    assert synthetic.build(accounts=40, months=12, seed=11, end=END).tickets == company.tickets  # seeded

    # month-end MRR of June 2026 straight from the model's stretches
    t = int(datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC).timestamp())
    expected, paying = 0, set()
    for account in company.accounts:
        for stint in account.stints:
            for part in synthetic.stretches(stint, company.end):
                if part.start <= t and (part.end is None or part.end > t):
                    expected += part.mrr
                    paying.add(account.index)
    assert sqlite_data.value("mrr", "2026-06") == round(expected / 100, 2)
    assert sqlite_data.value("paying_accounts", "2026-06") == len(paying)

    user_days = [u for a in company.accounts for u in company.usage(a)]
    with sqlite_data.store.connect() as conn:
        events = conn.execute(select(func.sum(table("usage_daily").c.events))).scalar_one()
        rows = conn.execute(select(func.count()).select_from(table("usage_user_daily"))).scalar_one()
    assert rows == len(user_days)
    assert events == sum(e for _, _, e, _ in user_days)
    assert abs(events - company.usage_events) < 0.25 * company.usage_events  # calibrated volume

    # every metric runs on it
    from vitalsign.core.compute import compute_metrics
    from vitalsign.core.registry import metrics

    rows_out = compute_metrics(sqlite_data.store, sorted(metrics()), start=Month(2026, 1), end=Month(2026, 6))
    assert {r["metric"] for r in rows_out} >= {"mrr", "nps", "mau", "renewal_rate", "resolution_time"}
