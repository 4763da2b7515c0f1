"""Real subprocesses: a sync killed with SIGKILL resumes exactly, and concurrent syncs are refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from vitalsign.core.store import Store, table

RUNNER = Path(__file__).with_name("run_toy_cli.py")
pytestmark = pytest.mark.slow


def cli(config: Path, store_url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {**os.environ, "TOY_TOKEN": "s3cret-value", **(env or {})}
    return subprocess.Popen(
        [sys.executable, str(RUNNER), "--config", str(config), "--store", store_url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )


def wait_for_lines(path: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {count} batches")


def snapshot(store_url: str) -> tuple[list[tuple], int, dict]:
    store = Store(store_url)
    try:
        with store.connect() as conn:
            contacts = table("contacts")
            rows = [
                tuple(r)
                for r in conn.execute(
                    select(
                        contacts.c.source_id, contacts.c.email, contacts.c.name, contacts.c.created_at
                    ).order_by(contacts.c.source_id)
                )
            ]
            quarantined = len(conn.execute(select(table("quarantine").c.id)).all())
            cursors = {r.stream: r.cursor for r in conn.execute(select(table("sync_state")))}
    finally:
        store.dispose()
    return rows, quarantined, cursors


@pytest.fixture
def store_url(request, tmp_path, pg_url_or_none):
    return pg_url_or_none or f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def pg_url_or_none(request):
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_url")


def test_killed_run_is_recorded_as_interrupted(tmp_path, toy_config, store_url):
    config = toy_config(records=40, batch_size=4, sleep=0.15)
    marker = tmp_path / "batches.txt"
    victim = cli(config, store_url, "sync", "toy", env={"TOY_BATCH_MARKER": str(marker)})
    wait_for_lines(marker, 1)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert cli(config, store_url, "sync", "toy").wait(timeout=60) == 0
    store = Store(store_url)
    try:
        with store.connect() as conn:
            runs = table("sync_runs")
            statuses = conn.execute(select(runs.c.status).order_by(runs.c.id)).scalars().all()
    finally:
        store.dispose()
    assert statuses == ["interrupted", "success"]


@pytest.mark.parametrize(("per_commit", "read_ahead"), [(1, "none"), (3, "none"), (1, "process")])
def test_sigkill_between_batches_then_rerun_equals_uninterrupted_run(
    tmp_path, toy_config, store_url, per_commit, read_ahead, running
):
    # per_commit 3: three batches share a transaction; the kill lands after the fourth batch
    # was applied, so one group is committed and one is not. read_ahead "process": the contacts
    # are read in a child process, which must die with the killed sync (or it would hold the
    # connector's lock and the rerun would exit 3)
    config = toy_config(
        records=40, batch_size=4, bad_every=7, sleep=0.15, commit_batches=per_commit, read_ahead=read_ahead
    )
    marker = tmp_path / "batches.txt"
    victim = cli(config, store_url, "sync", "toy", env={"TOY_BATCH_MARKER": str(marker)})
    wait_for_lines(marker, 3 if per_commit == 1 else 4)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    readers = {int(line.split()[1]) for line in marker.read_text().splitlines()}
    if read_ahead == "process":
        assert victim.pid not in readers, "the contacts should be read in a child process"
        deadline = time.monotonic() + 10
        while any(running(pid) for pid in readers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(running(pid) for pid in readers), "the reader outlived the killed sync"
    else:
        assert readers == {victim.pid}
    partial_rows, _, _partial_cursor = snapshot(store_url)
    assert 0 < len(partial_rows) < 34, "the kill should land mid-sync"

    resumed = cli(config, store_url, "sync", "toy")
    assert resumed.wait(timeout=60) == 0, resumed.stderr.read() if resumed.stderr else ""

    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    reference = cli(config, reference_url, "sync", "toy")
    assert reference.wait(timeout=60) == 0
    assert snapshot(store_url) == snapshot(reference_url)
    rows, quarantined, _ = snapshot(store_url)
    assert len(rows) == 40 - 40 // 7
    assert quarantined == 40 // 7

    status = cli(config, store_url, "status", "--json")
    out, _ = status.communicate(timeout=30)
    assert '"status": "success"' in out  # the latest run is the resumed one


def test_second_concurrent_sync_exits_3(tmp_path, toy_config, store_url):
    config = toy_config(records=600, batch_size=2, sleep=0.1)  # ~30 s unless killed
    marker = tmp_path / "batches.txt"
    first = cli(config, store_url, "sync", "toy", env={"TOY_BATCH_MARKER": str(marker)})
    try:
        wait_for_lines(marker, 1)
        second = cli(config, store_url, "sync", "toy")
        _out, err = second.communicate(timeout=30)
        assert second.returncode == 3
        lines = err.strip().splitlines()
        assert len(lines) == 1
        assert "another sync of 'toy' is running" in lines[0]
        assert "Traceback" not in err
    finally:
        first.kill()
        first.wait(timeout=10)
