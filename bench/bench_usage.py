"""Usage-event ingest benchmark: an Amplitude-style export into the SQLite store, end to end.

    .venv/bin/python bench/bench_usage.py --events 1000000 [--repeat 1] [--naive-sample 20000]

Generates (seeded) hourly ``.json.gz`` export files of ~850-byte events over 90 days: 400
accounts, 10,000 users, sessions of about 15 events, 3 % anonymous, 2 % arriving days late,
about 0.5 % re-delivered in a later file. Then it loads them, each loader in its own process
(so peak RSS is its own), side by side:

- ``vitalsign``: the real Amplitude connector through the sync engine (decompress, parse, map,
  dedup, upsert, daily rollups, group rows, cursor per batch, a transaction per 30 s or 200
  batches);
- ``vitalsign-thread``: the same with ``read_in_process = false``: the connector reads in the
  engine's read-ahead thread instead of a child process;
- ``vitalsign-noprefetch``: the same without any read-ahead (what the overlap buys);
- ``baseline``: the simplest loader: gzip + orjson + sqlite3 ``executemany`` of
  ``INSERT OR IGNORE`` into a table with a unique dedup key, no rollup;
- ``naive``: SQLModel ``session.add`` per event (after a ``session.get`` for dedup), on a
  sample of ``--naive-sample`` events, extrapolated;
- ``read-only``: the connector's reader alone (decompress, parse, map, batch; no store): what
  the read-ahead thread costs;
- ``write-only``: the store's side alone: the batches read and readied beforehand, then only
  the writer's transactions timed (inserts, rollups, commits): one SQLite writer's ceiling;
- ``parse-only``: gunzip + split + ``orjson.loads`` and nothing else: one core's ceiling for
  any loader that parses every event in Python (run them with ``--loaders``).

Prints events/s, peak RSS, ratios and the machine. Files go to a temporary folder (``--dir``
to keep or reuse them).

Loaders run round-robin (``--repeat``), so a slow spell of a shared machine lands on each alike.

Peak memory is that of the loader's process tree, the reader process included: the RSS of each
process summed (an upper bound: the pages the fork shares are counted in both) and the PSS
summed (those pages shared out: the tree's real footprint), sampled every 0.1 s from /proc.

Measured (x86_64, 2 vCPUs, Python 3.11.7, SQLite 3.40.1, load 0.9-1.7), three rounds at each
size, each round running this code (vitalsign, then the simplest loader) and then the previous
session's code (be02202, installed in a venv of its own and run by its own copy of this script):

- 1M events: vitalsign 120,124 / 130,781 / 131,126 events/s (median 130,781); the simplest
  loader 93,619 / 96,119 / 99,282 (median 96,119: vitalsign 1.36x it); the previous code
  99,202 / 104,271 / 97,165 (median 99,202: 1.32x). The same code reading in a thread
  (``vitalsign-thread``) 112,459; a naive SQLModel ``session.add`` loader 1,593 on a 20k
  sample (vitalsign 74.9x it, 119,266 in that run).
- 5M events: vitalsign 114,033 / 116,078 / 118,209 (median 116,078); the simplest loader
  78,291 / 80,312 / 81,381 (median 80,312: 1.45x); the previous code 72,701 / 72,682 / 70,933
  (median 72,682: 1.60x).
- Memory of the process tree, reader included: 249-251 MB RSS summed, 179-180 MB PSS at 1M;
  254 MB and 184-185 MB at 5M; the engine's process 155 MB at 1M, 165-166 MB at 5M (the
  previous code: 324-327 MB summed, 229-238 MB for the engine's process).
- What changed since the previous code, each measured on its own: the events' key puts the time
  first (``usage_events`` keyed by ``(source, occurred_at, source_id)``), so the inserts append to
  the key's index instead of landing on random pages of an index that outgrew the page cache
  (5M, single run: 67k -> 99.8k events/s) and the cache could shrink from 96 to 32 MB; ISA-L
  inflates the files (2.6x zlib's speed); a thread checkpoints the WAL, so commits do not copy
  it back (the writer alone at 5M had spent 7.1 of 42 s in its three commits; 1M 105-110k ->
  120-126k in single runs).
- Where the time goes (1M, each side alone): the reader ~6.8 s (read 4.5 s: inflate, split,
  orjson, mapping; readying the tuples 1.7 s; pickling 0.55 s), the writer ~6.5 s (the
  events' ``executemany`` 2.5 s, the rollups in SQL 2.9 s, the commit 0.6 s), so the two cores
  are about evenly loaded. At 5M the writer costs ~8.4 s per 1M (bigger indexes; the 2 % late
  events land on older pages).
- Targets: 100,000 events/s met at both sizes, on the median and in every round; vitalsign
  beats the simplest loader (1.36x at 1M, 1.45x at 5M); peak memory at most 300 MB met by every
  measure (RSS summed, PSS, the engine's process), and flat from 1M to 5M. The simplest loader
  keeps stdlib gzip, as the issue defines it: inflating is about 1.6 s of its 10.4 s at 1M
  (zlib 0.22 s, ISA-L 0.08 s for 18 MB of these files), so with ISA-L it would be about 1 s
  faster and vitalsign about 1.2x it at 1M.

Last session's figures (be02202, its machine): 1M 99,441 events/s median of 3, 1.21x the
simplest loader; 5M 67,358/s, 0.90x; process tree 322-327 MB RSS summed. The session before,
on a slower spell of the machine (vitalsign reading in a thread): 1M 48,311 events/s median of
3, 0.89x the simplest loader; 5M 39,013/s, 0.69x; 41.3x a naive SQLModel ``session.add`` loader.

Earlier rounds (other code, other loads) for the record: 17,378 events/s at 1M (0.33x its
baseline) before the first round; 35,690/s (0.82x, baseline 43,734/s) after it; 5M 8,478/s
then 17,771/s (0.45x); naive SQLModel ``session.add``: 534/s, 41.6x slower than vitalsign.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import orjson

DAYS = 90
ACCOUNTS = 400
USERS_PER_ACCOUNT = 25
EVENTS = [
    "Dashboard Viewed",
    "Report Exported",
    "Seat Added",
    "Filter Applied",
    "Chart Created",
    "Alert Configured",
    "Comment Added",
    "Search Performed",
    "Integration Connected",
    "Invite Sent",
]
FEATURES = ["dashboards", "reports", "alerts", "search", "integrations", "collaboration", "api"]
START = datetime(2026, 1, 1)
SAMPLED = ("naive",)


# ---------------------------------------------------------------- data


def generate(folder: Path, events: int, seed: int = 7) -> dict[str, float]:
    """Write ``events`` events as hourly gzip files; returns bytes and seconds."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    hours = DAYS * 24
    per_hour = events / hours
    started = time.perf_counter()
    raw_bytes = 0
    written = 0
    redeliver: list[bytes] = []
    session_left, account, user = 0, 0, ""
    for h in range(hours):
        upload_hour = START + timedelta(hours=h)
        count = round(per_hour * (h + 1)) - round(per_hour * h)
        name = folder / f"424242_{upload_hour:%Y-%m-%d}_{upload_hour.hour}#0.json.gz"
        lines = []
        for _ in range(count):
            if redeliver and rng.random() < 0.005:
                lines.append(redeliver.pop(rng.randrange(len(redeliver))))
                continue
            if session_left <= 0:  # a user's session: about 15 events in a row
                account = rng.randrange(ACCOUNTS)
                user = f"u_{account:04d}_{rng.randrange(USERS_PER_ACCOUNT):02d}"
                session_left = 1 + int(rng.expovariate(1 / 14))
            session_left -= 1
            line = orjson.dumps(_event(rng, upload_hour, account, user))
            if rng.random() < 0.01 and len(redeliver) < 1000:
                redeliver.append(line)
            lines.append(line)
        written += len(lines)
        body = b"\n".join(lines) + b"\n"
        raw_bytes += len(body)
        with gzip.open(name, "wb", compresslevel=6) as fh:
            fh.write(body)
    gz_bytes = sum(p.stat().st_size for p in folder.glob("*.json.gz"))
    return {
        "events": written,
        "files": hours,
        "raw_mb": raw_bytes / 1e6,
        "gz_mb": gz_bytes / 1e6,
        "bytes_per_event": raw_bytes / max(written, 1),
        "seconds": time.perf_counter() - started,
    }


