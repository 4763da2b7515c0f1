"""Zendesk streams: organizations, tickets and satisfaction (CSAT) ratings.

Each stream reads from its cursor and yields one :class:`Batch` per API page, with the cursor
that resumes after that page, so an interrupted sync continues where it stopped.

- ``tickets`` -> ``tickets``: the cursor-based incremental export
  (``/api/v2/incremental/tickets/cursor.json``) with the ticket metric sets sideloaded. The
  cursor is Zendesk's ``after_cursor``; the export keeps handing one out at ``end_of_stream``,
  so the next run asks for changes since then and an idle account costs one request.
- ``satisfaction_ratings`` -> ``survey_responses`` (``kind = "csat"``): answered ratings from
  ``/api/v2/satisfaction_ratings`` with cursor pagination. Zendesk asks "good or bad?": the
  answer is stored on a 1-5 scale at its ends, **good = 5, bad = 1**, so the CSAT metric
  (share of 4-5 answers) equals Zendesk's own satisfaction score (good / (good + bad)).
  Offered but unanswered surveys are not responses and are skipped.
- ``organizations`` -> ``source_accounts`` (``kind = "company"``): the time-based incremental
  export, so identity resolution can link Zendesk organizations to accounts by domain or key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
from vitalsign.core import Batch, QuarantineItem, Stream

from .client import ZendeskClient
from .settings import ZendeskSettings

CSAT_SCALE = (1.0, 5.0)
CSAT_SCORES = {"good": 5.0, "bad": 1.0}
"""Zendesk's two answers placed at the ends of a 1-5 scale."""
UNANSWERED = {"offered", "unoffered"}
OPEN_STATUSES = {"new", "open", "pending", "hold"}


