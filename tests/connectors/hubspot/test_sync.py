"""End-to-end syncs of the HubSpot connector: official client -> loopback fake -> engine -> store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from vitalsign.core.store import table


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def naive(value: datetime | None) -> datetime | None:
    """Compare datetimes whatever the dialect hands back (UTC either way)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value and value.tzinfo else value


def test_full_sync_maps_every_stream_from_reference_payloads(store, fake, make_config, helpers):
    fake.load_examples()
    summary = helpers.sync(store, make_config())
    assert summary.status == "success", summary.error
    assert {n: s.rows for n, s in summary.streams.items()} == {
        "owners": 1,
        "ticket_stages": 4,
        "companies": 1,
        "contacts": 1,
        "tickets": 2,
        "feedback_submissions": 3,
    }

    company = helpers.rows(store, "source_accounts")["9917013"]
    assert (company.kind, company.name, company.domain) == ("company", "Dana Analytics", "example.com")
    assert (company.owner_id, company.lifecycle_stage, company.account_key) == (
        "81234567",
        "customer",
        "ACC-9917013",
    )
    assert helpers.rows(store, "owners")["81234567"].name == "Maria Lopez"
    contact = helpers.rows(store, "contacts")["140551"]
    assert (contact.email, contact.name, contact.source_account_id) == (
        "dana@example.com",
        "Dana Reyes",
        "9917013",
    )

    tickets = helpers.rows(store, "tickets")
    closed = tickets["31877203415"]
    assert (closed.status, closed.stage_id, closed.pipeline_id, closed.priority) == (
        "closed",
        "4",
        "0",
        "HIGH",
    )
    assert (closed.source_account_id, closed.contact_id, closed.owner_id) == ("9917013", "140551", "81234567")
    assert (closed.channel, closed.agent_interactions, closed.escalated) == ("EMAIL", 3, False)
    assert naive(closed.created_at) == naive(utc("2026-03-02T09:14:05.120Z"))
    # createdate + time_to_first_agent_reply (2,922,191 ms) is HubSpot's first_agent_reply_date
    assert naive(closed.first_response_at) == naive(utc("2026-03-02T10:02:47.311Z"))
    assert naive(closed.closed_at) == naive(utc("2026-03-04T16:39:58Z"))
    open_ = tickets["31877209981"]
    assert (open_.status, open_.first_response_at, open_.closed_at, open_.agent_interactions) == (
        "open",
        None,
        None,
        0,
    )

    surveys = helpers.rows(store, "survey_responses")
    assert {k: (s.kind, s.score, s.scale_min, s.scale_max) for k, s in surveys.items()} == {
        "904412": ("nps", 9.0, 0.0, 10.0),
        "904430": ("csat", 2.0, 1.0, 5.0),
        "904431": ("ces", 5.0, 1.0, 7.0),
    }
    assert (surveys["904430"].contact_id, surveys["904430"].ticket_id) == ("140551", "31877203415")
    assert naive(surveys["904412"].submitted_at) == naive(utc("2026-03-03T12:00:41Z"))


def test_list_pages_are_followed_and_the_next_run_searches(sqlite_store, fake, make_config, helpers):
    fake.add_default_pipeline()
    base = datetime.now(UTC) - timedelta(days=3)
    for i in range(1, 8):
        fake.add_ticket(i, subject=f"t{i}", modified=base + timedelta(minutes=i))
    config = make_config(streams=["ticket_stages", "tickets"], list_page_size=3, search_page_size=2)

    first = helpers.sync(sqlite_store, config)
    assert first.streams["tickets"].rows == 7
    assert fake.requests.count(("GET", "/crm/v3/objects/tickets")) == 3 + 1  # 3 pages + archived list
    assert not any(path.endswith("/search") for _, path in fake.requests)

    fake.requests.clear()
    fake.update("tickets", 3, hs_pipeline_stage="4")
    fake.add_ticket(8, subject="new one")
    second = helpers.sync(sqlite_store, config)
    assert second.streams["tickets"].rows == 2
    assert ("POST", "/crm/v3/objects/tickets/search") in fake.requests
    tickets = helpers.rows(sqlite_store, "tickets")
    assert len(tickets) == 8
    assert tickets["3"].status == "closed"
    # search results carry no associations: the v4 batch read fills them in
    assert ("POST", "/crm/v4/associations/tickets/companies/batch/read") in fake.requests


