"""The ceiling of one SQLite writer for usage events, whatever loader feeds it.

    .venv/bin/python bench/bench_sqlite_insert.py [--rows 1000000]

Inserts ``--rows`` ready-made rows shaped like ``usage_events`` (random 36-character dedup keys,
the store's columns) into a file database with the store's settings (WAL, synchronous NORMAL,
96 MB cache), 10,000 rows a statement, 200,000 a transaction, from one thread. Nothing is read
or parsed while the clock runs. Variants, each in a fresh database:

- ``key index, json_each``: the store's table and ``(source, source_id)`` primary key, the rows
  sent as one JSON parameter per statement, as vitalsign's writer does;
- ``key index, json_each, sorted``: the same, each statement's rows in key order;
- ``key index, executemany``: the same table, rows bound one by one;
- ``no key index, json_each``: the table without its key: what the dedup index costs.

Measured (x86_64, 2 vCPUs, SQLite 3.40.1, 1M rows, two runs, load 1.5): with the key index
12.3-13.4 us a row through json_each (74-81k rows/s), the same sorted 12.9-13.6 us (sorting pays
in the real writer, whose batches also feed rollups: see ``core/usage.py``), 7.4-9.3 us with
executemany (108-136k rows/s; but it re-takes the GIL for every row, which a reader thread
running beside it would stall); without the key index 4.2-6.0 us (166-236k rows/s). The
rollups vitalsign keeps add ~4.6 us an event, so one writer's ceiling sits near 70k events/s
(``bench_usage.py --loaders write-only``: 61-71k/s), short of 100,000 events/s before any
reading is counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import orjson

COLUMNS = "source, source_id, deleted, synced_at, occurred_at, event, user_id, account_key, properties"
SYNCED = "'2026-11-23 00:00:00.000000'"
FROM_JSON = (
    f"INSERT INTO usage_events ({COLUMNS}) SELECT 'amplitude', j.value ->> 0, 0, {SYNCED},"
    " j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5 FROM json_each(?) AS j"
    " WHERE true ON CONFLICT DO NOTHING"
)
BOUND = (
    f"INSERT INTO usage_events ({COLUMNS}) VALUES ('amplitude', ?, 0, {SYNCED},"
    " ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
STATEMENT_ROWS = 10_000
TRANSACTION_ROWS = 200_000


def make_rows(n: int) -> list[list[str | None]]:
    return [
        [
            str(uuid.uuid4()),
            f"2026-01-{1 + i % 28:02d} 10:00:00.000000",
            "Dashboard Viewed",
            f"u_{i % 400:04d}_{i % 25:02d}",
            f"acct_{i % 400:04d}",
            '{"feature":"reports"}',
        ]
        for i in range(n)
    ]


def insert(path: Path, rows: list[list[str | None]], *, key: bool, sort: bool, bound: bool) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA cache_size=-98304")
    db.execute(
        "CREATE TABLE usage_events (source TEXT NOT NULL, source_id TEXT NOT NULL, deleted INTEGER,"
        " synced_at TEXT, occurred_at TEXT, event TEXT, user_id TEXT, account_key TEXT, properties TEXT"
        + (", PRIMARY KEY (source, source_id))" if key else ")")
    )
    started = time.perf_counter()
    for first in range(0, len(rows), TRANSACTION_ROWS):
        db.execute("BEGIN")
        for start in range(first, min(first + TRANSACTION_ROWS, len(rows)), STATEMENT_ROWS):
            chunk = rows[start : start + STATEMENT_ROWS]
            if sort:
                chunk = sorted(chunk)
            if bound:
                db.executemany(BOUND, chunk)
            else:
                db.execute(FROM_JSON, (orjson.dumps(chunk),))
        db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.machine()}, nproc={os.cpu_count()}, python {platform.python_version()}, "
        f"sqlite {sqlite3.sqlite_version}, load avg {load:.2f} at start"
    )
    rows = make_rows(args.rows)
    variants = {
        "key index, json_each": {"key": True, "sort": False, "bound": False},
        "key index, json_each, sorted": {"key": True, "sort": True, "bound": False},
        "key index, executemany": {"key": True, "sort": False, "bound": True},
        "no key index, json_each": {"key": False, "sort": False, "bound": False},
    }
    with tempfile.TemporaryDirectory(prefix="vitalsign-sqlite-") as folder:
        for number, (name, options) in enumerate(variants.items()):
            seconds = insert(Path(folder) / f"{number}.db", rows, **options)
            print(
                f"  {name:30s} {seconds:6.2f} s  {args.rows / seconds:>9,.0f} rows/s"
                f"  {seconds / args.rows * 1e6:5.1f} us a row"
            )


if __name__ == "__main__":
    main()
