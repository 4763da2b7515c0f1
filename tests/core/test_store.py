"""Store schema and writes: migrations match the models, upserts never duplicate."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlmodel import SQLModel
from vitalsign.core.migrations import alembic_config, upgrade
from vitalsign.core.store import Store, table, upsert


def test_migrations_match_the_models(store):
    with store.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == [], f"models and migrations differ; regenerate the migration: {diff}"


def test_migrated_primary_keys_are_the_models(store):
    """Autogenerate does not compare primary keys; a key that a migration forgot (or put in
    another column order, which decides how rows cluster) fails here."""
    inspector = inspect(store.engine)
    for name, model in SQLModel.metadata.tables.items():
        migrated = inspector.get_pk_constraint(name)["constrained_columns"]
        assert migrated == [c.name for c in model.primary_key.columns], name


def test_upgrade_is_idempotent_and_records_revision(store):
    store.upgrade()
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert [store.revision()] == heads


def test_rekeying_usage_events_keeps_every_event_and_the_analysts_views(store):
    """0002 keys usage_events by time: the rows survive it, one dedup key can then be stored at
    two times, and a view of the analyst's over the table still works after it."""
    command.downgrade(alembic_config(store.engine), "0001")
    row = {"source": "amp", "source_id": "k", "deleted": False, "event": "Clicked"}
    with store.begin() as conn:
        conn.execute(
            table("usage_events").insert(), [{**row, "occurred_at": datetime(2026, 3, 2, 9, tzinfo=UTC)}]
        )
        conn.execute(text("CREATE VIEW my_events AS SELECT source_id, occurred_at FROM usage_events"))
    try:
        upgrade(store.engine)
        with store.begin() as conn:
            conn.execute(
                table("usage_events").insert(),
                [{**row, "occurred_at": datetime(2026, 3, 2, 10, tzinfo=UTC)}],
            )
            assert conn.execute(text("SELECT count(*) FROM my_events WHERE source_id = 'k'")).scalar() == 2
    finally:
        with store.begin() as conn:
            conn.execute(text("DROP VIEW IF EXISTS my_events"))


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


def _stored(store, table_name):
    """Every column as SQLite holds it (text, integer, real) with its storage class, not as
    SQLAlchemy reads it back; JSON text parsed (its spacing may differ)."""
    import json

    from sqlalchemy import JSON, text

    columns = list(table(table_name).columns)
    with store.connect() as conn:
        listed = ", ".join(f"{c.name}, typeof({c.name})" for c in columns)
        rows = conn.execute(text(f"SELECT {listed} FROM {table_name} ORDER BY source_id")).all()
    parsed = {2 * i for i, c in enumerate(columns) if isinstance(c.type, JSON)}
    return [
        tuple(json.loads(v) if i in parsed and v is not None else v for i, v in enumerate(row))
        for row in rows
    ]


def _spy_encoding(monkeypatch):
    from vitalsign.core import sqlite_upsert
    from vitalsign.core import store as store_module

    encoded = []

    def spy(*args, **kwargs):
        encoded.append(sqlite_upsert.sqlite_rows(*args, **kwargs))
        return encoded[-1]

    monkeypatch.setattr(store_module, "sqlite_rows", spy)
    return encoded


def _sqlalchemy_upsert(conn, table_name, rows):
    """What ``upsert`` did before core/sqlite_upsert.py: SQLAlchemy's compiled statement."""
    from sqlalchemy.dialects import sqlite

    tbl = table(table_name)
    columns = [c.name for c in tbl.columns if any(c.name in r for r in rows)]
    keys = [c.name for c in tbl.primary_key.columns]
    stmt = sqlite.insert(tbl)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={c: stmt.excluded[c] for c in columns if c not in keys}
    )
    conn.execute(stmt, [{c: r.get(c) for c in columns} for r in rows])


def _assert_both_ways_store_the_same(store, tmp_path, monkeypatch, table_name, batches):
    encoded = _spy_encoding(monkeypatch)
    with store.begin() as conn:
        for rows in batches:
            assert upsert(conn, table_name, rows) == len(rows)
    assert len(encoded) == len(batches)
    assert None not in encoded  # the plain-tuple statement wrote every batch
    reference = Store(f"sqlite:///{tmp_path / f'reference-{table_name}.db'}")
    reference.upgrade()
    with reference.begin() as conn:
        for rows in batches:
            _sqlalchemy_upsert(conn, table_name, rows)
    stored = _stored(store, table_name)
    assert stored == _stored(reference, table_name)
    reference.dispose()
    return stored


