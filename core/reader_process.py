"""Read-ahead in a child process: a stream's batches read, parsed and readied on another core.

The engine's read-ahead thread (:func:`vitalsign.core.sync.prefetched`) overlaps reading with
writing only where one side releases the GIL. A stream whose reading is CPU-bound Python
(parsing and mapping a hundred thousand events a second) and a writer that spends its time in
SQLite calls that each take the GIL back per row (``executemany``) then share one core. With
``Stream.read_in_process`` the engine forks a child that runs the stream's ``read`` and readies
each batch (validation and the writer's preparer, :func:`~vitalsign.core.sync.ready_batch`), and
sends the readied batches back through a pipe; the engine's process only writes.

What crosses the pipe is pickled, so a preparer keeps what it sends small (the usage writer
sends its encoded tuples, not the row dicts). Order, cursors and resume semantics are those of
the thread: batches come out one by one in the order read, each is committed with its cursor,
and an error of the reader surfaces after the batches read before it. The child:

- never touches the store (streams never do) and leaves with ``os._exit``, so it closes none of
  the parent's database connections it inherited;
- dies with the engine's process (``PR_SET_PDEATHSIG`` on Linux; elsewhere at its next send), so
  a killed sync leaves no reader holding the connector's lock;
- sends its log records to the engine, which handles them as its own (the child's copies of
  the handlers are never written to: a console lock held by another thread at the fork would
  otherwise stay held in the child forever);
- runs on the stream object as it was at the fork: state the read changes stays in the child,
  so a stream that reads this way keeps everything the engine needs in its batches.

Where ``fork`` is not available (Windows) or the engine runs where forking is unsafe, the thread
is used instead (:func:`process_available`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from .errors import SourceDataError, VitalsignError

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1


_in_reader = False


def in_reader_process() -> bool:
    """Whether this process is a reader the engine forked (code that readies batches may
    encode them differently for the trip through the pipe)."""
    return _in_reader


def process_available() -> bool:
    """Whether the read-ahead can run in a forked child here."""
    return "fork" in multiprocessing.get_all_start_methods()


class ReaderProcessError(SourceDataError):
    """The reader process ended without saying why (killed, out of memory, crashed)."""


def read_in_process(
    batches: Iterator[T], depth: int, *, on_idle: Callable[[], None] | None = None, idle_seconds: float = 0.5
) -> Iterator[T]:
    """Iterate ``batches`` in a forked child, up to ``depth`` batches ahead of the consumer
    (plus the one in the pipe).

    ``on_idle`` runs (in the consumer) when the next batch keeps it waiting longer than
    ``idle_seconds``. When the consumer stops early, or fails, the child is stopped.
    """
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_child,
        args=(batches, sender, max(1, depth), os.getpid()),
        name="vitalsign-reader",
        daemon=True,
    )
    child.start()
    sender.close()  # the child holds the only write end: its exit is our EOF
    finished = False
    try:
        while True:
            kind, item = _receive(receiver, child, on_idle, idle_seconds)
            if kind == "batch":
                yield item
            elif kind == "log":
                _handle_log(item)
            elif kind == "error":
                finished = True
                raise item
            else:
                finished = True
                return
    finally:
        receiver.close()
        if not finished and child.is_alive():
            child.kill()  # it holds nothing to clean up, and no inherited handler can delay it
        child.join()


def _receive(
    receiver: Connection,
    child: Any,
    on_idle: Callable[[], None] | None,
    idle_seconds: float,
) -> tuple[str, Any]:
    if on_idle is not None and not receiver.poll(idle_seconds):
        on_idle()
    try:
        data = receiver.recv_bytes()
    except EOFError:
        child.join()
        raise ReaderProcessError(
            f"the reader process ended unexpectedly (exit code {child.exitcode}); "
            "the batches committed before it are kept"
        ) from None
    kind, item = pickle.loads(data)
    if kind == "error" and isinstance(item, tuple):  # (type name, message, was a VitalsignError)
        name, message, ours = item
        item = type(name, (VitalsignError if ours else Exception,), {})(message)
    return str(kind), item


def _handle_log(record: logging.LogRecord) -> None:
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


# ---------------------------------------------------------------- the child


def _child(batches: Iterator[Any], sender: Connection, depth: int, parent: int) -> None:
    """The reader: batches in order, then ``done``, or the exception that stopped it."""
    global _in_reader
    code = 0
    _in_reader = True
    try:
        _die_with_parent(parent)
        outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        _route_logs_to(outbox)
        writer = threading.Thread(target=_send_all, args=(outbox, sender), daemon=True)
        writer.start()
        try:
            for batch in batches:
                outbox.put(_dumps("batch", batch))
            outbox.put(_dumps("done", None))
        except BaseException as exc:
            outbox.put(_dumps_error(exc))
        outbox.put(None)
        writer.join()
    except BaseException:
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)  # no finalizers: the inherited database connections are the parent's


def _send_all(outbox: queue.Queue[bytes | None], sender: Connection) -> None:
    """Sends in a thread of its own, so reading the next batch overlaps the pipe (which
    releases the GIL while it waits for the engine)."""
    try:
        while (data := outbox.get()) is not None:
            sender.send_bytes(data)
    except OSError:  # the engine is gone: nobody to read for
        os._exit(1)


def _dumps(kind: str, item: Any) -> bytes:
    return pickle.dumps((kind, item), protocol=pickle.HIGHEST_PROTOCOL)


def _dumps_error(exc: BaseException) -> bytes:
    """The exception itself when it survives a round trip through pickle (custom ``__init__``
    signatures often do not), else its type name and message."""
    try:
        data = _dumps("error", exc)
        pickle.loads(data)
        return data
    except Exception:
        return _dumps("error", (type(exc).__name__, str(exc), isinstance(exc, VitalsignError)))


class _PipeLogHandler(logging.Handler):
    def __init__(self, outbox: queue.Queue[bytes | None]) -> None:
        super().__init__(logging.NOTSET)
        self.outbox = outbox

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg, record.args = record.getMessage(), None
            record.exc_text = record.exc_text or (
                logging.Formatter().formatException(record.exc_info) if record.exc_info else None
            )
            record.exc_info = None
            self.outbox.put(_dumps("log", record))
        except Exception:
            self.handleError(record)


def _route_logs_to(outbox: queue.Queue[bytes | None]) -> None:
    """Every log record of the child goes to the engine, none to the inherited handlers."""
    handler = _PipeLogHandler(outbox)
    for logger in [logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict)]:
        if isinstance(logger, logging.Logger) and logger.handlers:
            logger.handlers = []
            logger.propagate = True
    logging.root.handlers = [handler]


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this child when the engine's process ends, however it ends."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the engine died before the prctl took effect
            os._exit(1)