def _event(rng: random.Random, upload_hour: datetime, account: int, user: str) -> dict[str, object]:
    upload = upload_hour + timedelta(seconds=rng.random() * 3600)
    late = timedelta(days=rng.randrange(1, 5)) if rng.random() < 0.02 else timedelta(0)
    occurred = upload - timedelta(seconds=rng.random() * 5) - late
    event = rng.choice(EVENTS)
    anonymous = rng.random() < 0.03
    ts = occurred.strftime("%Y-%m-%d %H:%M:%S.%f")
    uploaded = upload.strftime("%Y-%m-%d %H:%M:%S.%f")
    return {
        "app": 424242,
        "platform": "Web",
        "os_name": "Chrome",
        "country": "Portugal",
        "city": "Lisbon",
        "language": "English",
        "library": "amplitude-ts/2.11.0",
        "ip_address": f"203.0.113.{rng.randrange(256)}",
        "groups": {} if anonymous else {"company": f"acct_{account:04d}"},
        "event_type": event,
        "user_id": None if anonymous else user,
        "device_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "amplitude_id": 50110200000 + account * 100,
        "event_time": ts,
        "client_event_time": ts,
        "server_received_time": uploaded,
        "server_upload_time": uploaded,
        "user_creation_time": "2025-11-15 08:00:00.000000",
        "$insert_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=1)),
        "event_id": rng.randrange(10_000),
        "session_id": int(upload.timestamp() * 1000) - rng.randrange(600_000),
        "event_properties": {
            "feature": rng.choice(FEATURES),
            "plan": "growth",
            "duration_ms": rng.randrange(5000),
        },
        "user_properties": {"plan": "growth", "role": rng.choice(["admin", "member"])},
        "$schema": 12,
    }


