"""Record mapping details that the end-to-end tests do not pin down."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from vitalsign.connectors.hubspot import records as rec
from vitalsign.connectors.hubspot.settings import HubSpotSettings
from vitalsign.core import RecordError


def settings(**values) -> HubSpotSettings:
    return HubSpotSettings(access_token="x", **values)


def test_dates_as_iso_or_epoch_milliseconds():
    assert rec.parse_time("2026-03-02T09:14:05.120Z") == datetime(2026, 3, 2, 9, 14, 5, 120000, tzinfo=UTC)
    assert rec.parse_time("1772442845120") == datetime(2026, 3, 2, 9, 14, 5, 120000, tzinfo=UTC)
    assert rec.parse_time("") is None
    with pytest.raises(RecordError, match="not a datetime"):
        rec.parse_time("next tuesday")


def test_first_response_falls_back_to_the_reply_date_property():
    record = {
        "id": "1",
        "properties": {
            "createdate": "2026-03-02T09:00:00Z",
            "time_to_first_agent_reply": None,
            "first_agent_reply_date": "2026-03-02T11:30:00Z",
        },
    }
    row = rec.ticket_row(record, settings(), {}, None, None)
    assert row["first_response_at"] == datetime(2026, 3, 2, 11, 30, tzinfo=UTC)
    assert row["status"] == "open"


def test_escalation_rule_matches_stage_label_priority_or_property():
    stage = rec.Stage("0", "Tier 2", False)
    s = settings(escalation={"stages": ["tier 2"], "priorities": ["URGENT"], "property": "hs_escalated"})
    assert rec.is_escalated({}, "7", stage, s)
    assert rec.is_escalated({"hs_ticket_priority": "urgent"}, "1", None, s)
    assert rec.is_escalated({"hs_escalated": "TRUE"}, "1", None, s)
    assert not rec.is_escalated({"hs_ticket_priority": "HIGH", "hs_escalated": "false"}, "1", None, s)
    assert not rec.is_escalated({"hs_ticket_priority": "URGENT"}, "7", stage, settings())


def test_stage_closed_from_is_closed_or_ticket_state():
    assert rec.stage_is_closed({"metadata": {"isClosed": "true"}})
    assert rec.stage_is_closed({"metadata": {"ticketState": "CLOSED"}})
    assert not rec.stage_is_closed({"metadata": {"ticketState": "OPEN"}})


def test_primary_association_wins_over_the_first_one():
    inline = {
        "associations": {
            "companies": {
                "results": [
                    {"id": "5", "type": "contact_to_company_unlabeled"},
                    {"id": "6", "type": "contact_to_company"},
                ]
            }
        }
    }
    assert rec.primary_inline(inline, "companies") == "6"
    v4 = [
        {"toObjectId": 5, "associationTypes": [{"label": None}]},
        {"toObjectId": 6, "associationTypes": [{"label": None}, {"label": "Primary"}]},
    ]
    assert rec.primary_v4(v4) == "6"
    assert rec.primary_v4([]) is None


def test_three_point_csat_middle_answer_maps_to_the_middle_of_the_scale():
    record = {
        "id": "1",
        "properties": {"hs_survey_type": "CSAT", "hs_survey_name": "Ticket CSAT", "hs_value": "1"},
    }
    row = rec.survey_row(record, settings(csat_three_point_surveys=["Ticket CSAT"]), None, None)
    assert (row["score"], row["scale_min"], row["scale_max"]) == (3.0, 1.0, 5.0)


def test_unknown_stream_names_are_refused():
    with pytest.raises(ValueError, match="unknown stream 'deals'"):
        settings(streams=["tickets", "deals"])
