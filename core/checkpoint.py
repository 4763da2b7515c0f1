"""Background WAL checkpoints for a SQLite store while a sync writes to it.

In WAL mode a commit appends its pages to the ``-wal`` file, and the commit that takes the file
past ``wal_autocheckpoint`` pages then copies them into the database file before it returns. For
a bulk load that second write of everything sits on the writer's path: 5M usage events, the
writer's statements alone, spent 7.1 of 42 s in its three commits.

While a sync runs, :meth:`vitalsign.core.store.Store.background_checkpoints` turns the
connections' automatic checkpoints off and a :class:`Checkpointer` thread checkpoints instead,
over a connection of its own, so SQLite does it without the GIL while the writer goes on with its
next transaction. ``PASSIVE`` checkpoints never wait for a lock and never disturb readers or the
writer; they copy what is committed. When the sync ends the thread checkpoints once more and
stops, and the connections checkpoint by themselves again.

A checkpoint is an optimisation, never a condition of correctness: committed pages in the WAL are
durable and readable, so if the thread cannot checkpoint, the WAL only grows until the next
automatic checkpoint (the thread logs why, and the store's connections take over again).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
"""How often the thread checkpoints: one with nothing new to copy costs microseconds (SQLite
compares two frame counters); the file's size would not tell, since a WAL that restarts after a
complete checkpoint is rewritten from its start, not truncated."""


class Checkpointer:
    """A thread that checkpoints one SQLite database's WAL every :data:`POLL_SECONDS` until stopped."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.failed: str | None = None
        """Why the thread stopped checkpointing, if it did (then the connections do it again)."""
        self.frames_copied = 0
        """The most WAL frames one checkpoint found copied (for tests and benchmarks)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vitalsign-checkpointer", daemon=True)

    @property
    def active(self) -> bool:
        """True while the thread checkpoints for the store's connections."""
        return self._thread.is_alive() and self.failed is None and not self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Checkpoint what is committed, then end the thread."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.database, timeout=60, check_same_thread=False)
        except sqlite3.Error as exc:
            self._give_up(exc)
            return
        try:
            while not self._stop.wait(POLL_SECONDS):
                self._checkpoint(conn)
            self._checkpoint(conn)
        except sqlite3.Error as exc:
            self._give_up(exc)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        _busy, _log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.frames_copied = max(self.frames_copied, copied)

    def _give_up(self, exc: sqlite3.Error) -> None:
        self.failed = f"{type(exc).__name__}: {exc}"
        log.warning("background checkpoints of %s stopped (%s); commits checkpoint again", self.database, exc)
