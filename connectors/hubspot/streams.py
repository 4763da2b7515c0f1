"""The HubSpot streams: owners, ticket stages, companies, contacts, tickets, feedback submissions.

CRM object streams read everything through the list endpoint on the first run (and with
``--full-refresh``): 100 per page, resumable from the list's ``after`` cursor. Later runs read
what changed through the search API (see :mod:`.incremental`). Every run also lists the archived
records and marks them deleted. Requested property names are checked once per run against the
properties API, because HubSpot silently drops names it does not know.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import orjson
from vitalsign.core import Batch, QuarantineItem, RecordError, Stream
from vitalsign.core.store import utcnow

from . import records as rec
from .client import HubSpotClient
from .incremental import SearchCursor, SearchPlan, search_pages
from .settings import HubSpotSettings

JSON = dict[str, Any]


class HubSpotContext:
    """What the streams of one connector instance share during a run: the client and lookups
    that cost one request each (properties per object type, ticket stages)."""

    def __init__(
        self, client: HubSpotClient, settings: HubSpotSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        self._properties: dict[str, set[str]] = {}
        self._stages: dict[str, rec.Stage] | None = None

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def known_properties(self, object_type: str) -> set[str]:
        if object_type not in self._properties:
            page = self.client.properties(object_type)
            self._properties[object_type] = {p["name"] for p in page.get("results") or []}
        return self._properties[object_type]

    def pipelines(self) -> list[JSON]:
        return list(self.client.pipelines("tickets").get("results") or [])

    def stages(self) -> dict[str, rec.Stage]:
        """Ticket stage id -> stage (which decides a ticket's open/closed status)."""
        if self._stages is None:
            self._stages = {
                row["source_id"]: rec.Stage(row["pipeline_id"], row["label"] or "", row["is_closed"])
                for pipeline in self.pipelines()
                for row in rec.stage_rows(pipeline)
            }
        return self._stages


class OwnersStream(Stream):
    """HubSpot users who own records (a company's owner is its CSM). Small: read whole each run."""

    name = "owners"
    table = "owners"
    cursor_field = None

    def __init__(self, ctx: HubSpotContext) -> None:
        self.ctx = ctx

    def read(self, cursor: Any) -> Iterator[Batch]:
        for archived in (False, True):
            after: str | None = None
            while True:
                page = self.ctx.client.owners_page(after=after, archived=archived)
                yield Batch(records=[rec.owner_row(o) for o in page.get("results") or []])
                after = _next_after(page)
                if after is None:
                    break


class TicketStagesStream(Stream):
    """The stages of every ticket pipeline and whether each one closes a ticket. Read whole each
    run, so stages HubSpot no longer lists (a deleted pipeline's) are marked deleted."""

    name = "ticket_stages"
    table = "ticket_stages"
    cursor_field = None

    def __init__(self, ctx: HubSpotContext) -> None:
        self.ctx = ctx

    def read(self, cursor: Any) -> Iterator[Batch]:
        started = utcnow()  # the engine's synced_at clock: rows this read lists are stamped after it
        yield Batch(
            records=[row for pipeline in self.ctx.pipelines() for row in rec.stage_rows(pipeline)],
            retire_unseen_before=started,
        )


class CrmObjectStream(Stream):
    """A CRM object type read by list (full) or search (incremental); subclasses map records."""

    object_type: ClassVar[str]
    modified_property: ClassVar[str] = "hs_lastmodifieddate"
    list_associations: ClassVar[tuple[str, ...]] = ()
    cursor_field = "hs_lastmodifieddate"
    validated: ClassVar[bool] = True
    """Rows are typed by :mod:`.records`, which quarantines what it cannot type, so the engine
    skips its per-row model validation (half the time of a large sync)."""
    prefetch: ClassVar[int] = 2
    """Batches the engine may read ahead in a thread while it writes the previous one."""

    def __init__(self, ctx: HubSpotContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings

    # -------------------------------------------------------------- what subclasses define

    def properties(self) -> list[str]:
        raise NotImplementedError

    def row(self, record: JSON, associations: dict[str, str | None]) -> JSON:
        raise NotImplementedError

    def search_associations(self, records: list[JSON]) -> dict[str, dict[str, str | None]]:
        """Associations of search results (which carry none): ``{to_type: {id: primary id}}``."""
        return {}

    # -------------------------------------------------------------- reading

    def read(self, cursor: Any) -> Iterator[Batch]:
        requested = self.properties()
        known = self.ctx.known_properties(self.object_type)
        missing = [name for name in requested if name not in known]
        wanted = [name for name in requested if name in known]
        if missing:
            yield Batch(
                log=[
                    f"warning: HubSpot has no {self.object_type} propert"
                    f"{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)}: "
                    "left empty (check the connector settings)"
                ]
            )
        state = cursor if isinstance(cursor, dict) else None
        if state is None or "list_after" in state:
            pages = self._read_list(wanted, state)
        else:
            pages = self._read_search(wanted, SearchCursor.from_json(state))
        yield from merged(pages, self.settings.batch_size)
        if self.settings.sync_archived:
            yield from self._read_archived()

    def _read_list(self, properties: list[str], state: JSON | None) -> Iterator[Batch]:
        started = int(state["started"]) if state else self.ctx.now_ms()
        after = state.get("list_after") if state else None
        while True:
            page = self.ctx.client.list_page(
                self.object_type,
                after=after,
                properties=properties,
                associations=self.list_associations,
                limit=self.settings.list_page_size,
            )
            results = page.get("results") or []
            after = _next_after(page)
            batch = self._convert(
                results, lambda r: {t: rec.primary_inline(r, t) for t in self.list_associations}
            )
            # everything modified before the read started is in the list; the next run searches
            # from a little earlier all the same, as this machine's clock is not HubSpot's
            batch.cursor = (
                {"list_after": after, "started": started}
                if after
                else SearchCursor(started - self._lag_ms() - 1, None, True).to_json()
            )
            yield batch
            if after is None:
                return

    def _read_search(self, properties: list[str], cursor: SearchCursor) -> Iterator[Batch]:
        upper = self.ctx.now_ms() - self._lag_ms()
        plan = SearchPlan(
            modified_property=self.modified_property,
            properties=properties,
            page_size=self.settings.search_page_size,
        )

        def search(body: JSON) -> JSON:
            return self.ctx.client.search_page(self.object_type, body)

        for results, after in search_pages(search, plan, cursor, upper):
            batch = self._convert(results, _lookup(self.search_associations(results)))
            batch.cursor = after.to_json()
            yield batch

    def _lag_ms(self) -> int:
        return int(self.settings.index_lag_seconds * 1000)

    def _read_archived(self) -> Iterator[Batch]:
        after: str | None = None
        while True:
            page = self.ctx.client.list_page(
                self.object_type,
                after=after,
                properties=["hs_object_id"],
                archived=True,
                limit=self.settings.list_page_size,
            )
            ids = [str(r["id"]) for r in page.get("results") or []]
            if ids:
                yield Batch(deleted=ids)
            after = _next_after(page)
            if after is None:
                return

    def _convert(self, results: list[JSON], associations: Callable[[JSON], dict[str, str | None]]) -> Batch:
        batch = Batch()
        for record in results:
            try:
                batch.records.append(self.row(record, associations(record)))
            except (RecordError, KeyError, TypeError, ValueError) as exc:
                reason = str(exc) if isinstance(exc, RecordError) else f"{type(exc).__name__}: {exc}"
                batch.quarantine.append(
                    QuarantineItem(
                        reason=reason,
                        payload=orjson.dumps(record).decode(),
                        source_id=str(record.get("id")),
                    )
                )
        return batch


class CompaniesStream(CrmObjectStream):
    name = "companies"
    table = "source_accounts"
    object_type = "companies"

    def properties(self) -> list[str]:
        s = self.settings
        extra = [*s.company_properties, *([s.account_key] if s.account_key else [])]
        return list(dict.fromkeys([*rec.COMPANY_PROPERTIES, *extra]))

    def row(self, record: JSON, associations: dict[str, str | None]) -> JSON:
        return rec.company_row(record, self.settings)


class ContactsStream(CrmObjectStream):
    name = "contacts"
    table = "contacts"
    object_type = "contacts"
    modified_property = "lastmodifieddate"
    cursor_field = "lastmodifieddate"
    list_associations = ("companies",)

    def properties(self) -> list[str]:
        return list(rec.CONTACT_PROPERTIES)

    def row(self, record: JSON, associations: dict[str, str | None]) -> JSON:
        # associatedcompanyid (the primary company) is a property, so search needs no extra call
        return rec.contact_row(record, associations.get("companies"))


class TicketsStream(CrmObjectStream):
    name = "tickets"
    table = "tickets"
    object_type = "tickets"
    list_associations = ("companies", "contacts")

    def properties(self) -> list[str]:
        return rec.ticket_properties(self.settings)

    def row(self, record: JSON, associations: dict[str, str | None]) -> JSON:
        return rec.ticket_row(
            record,
            self.settings,
            self.ctx.stages(),
            associations.get("companies"),
            associations.get("contacts"),
        )

    def search_associations(self, records: list[JSON]) -> dict[str, dict[str, str | None]]:
        ids = [str(r["id"]) for r in records]
        return {
            to_type: {
                source: rec.primary_v4(targets)
                for source, targets in self.ctx.client.associations("tickets", to_type, ids).items()
            }
            for to_type in self.list_associations
        }


class FeedbackSubmissionsStream(CrmObjectStream):
    """NPS, CSAT and CES answers. Contact and ticket come as properties (hs_contact_id,
    hs_ticket_id); the list's inline associations fill in when those are empty."""

    name = "feedback_submissions"
    table = "survey_responses"
    object_type = "feedback_submissions"
    list_associations = ("contacts", "tickets")

    def properties(self) -> list[str]:
        return list(rec.SURVEY_PROPERTIES)

    def row(self, record: JSON, associations: dict[str, str | None]) -> JSON:
        return rec.survey_row(
            record, self.settings, associations.get("contacts"), associations.get("tickets")
        )


STREAMS: tuple[type[Stream], ...] = (
    OwnersStream,
    TicketStagesStream,
    CompaniesStream,
    ContactsStream,
    TicketsStream,
    FeedbackSubmissionsStream,
)


def merged(pages: Iterator[Batch], size: int) -> Iterator[Batch]:
    """Pages joined into batches of at least ``size`` records, each with its last page's cursor.

    One page is 100 to 200 records; committing each costs the store a transaction, so a batch
    spans pages. A crash loses at most one batch of progress: the cursor still covers it.
    """
    pending: Batch | None = None
    for page in pages:
        if pending is None:
            pending = page
        else:
            pending.records.extend(page.records)
            pending.quarantine.extend(page.quarantine)
            pending.cursor = page.cursor if page.cursor is not None else pending.cursor
        if len(pending.records) + len(pending.quarantine) >= size:
            yield pending
            pending = None
    if pending is not None:
        yield pending


def _lookup(found: dict[str, dict[str, str | None]]) -> Callable[[JSON], dict[str, str | None]]:
    """Per record, its primary associated id of each type from a batch lookup."""

    def associations(record: JSON) -> dict[str, str | None]:
        return {to_type: ids.get(str(record["id"])) for to_type, ids in found.items()}

    return associations


def _next_after(page: JSON) -> str | None:
    after = ((page.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None
