from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from vitalsign.connectors.segment.connector import SegmentConnector
from vitalsign.connectors.segment.settings import SegmentSettings
from vitalsign.testing.fakes.usage import write_jsonl
from vitalsign.testing.usage import rows, sync

REFERENCE = Path("/work/shared/reference/segment/track_sample.jsonl")


def connector(tmp_path: Path, **settings) -> SegmentConnector:
    settings.setdefault("path", "segment/*.jsonl*")
    return SegmentConnector(
        "segment", SegmentSettings.model_validate(settings), options={"base_dir": tmp_path}
    )


def track(
    message_id: str,
    user: str | None,
    *,
    group: str | None = None,
    at: str = "2026-03-02T11:00:00.000Z",
    **props,
):
    call = {
        "type": "track",
        "event": "Report Exported",
        "messageId": message_id,
        "timestamp": at,
        "properties": props,
        "context": {"groupId": group} if group else {},
    }
    if user:
        call["userId"] = user
    return call


def group(user: str, group_id: str, **traits):
    return {
        "type": "group",
        "userId": user,
        "groupId": group_id,
        "messageId": f"grp-{user}-{group_id}",
        "timestamp": "2026-03-02T09:00:00.000Z",
        "traits": traits,
    }


def test_reference_sample_context_group_id_and_group_call(store, tmp_path):
    target = tmp_path / "segment" / "track_sample.jsonl"
    target.parent.mkdir()
    if REFERENCE.exists():
        shutil.copy(REFERENCE, target)
    else:
        write_jsonl(
            target,
            [
                track("api-2mGq7eZ0f3Jc9d1", "u_1007", group="acct_88", at="2026-03-02T09:41:12.045Z"),
                track("api-7xR2kQ1p0Lm4n8", "u_2210", group="acct_91", format="pdf"),
                group("u_1007", "acct_88", name="Acme Ltd", plan="growth", employees=40),
            ],
        )
    summary = sync(store, connector(tmp_path, properties=["plan"]))
    assert summary.status == "success", summary.error
    events = {e["source_id"]: e for e in rows(store, "usage_events")}
    assert set(events) == {"api-2mGq7eZ0f3Jc9d1", "api-7xR2kQ1p0Lm4n8"}  # the group call is no event
    assert events["api-2mGq7eZ0f3Jc9d1"]["account_key"] == "acct_88"
    assert events["api-7xR2kQ1p0Lm4n8"]["account_key"] == "acct_91"
    groups = {a["source_id"]: a for a in rows(store, "source_accounts") if a["source"] == "segment"}
    assert set(groups) == {"acct_88", "acct_91"}
    assert groups["acct_88"]["name"] == "Acme Ltd"  # traits of the group call, not clobbered
    assert groups["acct_88"]["properties"] == {"plan": "growth", "employees": 40}
    assert groups["acct_91"]["account_key"] == "acct_91"
    [member] = rows(store, "contacts")
    assert (member["source_id"], member["source_account_id"]) == ("u_1007", "acct_88")


def test_group_calls_place_later_events_in_this_run_and_the_next(store, tmp_path):
    write_jsonl(
        tmp_path / "segment" / "day1.jsonl",
        [track("m-0", "u_5"), group("u_5", "acct_7", name="Seven"), track("m-1", "u_5")],
    )
    seg = connector(tmp_path)
    sync(store, seg)
    # the next run's file has no group call: the stored membership places the user
    write_jsonl(tmp_path / "segment" / "day2.jsonl", [track("m-2", "u_5", at="2026-03-03T08:00:00Z")])
    sync(store, connector(tmp_path))
    accounts = {e["source_id"]: e["account_key"] for e in rows(store, "usage_events")}
    assert accounts == {"m-0": None, "m-1": "acct_7", "m-2": "acct_7"}  # m-0 came before the call
    daily = {(d["account_key"], str(d["day"])): d["active_users"] for d in rows(store, "usage_daily")}
    assert daily == {("", "2026-03-02"): 1, ("acct_7", "2026-03-02"): 1, ("acct_7", "2026-03-03"): 1}