# ---------------------------------------------------------------- loaders (child processes)


def load_vitalsign(folder: Path, db: Path, prefetch: bool, in_process: bool = True) -> dict[str, float]:
    from vitalsign.connectors.files.events import EventStream
    from vitalsign.core.config import load_config
    from vitalsign.core.registry import connector_types
    from vitalsign.core.store import Store
    from vitalsign.core.sync import SyncEngine

    if not prefetch:
        EventStream.prefetch = 0
    elif os.environ.get("VITALSIGN_BENCH_PREFETCH"):  # A/B runs: read-ahead depth, batch size
        EventStream.prefetch = int(os.environ["VITALSIGN_BENCH_PREFETCH"])
    if os.environ.get("VITALSIGN_BENCH_COMMIT"):  # A/B runs: batches per transaction
        EventStream.commit_batches = int(os.environ["VITALSIGN_BENCH_COMMIT"])
    if os.environ.get("VITALSIGN_BENCH_COMMIT_SECONDS"):  # A/B runs: longest transaction
        EventStream.commit_seconds = float(os.environ["VITALSIGN_BENCH_COMMIT_SECONDS"])
    if os.environ.get("VITALSIGN_BENCH_CACHE_KIB"):  # A/B runs: SQLite page cache
        from vitalsign.core import usage

        usage.SQLITE_CACHE_KIB = int(os.environ["VITALSIGN_BENCH_CACHE_KIB"])
    config_path = db.parent / "vitalsign.toml"
    config_path.write_text(
        f'[store]\nurl = "sqlite:///{db}"\n\n[connectors.amplitude]\npath = "{folder}/*.json.gz"\n'
        'account_key = "groups.company"\nproperties = ["feature"]\n'
        + ("" if in_process else "read_in_process = false\n")
        + (
            f"batch_size = {os.environ['VITALSIGN_BENCH_BATCH']}\n"
            if os.environ.get("VITALSIGN_BENCH_BATCH")
            else ""
        )
    )
    config = load_config(config_path)
    store = Store(config.store_url)
    store.upgrade()
    connector_types()  # plugin discovery is start-up cost, not ingest
    started = time.perf_counter()
    [summary] = SyncEngine(store, config).sync(["amplitude"])
    seconds = time.perf_counter() - started
    if summary.status != "success":
        raise SystemExit(f"sync failed: {summary.error}")
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM usage_events").fetchone()[0]
        rolled = conn.execute("SELECT sum(events) FROM usage_daily").fetchone()[0]
    stream = summary.streams["events"].seconds
    return {"seconds": seconds, "stream_seconds": stream, "stored": stored, "rolled_up": rolled}


