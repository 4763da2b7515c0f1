"""A fake Zendesk Support API (respx) with realistic payloads, and the conformance harness.

The fake speaks the three endpoints the connector reads the way Zendesk documents them:
the cursor-based incremental ticket export (``after_cursor``/``end_of_stream``, metric sets
sideloaded), satisfaction ratings with cursor pagination (``meta.has_more``/``after_cursor``,
``page[after]``), and the time-based incremental organization export (``end_time``,
boundary items repeated). It checks the API-token Basic auth on every request and answers
401 "Couldn't authenticate you" otherwise, and it serves injected 429/5xx answers first.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from vitalsign.core.config import Config, load_config
from vitalsign.core.store import Store
from vitalsign.testing import ConnectorHarness, FaultInjector

SUBDOMAIN = "acme"
BASE_URL = "https://acme.zendesk.com"
EMAIL = "ops@acme-saas.com"
TOKEN = "zd-6Yq3n8VfJ2pL0sXw4KcT9bRm"
AUTHORIZATION = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
ESC = ("escalated",)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _opaque(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unopaque(token: str) -> str:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()


def organization(i: int, name: str, domains: list[str], key: str | None, plan: str) -> dict[str, Any]:
    oid = 360_001_000 + i
    created = T0 - timedelta(days=300 - i)
    return {
        "url": f"{BASE_URL}/api/v2/organizations/{oid}.json",
        "id": oid,
        "name": name,
        "shared_tickets": False,
        "shared_comments": False,
        "external_id": key,
        "created_at": iso(created),
        "updated_at": iso(T0 + timedelta(hours=i)),
        "domain_names": domains,
        "details": "",
        "notes": "",
        "group_id": None,
        "tags": [plan],
        "organization_fields": {"account_id": key, "plan": plan},
        "deleted_at": None,
    }


def ticket(
    tid: int,
    org: dict[str, Any] | None,
    *,
    status: str,
    channel: str,
    priority: str | None,
    hours: int,
    tags: tuple[str, ...] = (),
) -> dict[str, Any]:
    created = T0 + timedelta(days=tid % 5, hours=tid)
    updated = created + timedelta(hours=hours)
    return {
        "url": f"{BASE_URL}/api/v2/tickets/{tid}.json",
        "id": tid,
        "external_id": None,
        "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": iso(created),
        "updated_at": iso(updated),
        "generated_timestamp": int(updated.timestamp()),
        "type": "question",
        "subject": f"Ticket {tid}: export to CSV fails",
        "raw_subject": f"Ticket {tid}: export to CSV fails",
        "description": "When I export the usage report the download never starts.",
        "priority": priority,
        "status": status,
        "recipient": "support@acme-saas.com",
        "requester_id": 9_100_000 + tid,
        "submitter_id": 9_100_000 + tid,
        "assignee_id": 8_000_001 if status != "new" else None,
        "organization_id": org["id"] if org else None,
        "group_id": 360_000_777,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": list(tags),
        "custom_fields": [{"id": 360_005_001, "value": None}],
        "satisfaction_rating": None,
        "sharing_agreement_ids": [],
        "fields": [{"id": 360_005_001, "value": None}],
        "followup_ids": [],
        "ticket_form_id": 360_000_123,
        "brand_id": 360_000_100,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
    }


def metric_set(t: dict[str, Any], *, reply: int | None, replies: int, stations: int) -> dict[str, Any]:
    created = datetime.fromisoformat(t["created_at"])
    solved = iso(datetime.fromisoformat(t["updated_at"])) if t["status"] in ("solved", "closed") else None
    return {
        "url": f"{BASE_URL}/api/v2/ticket_metrics/{t['id'] + 500}.json",
        "id": t["id"] + 500,
        "ticket_id": t["id"],
        "created_at": t["created_at"],
        "updated_at": t["updated_at"],
        "group_stations": stations,
        "assignee_stations": 1,
        "reopens": 0,
        "replies": replies,
        "assignee_updated_at": t["updated_at"],
        "requester_updated_at": t["created_at"],
        "status_updated_at": t["updated_at"],
        "initially_assigned_at": iso(created + timedelta(minutes=5)),
        "assigned_at": iso(created + timedelta(minutes=5)),
        "solved_at": solved,
        "latest_comment_added_at": t["updated_at"],
        "reply_time_in_minutes": {"calendar": reply, "business": reply},
        "first_resolution_time_in_minutes": {"calendar": None, "business": None},
        "full_resolution_time_in_minutes": {"calendar": None, "business": None},
        "agent_wait_time_in_minutes": {"calendar": None, "business": None},
        "requester_wait_time_in_minutes": {"calendar": None, "business": None},
        "on_hold_time_in_minutes": {"calendar": 0, "business": 0},
    }


def rating(rid: int, t: dict[str, Any], score: str, comment: str | None, days: int) -> dict[str, Any]:
    created = datetime.fromisoformat(t["updated_at"]) + timedelta(days=days)
    return {
        "url": f"{BASE_URL}/api/v2/satisfaction_ratings/{rid}.json",
        "id": rid,
        "assignee_id": t["assignee_id"],
        "group_id": t["group_id"],
        "requester_id": t["requester_id"],
        "ticket_id": t["id"],
        "score": score,
        "comment": comment,
        "reason": None,
        "reason_code": None,
        "reason_id": None,
        "created_at": iso(created),
        "updated_at": iso(created + timedelta(minutes=3)),
    }


class FakeZendesk:
    """Zendesk's API for one account, in memory. Page sizes are small so every stream pages."""

    def __init__(self, *, org_page_size: int = 2) -> None:
        self.faults = FaultInjector(
            auth_body={"error": "Couldn't authenticate you"},
            error_body=lambda status: {
                "error": "APIRateLimitExceeded" if status == 429 else "ServiceUnavailable",
                "description": "Please try again later",
            },
        )
        self.org_page_size = org_page_size
        orgs = [
            organization(1, "Northwind Traders", ["northwind.com"], "ACC-1001", "enterprise"),
            organization(2, "Globex", ["globex.io", "globex.com"], "ACC-1002", "growth"),
            organization(3, "Initech", ["initech.com"], None, "starter"),
            organization(4, "Umbrella Health", [], "ACC-1004", "growth"),
            organization(5, "Hooli", ["hooli.xyz"], "ACC-1005", "enterprise"),
        ]
        self.organizations = orgs
        self.tickets = [
            ticket(101, orgs[0], status="solved", channel="email", priority="high", hours=6),
            ticket(102, orgs[0], status="open", channel="web", priority="normal", hours=2, tags=ESC),
            ticket(103, orgs[1], status="closed", channel="chat", priority="low", hours=30),
            ticket(104, orgs[2], status="pending", channel="api", priority=None, hours=1),
            ticket(105, None, status="new", channel="email", priority="urgent", hours=0),
            ticket(106, orgs[4], status="solved", channel="email", priority="normal", hours=12),
            ticket(107, orgs[1], status="hold", channel="web", priority="high", hours=50),
        ]
        by_id = {t["id"]: t for t in self.tickets}
        self.metric_sets = [
            metric_set(by_id[101], reply=42, replies=2, stations=1),
            metric_set(by_id[102], reply=15, replies=3, stations=1),
            metric_set(by_id[103], reply=300, replies=1, stations=2),
            metric_set(by_id[104], reply=20, replies=1, stations=1),
            metric_set(by_id[105], reply=None, replies=0, stations=1),
            metric_set(by_id[106], reply=61, replies=4, stations=1),
            metric_set(by_id[107], reply=5, replies=6, stations=3),
        ]
        self.ratings = [
            rating(35_436, by_id[101], "good", "Awesome support!", 1),
            rating(35_437, by_id[103], "bad", "Took days to hear back", 1),
            rating(35_438, by_id[106], "good", None, 2),
            rating(35_439, by_id[102], "good", "Quick answer", 0),
            rating(35_440, by_id[107], "bad", None, 3),
            rating(35_441, by_id[104], "offered", None, 1),
        ]
        self.router = respx.mock(base_url=BASE_URL, assert_all_called=False)

    # ------------------------------------------------------------------ respx plumbing

    def __enter__(self) -> FakeZendesk:
        self.router.__enter__()
        self.faults.install(self.router)
        self.router.get("/api/v2/users/me.json").mock(side_effect=self._me)
        self.router.get("/api/v2/incremental/tickets/cursor.json").mock(side_effect=self._tickets)
        self.router.get("/api/v2/satisfaction_ratings").mock(side_effect=self._ratings)
        self.router.get("/api/v2/incremental/organizations.json").mock(side_effect=self._organizations)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.router.__exit__(*exc)

    @property
    def requests(self) -> list[httpx.Request]:
        """Every request the fake received, faulted ones included."""
        return [call.request for call in self.router.calls]

    def _denied(self, request: httpx.Request) -> httpx.Response | None:
        if request.headers.get("Authorization") != AUTHORIZATION:
            return httpx.Response(401, json={"error": "Couldn't authenticate you"})
        return None

    # ------------------------------------------------------------------ endpoints

    def _me(self, request: httpx.Request) -> httpx.Response:
        if "Authorization" not in request.headers:
            anonymous = {"id": None, "url": None, "name": "Anonymous user", "email": "invalid@example.com"}
            return httpx.Response(200, json={"user": {**anonymous, "role": "end-user"}})
        denied = self._denied(request)
        if denied:
            return denied
        user = {
            "id": 8_000_001,
            "url": f"{BASE_URL}/api/v2/users/8000001.json",
            "name": "Ops Bot",
            "email": EMAIL,
            "role": "admin",
            "time_zone": "UTC",
            "active": True,
            "verified": True,
        }
        return httpx.Response(200, json={"user": user})

    def _tickets(self, request: httpx.Request) -> httpx.Response:
        denied = self._denied(request)
        if denied:
            return denied
        params = request.url.params
        per_page = int(params.get("per_page", 1000))
        order = sorted(self.tickets, key=lambda t: (t["generated_timestamp"], t["id"]))
        if "cursor" in params:
            stamp, tid = _unopaque(params["cursor"]).split("||")
            position = (int(stamp), int(tid))
            remaining = [t for t in order if (t["generated_timestamp"], t["id"]) > position]
            current = params["cursor"]
        elif "start_time" in params:
            remaining = [t for t in order if t["generated_timestamp"] >= int(params["start_time"])]
            current = None
        else:
            return httpx.Response(400, json={"error": "InvalidPaginationParameter"})
        page = remaining[:per_page]
        if page:
            last = page[-1]
            current = _opaque(f"{last['generated_timestamp']}||{last['id']}")
        elif current is None:
            current = _opaque(f"{params['start_time']}||0")
        ids = {t["id"] for t in page}
        body: dict[str, Any] = {
            "tickets": page,
            "after_url": f"{BASE_URL}/api/v2/incremental/tickets/cursor.json?cursor={current}",
            "after_cursor": current,
            "before_url": None,
            "before_cursor": None,
            "end_of_stream": len(remaining) <= per_page,
        }
        if "metric_sets" in params.get("include", ""):
            body["metric_sets"] = [m for m in self.metric_sets if m["ticket_id"] in ids]
        return httpx.Response(200, json=body)

    def _ratings(self, request: httpx.Request) -> httpx.Response:
        denied = self._denied(request)
        if denied:
            return denied
        params = request.url.params
        size = int(params.get("page[size]", 100))
        chosen = self.ratings
        if params.get("score") == "received":
            chosen = [r for r in chosen if r["score"] in ("good", "bad")]
        if "start_time" in params:
            chosen = [r for r in chosen if epoch(r["created_at"]) >= int(params["start_time"])]
        chosen = sorted(chosen, key=lambda r: r["id"])
        if "page[after]" in params:
            after = int(_unopaque(params["page[after]"]))
            chosen = [r for r in chosen if r["id"] > after]
        page = chosen[:size]
        has_more = len(chosen) > size
        after_cursor = _opaque(str(page[-1]["id"])) if page else None
        before_cursor = _opaque(str(page[0]["id"])) if page else None
        link = f"{BASE_URL}/api/v2/satisfaction_ratings?page%5Bsize%5D={size}"
        return httpx.Response(
            200,
            json={
                "satisfaction_ratings": page,
                "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": before_cursor},
                "links": {
                    "next": f"{link}&page%5Bafter%5D={after_cursor}" if has_more else None,
                    "prev": f"{link}&page%5Bbefore%5D={before_cursor}" if page else None,
                },
            },
        )

    def _organizations(self, request: httpx.Request) -> httpx.Response:
        denied = self._denied(request)
        if denied:
            return denied
        start = int(request.url.params["start_time"])
        changed = sorted(
            (o for o in self.organizations if epoch(o["updated_at"]) >= start),
            key=lambda o: (o["updated_at"], o["id"]),
        )
        page = changed[: self.org_page_size]
        end_time = epoch(page[-1]["updated_at"]) if page else start
        end_of_stream = len(changed) <= self.org_page_size
        return httpx.Response(
            200,
            json={
                "organizations": page,
                "next_page": None
                if end_of_stream
                else f"{BASE_URL}/api/v2/incremental/organizations.json?start_time={end_time}",
                "count": len(page),
                "end_of_stream": end_of_stream,
                "end_time": end_time,
            },
        )


