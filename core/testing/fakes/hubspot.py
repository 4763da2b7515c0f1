"""A stateful loopback fake of the HubSpot CRM API, for tests, benchmarks and ``vitalsign demo``.

The official ``hubspot-api-client`` sends through urllib3 (which respx cannot intercept), so the
fake is a real HTTP server on 127.0.0.1 with a random port. It serves what the client calls:

- ``GET  /crm/v3/objects/{type}``            list, ``limit`` (max 100), ``after``, ``properties``,
                                              ``associations``, ``archived``
- ``POST /crm/v3/objects/{type}/search``     filterGroups (OR of ANDed filters: EQ NEQ GT GTE LT
                                              LTE), one sort, ``limit`` (max 200), ``after``, and the
                                              result cap (10,000 by default): ``after`` at or past it
                                              is HubSpot's 400
- ``GET  /crm/v3/owners``, ``GET /crm/v3/pipelines/{type}``, ``GET /crm/v3/properties/{type}``
- ``POST /crm/v4/associations/{from}/{to}/batch/read``

Bearer-token auth (401 with HubSpot's body), injectable 429 bursts with ``Retry-After``, and
HubSpot's quirks that connectors must survive: unknown property names are silently dropped,
search results with equal sort values come back in no particular order, archived records only
appear in ``archived=true`` lists.

    with FakeHubSpot() as fake:
        fake.add_ticket("1", subject="Broken export", stage="4")
        ... HubSpot(access_token=fake.token, host=fake.base_url) ...
"""

from __future__ import annotations

import bisect
import hashlib
import random
import socket
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

__all__ = ["FakeHubSpot", "iso", "ms"]

OBJECT_TYPES = ("companies", "contacts", "tickets", "feedback_submissions")
MODIFIED = {"contacts": "lastmodifieddate"}  # every other type: hs_lastmodifieddate
CREATED = {"companies": "createdate", "contacts": "createdate", "tickets": "createdate"}
DEFAULT_PROPERTIES = {
    "companies": ("name", "domain"),
    "contacts": ("firstname", "lastname", "email"),
    "tickets": (
        "content",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_category",
        "hs_ticket_priority",
        "subject",
    ),
    "feedback_submissions": ("hs_survey_type", "hs_value"),
}
KNOWN_PROPERTIES = {
    "companies": (
        "name domain hubspot_owner_id lifecyclestage createdate hs_lastmodifieddate hs_object_id "
        "industry numberofemployees annualrevenue account_id"
    ),
    "contacts": (
        "firstname lastname email associatedcompanyid createdate lastmodifieddate hs_object_id "
        "lifecyclestage hubspot_owner_id"
    ),
    "tickets": (
        "subject content hs_pipeline hs_pipeline_stage hs_ticket_priority hs_ticket_category source_type "
        "createdate hs_lastmodifieddate closed_date first_agent_reply_date time_to_first_agent_reply "
        "time_to_close hs_num_times_contacted num_notes hs_is_closed hubspot_owner_id hs_object_id"
    ),
    "feedback_submissions": (
        "hs_survey_type hs_survey_id hs_survey_name hs_survey_channel hs_value hs_response_group "
        "hs_content hs_sentiment hs_submission_timestamp hs_contact_id hs_contact_email_rollup "
        "hs_ticket_id hs_createdate hs_lastmodifieddate hs_object_id"
    ),
}
ASSOCIATION_TYPE_IDS = {
    ("contacts", "companies"): (279, 1),
    ("tickets", "companies"): (339, 26),
    ("tickets", "contacts"): (16, 15),
    ("feedback_submissions", "contacts"): (1153, 1152),
    ("feedback_submissions", "tickets"): (1155, 1154),
}
SINGULAR = {
    "companies": "company",
    "contacts": "contact",
    "tickets": "ticket",
    "feedback_submissions": "feedback_submission",
}


def iso(value: datetime) -> str:
    """HubSpot's datetime format: ISO-8601 UTC with milliseconds and ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def ms(value: str | datetime) -> int:
    """Milliseconds since the epoch of an ISO string or datetime."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return int(when.timestamp() * 1000)


