"""Incremental reads through HubSpot's search API, past its 10,000-result cap.

A search query returns at most 10,000 results (asking for ``after`` >= 10,000 is a 400) and sorts
on one property only, so records sharing a last-modified millisecond come back in no particular
order. ``after`` is also an offset: a record modified while a query is being paged leaves the
result set and shifts every later record back one place, so offset paging silently skips one.

The reader therefore never pages with ``after``: every request restarts from the last seen
(modified date, id) pair (keyset paging), which also keeps every query far below the cap.

- *range*: ``modified > T`` (then ``>= L``, the last date seen) and ``modified < upper``, sorted by
  modified date. Records at L may continue on the next page, so it starts at L again (the few
  records at L come twice; upserts make that harmless).
- *tie*: when a whole page shares one date L (more records at L than a page holds), read
  ``modified == L and hs_object_id > last id`` sorted by id until done, then go on with
  ``modified > L``. Any number of records sharing one timestamp is read once, in id order, and
  the reader never loops.

Cursor (JSON, committed with each batch)::

    {"modified": T, "after_id": X, "complete": false}  # done: modified < T, and == T with id <= X
    {"modified": T, "after_id": null, "complete": true}  # done: modified <= T

``upper`` is the run's start minus the search index lag, so nothing modified during the run (or
not yet indexed) is skipped: the next run reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .records import epoch_ms

JSON = dict[str, Any]
Search = Callable[[JSON], JSON]


@dataclass(frozen=True)
class SearchCursor:
    modified: int
    after_id: str | None = None
    complete: bool = True

    @classmethod
    def from_json(cls, raw: JSON) -> SearchCursor:
        after_id = raw.get("after_id")
        return cls(int(raw["modified"]), str(after_id) if after_id else None, bool(raw.get("complete")))

    def to_json(self) -> JSON:
        return {"modified": self.modified, "after_id": self.after_id, "complete": self.complete}


@dataclass(frozen=True)
class SearchPlan:
    modified_property: str
    properties: Sequence[str]
    page_size: int = 200


def search_pages(
    search: Search, plan: SearchPlan, cursor: SearchCursor, upper: int
) -> Iterator[tuple[list[JSON], SearchCursor]]:
    """Yield (records, cursor after them) until everything modified before ``upper`` is read."""
    if not cursor.complete:
        yield from _tie_pages(search, plan, cursor)
    since, operator = cursor.modified, "GT"
    while since < (upper - 1 if operator == "GT" else upper):
        filters = [
            _filter(plan.modified_property, operator, since),
            _filter(plan.modified_property, "LT", upper),
        ]
        page = search(_body(plan, filters, plan.modified_property))
        records = page.get("results") or []
        if _next_after(page) is None or len(records) < plan.page_size:
            yield records, SearchCursor(upper - 1, None, True)
            return
        first = epoch_ms(records[0]["properties"].get(plan.modified_property))
        last = epoch_ms(records[-1]["properties"].get(plan.modified_property))
        yield records, SearchCursor(last, None, False)
        if first == last:  # the page is one timestamp: maybe more of them than a page holds
            yield from _tie_pages(search, plan, SearchCursor(last, None, False))
            since, operator = last, "GT"
        else:
            since, operator = last, "GTE"


def _tie_pages(
    search: Search, plan: SearchPlan, cursor: SearchCursor
) -> Iterator[tuple[list[JSON], SearchCursor]]:
    """Every record modified exactly at ``cursor.modified`` after ``cursor.after_id``, by id."""
    last = cursor.after_id
    while True:
        filters = [_filter(plan.modified_property, "EQ", cursor.modified)]
        if last is not None:
            filters.append(_filter("hs_object_id", "GT", last))
        page = search(_body(plan, filters, "hs_object_id"))
        records = page.get("results") or []
        if _next_after(page) is None or len(records) < plan.page_size:
            yield records, SearchCursor(cursor.modified, None, True)
            return
        last = str(records[-1]["id"])
        yield records, SearchCursor(cursor.modified, last, False)


def _next_after(page: JSON) -> int | None:
    after = ((page.get("paging") or {}).get("next") or {}).get("after")
    return int(after) if after not in (None, "") else None


def _filter(name: str, operator: str, value: Any) -> JSON:
    return {"propertyName": name, "operator": operator, "value": str(value)}


def _body(plan: SearchPlan, filters: list[JSON], sort: str) -> JSON:
    return {
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
        "properties": list(plan.properties),
        "limit": plan.page_size,
        "after": "0",
    }