def test_sqlite_plain_upsert_stores_what_the_sqlalchemy_statement_stores(sqlite_store, tmp_path, monkeypatch):
    """The plain-tuple executemany upsert (core/sqlite_upsert.py) against SQLAlchemy's executemany
    on the same rows: timestamps aware, naive and ISO text, JSON with nulls and non-ASCII text,
    booleans, floats, missing keys, a row updated twice in the batch; rows without ``deleted``
    get its default on insert and keep their value on update."""
    from datetime import UTC, datetime, timedelta, timezone

    from vitalsign.core import sqlite_upsert

    when = datetime(2025, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
    rows = [
        {"source": "s", "source_id": "a", "deleted": False, "kind": "customer", "name": "Zoë",
         "delinquent": True, "created_at": when, "synced_at": when.replace(tzinfo=None),
         "properties": {"metadata": {"k": "é"}, "description": None, "n": [1, 2.5, None]}},
        {"source": "s", "source_id": "b", "deleted": True, "kind": "customer", "name": None,
         "updated_at": 86_400, "delinquent": None,
         "created_at": datetime(2025, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
         "synced_at": "2025-01-02T03:04:05Z", "properties": None},
        {"source": "s", "source_id": "c", "deleted": False, "kind": "group",
         "created_at": datetime(2024, 12, 31, 23), "synced_at": "2024-12-31T23:00:00+00:00"},
        {"source": "s", "source_id": "a", "deleted": False, "kind": "customer", "name": "Zoë 2",
         "delinquent": False, "created_at": when, "synced_at": when,
         "properties": {"metadata": {"k": "é"}, "n": [1, 2.5, None, True]}},
    ]  # fmt: skip
    stored = _assert_both_ways_store_the_same(sqlite_store, tmp_path, monkeypatch, "source_accounts", [rows])
    assert len(stored) == 3
    assert stored[0][2 * list(table("source_accounts").columns.keys()).index("name")] == "Zoë 2"
    assert sqlite_upsert.sqlite_datetime(when) == "2025-03-01 12:30:05.123456"

    people = [
        {"source": "s", "source_id": f"p{i}", "email": f"{i}@a.io", "created_at": 1_735_689_599 + i,
         "synced_at": when}
        for i in range(4)
    ]  # fmt: skip
    # created_at: Unix seconds, as the Stripe streams send them (formatted by SQLite);
    # synced_at: one aware datetime for the whole batch, as the engine stamps it (converted once)
    marked = [{"source": "s", "source_id": "p0", "deleted": True}]
    stored = _assert_both_ways_store_the_same(
        sqlite_store, tmp_path, monkeypatch, "contacts", [people[:2], marked, people]
    )
    deleted = 2 * list(table("contacts").columns.keys()).index("deleted")
    assert [row[deleted] for row in stored] == [1, 0, 0, 0]
    created = 2 * list(table("contacts").columns.keys()).index("created_at")
    synced = 2 * list(table("contacts").columns.keys()).index("synced_at")
    assert [(row[created], row[synced]) for row in stored][1:3] == [
        ("2025-01-01 00:00:00.000000", "2025-03-01 12:30:05.123456"),
        ("2025-01-01 00:00:01.000000", "2025-03-01 12:30:05.123456"),
    ]


def test_sqlite_upsert_falls_back_to_sqlalchemy_for_what_it_cannot_convert(sqlite_store, monkeypatch):
    """Values the plain-tuple path cannot convert go through SQLAlchemy's statement, which
    stores what it can (an integer beyond 64 bits in a JSON column) and refuses what it always
    refused (a date where a timestamp belongs)."""
    from datetime import date

    import pytest
    from sqlalchemy.exc import SQLAlchemyError

    encoded = _spy_encoding(monkeypatch)
    row = {"source": "s", "source_id": "i", "deleted": False}
    with sqlite_store.begin() as conn:
        assert upsert(conn, "subscriptions", [{**row, "discounts": [{"n": 2**70}]}]) == 1
    assert encoded == [None]
    with sqlite_store.connect() as conn:
        assert conn.execute(select(table("subscriptions").c.discounts)).scalar_one() == [{"n": 2**70}]
    with pytest.raises((SQLAlchemyError, AttributeError)), sqlite_store.begin() as conn:
        upsert(conn, "subscriptions", [{**row, "created_at": date(2025, 1, 1)}])
    assert encoded == [None, None]
    with sqlite_store.begin() as conn:
        assert upsert(conn, "subscriptions", [{**row, "discounts": [{"n": 2**40}]}]) == 1
    assert encoded[2] is not None
    with sqlite_store.connect() as conn:
        assert conn.execute(select(table("subscriptions").c.discounts)).scalar_one() == [{"n": 2**40}]
