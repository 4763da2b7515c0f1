"""Shared fixtures: a store on SQLite (always) and on PostgreSQL (when VITALSIGN_TEST_PG_URL is set).

``.ci/run`` installs and starts PostgreSQL and sets VITALSIGN_TEST_PG_URL and
VITALSIGN_TEST_REQUIRE_PG=1, so in CI the PostgreSQL half of the suite cannot be skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from vitalsign.core.plugins import reset_plugin_manager
from vitalsign.core.store import Store

PG_URL = os.environ.get("VITALSIGN_TEST_PG_URL")
REQUIRE_PG = os.environ.get("VITALSIGN_TEST_REQUIRE_PG") == "1"


def _pg_store() -> Iterator[Store]:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("VITALSIGN_TEST_REQUIRE_PG=1 but VITALSIGN_TEST_PG_URL is not set")
        pytest.skip("no PostgreSQL server (set VITALSIGN_TEST_PG_URL)")
    name = f"vs_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    store = Store(url)
    try:
        yield store
    finally:
        store.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty, migrated store — once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.db'}")
        s.upgrade()
        yield s
        s.dispose()
    else:
        for s in _pg_store():
            s.upgrade()
            yield s


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    s.upgrade()
    yield s
    s.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh empty PostgreSQL database URL (skips without a server, fails in CI)."""
    for s in _pg_store():
        yield s.url.render_as_string(hide_password=False)


@pytest.fixture(autouse=True)
def _fresh_plugins() -> Iterator[None]:
    """Each test sees the installed plugins only, not ones another test registered."""
    reset_plugin_manager()
    yield
    reset_plugin_manager()
