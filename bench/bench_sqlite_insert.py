"""The ceiling of one SQLite writer for usage events, whatever loader feeds it: what the key of
``usage_events`` costs.

    .venv/bin/python bench/bench_sqlite_insert.py [--rows 1000000]

Inserts ``--rows`` ready-made rows shaped like ``usage_events`` (random 36-character dedup keys,
times in export order over 90 days with 2 % of them 1-5 days late, the store's columns) into a
file database with the store's settings (WAL, synchronous NORMAL, the usage writer's page cache),
10,000 rows a statement, 200,000 a transaction, from one thread. Nothing is read or parsed while
the clock runs. Variants, each in a fresh database:

- ``time key, executemany, sorted``: the store's key ``(source, occurred_at, source_id)``, each
  statement's rows in key order and bound one by one, as vitalsign's writer does;
- ``dedup key, executemany, sorted``: the key before it, ``(source, source_id)``, rows in key
  order: every insert lands on a random page of the key's index;
- ``dedup key, json_each``: that key, the rows sent as one JSON parameter per statement (the
  writer's path when it runs beside a read-ahead thread);
- ``no key, executemany``: the table without a key: what the dedup index costs at all.

Measured (x86_64, 2 vCPUs, SQLite 3.40.1, 32 MB cache, load 0.2-0.5), one run each:

- 1M rows: time key 3.1 us a row (325k rows/s), dedup key sorted 6.1 us (164k/s), dedup key
  through json_each 9.1 us (110k/s), no key 1.9 us (523k/s);
- 5M rows: time key 4.0 us (253k/s), dedup key sorted 11.6 us (86k/s), dedup key through
  json_each 16.0 us (63k/s), no key 2.0 us (496k/s).

Keyed by time, the index takes appends (and a few late rows on older pages), so its cost stays
near 1-2 us a row however large it grows; keyed by the dedup key alone, every insert lands on a
random page of an index that outgrows the cache, and the cost per row doubles from 1M to 5M.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path

import orjson
from vitalsign.core.usage import SQLITE_CACHE_KIB

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


def make_rows(n: int, seed: int = 7) -> list[list[str | None]]:
    rng = random.Random(seed)
    start, step = datetime(2026, 1, 1), timedelta(days=90) / n
    rows: list[list[str | None]] = []
    for i in range(n):
        when = start + step * i
        if rng.random() < 0.02:  # a late event: an older day
            when -= timedelta(days=rng.randint(1, 5))
        rows.append(
            [
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                when.isoformat(" ", "microseconds"),
                "Dashboard Viewed",
                f"u_{i % 400:04d}_{i % 25:02d}",
                f"acct_{i % 400:04d}",
                '{"feature":"reports"}',
            ]
        )
    return rows


KEYS = {
    "time": ", PRIMARY KEY (source, occurred_at, source_id))",
    "dedup": ", PRIMARY KEY (source, source_id))",
    "none": ")",
}
ORDER = {"time": itemgetter(1, 0), "dedup": itemgetter(0)}


def insert(path: Path, rows: list[list[str | None]], *, key: str, sort: bool, bound: bool) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    db.execute(
        "CREATE TABLE usage_events (source TEXT NOT NULL, source_id TEXT NOT NULL, deleted INTEGER,"
        " synced_at TEXT, occurred_at TEXT, event TEXT, user_id TEXT, account_key TEXT, properties TEXT"
        + KEYS[key]
    )
    started = time.perf_counter()
    for first in range(0, len(rows), TRANSACTION_ROWS):
        db.execute("BEGIN")
        for start in range(first, min(first + TRANSACTION_ROWS, len(rows)), STATEMENT_ROWS):
            chunk = rows[start : start + STATEMENT_ROWS]
            if sort:
                chunk = sorted(chunk, key=ORDER[key])
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
        "time key, executemany, sorted": {"key": "time", "sort": True, "bound": True},
        "dedup key, executemany, sorted": {"key": "dedup", "sort": True, "bound": True},
        "dedup key, json_each": {"key": "dedup", "sort": False, "bound": False},
        "no key, executemany": {"key": "none", "sort": False, "bound": True},
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
