"""Incremental reads through the search API: the 10,000-result cap, equal timestamps, resumes.

The fake enforces a small cap (50) so the tests need 120 records, not 10,000: a reader that
pages with ``after`` past the cap gets HubSpot's 400, and one that restarts from ``>= last
timestamp`` would read the same first page of equal timestamps forever.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from vitalsign.core.store import table
from vitalsign.testing.fakes.hubspot import FakeHubSpot, ms

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
TIE = T0 + timedelta(hours=1)


@pytest.fixture
def capped():
    with FakeHubSpot(search_cap=50) as portal:
        yield portal


def tickets_stream(capped, make_config, helpers, **settings):
    config = make_config(base_url=capped.base_url, streams=["tickets"], search_page_size=20, **settings)
    conn = helpers.connector(config)
    [stream] = conn.streams()
    return conn, stream


def seed(capped):
    capped.add_default_pipeline()
    for i in range(1, 121):  # 120 tickets modified in the same millisecond
        capped.add_ticket(1000 + i, modified=TIE)
    for i in range(1, 11):
        capped.add_ticket(i, modified=TIE - timedelta(minutes=i))
        capped.add_ticket(5000 + i, modified=TIE + timedelta(minutes=i))


def test_more_records_in_one_millisecond_than_the_cap_are_all_read_once(capped, make_config, helpers):
    seed(capped)
    conn, stream = tickets_stream(capped, make_config, helpers)
    try:
        batches = list(stream.read({"modified": ms(T0), "after_id": None, "complete": True}))
    finally:
        conn.close()

    seen = Counter(r["source_id"] for b in batches for r in b.records)
    assert len(seen) == 140
    # keyset restarts re-read only records sharing a boundary timestamp: a bounded few times
    assert max(seen.values()) <= 3
    assert sum(seen.values()) <= 140 + 30
    searches = capped.search_bodies
    assert len(searches) <= 140 // 20 + 6
    assert all(int(body["after"]) < capped.search_cap for body in searches)
    # the tie was read in id order with "hs_object_id > last id"
    tie_queries = [b for b in searches if b["sorts"][0]["propertyName"] == "hs_object_id"]
    assert len(tie_queries) >= 120 // 20
    final = batches[-1].cursor
    assert final["complete"] is True
    assert final["modified"] > ms(TIE + timedelta(minutes=10))


def test_an_interrupted_tie_resumes_after_the_last_id(capped, make_config, helpers):
    seed(capped)
    conn, stream = tickets_stream(capped, make_config, helpers)
    try:
        batches = list(stream.read({"modified": ms(TIE), "after_id": "1060", "complete": False}))
    finally:
        conn.close()
    seen = {r["source_id"] for b in batches for r in b.records}
    assert seen == {str(1000 + i) for i in range(61, 121)} | {str(5000 + i) for i in range(1, 11)}


def test_a_record_modified_while_pages_are_read_does_not_hide_another(capped, make_config, helpers):
    """Offset paging would skip one record here: the moved one shifts the rest back a place."""
    capped.add_default_pipeline()
    for i in range(1, 41):
        capped.add_ticket(i, modified=T0 + timedelta(minutes=i))
    conn, stream = tickets_stream(capped, make_config, helpers)
    real_search = stream.ctx.client.search_page
    calls = []

    def search_then_edit(object_type, body):
        page = real_search(object_type, body)
        calls.append(body)
        if len(calls) == 1:
            capped.update("tickets", 3, subject="edited during the sync")  # now newer than `upper`
        return page

    stream.ctx.client.search_page = search_then_edit
    try:
        batches = list(stream.read({"modified": ms(T0), "after_id": None, "complete": True}))
    finally:
        conn.close()
    seen = {r["source_id"] for b in batches for r in b.records}
    assert seen == {str(i) for i in range(1, 41)}


def test_nothing_modified_since_the_cursor_costs_one_search(capped, make_config, helpers):
    seed(capped)
    conn, stream = tickets_stream(capped, make_config, helpers)
    try:
        batches = list(
            stream.read({"modified": ms(TIE + timedelta(hours=1)), "after_id": None, "complete": True})
        )
    finally:
        conn.close()
    assert [r for b in batches for r in b.records] == []
    assert len(capped.search_bodies) == 1


def test_an_incremental_sync_past_the_cap_commits_a_complete_cursor(store, capped, make_config, helpers):
    capped.add_default_pipeline()
    capped.add_ticket(1, modified=T0)
    config = make_config(base_url=capped.base_url, streams=["tickets"], search_page_size=20)
    assert helpers.sync(store, config).streams["tickets"].rows == 1

    tie = datetime.now(UTC)  # after the first sync started, as a real edit would be
    for i in range(2, 122):
        capped.add_ticket(i, modified=tie)
    summary = helpers.sync(store, config)
    assert summary.status == "success", summary.error
    assert len(helpers.rows(store, "tickets")) == 121
    assert ("POST", "/crm/v3/objects/tickets/search") in capped.requests
    with store.connect() as conn:
        cursor = conn.execute(
            select(table("sync_state").c.cursor).where(table("sync_state").c.stream == "tickets")
        ).scalar_one()
    assert cursor["complete"] is True
    assert cursor["modified"] >= ms(tie)
