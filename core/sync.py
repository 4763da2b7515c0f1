"""The sync engine: streams in, validated batches upserted with their cursor, runs recorded.

Per batch, in one transaction: valid records are bulk-upserted on (source, source_id), invalid
ones quarantined with their reason and payload, deletions marked, and the stream's cursor
written. A crash anywhere therefore resumes from the last committed batch with nothing lost and
nothing doubled. A stream may have several batches share a transaction (``Stream.commit_batches``,
see :class:`Commits`): the last cursor is then committed with all of their rows, so the same
holds. One sync per connector at a time (``Store.lock``).
"""

from __future__ import annotations

import gc
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection, delete, select, update

from . import identity
from .config import Config, instantiate
from .connector import Batch, Connector, QuarantineItem, Stream
from .errors import StoreError, VitalsignError
from .models import RAW_TABLES, QuarantinedRecord, SyncRun, SyncState
from .plugins import get_plugin_manager
from .reader_process import process_available, read_in_process
from .store import Store, table, utcnow
from .writers import partial_upsert_writer, preparer_for, writer_for

log = logging.getLogger("vitalsign.sync")
T = TypeVar("T")


@dataclass
class StreamStats:
    rows: int = 0
    deleted: int = 0
    quarantined: int = 0
    batches: int = 0
    status: str = "pending"  # pending | running | success | failed
    error: str | None = None
    seconds: float = 0.0


@dataclass
class RunSummary:
    """What ``vitalsign_sync_finished`` receives and ``sync`` reports."""

    run_id: int
    connector: str
    status: str  # success | failed
    started_at: datetime
    finished_at: datetime | None = None
    full_refresh: bool = False
    streams: dict[str, StreamStats] = field(default_factory=dict)
    error: str | None = None
    log: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.streams.values())

    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.streams.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


class Progress(Protocol):
    """Receives progress events (the CLI shows bars on a terminal, log lines otherwise)."""

    def stream_started(self, connector: str, stream: str) -> None: ...
    def batch_done(self, connector: str, stream: str, rows: int, quarantined: int) -> None: ...
    def stream_finished(self, connector: str, stream: str, stats: StreamStats) -> None: ...


class NullProgress:
    def stream_started(self, connector: str, stream: str) -> None:
        pass

    def batch_done(self, connector: str, stream: str, rows: int, quarantined: int) -> None:
        pass

    def stream_finished(self, connector: str, stream: str, stats: StreamStats) -> None:
        pass