def _id(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: Any, field: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: not an ISO 8601 timestamp: {value!r}") from None


def _epoch(timestamp: str) -> int:
    return int(_time(timestamp, "created_at").timestamp())


def _dump(item: Any) -> str:
    return orjson.dumps(item, default=str).decode()


def _map_all(
    items: Iterable[dict[str, Any]], kind: str, mapper: Any
) -> tuple[list[dict[str, Any]], list[QuarantineItem]]:
    """Map each item; an item that cannot be mapped at all is quarantined, the rest load."""
    records: list[dict[str, Any]] = []
    bad: list[QuarantineItem] = []
    for item in items:
        try:
            record = mapper(item)
        except KeyError as exc:
            reason = f"cannot read {kind}: missing field {exc}"
        except (TypeError, ValueError) as exc:
            reason = f"cannot read {kind}: {exc}"
        else:
            if record is not None:
                records.append(record)
            continue
        source_id = _id(item.get("id")) if isinstance(item, dict) else None
        bad.append(QuarantineItem(reason=reason, payload=_dump(item), source_id=source_id))
    return records, bad


class ZendeskStream(Stream):
    def __init__(self, client: ZendeskClient, settings: ZendeskSettings) -> None:
        self.client = client
        self.settings = settings

    @property
    def start_time(self) -> int:
        return int(self.settings.start_date.timestamp())


# ---------------------------------------------------------------------------- tickets


def ticket_record(
    ticket: Mapping[str, Any], metrics: Mapping[str, Any] | None, escalation_tags: Iterable[str]
) -> dict[str, Any]:
    """One Zendesk ticket (and its metric set) as a ``tickets`` row."""
    metrics = metrics or {}
    status = ticket["status"]
    created_at = ticket["created_at"]
    reply_minutes = (metrics.get("reply_time_in_minutes") or {}).get("calendar")
    first_response_at = None
    if reply_minutes is not None and created_at:
        first_response_at = _time(created_at, "created_at") + timedelta(minutes=reply_minutes)
    closed = status in ("solved", "closed")
    tags = set(ticket.get("tags") or ())
    return {
        "source_id": str(ticket["id"]),
        "deleted": status == "deleted",
        "source_account_id": _id(ticket.get("organization_id")),
        "contact_id": _id(ticket.get("requester_id")),
        "owner_id": _id(ticket.get("assignee_id")),
        "subject": ticket.get("subject"),
        "status": "open" if status in OPEN_STATUSES else "closed",
        "priority": ticket.get("priority"),
        "channel": (ticket.get("via") or {}).get("channel"),
        "created_at": created_at,
        "updated_at": ticket.get("updated_at"),
        "first_response_at": first_response_at,
        "closed_at": metrics.get("solved_at") if closed else None,
        "agent_interactions": metrics.get("replies"),
        "escalated": bool(tags & set(escalation_tags)) or (metrics.get("group_stations") or 0) > 1,
    }


class TicketsStream(ZendeskStream):
    name = "tickets"
    table = "tickets"
    cursor_field = "updated_at"
    path = "/api/v2/incremental/tickets/cursor.json"

    def read(self, cursor: Any) -> Iterator[Batch]:
        base = {"per_page": self.settings.page_size, "include": "metric_sets"}
        after = (cursor or {}).get("after_cursor")
        params: dict[str, Any] = {**base, **({"cursor": after} if after else {"start_time": self.start_time})}
        while True:
            body = self.client.get(self.path, params)
            metrics = {m.get("ticket_id"): m for m in body.get("metric_sets") or []}
            records, bad = _map_all(
                body.get("tickets") or [],
                "ticket",
                lambda t, m=metrics: ticket_record(t, m.get(t["id"]), self.settings.escalation_tags),
            )
            next_after = body.get("after_cursor")
            if records or bad or next_after != after:
                yield Batch(
                    records=records,
                    quarantine=bad,
                    cursor={"after_cursor": next_after} if next_after else None,
                )
            if body.get("end_of_stream") or not next_after or next_after == after:
                return
            after = next_after
            params = {**base, "cursor": after}


# ---------------------------------------------------------------------------- CSAT ratings


def rating_record(rating: Mapping[str, Any]) -> dict[str, Any] | None:
    """One answered rating as a ``survey_responses`` row; None for an unanswered survey."""
    answer = rating["score"]
    if answer in UNANSWERED:
        return None
    if answer not in CSAT_SCORES:
        raise ValueError(f"unknown satisfaction score {answer!r}")
    return {
        "source_id": str(rating["id"]),
        "kind": "csat",
        "score": CSAT_SCORES[answer],
        "scale_min": CSAT_SCALE[0],
        "scale_max": CSAT_SCALE[1],
        "submitted_at": rating.get("updated_at") or rating.get("created_at"),
        "contact_id": _id(rating.get("requester_id")),
        "ticket_id": _id(rating.get("ticket_id")),
    }


class SatisfactionRatingsStream(ZendeskStream):
    """Cursor: ``start_time`` (ratings created since, minus the look-back) and, inside a run,
    the page cursor ``after`` with the newest creation time seen so far."""

    name = "satisfaction_ratings"
    table = "survey_responses"
    cursor_field = "created_at"
    path = "/api/v2/satisfaction_ratings"

    def read(self, cursor: Any) -> Iterator[Batch]:
        state = cursor or {}
        start = int(state.get("start_time", self.start_time))
        after = state.get("after")
        newest = int(state.get("newest", start))
        lookback = self.settings.ratings_lookback_days * 86_400
        while True:
            params: dict[str, Any] = {
                "score": "received",
                "start_time": start,
                "page[size]": self.settings.ratings_page_size,
            }
            if after:
                params["page[after]"] = after
            body = self.client.get(self.path, params)
            ratings = body.get("satisfaction_ratings") or []
            records, bad = _map_all(ratings, "satisfaction rating", rating_record)
            for rating in ratings:
                if isinstance(rating, dict) and isinstance(rating.get("created_at"), str):
                    newest = max(newest, _epoch(rating["created_at"]))
            meta = body.get("meta") or {}
            after = meta.get("after_cursor") if meta.get("has_more") else None
            if after:
                next_cursor = {"start_time": start, "after": after, "newest": newest}
            else:
                next_cursor = {"start_time": max(start, newest - lookback)}
            yield Batch(records=records, quarantine=bad, cursor=next_cursor)
            if not after:
                return


# ---------------------------------------------------------------------------- organizations


def organization_record(org: Mapping[str, Any], account_key_field: str | None) -> dict[str, Any]:
    """One organization as a ``source_accounts`` row."""
    fields = org.get("organization_fields") or {}
    domains = org.get("domain_names") or []
    key = fields.get(account_key_field) if account_key_field else org.get("external_id")
    return {
        "source_id": str(org["id"]),
        "kind": "company",
        "deleted": org.get("deleted_at") is not None,
        "name": org.get("name"),
        "domain": domains[0] if domains else None,
        "account_key": _id(key),
        "created_at": org.get("created_at"),
        "updated_at": org.get("updated_at"),
        "properties": {
            "external_id": org.get("external_id"),
            "tags": org.get("tags") or [],
            "domain_names": domains,
            "organization_fields": fields,
        },
    }


class OrganizationsStream(ZendeskStream):
    """The time-based export: each page ends at ``end_time``, the next page's ``start_time``.
    Zendesk repeats the items at that boundary second; upserts absorb them."""

    name = "organizations"
    table = "source_accounts"
    cursor_field = "updated_at"
    path = "/api/v2/incremental/organizations.json"

    def read(self, cursor: Any) -> Iterator[Batch]:
        start = int((cursor or {}).get("start_time", self.start_time))
        while True:
            body = self.client.get(self.path, {"start_time": start})
            records, bad = _map_all(
                body.get("organizations") or [],
                "organization",
                lambda o: organization_record(o, self.settings.account_key_field),
            )
            end_time = body.get("end_time")
            next_start = int(end_time) if end_time is not None else start
            yield Batch(records=records, quarantine=bad, cursor={"start_time": next_start})
            if body.get("end_of_stream") or next_start <= start:
                return
            start = next_start
