"""The read-ahead in a child process (``Stream.read_in_process``): order, errors, early stops,
a reader that dies, logs, and the rate limit the processes share."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from typing import Any

import pytest
from vitalsign.core import Batch, SourceDataError, VitalsignError
from vitalsign.core.http import RateLimiter
from vitalsign.core.reader_process import ReaderProcessError, read_in_process

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork (the engine uses a thread)"
)


def numbered(n: int, *, fail_at: int | None = None, error: BaseException | None = None):
    for i in range(n):
        if i == fail_at:
            raise error or RuntimeError(f"source broke at {i}")
        yield Batch(records=[{"source_id": str(i)}], cursor={"i": i, "pid": os.getpid()})


def test_batches_come_out_in_order_from_a_child_process():
    cursors = [b.cursor for b in read_in_process(numbered(50), 2)]
    assert [c["i"] for c in cursors] == list(range(50))
    assert {c["pid"] for c in cursors} != {os.getpid()}
    assert len({c["pid"] for c in cursors}) == 1
    assert multiprocessing.active_children() == []


def test_a_reader_error_surfaces_after_the_batches_before_it():
    got: list[int] = []

    def consume() -> None:
        for batch in read_in_process(numbered(10, fail_at=4), 2):
            got.append(batch.cursor["i"])

    with pytest.raises(RuntimeError, match="source broke at 4"):
        consume()
    assert got == [0, 1, 2, 3]


class PickyError(VitalsignError):
    """Pickles, but cannot be rebuilt from its args (a common custom ``__init__``)."""

    def __init__(self, path: str, status: int) -> None:
        super().__init__(f"GET {path} failed with {status}")


class Unpicklable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.handle = lambda: None  # a lambda does not pickle


def test_an_error_that_cannot_cross_keeps_its_name_message_and_kind():
    with pytest.raises(VitalsignError) as err:
        list(read_in_process(numbered(3, fail_at=1, error=PickyError("/v1/x", 503)), 1))
    assert str(err.value) == "GET /v1/x failed with 503"
    assert type(err.value).__name__ == "PickyError"
    with pytest.raises(Exception, match="no handle") as plain:
        list(read_in_process(numbered(3, fail_at=1, error=Unpicklable("no handle")), 1))
    assert type(plain.value).__name__ == "Unpicklable"
    assert str(plain.value) == "no handle"
    assert not isinstance(plain.value, VitalsignError)


def test_a_source_error_crosses_as_itself():
    with pytest.raises(SourceDataError, match="truncated gzip"):
        list(read_in_process(numbered(3, fail_at=2, error=SourceDataError("a.gz: truncated gzip")), 1))


def test_a_consumer_that_stops_early_stops_the_child():
    batches = read_in_process(numbered(10_000), 2)
    first = next(batches)
    assert first.cursor["i"] == 0
    reader = first.cursor["pid"]
    batches.close()
    assert multiprocessing.active_children() == []
    with pytest.raises(ProcessLookupError):
        os.kill(reader, 0)


def test_a_reader_that_dies_fails_the_read_naming_it():
    def dies():
        yield Batch(cursor=1)
        time.sleep(0.5)  # batch 1 sent meanwhile (a batch still queued in the child is lost with it)
        os.kill(os.getpid(), signal.SIGKILL)
        yield Batch(cursor=2)

    got: list[int] = []

    def consume() -> None:
        for batch in read_in_process(dies(), 1):
            got.append(batch.cursor)

    with pytest.raises(ReaderProcessError, match="ended unexpectedly") as err:
        consume()
    assert got == [1]
    assert isinstance(err.value, SourceDataError)  # the stream fails; the run goes on


def test_the_childs_log_records_reach_the_engines_handlers(caplog):
    def chatty():
        logging.getLogger("vitalsign.connectors.toy").warning("page %d was short", 3)
        yield Batch(cursor=1)

    with caplog.at_level(logging.INFO, logger="vitalsign.connectors.toy"):
        assert [b.cursor for b in read_in_process(chatty(), 1)] == [1]
    records = [r for r in caplog.records if r.name == "vitalsign.connectors.toy"]
    assert [r.getMessage() for r in records] == ["page 3 was short"]
    assert records[0].process != os.getpid()


def test_a_slow_reader_lets_the_engine_commit_meanwhile():
    def slow():
        yield Batch(cursor=1)
        time.sleep(0.6)
        yield Batch(cursor=2)

    idle: list[float] = []
    cursors = [b.cursor for b in read_in_process(slow(), 1, on_idle=lambda: idle.append(1), idle_seconds=0.1)]
    assert cursors == [1, 2]
    assert idle


def _take(limiter: RateLimiter, n: int) -> None:
    for _ in range(n):
        limiter.acquire()


def test_the_rate_limit_is_one_bucket_across_processes():
    """Requests a reader process sent count against the engine's bucket too."""
    sleeps: list[float] = []
    limiter = RateLimiter(10, burst=1, clock=lambda: 100.0, sleep=sleeps.append)
    child: Any = multiprocessing.get_context("fork").Process(target=_take, args=(limiter, 3))
    child.start()
    child.join()
    assert child.exitcode == 0
    limiter.acquire()  # the child took the token and ran 2 into debt: this one waits 0.3 s
    assert sleeps == [pytest.approx(0.3)]


_ORPHAN = """
import os, signal, sys, time
from vitalsign.core import Batch
from vitalsign.core.reader_process import read_in_process

def slow():
    yield Batch(cursor=os.getpid())
    time.sleep(60)  # never sends again: only the kernel can end it early
    yield Batch(cursor=0)

for batch in read_in_process(slow(), 1):
    with open(sys.argv[1], "w") as fh:
        fh.write(str(batch.cursor))
    os.kill(os.getpid(), signal.SIGKILL)  # the engine's process dies mid-read
"""


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_the_reader_dies_with_the_engines_process(tmp_path, running):
    import subprocess
    import sys

    pid_file = tmp_path / "reader.pid"
    engine = subprocess.run([sys.executable, "-c", _ORPHAN, str(pid_file)], timeout=60, check=False)
    assert engine.returncode == -signal.SIGKILL
    reader = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while running(reader) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(reader), "the reader outlived the engine's process (it would hold the sync lock)"
