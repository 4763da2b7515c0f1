"""HubSpot objects -> store rows. Pure functions of a record's JSON and the settings.

HubSpot returns every property as a string (or null): datetimes as ISO-8601 with milliseconds
(older portals: epoch milliseconds), durations in milliseconds, booleans as "true"/"false".
A record that cannot become a row raises :class:`RecordError`; the stream quarantines it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vitalsign.core import RecordError

from .settings import HubSpotSettings

JSON = dict[str, Any]
SURVEY_KINDS = {"NPS": "nps", "CSAT": "csat", "CES": "ces"}


@dataclass(frozen=True)
class Stage:
    pipeline_id: str
    label: str
    is_closed: bool


def parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"not a datetime: {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def epoch_ms(value: Any) -> int:
    when = parse_time(value)
    if when is None:
        raise RecordError("last-modified date is missing")
    return int(when.timestamp() * 1000)


def _int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(float(value))
    except ValueError:
        raise RecordError(f"not a number: {value!r}") from None


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def primary_inline(record: JSON, to_type: str) -> str | None:
    """The primary associated id from a v3 list record's ``associations`` (typed, not unlabeled)."""
    results = ((record.get("associations") or {}).get(to_type) or {}).get("results") or []
    for item in results:
        if not str(item.get("type", "")).endswith("_unlabeled"):
            return str(item["id"])
    return str(results[0]["id"]) if results else None


def primary_v4(targets: list[JSON]) -> str | None:
    """The primary associated id from v4 ``to`` entries (label "Primary"), else the first."""
    for target in targets:
        if any(t.get("label") == "Primary" for t in target.get("associationTypes") or []):
            return str(target["toObjectId"])
    return str(targets[0]["toObjectId"]) if targets else None


def company_row(record: JSON, settings: HubSpotSettings) -> JSON:
    p = record["properties"]
    keep = [*settings.company_properties, *([settings.account_key] if settings.account_key else [])]
    return {
        "source_id": str(record["id"]),
        "kind": "company",
        "name": _text(p.get("name")),
        "domain": _text(p.get("domain")),
        "account_key": _text(p.get(settings.account_key)) if settings.account_key else None,
        "owner_id": _text(p.get("hubspot_owner_id")),
        "lifecycle_stage": _text(p.get("lifecyclestage")),
        "created_at": parse_time(p.get("createdate") or record.get("createdAt")),
        "updated_at": parse_time(p.get("hs_lastmodifieddate") or record.get("updatedAt")),
        "properties": {k: p.get(k) for k in keep} or None,
        "deleted": False,
    }


def contact_row(record: JSON, company_id: str | None) -> JSON:
    p = record["properties"]
    name = " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x)
    return {
        "source_id": str(record["id"]),
        "email": _text(p.get("email")),
        "name": name or None,
        "source_account_id": _text(p.get("associatedcompanyid")) or company_id,
        "created_at": parse_time(p.get("createdate") or record.get("createdAt")),
        "updated_at": parse_time(p.get("lastmodifieddate") or record.get("updatedAt")),
        "deleted": False,
    }


def owner_row(owner: JSON) -> JSON:
    name = " ".join(x for x in (owner.get("firstName"), owner.get("lastName")) if x)
    return {
        "source_id": str(owner["id"]),
        "email": _text(owner.get("email")),
        "name": name or None,
        "deleted": bool(owner.get("archived")),
    }


def stage_rows(pipeline: JSON) -> list[JSON]:
    rows = []
    for stage in pipeline.get("stages") or []:
        rows.append(
            {
                "source_id": str(stage["id"]),
                "pipeline_id": str(pipeline["id"]),
                "pipeline_label": pipeline.get("label"),
                "label": stage.get("label"),
                "is_closed": stage_is_closed(stage),
                "display_order": stage.get("displayOrder"),
                "deleted": bool(stage.get("archived") or pipeline.get("archived")),
            }
        )
    return rows


def stage_is_closed(stage: JSON) -> bool:
    """Ticket stages say it in ``metadata.isClosed`` (newer) or ``metadata.ticketState``."""
    metadata = stage.get("metadata") or {}
    flag = metadata.get("isClosed")
    if flag is not None:
        return str(flag).lower() == "true"
    return str(metadata.get("ticketState", "")).upper() == "CLOSED"


