"""Helpers for tests of usage connectors: run one connector through the real sync engine, read
tables back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from vitalsign.core.config import Config
from vitalsign.core.connector import Connector
from vitalsign.core.store import Store, table
from vitalsign.core.sync import RunSummary, SyncEngine


def sync(store: Store, connector: Connector, *, full_refresh: bool = False) -> RunSummary:
    """One sync run of ``connector`` into ``store`` (what ``vitalsign sync NAME`` does)."""
    config = Config(path=None, store_url=store.url.render_as_string(hide_password=False))
    return SyncEngine(store, config).sync_connector(connector, full_refresh=full_refresh)


def rows(store: Store, table_name: str, *order_by: str) -> list[dict[str, Any]]:
    tbl = table(table_name)
    keys = [tbl.c[c] for c in order_by] or list(tbl.primary_key.columns)
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(tbl).order_by(*keys))]
