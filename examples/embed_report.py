"""Embed vitalsign's numbers in your own report: a Markdown summary of the last months.

Two ways in, both read-only:

1. the SQL views (``v_mrr_monthly``, ``v_nps_monthly``, ...: docs/schema.md), plain SQL that any
   tool can run, here through the store's SQLAlchemy engine (SQLite or PostgreSQL alike);
2. the metrics layer (``compute_metrics``), for every KPI with the exact rules of docs/metrics.md.

    python examples/embed_report.py --store sqlite:///vitalsign.db --months 6 > kpis.md
"""

from __future__ import annotations

import argparse
import os

from sqlalchemy import text
from vitalsign.core.compute import compute_metrics, default_period
from vitalsign.core.store import DEFAULT_STORE_URL, Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=os.environ.get("VITALSIGN_STORE", DEFAULT_STORE_URL))
    parser.add_argument("--months", type=int, default=6)
    args = parser.parse_args()

    store = Store(args.store)
    store.upgrade()  # creates the views on a store that never synced with this version
    start, end = default_period(months=args.months)

    # 1. The views: plain SQL, the same text a notebook or Metabase would send.
    with store.connect() as conn:
        revenue = conn.execute(
            text(
                "SELECT month, mrr, paying_accounts, new_mrr, churned_mrr, net_new_mrr "
                "FROM v_mrr_monthly WHERE month BETWEEN :start AND :end ORDER BY month"
            ),
            {"start": str(start), "end": str(end)},
        ).all()
        red = conn.execute(
            text("SELECT account_name, score FROM v_health_latest WHERE band = 'red' ORDER BY score LIMIT 5")
        ).all()

    print(f"# Customer KPIs {start} to {end}\n")
    print("| month | MRR | paying | new | churned | net |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in revenue:
        print(
            f"| {r.month} | {float(r.mrr):,.2f} | {r.paying_accounts} | {float(r.new_mrr):,.2f} "
            f"| {float(r.churned_mrr):,.2f} | {float(r.net_new_mrr):,.2f} |"
        )

    # 2. The metrics layer: rows like `vitalsign metrics nps nrr --format json`.
    rows = compute_metrics(store, ["nps", "nrr"], start=end, end=end)
    values = {r["metric"]: r.get("value") for r in rows}
    print(f"\nNPS in {end}: {values.get('nps')}; NRR (12 months): {values.get('nrr')} %\n")
    if red:
        print("Accounts at risk: " + ", ".join(f"{r.account_name} ({r.score:.0f})" for r in red))
    store.dispose()


if __name__ == "__main__":
    main()