def test_a_full_read_resumes_from_its_list_cursor(sqlite_store, fake, make_config, helpers):
    for i in range(1, 6):
        fake.add_company(i, f"Company {i}", f"c{i}.example")
    config = make_config(streams=["companies"], list_page_size=2)
    conn = helpers.connector(config)
    try:
        [stream] = conn.streams()
        batches = list(stream.read({"list_after": "3", "started": 1_700_000_000_000}))
    finally:
        conn.close()
    read = [r["source_id"] for b in batches for r in b.records]
    assert read == ["3", "4", "5"]
    assert batches[-1].cursor == {"modified": 1_699_999_999_999, "after_id": None, "complete": True}


def test_archived_records_are_marked_deleted(store, fake, make_config, helpers):
    fake.add_default_pipeline()
    for i in range(1, 4):
        fake.add_company(i, f"Company {i}")
        fake.add_ticket(10 + i, company=i)
    fake.add_owner(7, "gone@vendor.example", "Gone", "Owner", archived=True)
    config = make_config()
    helpers.sync(store, config)
    assert not any(r.deleted for r in helpers.rows(store, "tickets").values())

    fake.archive("companies", 2)
    fake.archive("tickets", 13)
    summary = helpers.sync(store, config)
    assert summary.status == "success", summary.error
    assert summary.streams["tickets"].deleted == 1
    companies, tickets = helpers.rows(store, "source_accounts"), helpers.rows(store, "tickets")
    assert {k for k, r in companies.items() if r.deleted} == {"2"}
    assert {k for k, r in tickets.items() if r.deleted} == {"13"}
    assert helpers.rows(store, "owners")["7"].deleted is True


def test_stages_of_a_deleted_pipeline_are_marked_deleted(store, fake, make_config, helpers):
    fake.add_default_pipeline()
    fake.add_pipeline("77", "Escalations", [("9001", "Tier 2", False), ("9002", "Solved", True)])
    config = make_config(streams=["ticket_stages"])
    helpers.sync(store, config)
    assert not any(r.deleted for r in helpers.rows(store, "ticket_stages").values())

    fake.pipelines = [p for p in fake.pipelines if p["id"] != "77"]  # deleted in HubSpot: no longer listed
    summary = helpers.sync(store, config)
    assert summary.status == "success", summary.error
    assert summary.streams["ticket_stages"].deleted == 2
    stages = helpers.rows(store, "ticket_stages")
    assert {k for k, r in stages.items() if r.deleted} == {"9001", "9002"}
    assert len(stages) == 6  # kept, marked: tickets still name those stages


def test_bad_surveys_are_quarantined_with_their_reason_and_the_rest_loads(store, fake, make_config, helpers):
    fake.add_feedback(1, "NPS", 10)
    fake.add_feedback(2, "NPS", 11)
    fake.add_feedback(3, "CSAT", 0)
    fake.add_feedback(4, "LOYALTY_PULSE", 4)
    fake.add_feedback(5, "CES", "very easy")
    fake.add_feedback(6, "CSAT", 2, hs_survey_id="31", hs_survey_name="Ticket CSAT")
    fake.add_feedback(7, "CSAT", 3, hs_survey_id="31")
    config = make_config(streams=["feedback_submissions"], csat_three_point_surveys=["31"])

    summary = helpers.sync(store, config)
    assert summary.status == "success", summary.error
    loaded = helpers.rows(store, "survey_responses")
    assert sorted(loaded) == ["1", "6"]
    # HubSpot's 3-point CSAT (0/1/2) lands on the CSAT scale explicitly: 2 (happy) -> 5
    assert (loaded["6"].kind, loaded["6"].score, loaded["6"].scale_max) == ("csat", 5.0, 5.0)
    q = table("quarantine")
    with store.connect() as conn:
        query = select(q.c.source_id, q.c.reason).where(q.c.stream == "feedback_submissions")
        reasons = {r.source_id: r.reason for r in conn.execute(query)}
    assert reasons == {
        "2": "NPS answer hs_value='11' is outside the NPS scale 0-10",
        "3": "CSAT answer hs_value='0' is outside the CSAT scale 1-5",
        "4": "unknown survey type hs_survey_type='LOYALTY_PULSE' (expected NPS, CSAT or CES)",
        "5": "CES answer hs_value='very easy' is not a number",
        "7": "CSAT answer hs_value='3' is outside HubSpot's 3-point scale 0-2",
    }