class ZendeskHarness(ConnectorHarness):
    """What the conformance kit needs: the connector, its settings, and the fake."""

    connector_type = "zendesk"
    secret_values = (AUTHORIZATION, AUTHORIZATION.removeprefix("Basic "))

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        env["ZENDESK_API_TOKEN"] = TOKEN
        return {
            "base_url": BASE_URL,
            "email": EMAIL,
            "api_token": "${ZENDESK_API_TOKEN}",
            "page_size": 3,
            "ratings_page_size": 2,
        }

    @contextmanager
    def source(self) -> Iterator[FaultInjector]:
        with FakeZendesk() as fake:
            yield fake.faults


@pytest.fixture
def harness() -> ZendeskHarness:
    return ZendeskHarness()


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """A vitalsign.toml naming the zendesk connector, loaded the way the CLI loads it."""
    monkeypatch.setenv("ZENDESK_API_TOKEN", TOKEN)
    path = tmp_path / "vitalsign.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n\n'
        f'[connectors.zendesk]\nbase_url = "{BASE_URL}"\nemail = "{EMAIL}"\n'
        'api_token = "${ZENDESK_API_TOKEN}"\npage_size = 3\nratings_page_size = 2\n'
    )
    return load_config(path)


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    s = Store(config.store_url)
    s.upgrade()
    yield s
    s.dispose()
