"""HubSpot connector throughput: tickets and feedback submissions from the loopback fake into SQLite.

    .venv/bin/python bench/bench_hubspot.py                         # 100k tickets, 50k surveys, 3 runs
    .venv/bin/python bench/bench_hubspot.py --tickets 20000 --feedback 10000 --runs 5

The fake HubSpot runs in its own process (so it does not share the GIL with the connector) and
serves a synthetic portal. Each run is a first (full) sync of the ``ticket_stages``, ``tickets`` and
``feedback_submissions`` streams into a fresh SQLite store through the real engine. Printed side
by side, each as the median of the runs:

- ``fetch only``: the same streams read (HTTP, parsing, mapping to rows) without a store: the
  ceiling the store and engine are measured against;
- ``sync``: the full path (validation, upserts, cursors, run records);
- ``generated models``: up to 20,000 tickets listed with the official client's default response
  handling (model objects): the baseline for reading raw JSON with orjson instead.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vitalsign.core.config import Config, ConnectorConfig, instantiate
from vitalsign.core.store import Store
from vitalsign.core.sync import SyncEngine
from vitalsign.testing.fakes.hubspot import FakeHubSpot

TOKEN = "fake-hubspot-token-bench"
STREAMS = ["ticket_stages", "tickets", "feedback_submissions"]


def serve(tickets: int, feedback: int, ready: Any, stop: Any) -> None:
    fake = FakeHubSpot(token=TOKEN)
    fake.populate(companies=1000, contacts=5000, tickets=tickets, feedback=feedback, owners=20, seed=11)
    with fake:
        ready.send(fake.base_url)
        stop.wait()


def config(base_url: str) -> Config:
    section = {
        "access_token": "${HUBSPOT_ACCESS_TOKEN}",
        "base_url": base_url,
        "streams": STREAMS,
        "requests_per_10s": 0,  # measure the connector, not HubSpot's limits
        "search_per_second": 0,
    }
    return Config(
        path=None,
        store_url="sqlite://",
        connectors={"hubspot": ConnectorConfig(name="hubspot", type="hubspot", settings=section)},
    )


def run_sync(cfg: Config, workdir: Path, n: int) -> tuple[float, int]:
    store = Store(f"sqlite:///{workdir / f'bench-{n}.db'}")
    store.upgrade()
    connector = instantiate(cfg.connector("hubspot"), cfg)
    started = time.perf_counter()
    try:
        summary = SyncEngine(store, cfg).sync_connector(connector)
    finally:
        connector.close()
        store.dispose()
    elapsed = time.perf_counter() - started
    if summary.status != "success":
        raise SystemExit(f"sync failed: {summary.error}")
    return elapsed, summary.streams["tickets"].rows + summary.streams["feedback_submissions"].rows


def run_fetch(cfg: Config) -> tuple[float, int]:
    connector = instantiate(cfg.connector("hubspot"), cfg)
    started = time.perf_counter()
    rows = 0
    try:
        for stream in connector.streams():
            for batch in stream.read(None):
                if stream.name != "ticket_stages":
                    rows += len(batch.records)
    finally:
        connector.close()
    return time.perf_counter() - started, rows


def run_models(cfg: Config, limit: int) -> tuple[float, int]:
    """The tickets list through the generated models (the client's default), for comparison."""
    connector = instantiate(cfg.connector("hubspot"), cfg)
    api = connector.client._objects  # type: ignore[attr-defined]
    props = ["subject", "hs_pipeline_stage", "createdate", "hs_lastmodifieddate", "closed_date"]
    started = time.perf_counter()
    rows, after = 0, None
    try:
        while rows < limit:
            page = api.get_page(
                "tickets", limit=100, after=after, properties=props, associations=["companies", "contacts"]
            )
            rows += len(page.results)
            if page.paging is None or page.paging.next is None:
                break
            after = page.paging.next.after
    finally:
        connector.close()
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--feedback", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    print(f"machine: {platform.platform()}, {os.cpu_count()} cpus (nproc), python {sys.version.split()[0]}")
    print(f"portal: {args.tickets} tickets, {args.feedback} feedback submissions; median of {args.runs} runs")
    os.environ["HUBSPOT_ACCESS_TOKEN"] = TOKEN
    ready, child_end = mp.Pipe()
    stop = mp.Event()
    server = mp.Process(target=serve, args=(args.tickets, args.feedback, child_end, stop), daemon=True)
    server.start()
    try:
        base_url = ready.recv()
        cfg = config(base_url)
        with tempfile.TemporaryDirectory() as tmp:
            results: dict[str, list[tuple[float, int]]] = {"fetch only": [], "sync": []}
            for n in range(args.runs):
                results["fetch only"].append(run_fetch(cfg))
                results["sync"].append(run_sync(cfg, Path(tmp), n))
            sample = min(args.tickets, 20_000)  # the slow baseline reads a sample: the rate compares
            results["generated models"] = [run_models(cfg, sample) for _ in range(args.runs)]
    finally:
        stop.set()
        server.join(timeout=10)

    baseline = statistics.median(rows / secs for secs, rows in results["fetch only"])
    print(f"{'path':<18}{'objects':>10}{'seconds':>10}{'objects/s':>12}{'vs fetch':>10}")
    for name, runs in results.items():
        seconds = statistics.median(secs for secs, _ in runs)
        rate = statistics.median(rows / secs for secs, rows in runs)
        print(f"{name:<18}{runs[0][1]:>10}{seconds:>10.2f}{rate:>12.0f}{rate / baseline:>10.2f}")


if __name__ == "__main__":
    main()
