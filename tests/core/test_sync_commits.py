"""Several batches per transaction (``Stream.commit_batches``): what commits, what rolls back,
and the collector settings while a stream runs."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select
from vitalsign.core import Batch, Stream
from vitalsign.core import sync as sync_module
from vitalsign.core.config import load_config
from vitalsign.core.store import Store, table
from vitalsign.core.sync import RunSummary, StreamStats, SyncEngine


def count(store: Store, name: str) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(table(name))).scalar_one()


def cursor_of(store: Store, stream: str) -> Any:
    with store.connect() as conn:
        state = table("sync_state")
        return conn.execute(select(state.c.cursor).where(state.c.stream == stream)).scalar()


def contacts(start: int, n: int) -> list[dict[str, Any]]:
    return [{"source_id": f"c{i}", "email": f"u{i}@acme.com"} for i in range(start, start + n)]


class Numbered(Stream):
    """Batches of two contacts, cursor = contacts read so far; optional reader failure/pauses."""

    name = "contacts"
    table = "contacts"

    def __init__(self, batches: int, *, per_commit: int, fail_at: int = -1, pause: float = 0.0) -> None:
        self.batches, self.fail_at, self.pause = batches, fail_at, pause
        self.commit_batches = per_commit
        self.seen: list[int] = []
        self.thresholds: list[int] = []

    def read(self, cursor: Any):
        for i in range(int(cursor or 0) // 2, self.batches):
            if i == self.fail_at:
                raise RuntimeError("source broke")
            self.thresholds.append(gc.get_threshold()[0])
            yield Batch(records=contacts(2 * i, 2), cursor=2 * (i + 1))
            if self.pause:
                time.sleep(self.pause)


def run(store: Store, stream: Stream) -> StreamStats:
    engine = SyncEngine(store, load_config(None))
    summary = RunSummary(run_id=0, connector="toy", status="running", started_at=sync_module.utcnow())
    engine._sync_stream("toy", stream, summary)
    return summary.streams[stream.name]


def test_a_reader_error_commits_the_batches_applied_before_it(store):
    stats = run(store, Numbered(10, per_commit=4, fail_at=6))
    assert stats.status == "failed"
    assert "source broke" in (stats.error or "")
    assert count(store, "contacts") == 12  # six batches: one full group, one partial
    assert cursor_of(store, "contacts") == 12
    assert (stats.rows, stats.batches) == (12, 6)


def test_a_failed_write_rolls_back_its_open_transaction_with_the_cursor(store, monkeypatch):
    calls = {"n": 0}
    real = sync_module.writer_for

    def flaky(table_name: str):
        write = real(table_name)

        def maybe_fail(*args: Any) -> int:
            calls["n"] += 1
            if calls["n"] == 7:
                raise RuntimeError("disk full")
            return write(*args)

        return maybe_fail

    monkeypatch.setattr(sync_module, "writer_for", flaky)
    stats = run(store, Numbered(10, per_commit=4))
    assert stats.status == "failed"
    assert "disk full" in (stats.error or "")
    # batches 1-4 committed; 5 and 6 were in the transaction batch 7 broke: gone, cursor too
    assert count(store, "contacts") == 8
    assert cursor_of(store, "contacts") == 8
    assert (stats.rows, stats.batches) == (8, 4)  # only committed batches are counted

    monkeypatch.setattr(sync_module, "writer_for", real)
    assert run(store, Numbered(10, per_commit=4)).status == "success"  # the rerun resumes
    assert count(store, "contacts") == 20
    assert cursor_of(store, "contacts") == 20


def test_a_slow_reader_gets_what_was_applied_committed_while_it_works(store, monkeypatch):
    monkeypatch.setattr(sync_module, "IDLE_SECONDS", 0.05)

    class Watching(Numbered):
        prefetch = 1

        def read(self, cursor: Any):
            for batch in super().read(cursor):
                yield batch
                time.sleep(0.4)  # slower than the engine: it must not hold its transaction open
                self.seen.append(count(store, "contacts"))

    stream = Watching(3, per_commit=100)
    assert run(store, stream).status == "success"
    assert stream.seen == [2, 4, 6]


def test_collector_threshold_raised_during_the_stream_and_restored_after(store):
    before = gc.get_threshold()
    stream = Numbered(2, per_commit=1)
    run(store, stream)
    assert stream.thresholds == [max(before[0], sync_module.GC_THRESHOLD)] * 2
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("per_commit", [1, 3])
def test_toy_sync_commits_every_batch_or_groups_of_them(store, toy, toy_config, per_commit):
    config = load_config(toy_config(records=10, batch_size=2, commit_batches=per_commit, fail_after=4))
    [summary] = SyncEngine(store, config).sync(["toy"])
    assert summary.status == "failed"
    assert count(store, "contacts") == 8  # the reader broke after 4 batches: all 4 kept
    assert cursor_of(store, "contacts") == 8


class ReadAhead(Numbered):
    prefetch = 1


@pytest.fixture
def contact_preparer(monkeypatch):
    """A preparer for ``contacts`` (upper-cased emails, and the threads it ran in), registered
    through the same ``register_writer`` a plugin's writer would use, in registries of its own."""
    from vitalsign.core import writers

    threads: list[str] = []

    def prepare(dialect: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        threads.append(threading.current_thread().name)
        return [{**row, "email": row["email"].upper()} for row in rows]

    writers.writer_for("usage_events")  # the built-in registrations happen before the copies
    monkeypatch.setattr(writers, "_WRITERS", dict(writers._WRITERS))
    monkeypatch.setattr(writers, "_PREPARERS", dict(writers._PREPARERS))
    writers.register_writer("contacts", prepare=prepare)(writers.upsert_writer)
    return threads


@pytest.mark.parametrize(
    ("stream_class", "thread"), [(ReadAhead, "vitalsign-prefetch"), (Numbered, "MainThread")]
)
def test_batches_are_validated_and_prepared_where_read(store, contact_preparer, stream_class, thread):
    """With read-ahead, validation and the writer's preparation run in the reader's thread, so
    the transaction only writes; without, they run inline. Either way the prepared rows land."""
    stats = run(store, stream_class(3, per_commit=1))
    assert (stats.status, stats.rows) == ("success", 6)
    assert contact_preparer == [thread] * 3
    with store.connect() as conn:
        emails = conn.execute(select(table("contacts").c.email)).scalars().all()
    assert sorted(emails) == [f"U{i}@ACME.COM" for i in range(6)]
