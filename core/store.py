"""The store: one SQLAlchemy engine over SQLite (default) or PostgreSQL.

Writes take iterables of plain dicts and go out as one dialect upsert per batch
(``INSERT ... ON CONFLICT (...) DO UPDATE``), never as ORM objects one by one.
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

from . import models  # noqa: F401  (registers every table on SQLModel.metadata)
from .checkpoint import Checkpointer
from .errors import ConfigError, StoreError, SyncLockedError
from .sqlite_upsert import sqlite_plan, sqlite_rows

DEFAULT_STORE_URL = "sqlite:///vitalsign.db"
SUPPORTED_DIALECTS = ("sqlite", "postgresql")
AUTOCHECKPOINT_PAGES = 1000
"""SQLite's default ``wal_autocheckpoint``, which the connections go back to after a sync."""
_memory_locks: dict[str, threading.Lock] = {}


def utcnow() -> datetime:
    return datetime.now(UTC)


def table(name: str) -> Table:
    """The store table called ``name``."""
    try:
        return SQLModel.metadata.tables[name]
    except KeyError:
        raise StoreError(f"the store has no table {name!r}") from None


class Store:
    """A handle on the store: engine, migrations, batched upserts and per-connector locks."""

    def __init__(self, url: str = DEFAULT_STORE_URL) -> None:
        try:
            self.url = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(f"store url is not a valid SQLAlchemy URL: {_redact(url)}") from exc
        if self.url.get_backend_name() not in SUPPORTED_DIALECTS:
            raise ConfigError(
                f"store url: unsupported database {self.url.get_backend_name()!r} "
                f"(use sqlite:/// or postgresql+psycopg://)"
            )
        self._checkpointer: Checkpointer | None = None
        self.engine = self._create_engine()

    # ------------------------------------------------------------------ engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def display_url(self) -> str:
        """The URL with any password hidden: safe for logs and output."""
        return self.url.render_as_string(hide_password=True)

    @property
    def sqlite_file(self) -> Path | None:
        """The database file of a SQLite store; None for an in-memory one or another database."""
        database = self.url.database or ""
        if self.url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
            return None
        return Path(database).expanduser()

    def _create_engine(self) -> Engine:
        if self.url.get_backend_name() == "sqlite":
            file = self.sqlite_file
            if file is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                self.url,
                connect_args={"timeout": 60, "check_same_thread": False},
                poolclass=StaticPool if file is None else None,
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            if file is not None:
                event.listen(engine, "checkout", self._on_checkout)
            return engine
        url = self.url
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return create_engine(url, pool_pre_ping=True)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def background_checkpoints(self) -> Iterator[Checkpointer | None]:
        """While this lasts, a SQLite store's WAL is checkpointed by a thread of its own instead
        of by the commits that fill it (core/checkpoint.py); other stores are left alone."""
        file = self.sqlite_file
        if file is None or self._checkpointer is not None:
            yield None
            return
        checkpointer = Checkpointer(str(file))
        self._checkpointer = checkpointer
        checkpointer.start()
        try:
            yield checkpointer
        finally:
            checkpointer.stop()
            self._checkpointer = None

    def _on_checkout(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        """Commits checkpoint by themselves unless the background checkpointer is at work."""
        pages = 0 if self._checkpointer is not None and self._checkpointer.active else AUTOCHECKPOINT_PAGES
        if record.info.get("wal_autocheckpoint") != pages:
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={pages}")
            record.info["wal_autocheckpoint"] = pages

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on success."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"store {self.display_url}: {_first_line(exc.orig)}") from exc

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreError(f"store {self.display_url}: {_first_line(exc.orig)}") from exc

    # ------------------------------------------------------------------ schema

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (creates it on an empty store), and the SQL
        views for analysts (core/views.py) up to date."""
        from .migrations import upgrade
        from .views import views_around_migration

        try:
            with views_around_migration(self.engine):
                upgrade(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.display_url}: migration failed: {_first_line(exc)}") from exc

    def revision(self) -> str | None:
        from .migrations import current_revision

        return current_revision(self.engine)

    # ------------------------------------------------------------------ writes

    def upsert(
        self, conn: Connection, table_name: str, rows: Iterable[Mapping[str, Any]], **kwargs: Any
    ) -> int:
        """See :func:`upsert`."""
        return upsert(conn, table_name, rows, **kwargs)

    def insert_statement(self, table_name: str) -> Any:
        """The dialect ``INSERT`` for ``table_name`` (supports ``on_conflict_*``)."""
        return dialect_insert(self.dialect, table(table_name))

    def mark_deleted(self, conn: Connection, table_name: str, source: str, source_ids: Iterable[str]) -> int:
        """Mark records deleted at the source; the rows stay."""
        ids = list(source_ids)
        if not ids:
            return 0
        tbl = table(table_name)
        count = 0
        for chunk in _chunks(ids, 500):
            result = conn.execute(
                update(tbl)
                .where(tbl.c.source == source, tbl.c.source_id.in_(chunk))
                .values(deleted=True, synced_at=utcnow())
            )
            count += result.rowcount or 0
        return count

    def retire_unseen(self, conn: Connection, table_name: str, source: str, before: datetime) -> int:
        """Mark deleted the source's live rows of ``table_name`` not written since ``before``
        (a complete read of the source's list rewrote every row it listed): one statement."""
        tbl = table(table_name)
        result = conn.execute(
            update(tbl)
            .where(tbl.c.source == source, tbl.c.deleted.is_(False), tbl.c.synced_at < before)
            .values(deleted=True, synced_at=utcnow())
        )
        return result.rowcount or 0

    # ------------------------------------------------------------------ locks

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the exclusive lock ``name`` (one sync per connector), or raise SyncLockedError.

        SQLite: ``flock`` on a file beside the database. PostgreSQL: a session advisory lock.
        Both are released by the operating system or the server when the holder dies, so a
        killed sync never leaves a stale lock behind.
        """
        if self.is_sqlite:
            with self._file_lock(name):
                yield
        else:
            with self._advisory_lock(name):
                yield

    @contextmanager
    def _file_lock(self, name: str) -> Iterator[None]:
        path = self.sqlite_file
        if path is None:
            mutex = _memory_locks.setdefault(name, threading.Lock())
            if not mutex.acquire(blocking=False):
                raise SyncLockedError(f"another sync of {name!r} is running")
            try:
                yield
            finally:
                mutex.release()
            return
        lock_path = path.with_name(f"{path.name}.{name}.lock")
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SyncLockedError(f"another sync of {name!r} is running (lock {lock_path})") from None
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield
        finally:
            os.close(fd)

    @contextmanager
    def _advisory_lock(self, name: str) -> Iterator[None]:
        key = zlib.crc32(f"vitalsign-sync:{name}".encode())
        with self.engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            conn.commit()
            if not got:
                raise SyncLockedError(f"another sync of {name!r} is running")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


def dialect_insert(dialect: str, tbl: Table) -> Any:
    """``INSERT`` with ``on_conflict_do_update``/``do_nothing`` for the store's dialect."""
    if dialect == "sqlite":
        return sqlite.insert(tbl)
    if dialect == "postgresql":
        return postgresql.insert(tbl)
    raise StoreError(f"unsupported database {dialect!r}")


def upsert(
    conn: Connection,
    table_name: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    update_columns: Sequence[str] | None = None,
    ignore_existing: bool = False,
) -> int:
    """Insert ``rows`` into ``table_name``, updating rows whose primary key exists.

    One statement for the whole batch (``INSERT ... ON CONFLICT (pk) DO UPDATE``). Rows may name
    different columns: missing ones are sent as NULL, so callers pass whole records.
    ``update_columns`` limits what an existing row gets overwritten with; ``ignore_existing``
    leaves existing rows untouched (``DO NOTHING``). Returns the number of rows sent.
    """
    batch = list(rows)
    if not batch:
        return 0
    tbl = table(table_name)
    keys = [c.name for c in tbl.primary_key.columns]
    columns, uniform = _union_keys(batch)
    unknown = columns.difference(tbl.columns.keys())
    if unknown:
        raise StoreError(f"table {table_name} has no column(s) {', '.join(sorted(unknown))}")
    ordered = [c.name for c in tbl.columns if c.name in columns]
    targets = (
        []
        if ignore_existing
        else (list(update_columns) if update_columns is not None else [c for c in ordered if c not in keys])
    )
    if conn.dialect.name == "sqlite" and _upsert_sqlite(conn, tbl, ordered, targets, batch, uniform):
        return len(batch)
    params = [{c: row.get(c) for c in ordered} for row in batch]
    stmt = dialect_insert(conn.dialect.name, tbl)
    if targets:
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in targets})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, params)
    return len(params)


