"""Store schema and writes: migrations match the models, upserts never duplicate."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlmodel import SQLModel
from vitalsign.core.store import Store, table, upsert


def test_migrations_match_the_models(store):
    with store.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == [], f"models and migrations differ; regenerate the migration: {diff}"


def test_upgrade_is_idempotent_and_records_revision(store):
    store.upgrade()
    assert store.revision() == "0001"


def test_upsert_updates_rows_and_marks_deleted(store):
    rows = [{"source": "s", "source_id": str(i), "email": f"{i}@a.com", "deleted": False} for i in range(5)]
    with store.begin() as conn:
        upsert(conn, "contacts", rows)
        upsert(conn, "contacts", [{**rows[0], "email": "new@a.com"}])
        store.mark_deleted(conn, "contacts", "s", ["3", "4", "missing"])
    with store.connect() as conn:
        t = table("contacts")
        assert conn.execute(select(func.count()).select_from(t)).scalar_one() == 5
        assert conn.execute(select(t.c.email).where(t.c.source_id == "0")).scalar_one() == "new@a.com"
        deleted = conn.execute(select(t.c.source_id).where(t.c.deleted.is_(True)).order_by(t.c.source_id))
        assert deleted.scalars().all() == ["3", "4"]


def test_unknown_column_is_refused(store):
    import pytest
    from vitalsign.core import StoreError

    with pytest.raises(StoreError, match="no column"), store.begin() as conn:
        upsert(conn, "contacts", [{"source": "s", "source_id": "1", "colour": "red"}])


def test_password_is_hidden_in_display_url():
    store = Store("postgresql+psycopg://user:hunter2@db.example/vs")
    assert "hunter2" not in store.display_url