class SyncEngine:
    def __init__(self, store: Store, config: Config, *, progress: Progress | None = None) -> None:
        self.store = store
        self.config = config
        self.progress: Progress = progress or NullProgress()

    def sync(self, names: Sequence[str] | None = None, *, full_refresh: bool = False) -> list[RunSummary]:
        """Sync the named connectors (all configured ones when empty), one after the other."""
        selected = list(names) if names else list(self.config.connectors)
        connectors = [instantiate(self.config.connector(name), self.config) for name in selected]
        self.store.upgrade()
        summaries = []
        for connector in connectors:
            try:
                summaries.append(self.sync_connector(connector, full_refresh=full_refresh))
            finally:
                connector.close()
        return summaries

    def sync_connector(self, connector: Connector, *, full_refresh: bool = False) -> RunSummary:
        # SQLite: a thread copies the WAL back, so the commits do not stop to do it
        with self.store.lock(connector.name), self.store.background_checkpoints():
            summary = self._start_run(connector.name, full_refresh)
            try:
                if full_refresh:
                    with self.store.begin() as conn:
                        conn.execute(delete(SyncState).where(SyncState.connector == connector.name))  # type: ignore[arg-type]
                    summary.log.append("full refresh: cursors cleared")
                forking = connector.settings.read_in_process
                for stream in connector.streams():
                    self._sync_stream(connector.name, stream, summary, forking=forking)
                with self.store.begin() as conn:
                    resolved = identity.resolve(conn, self.config.identity)
                summary.log.append(f"identity: {resolved}")
                get_plugin_manager().hook.vitalsign_after_sync(
                    store=self.store, connector=connector, config=self.config
                )
            except VitalsignError as exc:
                summary.error = str(exc)
            except Exception as exc:  # a plugin bug must still close the run record
                summary.error = f"{type(exc).__name__}: {exc}"
                log.exception("sync of %s failed", connector.name)
            failed = summary.error is not None or any(s.status == "failed" for s in summary.streams.values())
            summary.status = "failed" if failed else "success"
            if summary.error is None and failed:
                bad = [n for n, s in summary.streams.items() if s.status == "failed"]
                summary.error = "; ".join(f"{n}: {summary.streams[n].error}" for n in bad)
            self._finish_run(summary)
        self._notify(summary)
        return summary

    # ------------------------------------------------------------------ one stream

    def _sync_stream(self, source: str, stream: Stream, summary: RunSummary, *, forking: bool = True) -> None:
        stats = summary.streams.setdefault(stream.name, StreamStats())
        stats.status = "running"
        started = time.perf_counter()
        self.progress.stream_started(source, stream.name)
        try:
            cursor = self._load_cursor(source, stream.name)
            commits = Commits(self.store, stream.commit_batches, stream.commit_seconds)
            with fewer_collections():
                try:
                    in_process = forking and reads_in_process(stream)
                    batches = self._prepared(source, stream, stream.read(cursor), crosses=in_process)
                    for ready in read_ahead(stream, batches, in_process=in_process, on_idle=commits.flush):
                        commits.apply(partial(self._apply_batch, source, stream, ready, summary, stats))
                finally:
                    commits.flush()  # batches applied before a reader error keep their rows and cursor
            stats.status = "success"
        except VitalsignError as exc:
            stats.status, stats.error = "failed", str(exc)
            log.error("%s/%s failed: %s", source, stream.name, exc)
        except Exception as exc:
            stats.status, stats.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("%s/%s failed", source, stream.name)
        stats.seconds = round(time.perf_counter() - started, 3)
        self.progress.stream_finished(source, stream.name, stats)

    def _prepared(
        self, source: str, stream: Stream, batches: Iterator[Batch], *, crosses: bool = False
    ) -> Iterator[ReadyBatch]:
        """The stream's batches validated and readied for their writers. With ``Stream.prefetch``
        this runs in the read-ahead thread (or process: ``crosses``), so per-record work leaves the
        write path."""
        try:
            for batch in batches:
                ready = ready_batch(source, stream, batch, self.store.engine.dialect.name)
                if crosses:  # the engine writes the readied rows; the raw ones need not travel
                    ready.batch = replace(batch, records=[], children={})
                yield ready
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def _apply_batch(
        self,
        source: str,
        stream: Stream,
        ready: ReadyBatch,
        summary: RunSummary,
        stats: StreamStats,
        conn: Connection,
    ) -> Callable[[], None]:
        """Write one batch in ``conn``'s transaction; returns what reports it once committed."""
        batch, rows, now = ready.batch, ready.rows, ready.now
        quarantined = [*batch.quarantine, *ready.bad]
        written = writer_for(stream.table)(self.store, conn, stream.table, rows)
        for child, (child_rows, child_bad) in ready.children.items():
            quarantined.extend(child_bad)
            write = partial_upsert_writer if stream.partial_children else writer_for(child)
            write(self.store, conn, child, child_rows)
            parent_column = stream.child_tables.get(child)
            if parent_column:
                _retire_missing_children(conn, child, parent_column, source, rows, child_rows)
        deleted = self.store.mark_deleted(conn, stream.table, source, batch.deleted)
        messages = batch.log
        if batch.retire_unseen_before is not None and quarantined:
            # a listed record that was quarantined was not rewritten: it would look unlisted
            messages = [*messages, f"{stream.name}: records quarantined, so none retired as unlisted"]
        elif batch.retire_unseen_before is not None:
            retired = self.store.retire_unseen(conn, stream.table, source, batch.retire_unseen_before)
            deleted += retired
            messages = [
                *messages,
                f"{stream.name}: {retired} stored row(s) the full read did not list marked deleted",
            ]
        for child, ids in batch.deleted_children.items():
            self.store.mark_deleted(conn, child, source, ids)
        if quarantined:
            _quarantine(conn, source, stream.name, summary.run_id, quarantined, now)
        if batch.cursor is not None:
            self.store.upsert(
                conn,
                "sync_state",
                [{"connector": source, "stream": stream.name, "cursor": batch.cursor, "updated_at": now}],
            )
        return partial(
            self._report, source, stream.name, summary, stats, written, deleted, len(quarantined), messages
        )

    def _report(
        self,
        source: str,
        stream: str,
        summary: RunSummary,
        stats: StreamStats,
        written: int,
        deleted: int,
        quarantined: int,
        messages: list[str],
    ) -> None:
        """Account for a committed batch (holds its counts, not its records)."""
        stats.rows += written
        stats.deleted += deleted
        stats.quarantined += quarantined
        stats.batches += 1
        summary.log.extend(messages)
        for message in messages:
            log.info("%s/%s: %s", source, stream, message)
        self.progress.batch_done(source, stream, written, quarantined)

    def _load_cursor(self, source: str, stream: str) -> Any:
        with self.store.connect() as conn:
            return conn.execute(
                select(SyncState.cursor).where(SyncState.connector == source, SyncState.stream == stream)  # type: ignore[arg-type]
            ).scalar()

    # ------------------------------------------------------------------ run records

    def _start_run(self, connector: str, full_refresh: bool) -> RunSummary:
        started = utcnow()
        with self.store.begin() as conn:
            # we hold the connector's lock, so a run still marked running was killed
            conn.execute(
                update(SyncRun)
                .where(SyncRun.connector == connector, SyncRun.status == "running")  # type: ignore[arg-type]
                .values(
                    status="interrupted", finished_at=started, error="the process ended before the run did"
                )
            )
            result = conn.execute(
                table("sync_runs")
                .insert()
                .values(connector=connector, started_at=started, status="running", full_refresh=full_refresh)
            )
            run_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return RunSummary(
            run_id=run_id,
            connector=connector,
            status="running",
            started_at=started,
            full_refresh=full_refresh,
        )

    def _finish_run(self, summary: RunSummary) -> None:
        summary.finished_at = utcnow()
        stats = {name: asdict(s) for name, s in summary.streams.items()}
        with self.store.begin() as conn:
            conn.execute(
                update(SyncRun)
                .where(SyncRun.id == summary.run_id)  # type: ignore[arg-type]
                .values(
                    finished_at=summary.finished_at,
                    status=summary.status,
                    stats=stats,
                    log=summary.log[-500:],
                    error=summary.error,
                )
            )

    def _notify(self, summary: RunSummary) -> None:
        try:
            get_plugin_manager().hook.vitalsign_sync_finished(run=summary)
        except Exception:
            log.exception("a vitalsign_sync_finished hook failed (ignored)")