def load_parse_only(folder: Path) -> dict[str, float]:
    """The ceiling of one core's reading: gunzip + split + ``orjson.loads``, nothing kept."""
    loads = orjson.loads
    parsed = 0
    started = time.perf_counter()
    for path in sorted(folder.glob("*.json.gz")):
        for line in zlib.decompress(path.read_bytes(), 31).split(b"\n"):
            if line:
                loads(line)
                parsed += 1
    return {"seconds": time.perf_counter() - started, "stored": parsed}


def load_read_only(folder: Path) -> dict[str, float]:
    """The connector's reader alone (decompress, parse, map to rows, batch), no store: what
    the engine's read-ahead thread costs."""
    from vitalsign.connectors.amplitude.settings import AmplitudeSettings
    from vitalsign.connectors.amplitude.streams import events_stream
    from vitalsign.connectors.files.reader import FileSource
    from vitalsign.core.sync import fewer_collections

    settings = AmplitudeSettings(path=f"{folder}/*.json.gz", properties=["feature"])
    stream = events_stream(FileSource(settings.path, None, "path"), settings)
    mapped = 0
    started = time.perf_counter()
    with fewer_collections():
        for batch in stream.read(None):
            mapped += len(batch.records)
    return {"seconds": time.perf_counter() - started, "stored": mapped}


def load_write_only(folder: Path, db: Path) -> dict[str, float]:
    """The write path alone: every batch read and readied first as a reader process readies it
    (untimed; what would cross the pipe is kept, its row dicts dropped), then only the writer's
    transactions are timed, 200 batches a commit as the stream does: the most one SQLite writer
    does here, whatever feeds it. Holds the whole export encoded in memory (~400 MB per 1M
    events): run it at 1M."""
    from vitalsign.connectors.amplitude.settings import AmplitudeSettings
    from vitalsign.connectors.amplitude.streams import events_stream
    from vitalsign.connectors.files.reader import FileSource
    from vitalsign.core import reader_process
    from vitalsign.core.store import Store
    from vitalsign.core.sync import ready_batch
    from vitalsign.core.usage import PreparedEvents, write_usage_events

    reader_process._in_reader = True  # ready the batches as a reader process does

    settings = AmplitudeSettings(path=f"{folder}/*.json.gz", properties=["feature"])
    stream = events_stream(FileSource(settings.path, None, "path"), settings)
    store = Store(f"sqlite:///{db}")
    store.upgrade()
    batches: list[PreparedEvents] = []
    for batch in stream.read(None):
        rows = ready_batch("amplitude", stream, batch, "sqlite").rows
        assert isinstance(rows, PreparedEvents)
        assert rows.encoded is not None
        batches.append(pickle.loads(pickle.dumps(rows)))  # what crosses from the reader process
    reader_process._in_reader = False
    started = time.perf_counter()
    for start in range(0, len(batches), 200):
        with store.begin() as conn:
            for rows in batches[start : start + 200]:
                write_usage_events(store, conn, "usage_events", rows)
    seconds = time.perf_counter() - started
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM usage_events").fetchone()[0]
    return {"seconds": seconds, "stored": stored}


