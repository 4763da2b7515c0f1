from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from vitalsign.core.config import load_config
from vitalsign.core.plugins import register
from vitalsign.core.store import Store, table
from vitalsign.core.sync import SyncEngine

TOY = Path(__file__).with_name("toy_plugin.py")


def load_toy():
    spec = importlib.util.spec_from_file_location("toy_plugin", TOY)
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_plugin"] = module
    assert spec.loader
    spec.loader.exec_module(module)
    return module


def write_config(tmp_path: Path, **settings) -> Path:
    body = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in settings.items())
    path = tmp_path / "vitalsign.toml"
    path.write_text(f'[connectors.toy]\ntoken = "${{TOY_TOKEN}}"\n{body}\n')
    return path


def count(store: Store, name: str) -> int:
    with store.connect() as conn:
        return conn.execute(select(func.count()).select_from(table(name))).scalar_one()


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setenv("TOY_TOKEN", "s3cret-value")
    module = load_toy()
    register(module, "toy")
    return module


def test_sync_loads_records_and_quarantines_bad_ones(store, tmp_path, toy):
    config = load_config(write_config(tmp_path, records=10, batch_size=3, bad_every=4))
    [summary] = SyncEngine(store, config).sync(["toy"])
    assert summary.status == "success"
    assert count(store, "contacts") == 8
    assert count(store, "quarantine") == 2
    with store.connect() as conn:
        reasons = conn.execute(select(table("quarantine").c.reason)).scalars().all()
    assert all("created_at" in r for r in reasons)


def test_resync_updates_instead_of_duplicating(store, tmp_path, toy):
    config = load_config(write_config(tmp_path, records=7, batch_size=2))
    SyncEngine(store, config).sync(["toy"])
    SyncEngine(store, config).sync(["toy"], full_refresh=True)
    assert count(store, "contacts") == 7
    with store.connect() as conn:
        cursor = conn.execute(
            select(table("sync_state").c.cursor).where(table("sync_state").c.stream == "contacts")
        ).scalar()
    assert cursor == 7


def test_identity_resolution_links_by_key_and_domain_not_freemail(store, tmp_path, toy):
    config = load_config(write_config(tmp_path, records=1))
    SyncEngine(store, config).sync(["toy"])
    links = table("identity_links")
    with store.connect() as conn:
        rows = {r.external_id: r for r in conn.execute(select(links))}
    assert rows["co1"].method == "key"
    assert rows["co3"].method == "domain"
    assert "co2" not in rows  # gmail.com never links


def test_failed_stream_marks_run_failed_but_keeps_committed_batches(store, tmp_path, toy):
    config = load_config(write_config(tmp_path, records=9, batch_size=3, fail_after=2))
    [summary] = SyncEngine(store, config).sync(["toy"])
    assert summary.status == "failed"
    assert "toy source broke" in (summary.error or "")
    assert count(store, "contacts") == 6
