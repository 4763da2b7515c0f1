"""Benchmark: the whole KPI set over 36 months, and one account's health drill-down, on SQLite.

A seeded synthetic company (``vitalsign.testing.synthetic``) is written straight into a SQLite
store (cached under ``bench/.cache``, keyed by scale and seed): at ``--scale 1`` 100 000
accounts, 36 months of subscriptions, ~1.1M invoice lines, ~200 000 tickets, ~100 000 survey
answers and ~10M usage events represented in the usage rollups (the raw events are not written:
metrics read the rollups only). The health history of every month is recorded first, as a
monthly ``vitalsign health`` would have done (the last 12 months; ``health_score`` reads it).
Then the derived tables a sync leaves behind (``metrics/derived.py``: MRR and seat change points,
feature first uses and windows, users per group and window) are brought up to date, timed on
their own as the post-sync step they are; the KPI run reads them.

The measurement runs in a fresh subprocess so that its peak RSS is the KPI run's own. Targets:
whole KPI set <= 10 s and <= 1 GB RSS; one account's drill-down <= 100 ms.

    .venv/bin/python bench/bench_metrics.py --scale 0.1      # quick
    .venv/bin/python bench/bench_metrics.py                  # full size (first build takes minutes)
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from vitalsign.core.metric import MetricQuery, Month
from vitalsign.core.registry import metrics as registered_metrics
from vitalsign.core.store import Store

END = datetime(2026, 11, 1, tzinfo=UTC)  # fixed, so the cache stays valid
FIRST, LAST = Month(2023, 11), Month(2026, 10)  # 36 months
GENERATOR_VERSION = 2
HISTORY = 12  # months of health history recorded before measuring


def machine() -> str:
    return (
        f"{platform.machine()} nproc={os.cpu_count()} python={platform.python_version()} "
        f"sqlite={sqlite3.sqlite_version} {platform.system()} {platform.release()}"
    )


def build(path: Path, scale: float, seed: int) -> None:
    from vitalsign.metrics.health import compute_health, store_health
    from vitalsign.testing import synthetic

    accounts = max(50, round(100_000 * scale))
    started = time.perf_counter()
    company = synthetic.build(accounts=accounts, months=36, seed=seed, end=END)
    built = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    store = Store(f"sqlite:///{tmp}")
    store.upgrade()
    counts = synthetic.write_store(company, store)
    written = time.perf_counter()
    with store.begin() as conn:
        for month in LAST.shift(-(HISTORY - 1)).until(LAST):
            store_health(conn, compute_health(conn, month))
    store.dispose()
    tmp.rename(path)
    print(
        f"built {path.name}: generate {built - started:.1f}s, write {written - built:.1f}s, "
        f"health history {time.perf_counter() - written:.1f}s"
    )
    for name, n in sorted(counts.items()):
        print(f"  {name:<22} {n:>10,}")


def measure(path: Path, account_runs: int) -> None:
    """The KPI set for 36 months, metric by metric, on one connection (as `vitalsign metrics`)."""
    from sqlalchemy import func, select
    from vitalsign.core.compute import metrics_connection
    from vitalsign.core.store import table
    from vitalsign.metrics.health import compute_health

    store = Store(f"sqlite:///{path}")
    _print_volumes(store)
    registry = registered_metrics()
    names = sorted(registry, key=lambda n: (registry[n].family, n))
    query = MetricQuery(start=FIRST, end=LAST, options={"currency": "usd"})
    times: dict[str, float] = {}
    rows = 0
    started = time.perf_counter()
    with metrics_connection(store) as conn:
        for name in names:
            t = time.perf_counter()
            rows += len(registry[name].compute(conn, query))
            times[name] = time.perf_counter() - t
    total = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {machine()}")
    print(
        f"whole KPI set, {len(names)} metrics x 36 months: {total:.2f} s, {rows} rows, peak RSS {rss:.0f} MB"
    )
    for name in names:
        print(f"  {registry[name].family:<13} {name:<30} {times[name] * 1000:8.0f} ms")
    with store.connect() as conn:
        ids = [
            r[0]
            for r in conn.execute(select(table("accounts").c.id).order_by(func.random()).limit(account_runs))
        ]
        t = time.perf_counter()
        everyone = compute_health(conn, LAST)
        all_accounts = time.perf_counter() - t
        drill = []
        for account_id in ids:
            t = time.perf_counter()
            compute_health(conn, LAST, account_ids=[account_id])
            drill.append(time.perf_counter() - t)
    print(f"health, all {len(everyone)} scored accounts, one month: {all_accounts:.2f} s")
    print(
        f"one account's health drill-down ({len(drill)} random accounts): median "
        f"{statistics.median(drill) * 1000:.1f} ms, max {max(drill) * 1000:.1f} ms"
    )


def refresh_derived(path: Path, force: bool) -> None:
    """What a sync leaves behind: the derived tables of the current inputs (timed apart, as the
    post-sync step it is), on a store cached by an older build brought to the current schema."""
    from vitalsign.metrics import derived

    store = Store(f"sqlite:///{path}")
    _add_missing_indexes(store)
    started = time.perf_counter()
    written = derived.refresh(store, {"currency": "usd"}, force=force)
    took = time.perf_counter() - started
    store.dispose()
    rebuilt = ", ".join(f"{name} {n:,} rows" for name, n in written.items()) or "all fresh"
    print(f"post-sync derivation (derived.refresh): {took:.2f} s ({rebuilt})")


def _add_missing_indexes(store: Store) -> None:
    """A store cached by an older build of the same schema revision gets the current tables and
    indexes (and loses the indexes the models no longer declare)."""
    from sqlmodel import SQLModel

    SQLModel.metadata.create_all(store.engine, checkfirst=True)
    declared = {index.name for tbl in SQLModel.metadata.tables.values() for index in tbl.indexes}
    with store.begin() as conn:
        present = conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%'"
        )
        for (name,) in present.all():
            if name not in declared:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
    for tbl in SQLModel.metadata.tables.values():
        for index in tbl.indexes:
            index.create(store.engine, checkfirst=True)


def _print_volumes(store: Store) -> None:
    from sqlalchemy import func, select
    from vitalsign.core.store import table

    with store.connect() as conn:
        for name in (
            "accounts",
            "revenue_timeline",
            "invoice_lines",
            "tickets",
            "survey_responses",
            "usage_user_daily",
            "usage_daily",
            "usage_feature_daily",
            "health_scores",
        ):
            n = conn.execute(select(func.count()).select_from(table(name))).scalar_one()
            print(f"  {name:<22} {n:>12,} rows")
        events = conn.execute(select(func.sum(table("usage_daily").c.events))).scalar_one()
        print(f"  usage events in the rollups {events:>12,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100 000 accounts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the cached store")
    parser.add_argument("--accounts", type=int, default=25, help="drill-downs to time")
    parser.add_argument("--derive", action="store_true", help="rebuild the derived tables even if fresh")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.accounts)
        return
    cache = Path(__file__).with_name(".cache")
    cache.mkdir(exist_ok=True)
    path = cache / f"metrics-v{GENERATOR_VERSION}-scale{args.scale:g}-seed{args.seed}.db"
    if args.rebuild or not path.exists():
        path.unlink(missing_ok=True)
        build(path, args.scale, args.seed)
    refresh_derived(path, args.derive or args.rebuild)
    # a fresh process: its peak RSS is the KPI run's, not the generator's
    subprocess.run(
        [sys.executable, __file__, "--measure", str(path), "--accounts", str(args.accounts)], check=True
    )


if __name__ == "__main__":
    main()