def load_baseline(folder: Path, db: Path) -> dict[str, float]:
    """The simplest loader that dedups: one table, a unique key, INSERT OR IGNORE."""
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE events (dedup_key TEXT NOT NULL UNIQUE, occurred_at TEXT, event TEXT,"
        " user_id TEXT, account_key TEXT)"
    )
    started = time.perf_counter()
    for path in sorted(folder.glob("*.json.gz")):
        with gzip.open(path, "rb") as fh:
            rows = []
            for line in fh:
                e = orjson.loads(line)
                account = (e["groups"] or {}).get("company")
                rows.append((e["$insert_id"], e["event_time"], e["event_type"], e["user_id"], account))
            conn.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)", rows)
    conn.commit()
    seconds = time.perf_counter() - started
    stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.close()
    return {"seconds": seconds, "stored": stored}


def load_naive(folder: Path, db: Path, sample: int) -> dict[str, float]:
    """SQLModel ORM, one object per event, ``session.get`` first to skip duplicates."""
    from sqlmodel import Session
    from vitalsign.core.models import UsageEvent
    from vitalsign.core.store import Store

    store = Store(f"sqlite:///{db}")
    store.upgrade()
    loaded = 0
    started = time.perf_counter()
    with Session(store.engine) as session:
        for path in sorted(folder.glob("*.json.gz")):
            with gzip.open(path, "rb") as fh:
                for line in fh:
                    e = orjson.loads(line)
                    key, when = e["$insert_id"], datetime.fromisoformat(e["event_time"])
                    if session.get(UsageEvent, ("amplitude", when, key)) is None:
                        session.add(
                            UsageEvent(
                                source="amplitude",
                                source_id=key,
                                occurred_at=when,
                                event=e["event_type"],
                                user_id=e["user_id"],
                                account_key=(e["groups"] or {}).get("company"),
                                properties={"feature": e["event_properties"].get("feature")},
                            )
                        )
                        session.commit()
                    loaded += 1
                    if loaded >= sample:
                        break
            if loaded >= sample:
                break
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "stored": loaded, "sample": loaded}


class TreeMemory:
    """Peak memory of this loader's process tree, sampled every 0.1 s from /proc (Linux): the
    loader and the reader processes it forks. ``rss`` adds each process's resident set (pages
    a fork shares are counted in each: an upper bound); ``pss`` shares those pages out between
    the processes that map them: the tree's real footprint. Without /proc both stay 0."""

    def __init__(self) -> None:
        self.rss = self.pss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            rss = pss = 0.0
            for pid in [os.getpid(), *_children(os.getpid())]:
                sizes = _rollup(pid)
                rss, pss = rss + sizes.get("Rss", 0.0), pss + sizes.get("Pss", 0.0)
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry))
    return found


