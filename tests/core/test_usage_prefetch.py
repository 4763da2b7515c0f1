"""The engine's read-ahead (``Stream.prefetch``): order, errors and early stops."""

from __future__ import annotations

import threading

import pytest
from vitalsign.core.connector import Batch
from vitalsign.core.sync import prefetched


def numbered(n: int, *, fail_at: int | None = None, log: list[str] | None = None):
    try:
        for i in range(n):
            if i == fail_at:
                raise RuntimeError(f"source broke at {i}")
            yield Batch(records=[{"source_id": str(i)}], cursor=i)
    finally:
        if log is not None:
            log.append(threading.current_thread().name)


def test_batches_come_out_in_order_from_another_thread():
    seen = []

    def source():
        for batch in numbered(20):
            seen.append(threading.current_thread().name)
            yield batch

    assert [b.cursor for b in prefetched(source(), 3)] == list(range(20))
    assert set(seen) == {"vitalsign-prefetch"}


def test_a_reader_error_surfaces_after_the_batches_before_it():
    got = []

    def consume() -> None:
        for batch in prefetched(numbered(10, fail_at=4), 2):
            got.append(batch.cursor)

    with pytest.raises(RuntimeError, match="source broke at 4"):
        consume()
    assert got == [0, 1, 2, 3]


def test_a_consumer_that_stops_early_closes_the_reader():
    closed: list[str] = []
    batches = prefetched(numbered(1000, log=closed), 2)
    assert next(batches).cursor == 0
    batches.close()
    assert closed == ["vitalsign-prefetch"]


def test_depth_zero_reads_inline():
    names = []

    def source():
        names.append(threading.current_thread().name)
        yield Batch(cursor=1)

    assert [b.cursor for b in prefetched(source(), 0)] == [1]
    assert names == [threading.current_thread().name]