def ticket_row(
    record: JSON,
    settings: HubSpotSettings,
    stages: Mapping[str, Stage],
    company_id: str | None,
    contact_id: str | None,
) -> JSON:
    p = record["properties"]
    created = parse_time(p.get("createdate") or record.get("createdAt"))
    reply_ms = _int(p.get("time_to_first_agent_reply"))
    first_response: datetime | None
    if reply_ms is not None and created is not None:
        first_response = created + timedelta(milliseconds=reply_ms)
    else:
        first_response = parse_time(p.get(settings.first_reply_property))
    stage_id = _text(p.get("hs_pipeline_stage"))
    stage = stages.get(stage_id) if stage_id else None
    # a stage the pipelines API did not list (a deleted pipeline): trust HubSpot's own flag
    closed = stage.is_closed if stage is not None else str(p.get("hs_is_closed", "")).lower() == "true"
    channel = next((str(p[name]) for name in settings.channel_properties if p.get(name)), None)
    return {
        "source_id": str(record["id"]),
        "source_account_id": company_id,
        "contact_id": contact_id,
        "owner_id": _text(p.get("hubspot_owner_id")),
        "subject": _text(p.get("subject")),
        "pipeline_id": _text(p.get("hs_pipeline")) or (stage.pipeline_id if stage else None),
        "stage_id": stage_id,
        "status": "closed" if closed else "open",
        "priority": _text(p.get("hs_ticket_priority")),
        "channel": channel,
        "created_at": created,
        "first_response_at": first_response,
        "closed_at": parse_time(p.get("closed_date")) if closed else None,
        "agent_interactions": _int(p.get(settings.agent_interactions_property)),
        "escalated": is_escalated(p, stage_id, stage, settings),
        "updated_at": parse_time(p.get("hs_lastmodifieddate") or record.get("updatedAt")),
        "deleted": False,
    }


def is_escalated(
    p: Mapping[str, Any], stage_id: str | None, stage: Stage | None, settings: HubSpotSettings
) -> bool:
    rule = settings.escalation
    if stage_id and rule.stages:
        wanted = {s.lower() for s in rule.stages}
        if stage_id.lower() in wanted or (stage is not None and stage.label.lower() in wanted):
            return True
    priority = p.get("hs_ticket_priority")
    if priority and str(priority).upper() in {x.upper() for x in rule.priorities}:
        return True
    if rule.property:
        value = p.get(rule.property)
        if value is not None and str(value).lower() in {v.lower() for v in rule.values}:
            return True
    return False


def ticket_properties(settings: HubSpotSettings) -> list[str]:
    names = [
        "subject",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_priority",
        "createdate",
        "hs_lastmodifieddate",
        "closed_date",
        "time_to_first_agent_reply",
        settings.first_reply_property,
        settings.agent_interactions_property,
        "hs_is_closed",
        "hubspot_owner_id",
        *settings.channel_properties,
    ]
    if settings.escalation.property:
        names.append(settings.escalation.property)
    return list(dict.fromkeys(names))


def survey_row(
    record: JSON, settings: HubSpotSettings, contact_id: str | None, ticket_id: str | None
) -> JSON:
    """One feedback submission; an unknown survey type or an off-scale value is a RecordError."""
    p = record["properties"]
    raw_kind = str(p.get("hs_survey_type") or "").upper()
    kind = SURVEY_KINDS.get(raw_kind)
    if kind is None:
        raise RecordError(
            f"unknown survey type hs_survey_type={p.get('hs_survey_type')!r} (expected NPS, CSAT or CES)"
        )
    raw_value = p.get("hs_value")
    try:
        value = float(raw_value)
    except (TypeError, ValueError):
        raise RecordError(f"{raw_kind} answer hs_value={raw_value!r} is not a number") from None
    scale = settings.scales.get(kind)
    if scale is None:
        raise RecordError(f"no scale configured for {kind} surveys (setting scales.{kind})")
    survey = {str(p.get("hs_survey_id") or ""), str(p.get("hs_survey_name") or "")}
    if kind == "csat" and survey & set(settings.csat_three_point_surveys):
        if value not in (0, 1, 2):
            raise RecordError(f"CSAT answer hs_value={raw_value!r} is outside HubSpot's 3-point scale 0-2")
        value = {0: scale.min, 1: (scale.min + scale.max) / 2, 2: scale.max}[int(value)]
    elif not scale.min <= value <= scale.max:
        raise RecordError(
            f"{raw_kind} answer hs_value={raw_value!r} is outside the {raw_kind} scale "
            f"{scale.min:g}-{scale.max:g}"
        )
    return {
        "source_id": str(record["id"]),
        "kind": kind,
        "score": value,
        "scale_min": scale.min,
        "scale_max": scale.max,
        "submitted_at": parse_time(p.get("hs_submission_timestamp") or record.get("createdAt")),
        "contact_id": _text(p.get("hs_contact_id")) or contact_id,
        "ticket_id": _text(p.get("hs_ticket_id")) or ticket_id,
        "source_account_id": None,
        "deleted": False,
    }


SURVEY_PROPERTIES = [
    "hs_survey_type",
    "hs_survey_id",
    "hs_survey_name",
    "hs_value",
    "hs_submission_timestamp",
    "hs_contact_id",
    "hs_ticket_id",
    "hs_lastmodifieddate",
]
COMPANY_PROPERTIES = [
    "name",
    "domain",
    "hubspot_owner_id",
    "lifecyclestage",
    "createdate",
    "hs_lastmodifieddate",
]
CONTACT_PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "associatedcompanyid",
    "createdate",
    "lastmodifieddate",
]
