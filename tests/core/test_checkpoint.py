"""Background WAL checkpoints: while a sync writes to SQLite, its commits leave the copying of
the WAL into the database file to a thread of its own."""

from __future__ import annotations

import os

from vitalsign.core import checkpoint
from vitalsign.core.checkpoint import Checkpointer
from vitalsign.core.config import load_config
from vitalsign.core.store import Store
from vitalsign.core.sync import NullProgress, SyncEngine


def contacts(first: int, count: int) -> list[dict[str, object]]:
    padding = "x" * 200  # a few MB in all: past SQLite's automatic checkpoint of 1000 pages
    return [
        {"source": "t", "source_id": f"c{i}", "name": f"{padding}{i}", "email": f"p{i}@example.com"}
        for i in range(first, first + count)
    ]


def autocheckpoint(store: Store) -> int:
    with store.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_commits_leave_the_wal_to_the_checkpointer_until_it_stops(sqlite_store, monkeypatch):
    monkeypatch.setattr(checkpoint, "POLL_SECONDS", 3600.0)  # only the final checkpoint runs
    database = sqlite_store.sqlite_file
    assert database is not None
    with sqlite_store.background_checkpoints() as checkpointer:
        assert checkpointer is not None
        assert checkpointer.active
        before = database.stat().st_size
        with sqlite_store.begin() as conn:
            sqlite_store.upsert(conn, "contacts", contacts(0, 20_000))
        assert os.stat(f"{database}-wal").st_size > 4 << 20
        assert database.stat().st_size == before  # the commit copied nothing back
        assert autocheckpoint(sqlite_store) == 0
    assert checkpointer.frames_copied > 1000
    assert database.stat().st_size > before + (4 << 20)
    assert autocheckpoint(sqlite_store) == 1000  # the connections checkpoint by themselves again


def test_a_checkpointer_that_cannot_open_the_store_hands_back_to_the_commits(tmp_path, caplog):
    gone = Checkpointer(str(tmp_path / "missing" / "store.db"))
    gone.start()
    gone.stop()
    assert not gone.active
    assert gone.failed is not None
    assert "unable to open" in gone.failed
    assert "commits checkpoint again" in caplog.text


def test_stores_without_a_wal_file_get_no_checkpointer(tmp_path):
    memory = Store("sqlite:///:memory:")
    with memory.background_checkpoints() as checkpointer:
        assert checkpointer is None
    memory.dispose()


def test_a_sync_writes_with_background_checkpoints(sqlite_store, toy, toy_config):
    seen: list[int] = []

    class Watch(NullProgress):
        def batch_done(self, connector: str, stream: str, rows: int, quarantined: int) -> None:
            seen.append(autocheckpoint(sqlite_store))

    config = load_config(toy_config(records=6, batch_size=2))
    [summary] = SyncEngine(sqlite_store, config, progress=Watch()).sync(["toy"])
    assert summary.status == "success"
    assert seen
    assert set(seen) == {0}
    assert autocheckpoint(sqlite_store) == 1000
