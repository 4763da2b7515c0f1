from __future__ import annotations

from sqlalchemy import func, select
from vitalsign.core import hookimpl
from vitalsign.core.config import load_config
from vitalsign.core.plugins import register
from vitalsign.core.store import Store, table
from vitalsign.core.sync import SyncEngine


def count(store: Store, name: str) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(table(name))).scalar_one()


def test_sync_loads_records_and_quarantines_bad_ones(store, toy, toy_config):
    config = load_config(toy_config(records=10, batch_size=3, bad_every=4))
    [summary] = SyncEngine(store, config).sync(["toy"])
    assert summary.status == "success"
    assert count(store, "contacts") == 8
    assert count(store, "quarantine") == 2
    with store.connect() as conn:
        reasons = conn.execute(select(table("quarantine").c.reason)).scalars().all()
    assert all("created_at" in r for r in reasons)


def test_resync_updates_instead_of_duplicating(store, toy, toy_config):
    config = load_config(toy_config(records=7, batch_size=2))
    SyncEngine(store, config).sync(["toy"])
    SyncEngine(store, config).sync(["toy"], full_refresh=True)
    assert count(store, "contacts") == 7
    with store.connect() as conn:
        cursor = conn.execute(
            select(table("sync_state").c.cursor).where(table("sync_state").c.stream == "contacts")
        ).scalar()
    assert cursor == 7


def test_identity_resolution_links_by_key_and_domain_not_freemail(store, toy, toy_config):
    config = load_config(toy_config(records=1))
    SyncEngine(store, config).sync(["toy"])
    links = table("identity_links")
    with store.connect() as conn:
        rows = {r.external_id: r for r in conn.execute(select(links))}
    assert rows["co1"].method == "key"
    assert rows["co3"].method == "domain"
    assert "co2" not in rows  # gmail.com never links


def test_failed_stream_marks_run_failed_but_keeps_committed_batches(store, toy, toy_config):
    config = load_config(toy_config(records=9, batch_size=3, fail_after=2))
    [summary] = SyncEngine(store, config).sync(["toy"])
    assert summary.status == "failed"
    assert "toy source broke" in (summary.error or "")
    assert count(store, "contacts") == 6


def live_contacts(store: Store) -> set[str]:
    contacts = table("contacts")
    with store.connect() as conn:
        return set(conn.execute(select(contacts.c.source_id).where(contacts.c.deleted.is_(False))).scalars())


def test_a_complete_read_retires_what_it_did_not_list_unless_it_quarantined(store, toy, toy_config):
    SyncEngine(store, load_config(toy_config(records=6, batch_size=10))).sync(["toy"])
    assert live_contacts(store) == {f"c{i}" for i in range(6)}

    with_bad = load_config(toy_config(records=4, batch_size=10, retire_unseen=True, bad_every=4))
    [summary] = SyncEngine(store, with_bad).sync(["toy"], full_refresh=True)
    assert summary.streams["contacts"].quarantined == 1  # c3: not rewritten, so it would look unlisted
    assert live_contacts(store) == {f"c{i}" for i in range(6)}
    assert any("none retired" in line for line in summary.log)

    clean = load_config(toy_config(records=4, batch_size=10, retire_unseen=True))
    [summary] = SyncEngine(store, clean).sync(["toy"], full_refresh=True)
    assert summary.streams["contacts"].deleted == 2
    assert live_contacts(store) == {"c0", "c1", "c2", "c3"}
    assert count(store, "contacts") == 6  # marked deleted, never dropped


class Notifier:
    """A plugin like a Slack alert: told when each run ends."""

    def __init__(self, fail: bool = False) -> None:
        self.runs = []
        self.fail = fail

    @hookimpl
    def vitalsign_sync_finished(self, run):
        self.runs.append(run)
        if self.fail:
            raise RuntimeError("slack is down")


def test_sync_finished_hook_gets_the_run_summary(store, toy, toy_config):
    notifier = Notifier()
    register(notifier, "notifier")
    config = load_config(toy_config(records=4, batch_size=2, bad_every=4))
    SyncEngine(store, config).sync(["toy"])
    [run] = notifier.runs
    assert run.connector == "toy"
    assert run.status == "success"
    assert run.streams["contacts"].rows == 3
    assert run.streams["contacts"].quarantined == 1
    assert run.finished_at is not None


def test_a_broken_notifier_never_fails_the_sync(store, toy, toy_config):
    register(Notifier(fail=True), "broken-notifier")
    config = load_config(toy_config(records=2))
    [summary] = SyncEngine(store, config).sync(["toy"])
    assert summary.status == "success"


class BrokenDeriver:
    @hookimpl
    def vitalsign_after_sync(self, store, connector, config):
        raise ValueError("derived table rebuild failed")


def test_after_sync_failure_fails_the_run_but_keeps_the_data(store, toy, toy_config):
    register(BrokenDeriver(), "broken-deriver")
    config = load_config(toy_config(records=4))
    [summary] = SyncEngine(store, config).sync(["toy"])
    assert summary.status == "failed"
    assert "derived table rebuild failed" in (summary.error or "")
    assert count(store, "contacts") == 4


def readers(marker) -> set[int]:
    return {int(line.split()[1]) for line in marker.read_text().splitlines()}


def test_a_stream_reads_in_a_child_process_unless_the_connector_says_no(
    store, toy, toy_config, tmp_path, monkeypatch
):
    """``Stream.read_in_process`` moves the read to a child; ``read_in_process = false`` in the
    connector's settings keeps it in the engine's process. Either way the same rows load."""
    import os

    loaded = {}
    for allowed in (True, False):
        marker = tmp_path / f"batches-{allowed}.txt"
        monkeypatch.setenv("TOY_BATCH_MARKER", str(marker))
        config = load_config(
            toy_config(records=10, batch_size=3, bad_every=4, read_ahead="process", read_in_process=allowed)
        )
        [summary] = SyncEngine(store, config).sync(["toy"], full_refresh=True)
        assert summary.status == "success", summary.error
        pids = readers(marker)
        assert (os.getpid() not in pids) if allowed else (pids == {os.getpid()})
        loaded[allowed] = (summary.streams["contacts"].rows, summary.streams["contacts"].quarantined)
    assert loaded[True] == loaded[False] == (8, 2)