GC_THRESHOLD = 50_000
"""Young-generation threshold of the garbage collector while a stream syncs (default 700)."""
_gc_lock = threading.Lock()
_gc_depth = 0
_gc_saved: tuple[int, int, int] = (700, 10, 10)
_gc_froze = False


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often while a stream runs: freeze the heap that exists (modules,
    the engine) out of the collector's view and raise the young generation's threshold.

    A stream allocates several containers per record (parsed JSON, row dicts) and keeps a batch
    of them alive, so with the defaults the collector ran ~500 times per 100k events and its
    full passes walked every live object: 5-7 us per event, about half the reader's time in the
    usage benchmark. Cyclic garbage is still collected, less often; the settings are restored
    (and the heap unfrozen) when the outermost stream ends. A heap someone else froze already (a
    pre-fork server, say) is left as it is.
    """
    global _gc_depth, _gc_saved, _gc_froze
    with _gc_lock:
        _gc_depth += 1
        if _gc_depth == 1:
            _gc_saved = gc.get_threshold()
            _gc_froze = gc.get_freeze_count() == 0
            if _gc_froze:
                gc.freeze()
            gc.set_threshold(max(_gc_saved[0], GC_THRESHOLD), _gc_saved[1], _gc_saved[2])
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0:
                gc.set_threshold(*_gc_saved)
                if _gc_froze:
                    gc.unfreeze()


class Commits:
    """The transaction a stream's batches are written in: ``batches`` of them at most, for at
    most ``seconds`` (``Stream.commit_batches`` / ``commit_seconds``).

    Each batch carries its cursor and the last one written is committed with the rows of all, so
    a crash loses only uncommitted batches and their cursor together: the rerun reads them again.
    A batch whose write fails rolls the whole open transaction back (its earlier batches
    included, cursor too) and re-raises. Reports (stats, progress) run only once committed.
    """

    def __init__(self, store: Store, batches: int = 1, seconds: float = 10.0) -> None:
        self.store = store
        self.batches = max(1, batches)
        self.seconds = seconds
        self._stack: ExitStack | None = None
        self._conn: Connection | None = None
        self._started = 0.0
        self._reports: list[Callable[[], None]] = []

    def apply(self, write: Callable[[Connection], Callable[[], None]]) -> None:
        """Run ``write`` in the open transaction (begun if needed); what it returns runs after
        the commit."""
        if self._stack is None or self._conn is None:
            stack = ExitStack()
            self._conn = stack.enter_context(self.store.begin())
            self._stack, self._started = stack, time.monotonic()
        try:
            self._reports.append(write(self._conn))
        except BaseException:
            stack, self._stack, self._conn, self._reports = self._stack, None, None, []
            stack.__exit__(*sys.exc_info())  # rolls back
            raise
        if len(self._reports) >= self.batches or time.monotonic() - self._started >= self.seconds:
            self.flush()

    def flush(self) -> None:
        """Commit the open transaction, if any, then report its batches."""
        stack, self._stack, self._conn = self._stack, None, None
        reports, self._reports = self._reports, []
        if stack is None:
            return
        stack.close()
        for report in reports:
            report()


IDLE_SECONDS = 0.5
"""How long the engine waits for the reader before committing what it holds (``on_idle``)."""


def reads_in_process(stream: Stream) -> bool:
    """Whether the stream asks to read in a child process and can here."""
    return stream.prefetch > 0 and bool(getattr(stream, "read_in_process", False)) and process_available()


def read_ahead(
    stream: Stream, batches: Iterator[T], *, in_process: bool, on_idle: Callable[[], None] | None = None
) -> Iterator[T]:
    """The stream's batches read ahead: in a child process (``in_process``), in a thread
    (``Stream.prefetch``), or not at all."""
    if in_process:
        return read_in_process(batches, stream.prefetch, on_idle=on_idle, idle_seconds=IDLE_SECONDS)
    return prefetched(batches, stream.prefetch, on_idle=on_idle)


def prefetched(batches: Iterator[T], depth: int, *, on_idle: Callable[[], None] | None = None) -> Iterator[T]:
    """Read up to ``depth`` batches ahead in a thread (``Stream.prefetch``; 0 = no thread).

    The next batches are read and parsed while the engine writes the previous one (zlib and
    SQLite release the GIL, so the two overlap). Batches still come out one by one in order and
    each is committed with its cursor, so resume semantics are unchanged; an exception of the
    reader surfaces after the batches read before it. When the consumer stops early the reader
    is told to stop at its next batch boundary and its generator is closed in its own thread.
    ``on_idle`` runs (in the consumer's thread) when the next batch keeps it waiting longer
    than :data:`IDLE_SECONDS`: the engine commits then, so no transaction stays open while a
    slow source is read.
    """
    if depth <= 0:
        yield from batches
        return
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(("batch", batch)):
                    break
            else:
                put(("done", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def take() -> tuple[str, Any]:
        if on_idle is not None:
            try:
                return handoff.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                on_idle()
        return handoff.get()

    reader = threading.Thread(target=produce, name="vitalsign-prefetch", daemon=True)
    reader.start()
    try:
        while True:
            kind, item = take()
            if kind == "batch":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        reader.join()


@dataclass
class ReadyBatch:
    """A batch as the engine writes it: ``rows`` validated (and readied by the table's writer),
    ``bad`` the records that failed validation, the same pair per child table, and ``now``, the
    instant its rows are stamped ``synced_at`` with."""

    batch: Batch
    now: datetime
    rows: list[dict[str, Any]]
    bad: list[QuarantineItem]
    children: dict[str, tuple[list[dict[str, Any]], list[QuarantineItem]]]


def ready_batch(source: str, stream: Stream, batch: Batch, dialect: str) -> ReadyBatch:
    """Validate a batch's records and children and let their writers ready the rows. Touches no
    store, so it may run in the read-ahead thread while the previous batch is written."""
    now = utcnow()

    def rows_for(table_name: str, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
        rows, bad = validate_records(table_name, records, source, now, trusted=stream.validated)
        return preparer_for(table_name)(dialect, rows), bad

    rows, bad = rows_for(stream.table, batch.records)
    children = {child: rows_for(child, records) for child, records in batch.children.items()}
    return ReadyBatch(batch=batch, now=now, rows=rows, bad=bad, children=children)


def validate_records(
    table_name: str,
    records: Iterable[dict[str, Any]],
    source: str,
    now: datetime,
    *,
    trusted: bool = False,
) -> tuple[list[dict[str, Any]], list[QuarantineItem]]:
    """Split records into rows for ``table_name`` and quarantine items with reasons."""
    model = RAW_TABLES.get(table_name)
    if model is None:
        raise StoreError(f"streams cannot write table {table_name!r} (not a raw table)")
    if trusted:  # the stream handed its records over: stamped in place, not copied
        rows = records if isinstance(records, list) else list(records)
        for record in rows:
            record["source"] = source
            record["synced_at"] = now
        return rows, []
    rows = []
    bad: list[QuarantineItem] = []
    for record in records:
        try:
            instance = model.model_validate({**record, "source": source, "synced_at": now})
        except ValidationError as exc:
            bad.append(QuarantineItem(reason=_reason(exc), payload=_dump(record), source_id=_sid(record)))
            continue
        rows.append(instance.model_dump())
    return rows, bad


def _retire_missing_children(
    conn: Connection,
    child: str,
    parent_column: str,
    source: str,
    parents: list[dict[str, Any]],
    children: list[dict[str, Any]],
) -> None:
    """Mark deleted the children of these parents that the source no longer lists."""
    parent_ids = [p["source_id"] for p in parents]
    if not parent_ids:
        return
    keep = {c["source_id"] for c in children}
    tbl = table(child)
    for start in range(0, len(parent_ids), 500):
        chunk = parent_ids[start : start + 500]
        # `source || ''` keeps SQLite off the primary key index for this term: without statistics
        # it would scan every child row of the source per batch (quadratic over a full sync)
        # instead of looking the parents up in the parent column's index.
        stmt = update(tbl).where(
            tbl.c.source.concat("") == source, tbl.c[parent_column].in_(chunk), tbl.c.deleted.is_(False)
        )
        if keep:
            stmt = stmt.where(tbl.c.source_id.not_in(keep))
        conn.execute(stmt.values(deleted=True))


def _quarantine(
    conn: Connection, source: str, stream: str, run_id: int, items: list[QuarantineItem], now: datetime
) -> None:
    conn.execute(
        QuarantinedRecord.__table__.insert(),  # type: ignore[attr-defined]
        [
            {
                "connector": source,
                "stream": stream,
                "run_id": run_id,
                "source_id": item.source_id,
                "reason": item.reason[:2000],
                "location": item.location,
                "payload": item.payload,
                "created_at": now,
            }
            for item in items
        ],
    )


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:
        location = ".".join(str(p) for p in error["loc"]) or "record"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def _dump(record: Any) -> str:
    try:
        return orjson.dumps(record, default=str).decode()
    except TypeError:
        return repr(record)


def _sid(record: Any) -> str | None:
    value = record.get("source_id") if isinstance(record, dict) else None
    return str(value) if value is not None else None


RunCallback = Callable[[RunSummary], None]
