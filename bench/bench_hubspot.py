"""HubSpot connector throughput: tickets and feedback submissions from the loopback fake into SQLite.

    .venv/bin/python bench/bench_hubspot.py                         # 100k tickets, 50k surveys, 3 runs
    .venv/bin/python bench/bench_hubspot.py --tickets 20000 --feedback 10000 --runs 5

The fake HubSpot runs in its own process (so it does not share the GIL with the connector) and
serves a synthetic portal. A sync is a first (full) sync of the ``ticket_stages``, ``tickets`` and
``feedback_submissions`` streams into a fresh SQLite store through the real engine. Printed side
by side, each the median of the runs:

- ``sync``: the full path (HTTP, parsing, mapping, upserts, cursors, run records);
- ``sync, page batches``: the same with one committed batch per page (``batch_size = 100``), the
  baseline for joining pages into batches of 1,000;
- ``fetch only``: the same streams read and mapped without a store: the ceiling of a sync;
- ``list raw JSON`` and ``list generated models``: up to 20,000 tickets listed with the
  connector's properties, parsed by orjson (what the connector does) or into the official
  client's model objects (its default): the baseline for reading raw JSON.
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

from vitalsign.connectors.hubspot.connector import HubSpotConnector
from vitalsign.connectors.hubspot.records import ticket_properties
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


def config(base_url: str, **settings: Any) -> Config:
    section = {
        "access_token": "${HUBSPOT_ACCESS_TOKEN}",
        "base_url": base_url,
        "streams": STREAMS,
        "requests_per_10s": 0,  # measure the connector, not HubSpot's limits
        "search_per_second": 0,
        **settings,
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


def run_list(cfg: Config, limit: int, *, models: bool) -> tuple[float, int]:
    """Tickets listed page by page as the connector asks for them, as raw JSON or as models."""
    connector = instantiate(cfg.connector("hubspot"), cfg)
    assert isinstance(connector, HubSpotConnector)
    client = connector.client
    props = ticket_properties(connector.hubspot_settings)
    assoc = ["companies", "contacts"]
    started = time.perf_counter()
    rows, after = 0, None
    try:
        while rows < limit:
            if models:
                page = client._objects.get_page(
                    "tickets", limit=100, after=after, properties=props, associations=assoc
                )
                rows += len(page.results)
                after = page.paging.next.after if page.paging and page.paging.next else None
            else:
                data = client.list_page("tickets", after=after, properties=props, associations=assoc)
                rows += len(data["results"])
                after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if after is None:
                break
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
        paged = config(base_url, batch_size=100)
        sample = min(args.tickets, 20_000)
        results: dict[str, list[tuple[float, int]]] = {
            "sync": [],
            "sync, page batches": [],
            "fetch only": [],
            "list raw JSON": [],
            "list generated models": [],
        }
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(args.runs):
                results["sync"].append(run_sync(cfg, Path(tmp), 2 * n))
                results["sync, page batches"].append(run_sync(paged, Path(tmp), 2 * n + 1))
                results["fetch only"].append(run_fetch(cfg))
                results["list raw JSON"].append(run_list(cfg, sample, models=False))
                results["list generated models"].append(run_list(cfg, sample, models=True))
    finally:
        stop.set()
        server.join(timeout=10)

    print(f"{'path':<24}{'objects':>9}{'seconds':>9}{'objects/s':>11}")
    rates = {}
    for name, runs in results.items():
        seconds = statistics.median(secs for secs, _ in runs)
        rates[name] = statistics.median(rows / secs for secs, rows in runs)
        print(f"{name:<24}{runs[0][1]:>9}{seconds:>9.2f}{rates[name]:>11.0f}")
    print(f"sync / sync with page batches: {rates['sync'] / rates['sync, page batches']:.2f}x")
    print(f"sync / fetch only:             {rates['sync'] / rates['fetch only']:.2f}")
    print(f"raw JSON / generated models:   {rates['list raw JSON'] / rates['list generated models']:.2f}x")


if __name__ == "__main__":
    main()