_SQLITE_PLANS: dict[tuple[str, tuple[str, ...], tuple[str, ...], frozenset[str]], str | None] = {}


def _upsert_sqlite(
    conn: Connection,
    tbl: Table,
    columns: list[str],
    targets: list[str],
    rows: list[Mapping[str, Any]],
    uniform: bool,
) -> bool:
    """The batch as plain tuples to the DBAPI's ``executemany`` (see
    :mod:`vitalsign.core.sqlite_upsert`); False when the table or a value needs SQLAlchemy's own
    statement."""
    converted = sqlite_rows(tbl, columns, rows, uniform)
    if converted is None:
        return False
    values, epoch = converted
    key = (tbl.name, tuple(columns), tuple(targets), epoch)
    if key not in _SQLITE_PLANS:
        _SQLITE_PLANS[key] = sqlite_plan(tbl, columns, targets, epoch)
    sql = _SQLITE_PLANS[key]
    if sql is None:
        return False
    conn.exec_driver_sql(sql, values)
    return True


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def _union_keys(rows: list[Mapping[str, Any]]) -> tuple[set[str], bool]:
    """Every column named by some row, and whether all rows name the same ones."""
    first = set(rows[0])
    union = first
    uniform = True
    for row in rows[1:]:
        if len(row) != len(first) or row.keys() != first:
            union = union | set(row)
            uniform = False
    return union, uniform


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else repr(exc)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