def _error(message: str, category: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


@dataclass
class _Record:
    id: int
    properties: dict[str, str | None]
    created: str
    updated: str
    archived: bool = False
    archived_at: str | None = None
    associations: dict[str, list[str]] = field(default_factory=dict)
    modified_ms: int = 0


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: float | None


class FakeHubSpot:
    """The fake portal and its server. Add records, then point the client at :attr:`base_url`."""

    def __init__(
        self,
        *,
        token: str = "fake-hubspot-token",
        search_cap: int = 10_000,
        list_max: int = 100,
        search_max: int = 200,
        port: int = 0,
    ) -> None:
        self.token = token
        self.port = port
        self.search_cap = search_cap
        self.list_max = list_max
        self.search_max = search_max
        self.objects: dict[str, dict[int, _Record]] = {t: {} for t in OBJECT_TYPES}
        self._order: dict[str, list[int]] = {t: [] for t in OBJECT_TYPES}
        self.owners: dict[str, dict[str, Any]] = {}
        self.pipelines: list[dict[str, Any]] = []
        self.properties: dict[str, list[str]] = {t: KNOWN_PROPERTIES[t].split() for t in OBJECT_TYPES}
        self.requests: list[tuple[str, str]] = []
        """(method, path) of every request served, for assertions on what the client asked."""
        self.search_bodies: list[dict[str, Any]] = []
        self.properties_requested: dict[str, set[str]] = {t: set() for t in OBJECT_TYPES}
        """Every property name the client asked for, per object type."""
        self._faults: deque[_Fault] = deque()
        self.credentials_rejected = False
        self._lock = threading.RLock()
        self._clock = datetime.now(UTC)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ server

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeHubSpot is not started")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> FakeHubSpot:
        fake = self

        class Handler(_Handler):
            portal = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-hubspot", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHubSpot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ behaviour switches

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (HubSpot's error body for it, and
        ``Retry-After`` if given). The conformance kit's ``FakeSource`` protocol."""
        with self._lock:
            self._faults.extend(_Fault(status, retry_after) for _ in range(times))

    def throttle(self, count: int, *, retry_after: float | None = 1) -> None:
        """A burst of ``count`` 429 answers (HubSpot's rate-limit body)."""
        self.fail_next(429, times=count, retry_after=retry_after)

    def reject_credentials(self) -> None:
        """From now on answer every request as HubSpot answers an expired token."""
        self.credentials_rejected = True

    def drop_property(self, object_type: str, name: str) -> None:
        """Make ``name`` unknown to the portal: requests for it are silently ignored."""
        with self._lock:
            self.properties[object_type] = [p for p in self.properties[object_type] if p != name]

    def define_property(self, object_type: str, name: str) -> None:
        with self._lock:
            if name not in self.properties[object_type]:
                self.properties[object_type].append(name)

    # ------------------------------------------------------------------ data

    def now(self) -> datetime:
        """The time of a write that gives none: the wall clock, strictly increasing by at least
        a millisecond per write (so records written together still sort in write order)."""
        with self._lock:
            self._clock = max(self._clock + timedelta(milliseconds=1), datetime.now(UTC))
            return self._clock

    def add(
        self,
        object_type: str,
        object_id: str | int,
        properties: Mapping[str, Any] | None = None,
        *,
        associations: Mapping[str, Iterable[str | int]] | None = None,
        created: datetime | None = None,
        modified: datetime | None = None,
        archived: bool = False,
    ) -> dict[str, Any]:
        """Create or replace a record; returns it as the list endpoint shows it (all properties)."""
        oid = int(object_id)
        modified = modified or self.now()
        created = created or modified
        props: dict[str, str | None] = {
            k: (None if v is None else _as_property(v)) for k, v in (properties or {}).items()
        }
        created_key = CREATED.get(object_type, "hs_createdate")
        modified_key = MODIFIED.get(object_type, "hs_lastmodifieddate")
        props.setdefault(created_key, iso(created))
        props[modified_key] = iso(modified)
        props["hs_object_id"] = str(oid)
        record = _Record(
            id=oid,
            properties=props,
            created=iso(created),
            updated=iso(modified),
            associations={k: [str(v) for v in vs] for k, vs in (associations or {}).items()},
            modified_ms=ms(modified),
        )
        if archived:
            record.archived, record.archived_at = True, iso(modified)
        with self._lock:
            table = self.objects[object_type]
            if oid not in table:
                bisect.insort(self._order[object_type], oid)
            table[oid] = record
        return self._render(object_type, record, None, ())

    def update(
        self, object_type: str, object_id: str | int, modified: datetime | None = None, **props: Any
    ) -> None:
        """Change properties; bumps the last-modified date like HubSpot does."""
        with self._lock:
            record = self.objects[object_type][int(object_id)]
            modified = modified or self.now()
            record.properties.update({k: None if v is None else _as_property(v) for k, v in props.items()})
            record.properties[MODIFIED.get(object_type, "hs_lastmodifieddate")] = iso(modified)
            record.updated, record.modified_ms = iso(modified), ms(modified)

    def archive(self, object_type: str, object_id: str | int) -> None:
        with self._lock:
            record = self.objects[object_type][int(object_id)]
            record.archived, record.archived_at = True, iso(self.now())

    def add_company(
        self, object_id: str | int, name: str, domain: str | None = None, **props: Any
    ) -> dict[str, Any]:
        return self.add("companies", object_id, {"name": name, "domain": domain, **props})

    def add_contact(
        self, object_id: str | int, email: str, *, company: str | int | None = None, **props: Any
    ) -> dict[str, Any]:
        assoc = {"companies": [company]} if company is not None else None
        props.setdefault("associatedcompanyid", company)
        return self.add("contacts", object_id, {"email": email, **props}, associations=assoc)

    def add_owner(
        self, owner_id: str | int, email: str, first: str, last: str, *, archived: bool = False
    ) -> None:
        stamp = iso(self.now())
        with self._lock:
            self.owners[str(owner_id)] = {
                "id": str(owner_id),
                "email": email,
                "type": "PERSON",
                "firstName": first,
                "lastName": last,
                "userId": int(owner_id) % 10_000_000,
                "userIdIncludingInactive": int(owner_id) % 10_000_000,
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": archived,
                "teams": [],
            }

    def add_pipeline(
        self, pipeline_id: str, label: str, stages: Iterable[tuple[str, str, bool]], *, display_order: int = 0
    ) -> None:
        """A ticket pipeline; ``stages`` are (id, label, is_closed) in display order."""
        stamp = iso(self.now())
        with self._lock:
            self.pipelines = [p for p in self.pipelines if p["id"] != pipeline_id]
            self.pipelines.append(
                {
                    "id": pipeline_id,
                    "label": label,
                    "displayOrder": display_order,
                    "archived": False,
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    "stages": [
                        {
                            "id": sid,
                            "label": slabel,
                            "displayOrder": i,
                            "metadata": {
                                "ticketState": "CLOSED" if closed else "OPEN",
                                "isClosed": str(closed).lower(),
                            },
                            "archived": False,
                            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                            "createdAt": stamp,
                            "updatedAt": stamp,
                        }
                        for i, (sid, slabel, closed) in enumerate(stages)
                    ],
                }
            )

    def add_default_pipeline(self) -> None:
        """HubSpot's default support pipeline ("0") with its four stages (4 = Closed)."""
        self.add_pipeline(
            "0",
            "Support Pipeline",
            [
                ("1", "New", False),
                ("2", "Waiting on contact", False),
                ("3", "Waiting on us", False),
                ("4", "Closed", True),
            ],
        )

    def add_ticket(
        self,
        object_id: str | int,
        *,
        company: str | int | None = None,
        contact: str | int | None = None,
        created: datetime | None = None,
        modified: datetime | None = None,
        archived: bool = False,
        **props: Any,
    ) -> dict[str, Any]:
        assoc: dict[str, list[str | int]] = {}
        if company is not None:
            assoc["companies"] = [company]
        if contact is not None:
            assoc["contacts"] = [contact]
        props.setdefault("hs_pipeline", "0")
        props.setdefault("hs_pipeline_stage", "1")
        if created is not None:
            props.setdefault("createdate", iso(created))
        return self.add(
            "tickets",
            object_id,
            props,
            associations=assoc,
            created=created,
            modified=modified,
            archived=archived,
        )

    def add_feedback(
        self,
        object_id: str | int,
        survey_type: str,
        value: Any,
        *,
        submitted: datetime | None = None,
        contact: str | int | None = None,
        ticket: str | int | None = None,
        modified: datetime | None = None,
        **props: Any,
    ) -> dict[str, Any]:
        submitted = submitted or self.now()
        assoc: dict[str, list[str | int]] = {}
        if contact is not None:
            assoc["contacts"] = [contact]
            props.setdefault("hs_contact_id", contact)
        if ticket is not None:
            assoc["tickets"] = [ticket]
            props.setdefault("hs_ticket_id", ticket)
        return self.add(
            "feedback_submissions",
            object_id,
            {
                "hs_survey_type": survey_type,
                "hs_value": value,
                "hs_submission_timestamp": iso(submitted),
                **props,
            },
            associations=assoc,
            created=submitted,
            modified=modified,
        )

    def load_examples(self) -> None:
        """The records of HubSpot's reference payloads (docs/reference shapes): the default
        pipeline, one owner, one company, one contact, two tickets and three survey answers."""
        self.add_default_pipeline()
        self.add_owner("81234567", "maria.csm@vendor.example", "Maria", "Lopez")
        self.add(
            "companies",
            "9917013",
            {
                "name": "Dana Analytics",
                "domain": "example.com",
                "hubspot_owner_id": "81234567",
                "lifecyclestage": "customer",
                "account_id": "ACC-9917013",
                "createdate": "2025-06-11T08:00:00.000Z",
            },
            modified=datetime(2026, 3, 1, 9, tzinfo=UTC),
        )
        self.add(
            "contacts",
            "140551",
            {
                "email": "dana@example.com",
                "firstname": "Dana",
                "lastname": "Reyes",
                "associatedcompanyid": "9917013",
                "createdate": "2025-06-11T08:05:00.000Z",
            },
            associations={"companies": ["9917013"]},
            modified=datetime(2026, 3, 1, 9, 5, tzinfo=UTC),
        )
        self.add(
            "tickets",
            "31877203415",
            {
                "subject": "Cannot export invoices to CSV",
                "content": "Export button spins forever on the billing page.",
                "hs_pipeline": "0",
                "hs_pipeline_stage": "4",
                "hs_ticket_priority": "HIGH",
                "hs_ticket_category": "PRODUCT_ISSUE",
                "source_type": "EMAIL",
                "createdate": "2026-03-02T09:14:05.120Z",
                "closed_date": "2026-03-04T16:39:58.000Z",
                "first_agent_reply_date": "2026-03-02T10:02:47.311Z",
                "time_to_first_agent_reply": "2922191",
                "time_to_close": "200993880",
                "hs_num_times_contacted": "3",
                "hs_is_closed": "true",
                "hubspot_owner_id": "81234567",
            },
            associations={"contacts": ["140551"], "companies": ["9917013"]},
            created=datetime.fromisoformat("2026-03-02T09:14:05.120Z"),
            modified=datetime.fromisoformat("2026-03-04T16:40:11.903Z"),
        )
        self.add(
            "tickets",
            "31877209981",
            {
                "subject": "SSO login loop",
                "hs_pipeline": "0",
                "hs_pipeline_stage": "1",
                "hs_ticket_priority": "MEDIUM",
                "createdate": "2026-03-05T22:01:00.004Z",
                "closed_date": None,
                "first_agent_reply_date": None,
                "time_to_first_agent_reply": None,
                "time_to_close": None,
                "hs_num_times_contacted": "0",
                "hs_is_closed": "false",
            },
            created=datetime.fromisoformat("2026-03-05T22:01:00.004Z"),
            modified=datetime.fromisoformat("2026-03-05T22:01:03.550Z"),
        )
        self.add(
            "feedback_submissions",
            "904412",
            {
                "hs_survey_type": "NPS",
                "hs_survey_id": "12",
                "hs_survey_name": "Quarterly NPS",
                "hs_survey_channel": "EMAIL",
                "hs_value": "9",
                "hs_response_group": "PROMOTER",
                "hs_content": "Reporting got much faster this quarter.",
                "hs_sentiment": "POSITIVE",
                "hs_submission_timestamp": "2026-03-03T12:00:41.000Z",
                "hs_contact_id": "140551",
                "hs_contact_email_rollup": "dana@example.com",
                "hs_createdate": "2026-03-03T12:00:42.519Z",
            },
            associations={"contacts": ["140551"]},
            created=datetime.fromisoformat("2026-03-03T12:00:42.519Z"),
            modified=datetime.fromisoformat("2026-03-03T12:00:43.002Z"),
        )
        self.add(
            "feedback_submissions",
            "904430",
            {
                "hs_survey_type": "CSAT",
                "hs_survey_id": "7",
                "hs_survey_name": "Support CSAT",
                "hs_survey_channel": "EMAIL",
                "hs_value": "2",
                "hs_response_group": "DISSATISFIED",
                "hs_content": "Took two days to get an answer.",
                "hs_submission_timestamp": "2026-03-04T17:10:05.000Z",
                "hs_contact_id": "140551",
                "hs_ticket_id": "31877203415",
                "hs_createdate": "2026-03-04T17:10:06.100Z",
            },
            created=datetime.fromisoformat("2026-03-04T17:10:06.100Z"),
            modified=datetime.fromisoformat("2026-03-04T17:10:06.100Z"),
        )
        self.add(
            "feedback_submissions",
            "904431",
            {
                "hs_survey_type": "CES",
                "hs_survey_name": "Onboarding effort",
                "hs_value": "5",
                "hs_submission_timestamp": "2026-03-04T18:00:00.000Z",
                "hs_createdate": "2026-03-04T18:00:01.000Z",
            },
            created=datetime.fromisoformat("2026-03-04T18:00:01.000Z"),
            modified=datetime.fromisoformat("2026-03-04T18:00:01.000Z"),
        )

    def populate(
        self,
        *,
        companies: int = 50,
        contacts: int = 200,
        tickets: int = 1000,
        feedback: int = 500,
        owners: int = 5,
        seed: int = 7,
        start: datetime | None = None,
    ) -> None:
        """A synthetic portal (deterministic for a seed): for benchmarks and the demo."""
        rng = random.Random(seed)
        start = start or datetime(2025, 1, 1, tzinfo=UTC)
        span = 420 * 24 * 3600
        self.add_default_pipeline()
        owner_ids = [str(81_000_000 + i) for i in range(owners)]
        for i, oid in enumerate(owner_ids):
            self.add_owner(oid, f"csm{i}@vendor.example", f"Csm{i}", "Owner")
        for i in range(companies):
            self.add(
                "companies",
                9_000_000 + i,
                {
                    "name": f"Customer {i}",
                    "domain": f"customer{i}.example",
                    "hubspot_owner_id": rng.choice(owner_ids),
                    "lifecyclestage": rng.choice(["customer", "customer", "opportunity", "evangelist"]),
                    "account_id": f"ACC-{i:05d}",
                },
                modified=start + timedelta(seconds=rng.randrange(span)),
            )
        for i in range(contacts):
            company = 9_000_000 + rng.randrange(companies) if companies else None
            self.add(
                "contacts",
                140_000 + i,
                {
                    "email": f"user{i}@customer{(company or 0) % 10_000}.example",
                    "firstname": f"User{i}",
                    "lastname": "Example",
                    "associatedcompanyid": company,
                },
                associations={"companies": [company]} if company is not None else None,
                modified=start + timedelta(seconds=rng.randrange(span)),
            )
        priorities = ["LOW", "MEDIUM", "HIGH", "URGENT"]
        channels = ["EMAIL", "CHAT", "FORM", "PHONE"]
        for i in range(tickets):
            created = start + timedelta(seconds=rng.randrange(span))
            closed = rng.random() < 0.8
            reply_ms = rng.randrange(60_000, 2 * 86_400_000)
            props: dict[str, Any] = {
                "subject": f"Ticket {i}",
                "hs_pipeline": "0",
                "hs_pipeline_stage": "4" if closed else rng.choice(["1", "2", "3"]),
                "hs_ticket_priority": rng.choice(priorities),
                "hs_ticket_category": rng.choice(["PRODUCT_ISSUE", "BILLING_ISSUE", "GENERAL_INQUIRY"]),
                "source_type": rng.choice(channels),
                "createdate": iso(created),
                "time_to_first_agent_reply": reply_ms,
                "first_agent_reply_date": iso(created + timedelta(milliseconds=reply_ms)),
                "hs_num_times_contacted": rng.choice([1, 1, 1, 2, 3, 5]),
                "hs_is_closed": closed,
                "closed_date": iso(created + timedelta(hours=rng.randrange(1, 200))) if closed else None,
            }
            assoc: dict[str, list[Any]] = {}
            if companies:
                assoc["companies"] = [9_000_000 + rng.randrange(companies)]
            if contacts:
                assoc["contacts"] = [140_000 + rng.randrange(contacts)]
            self.add(
                "tickets",
                31_000_000_000 + i,
                props,
                associations=assoc,
                created=created,
                modified=created + timedelta(hours=rng.randrange(1, 300)),
            )
        kinds = [("NPS", 0, 10), ("CSAT", 1, 5), ("CES", 1, 7)]
        for i in range(feedback):
            kind, low, high = rng.choice(kinds)
            submitted = start + timedelta(seconds=rng.randrange(span))
            contact = 140_000 + rng.randrange(contacts) if contacts else None
            self.add(
                "feedback_submissions",
                900_000 + i,
                {
                    "hs_survey_type": kind,
                    "hs_survey_id": str(kinds.index((kind, low, high)) + 1),
                    "hs_survey_name": f"{kind} survey",
                    "hs_survey_channel": "EMAIL",
                    "hs_value": rng.randint(low, high),
                    "hs_submission_timestamp": iso(submitted),
                    "hs_contact_id": contact,
                },
                associations={"contacts": [contact]} if contact is not None else None,
                created=submitted,
                modified=submitted + timedelta(seconds=1),
            )

    # ------------------------------------------------------------------ request handling

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """Route one request; returns (status, extra headers, JSON body)."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/")
        with self._lock:
            self.requests.append((method, path))
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return fault.status, extra, _fault_body(fault.status)
        if self.credentials_rejected:
            return (
                401,
                {},
                _error(
                    "The OAuth token used to make this call expired 2 day(s) ago.", "EXPIRED_AUTHENTICATION"
                ),
            )
        if headers.get("Authorization") != f"Bearer {self.token}":
            return (
                401,
                {},
                _error(
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                    "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                ),
            )
        query = {k: [x for v in vs for x in v.split(",") if x] for k, vs in parse_qs(parts.query).items()}
        segments = path.strip("/").split("/")
        try:
            payload = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            return 400, {}, _error("Invalid input JSON on line 1", "VALIDATION_ERROR")
        with self._lock:
            return self._route(method, segments, query, payload)

    def _route(
        self, method: str, seg: list[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        not_found: tuple[int, dict[str, str], Any] = (
            404,
            {},
            _error("Resource not found", "OBJECT_NOT_FOUND"),
        )
        if seg[:3] == ["crm", "v3", "objects"] and len(seg) >= 4:
            object_type = seg[3]
            if object_type not in self.objects:
                return 400, {}, _error(f"Unable to infer object type from: {object_type}", "VALIDATION_ERROR")
            if len(seg) == 4 and method == "GET":
                return self._list(object_type, query)
            if len(seg) == 5 and seg[4] == "search" and method == "POST":
                return self._search(object_type, body)
            return not_found
        if seg[:3] == ["crm", "v3", "owners"] and method == "GET":
            return self._owners(query)
        if seg[:3] == ["crm", "v3", "pipelines"] and len(seg) == 4 and method == "GET":
            return 200, {}, {"results": self.pipelines if seg[3] == "tickets" else []}
        if seg[:3] == ["crm", "v3", "properties"] and len(seg) == 4 and method == "GET":
            return self._properties(seg[3])
        if seg[:3] == ["crm", "v4", "associations"] and len(seg) == 7 and seg[5:] == ["batch", "read"]:
            return self._batch_associations(seg[3], seg[4], body)
        return not_found

    def _list(self, object_type: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        limit = int((query.get("limit") or ["10"])[0])
        if limit > self.list_max:
            limit = self.list_max
        after = int((query.get("after") or ["0"])[0] or 0)
        archived = (query.get("archived") or ["false"])[0].lower() == "true"
        properties = query.get("properties") or list(DEFAULT_PROPERTIES[object_type])
        self.properties_requested[object_type].update(properties)
        associations = query.get("associations") or []
        order = self._order[object_type]
        table = self.objects[object_type]
        results: list[dict[str, Any]] = []
        position = bisect.bisect_left(order, after)
        next_after: int | None = None
        while position < len(order):
            record = table[order[position]]
            position += 1
            if record.archived != archived:
                continue
            if len(results) == limit:
                next_after = record.id
                break
            results.append(self._render(object_type, record, properties, associations))
        page: dict[str, Any] = {"results": results}
        if next_after is not None:
            page["paging"] = {
                "next": {
                    "after": str(next_after),
                    "link": f"https://api.hubapi.com/crm/v3/objects/{object_type}?after={next_after}",
                }
            }
        return 200, {}, page

    def _search(self, object_type: str, body: Any) -> tuple[int, dict[str, str], Any]:
        if not isinstance(body, dict):
            return 400, {}, _error("Invalid input JSON", "VALIDATION_ERROR")
        self.search_bodies.append(body)
        limit = int(body.get("limit") or 10)
        if limit > self.search_max:
            return (
                400,
                {},
                _error(
                    f"Invalid input JSON on line 1: limit must be at most {self.search_max}",
                    "VALIDATION_ERROR",
                ),
            )
        after = int(body.get("after") or 0)
        if after >= self.search_cap:
            return (
                400,
                {},
                _error(
                    "There was a problem with the request.",
                    "VALIDATION_ERROR",
                    errors=[{"message": f"Search results are limited to {self.search_cap} items."}],
                ),
            )
        sorts = body.get("sorts") or []
        if len(sorts) > 1:
            return 400, {}, _error("Only one sort is supported.", "VALIDATION_ERROR")
        groups = body.get("filterGroups") or []
        matches = [
            r
            for r in self.objects[object_type].values()
            if not r.archived
            and (not groups or any(self._matches(object_type, r, g.get("filters") or []) for g in groups))
        ]
        if sorts:
            name = sorts[0].get("propertyName")
            descending = str(sorts[0].get("direction", "ASCENDING")).upper() == "DESCENDING"
            # equal sort values come back in an arbitrary (but stable) order, as HubSpot's do
            matches.sort(
                key=lambda r: (self._sort_value(object_type, r, name), _shuffle(r.id)), reverse=descending
            )
        else:
            matches.sort(key=lambda r: r.id)
        total = len(matches)
        end = min(after + limit, total, self.search_cap)
        properties = body.get("properties") or list(DEFAULT_PROPERTIES[object_type])
        self.properties_requested[object_type].update(properties)
        page: dict[str, Any] = {
            "total": total,
            "results": [self._render(object_type, r, properties, ()) for r in matches[after:end]],
        }
        if after + limit < total:
            page["paging"] = {"next": {"after": str(after + limit)}}
        return 200, {}, page

    def _matches(self, object_type: str, record: _Record, filters: list[dict[str, Any]]) -> bool:
        for f in filters:
            name, op, value = f.get("propertyName"), str(f.get("operator", "EQ")).upper(), f.get("value")
            actual = self._sort_value(object_type, record, name)
            if op == "HAS_PROPERTY":
                if actual is None:
                    return False
                continue
            if actual is None:
                return op == "NEQ"
            wanted: Any = value
            if isinstance(actual, int):
                try:
                    wanted = int(value)  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    wanted = ms(str(value))
            ok = {
                "EQ": actual == wanted,
                "NEQ": actual != wanted,
                "GT": actual > wanted,
                "GTE": actual >= wanted,
                "LT": actual < wanted,
                "LTE": actual <= wanted,
            }.get(op)
            if not ok:
                return False
        return True

    @staticmethod
    def _sort_value(object_type: str, record: _Record, name: str | None) -> Any:
        if name == "hs_object_id":
            return record.id
        if name == MODIFIED.get(object_type, "hs_lastmodifieddate"):
            return record.modified_ms
        value = record.properties.get(name or "")
        if value is not None and name and name.endswith(("date", "timestamp")):
            return ms(value)
        return value

    def _render(
        self, object_type: str, record: _Record, properties: Iterable[str] | None, associations: Iterable[str]
    ) -> dict[str, Any]:
        known = set(self.properties[object_type])
        if properties is None:
            props = dict(record.properties)
        else:
            props = {p: record.properties.get(p) for p in properties if p in known}
            for always in (
                "hs_object_id",
                CREATED.get(object_type, "hs_createdate"),
                MODIFIED.get(object_type, "hs_lastmodifieddate"),
            ):
                props[always] = record.properties.get(always)
        out: dict[str, Any] = {
            "id": str(record.id),
            "properties": props,
            "createdAt": record.created,
            "updatedAt": record.updated,
            "archived": record.archived,
        }
        if record.archived:
            out["archivedAt"] = record.archived_at
        assoc: dict[str, Any] = {}
        for to_type in associations:
            ids = record.associations.get(to_type)
            if not ids:
                continue
            kind = f"{SINGULAR[object_type]}_to_{SINGULAR.get(to_type, to_type)}"
            results = [{"id": ids[0], "type": kind}, {"id": ids[0], "type": f"{kind}_unlabeled"}]
            results += [{"id": i, "type": f"{kind}_unlabeled"} for i in ids[1:]]
            assoc[to_type] = {"results": results}
        if assoc:
            out["associations"] = assoc
        return out

    def _owners(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        limit = min(int((query.get("limit") or ["100"])[0]), 500)
        after = int((query.get("after") or ["0"])[0] or 0)
        archived = (query.get("archived") or ["false"])[0].lower() == "true"
        owners = [o for o in self.owners.values() if o["archived"] == archived]
        page: dict[str, Any] = {"results": owners[after : after + limit]}
        if after + limit < len(owners):
            page["paging"] = {"next": {"after": str(after + limit), "link": None}}
        return 200, {}, page

    def _properties(self, object_type: str) -> tuple[int, dict[str, str], Any]:
        if object_type not in self.properties:
            return 400, {}, _error(f"Unable to infer object type from: {object_type}", "VALIDATION_ERROR")
        results = [
            {
                "name": name,
                "label": name.replace("_", " ").title(),
                "type": "datetime" if name.endswith(("date", "timestamp")) else "string",
                "fieldType": "date" if name.endswith(("date", "timestamp")) else "text",
                "groupName": f"{SINGULAR[object_type]}information",
                "hidden": False,
                "calculated": False,
                "hasUniqueValue": name == "hs_object_id",
                "modificationMetadata": {
                    "archivable": True,
                    "readOnlyDefinition": True,
                    "readOnlyValue": False,
                },
            }
            for name in self.properties[object_type]
        ]
        return 200, {}, {"results": results}

    def _batch_associations(self, from_type: str, to_type: str, body: Any) -> tuple[int, dict[str, str], Any]:
        if from_type not in self.objects:
            return 400, {}, _error(f"Unable to infer object type from: {from_type}", "VALIDATION_ERROR")
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or len(inputs) > 1000:
            return 400, {}, _error("inputs must be a list of at most 1000 ids", "VALIDATION_ERROR")
        unlabeled, primary = ASSOCIATION_TYPE_IDS.get((from_type, to_type), (0, 0))
        results = []
        for item in inputs:
            record = self.objects[from_type].get(int(item["id"]))
            if record is None:
                continue
            ids = record.associations.get(to_type) or []
            if not ids:
                continue
            to = []
            for n, target in enumerate(ids):
                types = [{"category": "HUBSPOT_DEFINED", "typeId": unlabeled, "label": None}]
                if n == 0:
                    types.append({"category": "HUBSPOT_DEFINED", "typeId": primary, "label": "Primary"})
                to.append({"toObjectId": int(target), "associationTypes": types})
            results.append({"from": {"id": str(record.id)}, "to": to})
        stamp = iso(datetime.now(UTC))
        return (
            200,
            {},
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": stamp,
                "completedAt": stamp,
            },
        )


class _Handler(BaseHTTPRequestHandler):
    portal: FakeHubSpot
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    # one buffered write per response and no Nagle: otherwise each answer waits for a delayed ACK
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, extra, payload = self.portal.handle(self.command, self.path, dict(self.headers.items()), body)
        data = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        return _error(
            "You have reached your ten_secondly_rolling limit.",
            "RATE_LIMITS",
            errorType="RATE_LIMIT",
            policyName="TEN_SECONDLY_ROLLING",
        )
    if status >= 500:
        return _error("internal error", "UNKNOWN")
    return _error(f"HTTP {status}", "VALIDATION_ERROR")


def _as_property(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def _shuffle(object_id: int) -> bytes:
    return hashlib.blake2b(str(object_id).encode(), digest_size=4).digest()


def free_port() -> int:
    """A loopback port nothing listens on now (for a fake whose address must be known early)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HubSpotHarness:
    """The conformance kit's harness for the built-in HubSpot connector (duck-types
    ``vitalsign.testing.ConnectorHarness``, which needs pytest, so this module does not import it).

    The fake serves the reference records plus a small synthetic portal, two records a page.
    """

    connector_type = "hubspot"
    http = True
    plugin = None
    secret_values: tuple[str, ...] = ()
    expected_quarantine = 0
    empty_streams: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.port = free_port()

    @property
    def instance_name(self) -> str:
        return "hubspot_under_test"

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        env["HUBSPOT_ACCESS_TOKEN"] = "fake-hubspot-token-conformance"
        return {
            "access_token": "${HUBSPOT_ACCESS_TOKEN}",
            "base_url": f"http://127.0.0.1:{self.port}",
            "account_key": "account_id",
            "list_page_size": 2,
            "search_page_size": 2,
            "batch_size": 2,
            "requests_per_10s": 0,
            "search_per_second": 0,
            "index_lag_seconds": 0,
        }

    def source(self) -> AbstractContextManager[FakeHubSpot]:
        @contextmanager
        def run() -> Iterator[FakeHubSpot]:
            fake = FakeHubSpot(token="fake-hubspot-token-conformance", port=self.port)
            fake.load_examples()
            fake.populate(companies=3, contacts=4, tickets=5, feedback=4, owners=2)
            with fake:
                yield fake

        return run()