def test_identify_traits_become_contacts_and_email_maps_to_a_crm_account(store, tmp_path):
    # a HubSpot-like company with the shared key, and its contact with an email
    with store.begin() as conn:
        store.upsert(
            conn,
            "source_accounts",
            [{"source": "hubspot", "source_id": "co-1", "kind": "company", "account_key": "ACME-1"}],
        )
        store.upsert(
            conn,
            "contacts",
            [
                {
                    "source": "hubspot",
                    "source_id": "ct-1",
                    "email": "Ana@Acme.com",
                    "source_account_id": "co-1",
                }
            ],
        )
    write_jsonl(
        tmp_path / "segment" / "a.jsonl",
        [
            {
                "type": "identify",
                "userId": "u_ana",
                "messageId": "id-1",
                "timestamp": "2026-03-02T08:00:00Z",
                "traits": {"email": "ana@acme.com", "firstName": "Ana", "lastName": "Silva"},
            }
        ],
    )
    sync(store, connector(tmp_path))
    write_jsonl(tmp_path / "segment" / "b.jsonl", [track("t-1", "u_ana")])
    sync(store, connector(tmp_path))
    [contact] = [c for c in rows(store, "contacts") if c["source"] == "segment"]
    assert (contact["email"], contact["name"]) == ("ana@acme.com", "Ana Silva")
    [event] = rows(store, "usage_events")
    assert event["account_key"] == "ACME-1"


def test_page_calls_and_required_fields(sqlite_store, tmp_path):
    write_jsonl(
        tmp_path / "segment" / "a.jsonl.gz",
        [
            {
                "type": "page",
                "name": "Pricing",
                "anonymousId": "anon-1",
                "messageId": "p-1",
                "timestamp": "2026-03-02T10:00:00Z",
            },
            {"type": "screen", "userId": "u_1", "messageId": "s-1", "timestamp": "2026-03-02T10:00:00Z"},
            {"type": "track", "event": "Clicked", "messageId": "nobody", "timestamp": "2026-03-02T10:00:00Z"},
            {"type": "alias", "userId": "u_1", "previousId": "anon-1", "messageId": "al-1"},
            {"type": "track", "event": "Clicked", "userId": "u_1", "messageId": "no-time"},
        ],
    )
    summary = sync(sqlite_store, connector(tmp_path))
    assert summary.status == "success"
    names = {e["source_id"]: e["event"] for e in rows(sqlite_store, "usage_events")}
    assert names == {"p-1": "Viewed Pricing Page", "s-1": "Loaded a Screen"}
    reasons = {q["location"]: q["reason"] for q in rows(sqlite_store, "quarantine")}
    assert reasons == {
        "segment/a.jsonl.gz:3": "missing user id and anonymous id",
        "segment/a.jsonl.gz:5": "missing event time",
    }


def test_missing_path_is_a_settings_error():
    with pytest.raises(ValueError, match="path"):
        SegmentSettings.model_validate({})


def identify(user: str, email: str, **traits):
    return {
        "type": "identify",
        "userId": user,
        "messageId": f"id-{user}",
        "timestamp": "2026-03-02T08:00:00Z",
        "traits": {"email": email, **traits},
    }


def test_a_later_group_call_keeps_the_stored_email_and_group_traits(store, tmp_path):
    write_jsonl(
        tmp_path / "segment" / "day1.jsonl",
        [
            identify("u_ana", "ana@acme.com", name="Ana"),
            group("u_ana", "acct_1", name="Acme", website="acme.com"),
        ],
    )
    sync(store, connector(tmp_path))
    # the next run sees only a group call for u_ana, and in the same batch another user's
    # identify (an email) and a bare group call for acct_1 (no traits): the batch's upsert names
    # email, name and domain, but u_ana's row and acct_1's row do not carry them
    write_jsonl(
        tmp_path / "segment" / "day2.jsonl",
        [
            group("u_ana", "acct_2"),
            identify("u_bo", "bo@beta.io", name="Bo"),
            group("u_bo", "acct_1"),
            group("u_cy", "acct_3", name="Gamma", website="gamma.dev"),
        ],
    )
    assert sync(store, connector(tmp_path)).status == "success"
    contacts = {c["source_id"]: c for c in rows(store, "contacts") if c["source"] == "segment"}
    assert (contacts["u_ana"]["email"], contacts["u_ana"]["name"]) == ("ana@acme.com", "Ana")
    assert contacts["u_ana"]["source_account_id"] == "acct_2"  # what the call did say is updated
    assert contacts["u_bo"]["email"] == "bo@beta.io"
    groups = {a["source_id"]: a for a in rows(store, "source_accounts") if a["source"] == "segment"}
    assert (groups["acct_1"]["name"], groups["acct_1"]["domain"]) == ("Acme", "acme.com")
    assert (groups["acct_3"]["name"], groups["acct_3"]["domain"]) == ("Gamma", "gamma.dev")
