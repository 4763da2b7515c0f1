"""Zendesk specifics: how tickets, ratings and organizations land in the store."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from vitalsign.core import AuthenticationError
from vitalsign.core.config import Config, instantiate
from vitalsign.core.store import Store, table
from vitalsign.core.sync import SyncEngine
from vitalsign_zendesk.connector import ZendeskConnector
from vitalsign_zendesk.settings import ZendeskSettings
from vitalsign_zendesk.streams import CSAT_SCORES, rating_record


def rows(store: Store, name: str) -> dict[str, Any]:
    tbl = table(name)
    with store.connect() as conn:
        return {r.source_id: r for r in conn.execute(select(tbl))}


def sync(store: Store, config: Config) -> None:
    [summary] = SyncEngine(store, config).sync(["zendesk"])
    assert summary.status == "success", summary.error


def test_tickets_land_with_response_times_and_escalations(zendesk, store, config):
    sync(store, config)
    tickets = rows(store, "tickets")
    assert sorted(tickets) == ["101", "102", "103", "104", "105", "106", "107"]
    solved = tickets["101"]
    assert (solved.status, solved.channel, solved.priority) == ("closed", "email", "high")
    assert solved.source_account_id == "360001001"
    assert solved.contact_id == "9100101"
    assert solved.owner_id == "8000001"
    assert (solved.first_response_at - solved.created_at).total_seconds() == 42 * 60
    assert solved.closed_at == solved.updated_at
    assert solved.agent_interactions == 2
    assert tickets["104"].status == "open"
    assert tickets["104"].closed_at is None
    assert tickets["105"].first_response_at is None
    assert tickets["105"].owner_id is None
    assert tickets["105"].source_account_id is None
    escalated = sorted(sid for sid, t in tickets.items() if t.escalated)
    assert escalated == ["102", "103", "107"]  # a tag, or moved between groups


def test_csat_ratings_are_good_5_bad_1_and_unanswered_skipped(zendesk, store, config):
    sync(store, config)
    responses = rows(store, "survey_responses")
    assert sorted(responses) == ["35436", "35437", "35438", "35439", "35440"]
    assert {r.kind for r in responses.values()} == {"csat"}
    assert {(r.scale_min, r.scale_max) for r in responses.values()} == {(1.0, 5.0)}
    assert {sid: r.score for sid, r in responses.items()} == {
        "35436": 5.0,
        "35437": 1.0,
        "35438": 5.0,
        "35439": 5.0,
        "35440": 1.0,
    }
    assert responses["35437"].ticket_id == "103"
    assert responses["35437"].contact_id == "9100103"
    satisfied = sum(r.score >= 4 for r in responses.values()) / len(responses)
    assert satisfied == 3 / 5  # Zendesk's own score: good / (good + bad)


def test_rating_mapping_is_explicit():
    base = {"id": 1, "ticket_id": 2, "requester_id": 3, "created_at": "2026-09-01T00:00:00Z"}
    assert CSAT_SCORES == {"good": 5.0, "bad": 1.0}
    assert rating_record({**base, "score": "offered"}) is None
    assert rating_record({**base, "score": "unoffered"}) is None
    bad = rating_record({**base, "score": "bad"})
    assert bad is not None
    assert bad["score"] == 1.0
    with pytest.raises(ValueError, match="unknown satisfaction score"):
        rating_record({**base, "score": "meh"})


def test_organizations_become_companies_for_identity_resolution(zendesk, store, config):
    sync(store, config)
    orgs = rows(store, "source_accounts")
    assert len(orgs) == 5
    globex = orgs["360001002"]
    assert (globex.kind, globex.name, globex.domain, globex.account_key) == (
        "company",
        "Globex",
        "globex.io",
        "ACC-1002",
    )
    assert globex.properties["domain_names"] == ["globex.io", "globex.com"]
    assert orgs["360001003"].account_key is None
    assert orgs["360001004"].domain is None


def test_changed_ticket_is_picked_up_from_the_saved_cursor(zendesk, store, config):
    sync(store, config)
    before = len(zendesk.requests)
    changed = next(t for t in zendesk.tickets if t["id"] == 104)
    changed.update(status="deleted", updated_at="2026-10-01T00:00:00Z", generated_timestamp=1_790_812_800)
    sync(store, config)
    exports = [r for r in zendesk.requests[before:] if r.url.path.endswith("/tickets/cursor.json")]
    assert len(exports) == 1
    assert "cursor" in exports[0].url.params
    tickets = rows(store, "tickets")
    assert len(tickets) == 7
    assert tickets["104"].deleted is True
    assert tickets["101"].deleted is False


def test_unreadable_ticket_is_quarantined_and_the_rest_load(zendesk, store, config):
    zendesk.tickets[2] = {k: v for k, v in zendesk.tickets[2].items() if k != "status"}
    zendesk.tickets[3]["created_at"] = "yesterday"
    [summary] = SyncEngine(store, config).sync(["zendesk"])
    assert summary.status == "success"
    assert len(rows(store, "tickets")) == 5
    q = table("quarantine")
    with store.connect() as conn:
        reasons = {r.source_id: r.reason for r in conn.execute(select(q))}
    assert set(reasons) == {"103", "104"}
    assert "status" in reasons["103"]
    assert "created_at" in reasons["104"]


def test_check_names_the_agent(zendesk, config):
    connector = instantiate(config.connector("zendesk"), config)
    assert isinstance(connector, ZendeskConnector)
    try:
        assert connector.check() == "https://acme.zendesk.com as ops@acme-saas.com (admin)"
    finally:
        connector.close()


def test_an_anonymous_answer_is_an_authentication_error(zendesk, config):
    zendesk.router.get("/api/v2/users/me.json").respond(
        200, json={"user": {"id": None, "name": "Anonymous user", "role": "end-user"}}
    )
    connector = instantiate(config.connector("zendesk"), config)
    try:
        with pytest.raises(AuthenticationError, match="anonymous user"):
            connector.check()
    finally:
        connector.close()


def test_settings_take_a_subdomain_or_a_base_url():
    token = {"email": "a@b.c", "api_token": "x"}
    assert ZendeskSettings(subdomain="acme", **token).api_base() == "https://acme.zendesk.com"
    assert ZendeskSettings(base_url="https://help.acme.com/", **token).api_base() == "https://help.acme.com"
    with pytest.raises(ValidationError, match="exactly one"):
        ZendeskSettings(**token)
    with pytest.raises(ValidationError, match="first label"):
        ZendeskSettings(subdomain="acme.zendesk.com", **token)
