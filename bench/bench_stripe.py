"""Benchmark: a full Stripe sync from the fake Stripe on loopback into a SQLite store.

    .venv/bin/python bench/bench_stripe.py                       # 20k customers, 20k subs, 240k invoices
    .venv/bin/python bench/bench_stripe.py --scale 0.05 --runs 1 # a quick run

The fake serves a generated company from its own process (``python -m
vitalsign.testing.fakes.stripe``) with no added latency, so the figure is the framework's own
cost: official stripe client + JSON + mapping + validation + batched upserts + the revenue
timeline rebuild. Objects are the top-level Stripe objects read (customers, subscriptions,
invoices and the small catalogue); invoice lines and subscription items are written on top.
The target is >= 10,000 objects/s: Stripe's live limit of 100 requests/s x 100 objects per page
is 10,000 objects/s, so the framework must not be the bottleneck. Objects per client CPU-second
(reader thread + writer together) is printed too: on a shared machine it moves much less with
the load than wall-clock throughput does.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import func, select
from vitalsign.connectors.stripe.connector import StripeConnector
from vitalsign.connectors.stripe.settings import StripeSettings
from vitalsign.core.config import Config
from vitalsign.core.store import Store, table
from vitalsign.core.sync import SyncEngine
from vitalsign.metrics.timeline import rebuild_timeline
from vitalsign.testing.fakes.stripe import fake_api_key

KEY = fake_api_key("bench")


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"machine: {cpu or 'unknown cpu'}, nproc={os.cpu_count()}, python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, stripe {version('stripe')}, "
        f"SQLAlchemy {version('sqlalchemy')}, sqlite {sqlite3.sqlite_version}"
    )


def start_fake(customers: int, subscriptions: int, invoices: int) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable,
        "-m",
        "vitalsign.testing.fakes.stripe",
        f"--customers={customers}",
        f"--subscriptions={subscriptions}",
        f"--invoices={invoices}",
        f"--api-key={KEY}",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("ready "):
        proc.kill()
        raise SystemExit(f"fake Stripe did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def count(store: Store, name: str) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())


def one_run(base_url: str, workdir: Path, run: int) -> dict[str, float]:
    store = Store(f"sqlite:///{workdir / f'bench-{run}.db'}")
    store.upgrade()
    settings = StripeSettings.model_validate(
        {"api_key": KEY, "base_url": base_url, "rate_limit": None, "account_key": "metadata.account_id"}
    )
    connector = StripeConnector("stripe", settings)
    engine = SyncEngine(store, Config(path=None, store_url=store.display_url))
    started, cpu_started = time.perf_counter(), time.process_time()
    summary = engine.sync_connector(connector)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    connector.close()
    if summary.status != "success":
        raise SystemExit(f"sync failed: {summary.error}")
    objects = summary.rows
    streams = sum(s.seconds for s in summary.streams.values())
    t0 = time.perf_counter()
    intervals = rebuild_timeline(store, "stripe")
    timeline = time.perf_counter() - t0
    result = {
        "objects": objects,
        "lines": count(store, "invoice_lines"),
        "items": count(store, "subscription_items"),
        "intervals": intervals,
        "requests": connector.api.requests if connector._api else 0,
        "streams_s": streams,
        "total_s": total,
        "timeline_s": timeline,
        "objects_per_s": objects / streams,
        "objects_per_s_total": objects / total,
        "cpu_s": cpu,
        "objects_per_cpu_s": objects / cpu,
    }
    store.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--subscriptions", type=int, default=20_000)
    parser.add_argument("--invoices", type=int, default=240_000)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the three sizes")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [max(1, int(n * args.scale)) for n in (args.customers, args.subscriptions, args.invoices)]
    print(machine())
    print(f"fake Stripe on loopback (own process): {sizes[0]} customers, {sizes[1]} subscriptions, "
          f"{sizes[2]} invoices; {args.runs} run(s), fresh SQLite store each")  # fmt: skip
    proc, url = start_fake(*sizes)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.runs):
                r = one_run(url, Path(tmp), run)
                results.append(r)
                print(
                    f"run {run + 1}: {r['objects']:.0f} objects "
                    f"({r['lines']:.0f} lines, {r['items']:.0f} items) "
                    f"in {r['streams_s']:.1f} s of streams = {r['objects_per_s']:,.0f} objects/s; "
                    f"whole sync incl. identity + timeline {r['total_s']:.1f} s = "
                    f"{r['objects_per_s_total']:,.0f} objects/s; timeline alone {r['timeline_s']:.1f} s "
                    f"({r['intervals']:.0f} intervals); client CPU {r['cpu_s']:.1f} s = "
                    f"{r['objects_per_cpu_s']:,.0f} objects per CPU-second"
                )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    median = statistics.median(r["objects_per_s"] for r in results)
    median_total = statistics.median(r["objects_per_s_total"] for r in results)
    median_cpu = statistics.median(r["objects_per_cpu_s"] for r in results)
    verdict = "meets" if median >= 10_000 else "misses"
    print(
        f"median: {median:,.0f} objects/s (streams), {median_total:,.0f} objects/s (whole sync), "
        f"{median_cpu:,.0f} objects per client CPU-second; target 10,000 objects/s: {verdict}"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"load average at the end: {load:.1f} on {os.cpu_count()} cores (other work slows wall-clock figures)"
    )


if __name__ == "__main__":
    main()