def _rollup(pid: int) -> dict[str, float]:
    """MB by field of /proc/PID/smaps_rollup."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    sizes = {}
    for line in text.splitlines()[1:]:
        name, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            sizes[name] = int(value.split()[0]) / 1024
    return sizes


def child(args: argparse.Namespace) -> None:
    folder, db = Path(args.data), Path(args.db)
    with TreeMemory() as memory:
        result = _load(args, folder, db)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["reader_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["tree_rss_mb"], result["tree_pss_mb"] = memory.rss, memory.pss
    print(json.dumps(result))


def _load(args: argparse.Namespace, folder: Path, db: Path) -> dict[str, float]:
    if args.child == "vitalsign":
        result = load_vitalsign(folder, db, prefetch=True)
    elif args.child == "vitalsign-thread":
        result = load_vitalsign(folder, db, prefetch=True, in_process=False)
    elif args.child == "vitalsign-noprefetch":
        result = load_vitalsign(folder, db, prefetch=False)
    elif args.child == "baseline":
        result = load_baseline(folder, db)
    elif args.child == "parse-only":
        result = load_parse_only(folder)
    elif args.child == "read-only":
        result = load_read_only(folder)
    elif args.child == "write-only":
        result = load_write_only(folder, db)
    else:
        result = load_naive(folder, db, args.naive_sample)
    return result


def run_child(name: str, folder: Path, work: Path, naive_sample: int) -> dict[str, float]:
    run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
    try:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                name,
                "--data",
                str(folder),
                "--db",
                str(run_dir / "store.db"),
                "--naive-sample",
                str(naive_sample),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


# ---------------------------------------------------------------- main


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.machine()}, nproc={os.cpu_count()}, python {platform.python_version()}, "
        f"sqlite {sqlite3.sqlite_version}, load avg {load[0]:.2f} at start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per loader (median reported)")
    parser.add_argument("--naive-sample", type=int, default=20_000)
    parser.add_argument("--loaders", default="vitalsign,vitalsign-noprefetch,baseline,naive")
    parser.add_argument("--dir", help="data folder to reuse or keep (default: a temporary one)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    print(f"machine: {machine()}")
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="vitalsign-bench-"))
    folder = work / f"amplitude-{args.events}"
    if not any(folder.glob("*.json.gz")):
        gen = generate(folder, args.events)
        print(
            f"generated {gen['events']:,} events in {gen['files']} hourly files: "
            f"{gen['raw_mb']:.0f} MB JSON ({gen['bytes_per_event']:.0f} B/event), "
            f"{gen['gz_mb']:.0f} MB gzipped, in {gen['seconds']:.1f} s"
        )
    try:
        results: dict[str, list[dict[str, float]]] = {}
        names = args.loaders.split(",")
        # round-robin, so a slow spell of a shared machine lands on every loader alike
        order = [n for r in range(args.repeat) for n in names if r == 0 or n not in SAMPLED]
        for name in order:
            r = run_child(name, folder, work, args.naive_sample)
            results.setdefault(name, []).append(r)
            eps = r["stored"] / r["seconds"] if name in SAMPLED else args.events / r["seconds"]
            print(
                f"  {name:22s} {r['seconds']:8.2f} s  {eps:>10,.0f} events/s  "
                f"peak RSS {r['peak_rss_mb']:6.0f} MB (reader {r['reader_rss_mb']:.0f}, tree: RSS sum "
                f"{r['tree_rss_mb']:.0f}, PSS {r['tree_pss_mb']:.0f})  stored {r['stored']:,}"
                + (f"  rolled up {r['rolled_up']:,}" if "rolled_up" in r else "")
                + (f"  (stream {r['stream_seconds']:.2f} s)" if "stream_seconds" in r else "")
            )
        rates = {}
        for name, runs in results.items():
            if name in SAMPLED:
                rates[name] = runs[0]["stored"] / runs[0]["seconds"]
            else:
                rates[name] = args.events / statistics.median(r["seconds"] for r in runs)
        print(f"\nsummary ({args.events:,} events, median of {args.repeat}):")
        for name, rate in rates.items():
            rss = max(r["peak_rss_mb"] for r in results[name])
            tree = max(r["tree_pss_mb"] for r in results[name])
            tree_rss = max(r["tree_rss_mb"] for r in results[name])
            extra = ""
            if name == "naive":
                sample = results[name][0]["sample"]
                extra = f"  (sample of {sample:,}, extrapolated: {args.events / rate:,.0f} s)"
            print(
                f"  {name:22s} {rate:>10,.0f} events/s  peak RSS {rss:5.0f} MB, process tree "
                f"{tree_rss:5.0f} MB RSS summed / {tree:5.0f} MB PSS{extra}"
            )
        if "vitalsign" in rates:
            others = (
                "baseline",
                "vitalsign-thread",
                "vitalsign-noprefetch",
                "naive",
                "read-only",
                "write-only",
                "parse-only",
            )
            for other in others:
                if other in rates:
                    print(f"  vitalsign / {other}: {rates['vitalsign'] / rates[other]:.2f}x")
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