def test_ticket_status_comes_from_the_pipeline_stage_not_a_hard_coded_id(
    sqlite_store, fake, make_config, helpers
):
    fake.add_pipeline(
        "77",
        "Enterprise support",
        [("9001", "Open", False), ("9002", "Escalated to engineering", False), ("9003", "Solved", True)],
    )
    # HubSpot's own flag disagrees on purpose: the stage decides
    fake.add_ticket(
        1,
        hs_pipeline="77",
        hs_pipeline_stage="9003",
        hs_is_closed="false",
        closed_date="2026-03-04T10:00:00Z",
    )
    fake.add_ticket(2, hs_pipeline="77", hs_pipeline_stage="9002")
    fake.add_ticket(3, hs_pipeline="77", hs_pipeline_stage="4", hs_is_closed="true")  # unknown stage
    fake.add_ticket(4, hs_pipeline="77", hs_pipeline_stage="9001", hs_ticket_priority="URGENT")
    fake.add_ticket(5, hs_pipeline="77", hs_pipeline_stage="9001", escalated="yes")
    fake.define_property("tickets", "escalated")
    config = make_config(
        streams=["ticket_stages", "tickets"],
        escalation={
            "stages": ["escalated to engineering"],
            "priorities": ["urgent"],
            "property": "escalated",
            "values": ["yes"],
        },
    )
    summary = helpers.sync(sqlite_store, config)
    assert summary.status == "success", summary.error

    stages = helpers.rows(sqlite_store, "ticket_stages")
    assert {k: (s.is_closed, s.pipeline_id, s.label) for k, s in stages.items()} == {
        "9001": (False, "77", "Open"),
        "9002": (False, "77", "Escalated to engineering"),
        "9003": (True, "77", "Solved"),
    }
    tickets = helpers.rows(sqlite_store, "tickets")
    assert {k: t.status for k, t in tickets.items()} == {
        "1": "closed",
        "2": "open",
        "3": "closed",
        "4": "open",
        "5": "open",
    }
    assert tickets["1"].closed_at is not None
    assert {k for k, t in tickets.items() if t.escalated} == {"2", "4", "5"}


def test_unknown_requested_properties_are_named_in_a_warning(sqlite_store, fake, make_config, helpers):
    fake.add_company(1, "Acme", "acme.example", account_id="A-1")
    fake.drop_property("companies", "lifecyclestage")
    config = make_config(streams=["companies"], account_key="acme_account_ref")

    summary = helpers.sync(sqlite_store, config)
    assert summary.status == "success", summary.error
    warnings = [line for line in summary.log if line.startswith("warning:")]
    assert warnings == [
        "warning: HubSpot has no companies properties lifecyclestage, acme_account_ref: "
        "left empty (check the connector settings)"
    ]
    # the unknown names were not sent (HubSpot would have dropped them silently)
    assert fake.properties_requested["companies"].isdisjoint({"lifecyclestage", "acme_account_ref"})
    assert fake.requests.count(("GET", "/crm/v3/properties/companies")) == 1


def test_a_429_burst_is_waited_out_and_the_sync_completes(sqlite_store, fake, make_config, helpers, sleeps):
    fake.load_examples()
    fake.throttle(3, retry_after=2)
    summary = helpers.sync(sqlite_store, make_config(max_retries=5))
    assert summary.status == "success", summary.error
    assert sleeps == [2.0, 2.0, 2.0]
    assert len(helpers.rows(sqlite_store, "tickets")) == 2


def test_full_refresh_reads_the_lists_again(sqlite_store, fake, make_config, helpers):
    fake.add_company(1, "Acme")
    config = make_config(streams=["companies"])
    helpers.sync(sqlite_store, config)
    fake.requests.clear()
    helpers.sync(sqlite_store, config, full_refresh=True)
    assert ("GET", "/crm/v3/objects/companies") in fake.requests
    assert ("POST", "/crm/v3/objects/companies/search") not in fake.requests


def test_pages_are_joined_into_batches_carrying_the_last_pages_cursor(fake, make_config, helpers):
    for i in range(1, 8):
        fake.add_company(i, f"Company {i}")
    config = make_config(streams=["companies"], list_page_size=2, batch_size=3)
    conn = helpers.connector(config)
    try:
        [stream] = conn.streams()
        batches = list(stream.read(None))
    finally:
        conn.close()
    assert [[r["source_id"] for r in b.records] for b in batches] == [["1", "2", "3", "4"], ["5", "6", "7"]]
    assert batches[0].cursor["list_after"] == "5"
    assert batches[1].cursor["complete"] is True
