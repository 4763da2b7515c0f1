"""Serve a demo company (``demo_company``) the way the real sources would, for ``vitalsign demo``:

- **Stripe**: every billing decision replayed in time order through the stateful fake's billing
  simulator (customers, per-seat monthly and annual prices, trials, coupons, seat changes with
  prorations, upgrades, cancellations at period end, failed payments), which issues the invoices
  period by period as Stripe does;
- **HubSpot**: owners, companies (with the shared account key), contacts, tickets moving through
  the support pipeline, NPS/CSAT/CES answers, in the loopback fake of the CRM API;
- **Amplitude**: export files (``.json.gz``, one JSON event per line) of the product usage, with
  weekly seasonality and feature adoption, fading before an account leaves.

The account's latent health (``vitality``) drives tickets, answers and usage, so the health score
has something true to find. Deterministic for a seed.
"""

from __future__ import annotations

import gzip
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from vitalsign.core.metric import Month

from . import demo_company
from .demo_company import DAY, OWNERS, Account, Company, Stint
from .fakes.hubspot import FakeHubSpot, iso
from .fakes.stripe import FakeStripe

USAGE_MONTHS = 14
"""Months of product usage served: the report's twelve plus two, so even its first month has the
60 days of history the usage trend compares. Usage events are the bulk of the data."""
MAX_USERS = 12
AMPLITUDE_PROJECT = 424242


@dataclass
class DemoSources:
    company: Company
    stripe: FakeStripe
    hubspot: FakeHubSpot
    amplitude_glob: Path
    events: int

    @property
    def last_full_month(self) -> Month:
        return Month.of(datetime.fromtimestamp(self.company.end, UTC).date()).previous()


def build(
    *, accounts: int, months: int, seed: int, workdir: Path, now: datetime | None = None
) -> DemoSources:
    company = demo_company.generate(accounts=accounts, months=months, seed=seed, end=now)
    stripe = FakeStripe(api_key="sk_test_vitalsign_demo_" + f"{seed:010d}", seed=seed)
    load_stripe(stripe, company)
    hubspot = FakeHubSpot(token=f"pat-demo-{seed:010d}")
    load_hubspot(hubspot, company, seed)
    folder = workdir / "amplitude"
    events = write_amplitude(folder, company, seed)
    return DemoSources(company, stripe, hubspot, folder / "*.json.gz", events)


# ---------------------------------------------------------------- Stripe


def load_stripe(fake: FakeStripe, company: Company) -> None:
    """Replay every billing decision in time order; then bill up to the company's ``end``."""
    start = company.start
    prices: dict[tuple[str, bool], str] = {}
    for plan in company.plans:
        product = fake.create_product(plan.name, created=start, emit=False)
        for annual in (False, True):
            price = fake.create_price(
                product["id"],
                plan.annual if annual else plan.monthly,
                interval="year" if annual else "month",
                nickname=f"{plan.name} seat {'annual' if annual else 'monthly'}",
                created=start,
                emit=False,
            )
            prices[(plan.name, annual)] = price["id"]
    for code, (percent, duration, months) in demo_company.COUPONS.items():
        fake.create_coupon(
            percent_off=percent,
            duration=duration,
            duration_in_months=months,
            coupon_id=code,
            created=start,
            emit=False,
        )

    actions: list[tuple[int, int, Callable[[], None]]] = []
    customers: dict[str, str] = {}
    subscriptions: dict[int, str] = {}  # id(stint) -> subscription id

    def add(at: int, action: Callable[[], None]) -> None:
        if at < company.end:
            actions.append((at, len(actions), action))

    for account in company.accounts:
        add(account.created, _customer(fake, account, customers))
        for stint in account.stints:
            add(stint.start, _subscribe(fake, account, stint, customers, subscriptions, prices))
            for change in stint.changes:
                add(change.at, _change(fake, stint, change, subscriptions, prices))
            if stint.payment_failure_at is not None:
                add(stint.payment_failure_at, _fail(fake, stint, subscriptions))
            if stint.cancel_at is not None:
                at_period_end = stint.payment_failure_at is None and stint.cancel_at > stint.start + (
                    stint.trial_days * DAY
                )
                add(stint.cancel_at, _cancel(fake, stint, subscriptions, at_period_end))
    for at, _, action in sorted(actions, key=lambda a: (a[0], a[1])):
        fake.advance(at, emit=False)
        action()
    fake.advance(company.end - 1, emit=False)


def _customer(fake: FakeStripe, account: Account, customers: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        customer = fake.create_customer(
            email=f"billing@{account.domain}",
            name=account.name,
            metadata={"account_id": account.key},
            created=account.created,
            emit=False,
        )
        customers[account.key] = customer["id"]

    return run


def _subscribe(
    fake: FakeStripe,
    account: Account,
    stint: Stint,
    customers: dict[str, str],
    subscriptions: dict[int, str],
    prices: dict[tuple[str, bool], str],
) -> Callable[[], None]:
    def run() -> None:
        sub = fake.create_subscription(
            customers[account.key],
            [(prices[(stint.plan, stint.annual)], stint.seats)],
            start=stint.start,
            trial_days=stint.trial_days,
            coupon=stint.coupon,
            emit=False,
        )
        subscriptions[id(stint)] = sub["id"]

    return run


def _change(
    fake: FakeStripe,
    stint: Stint,
    change: demo_company.Change,
    subscriptions: dict[int, str],
    prices: dict[tuple[str, bool], str],
) -> Callable[[], None]:
    def run() -> None:
        sub_id = subscriptions.get(id(stint))
        if sub_id is None or fake.get("subscription", sub_id)["status"] in ("canceled", "incomplete_expired"):
            return
        price = prices[(change.plan, stint.annual)] if change.plan else None
        # billed at once (as many SaaS bill upgrades), so the new terms are on an invoice right away
        fake.update_item(
            sub_id, at=change.at, quantity=change.seats, price=price, proration_behavior="always_invoice"
        )

    return run


def _fail(fake: FakeStripe, stint: Stint, subscriptions: dict[int, str]) -> Callable[[], None]:
    def run() -> None:
        fake.fail_next_payment(subscriptions[id(stint)])

    return run


def _cancel(
    fake: FakeStripe, stint: Stint, subscriptions: dict[int, str], at_period_end: bool
) -> Callable[[], None]:
    assert stint.cancel_at is not None
    at = stint.cancel_at

    def run() -> None:
        sub_id = subscriptions[id(stint)]
        if fake.get("subscription", sub_id)["status"] not in ("canceled", "incomplete_expired"):
            fake.cancel_subscription(sub_id, at=at, at_period_end=at_period_end)

    return run


# ---------------------------------------------------------------- HubSpot


COMPANY_ID, CONTACT_ID, TICKET_ID, FEEDBACK_ID, OWNER_ID = (
    9_100_000,
    150_000,
    32_000_000_000,
    950_000,
    81_500_000,
)


def load_hubspot(fake: FakeHubSpot, company: Company, seed: int) -> None:
    rng = random.Random(seed * 7919 + 1)
    fake.add_default_pipeline()
    for i, (first, last) in enumerate(OWNERS):
        fake.add_owner(OWNER_ID + i, f"{first.lower()}.{last.lower()}@vendor.example", first, last)
    contact_ids = iter(range(CONTACT_ID, CONTACT_ID + 10_000_000))
    ticket_ids = iter(range(TICKET_ID, TICKET_ID + 10_000_000))
    feedback_ids = iter(range(FEEDBACK_ID, FEEDBACK_ID + 10_000_000))
    end = company.end
    for account in company.accounts:
        cid = COMPANY_ID + account.index
        created = _dt(account.created)
        fake.add(
            "companies",
            cid,
            {
                "name": account.name,
                "domain": account.domain,
                "hubspot_owner_id": OWNER_ID + account.owner,
                "lifecyclestage": "customer" if account.stints else "opportunity",
                "account_id": account.key,
            },
            created=created,
            modified=created + timedelta(hours=1),
        )
        contacts = []
        for email, first, last in account.contacts:
            contact = next(contact_ids)
            contacts.append(contact)
            fake.add(
                "contacts",
                contact,
                {"email": email, "firstname": first, "lastname": last, "associatedcompanyid": cid},
                associations={"companies": [cid]},
                created=created,
                modified=created + timedelta(hours=2),
            )
        _tickets(fake, rng, account, cid, contacts, end, ticket_ids, feedback_ids)
        _nps(fake, rng, account, contacts, company.start, end, feedback_ids)


def _tickets(
    fake: FakeHubSpot,
    rng: random.Random,
    account: Account,
    company_id: int,
    contacts: list[int],
    end: int,
    ticket_ids: Iterator[int],
    feedback_ids: Iterator[int],
) -> None:
    """Tickets month by month while the account pays: more, and more urgent, as it weakens."""
    month = 30 * DAY
    at = account.created
    while at < end:
        if account.active(at) is not None:
            vitality = account.vitality(at)
            rate = 0.25 + 1.6 * (1 - vitality) + account.seats_at(at) / 60
            for _ in range(_poisson(rng, rate)):
                created = at + rng.randrange(month)
                if created >= end - 3600:
                    continue
                _ticket(
                    fake, rng, account, company_id, contacts, created, end, next(ticket_ids), feedback_ids
                )
        at += month


def _ticket(
    fake: FakeHubSpot,
    rng: random.Random,
    account: Account,
    company_id: int,
    contacts: list[int],
    created_ts: int,
    end: int,
    ticket_id: int,
    feedback_ids: Iterator[int],
) -> None:
    vitality = account.vitality(created_ts)
    roll = rng.random()
    urgent = 0.03 + 0.22 * (1 - vitality)
    priority = "URGENT" if roll < urgent else "HIGH" if roll < urgent + 0.2 else rng.choice(["LOW", "MEDIUM"])
    reply_hours = rng.lognormvariate(math.log(0.6 if priority == "URGENT" else 2.5), 0.8)
    resolve_hours = reply_hours + rng.lognormvariate(math.log(18 if priority != "URGENT" else 30), 0.9)
    created = _dt(created_ts)
    closed_at = created + timedelta(hours=resolve_hours)
    closed = closed_at.timestamp() < end and rng.random() < 0.97
    replied = created + timedelta(hours=reply_hours)
    interactions = 1 if rng.random() < 0.45 + 0.3 * vitality else rng.randint(2, 6)
    contact = rng.choice(contacts)
    fake.add(
        "tickets",
        ticket_id,
        {
            "subject": rng.choice(SUBJECTS),
            "hs_pipeline": "0",
            "hs_pipeline_stage": "4" if closed else rng.choice(["1", "2", "3"]),
            "hs_ticket_priority": priority,
            "hs_ticket_category": rng.choice(["PRODUCT_ISSUE", "BILLING_ISSUE", "GENERAL_INQUIRY"]),
            "source_type": rng.choice(["EMAIL", "EMAIL", "CHAT", "FORM", "PHONE"]),
            "createdate": iso(created),
            "time_to_first_agent_reply": int(reply_hours * 3_600_000) if replied.timestamp() < end else None,
            "hs_num_times_contacted": interactions,
            "hs_is_closed": closed,
            "closed_date": iso(closed_at) if closed else None,
            "hubspot_owner_id": OWNER_ID + account.owner,
        },
        associations={"companies": [company_id], "contacts": [contact]},
        created=created,
        modified=(closed_at if closed else replied) + timedelta(minutes=5),
    )
    if closed and rng.random() < 0.35:  # CSAT after the ticket, CES now and then
        submitted = closed_at + timedelta(hours=rng.uniform(1, 48))
        if submitted.timestamp() < end:
            mood = vitality - (0.25 if priority == "URGENT" else 0) - (0.1 if interactions > 3 else 0)
            csat = _clamp(round(rng.gauss(2.2 + 2.8 * mood, 0.8)), 1, 5)
            _feedback(fake, next(feedback_ids), "CSAT", csat, submitted, contact, ticket_id)
            if rng.random() < 0.4:
                ces = _clamp(round(rng.gauss(2.8 + 4 * mood, 1.0)), 1, 7)
                _feedback(
                    fake, next(feedback_ids), "CES", ces, submitted + timedelta(minutes=2), contact, ticket_id
                )


def _nps(
    fake: FakeHubSpot,
    rng: random.Random,
    account: Account,
    contacts: list[int],
    start: int,
    end: int,
    feedback_ids: Iterator[int],
) -> None:
    """A relationship NPS survey every four months per contact (staggered, so every month has
    answers); about one contact in two answers while the account pays."""
    every = 120 * DAY
    for contact in contacts:
        at = start + rng.randrange(every)
        while at < end:
            if account.active(at) is not None and rng.random() < 0.5:
                vitality = account.vitality(at)
                score = _clamp(round(rng.gauss(3.5 + 6.8 * vitality, 1.4)), 0, 10)
                _feedback(fake, next(feedback_ids), "NPS", score, _dt(at), contact, None)
            at += every + rng.randrange(-10, 10) * DAY


def _feedback(
    fake: FakeHubSpot, fid: int, kind: str, value: int, at: datetime, contact: int, ticket: int | None
) -> None:
    props: dict[str, Any] = {
        "hs_survey_type": kind,
        "hs_survey_id": {"NPS": "1", "CSAT": "2", "CES": "3"}[kind],
        "hs_survey_name": f"{kind} survey",
        "hs_survey_channel": "EMAIL",
        "hs_value": value,
        "hs_submission_timestamp": iso(at),
        "hs_contact_id": contact,
    }
    associations: dict[str, list[Any]] = {"contacts": [contact]}
    if ticket is not None:
        props["hs_ticket_id"] = ticket
        associations["tickets"] = [ticket]
    fake.add("feedback_submissions", fid, props, associations=associations, created=at, modified=at)


SUBJECTS = (
    "Cannot export report to CSV",
    "Dashboard loads slowly",
    "Invoice shows the wrong seat count",
    "SSO login fails for new users",
    "How do I share a dashboard?",
    "Alert emails not arriving",
    "Integration with our CRM stopped syncing",
    "Please add two more seats",
    "API returns 500 on large queries",
    "Question about annual billing",
)


# ---------------------------------------------------------------- Amplitude


def write_amplitude(folder: Path, company: Company, seed: int) -> int:
    """Usage of the last :data:`USAGE_MONTHS` months as Amplitude export files, one per day;
    returns the number of events written."""
    folder.mkdir(parents=True, exist_ok=True)
    end = datetime.fromtimestamp(company.end, UTC)
    first = demo_company.add_months(end, -USAGE_MONTHS)
    rng = random.Random(seed * 104_729 + 3)
    users = {a.key: _users(a) for a in company.accounts}
    adopted: dict[str, int] = {}  # user -> features adopted so far
    total = 0
    day = first
    while day < end:
        weekday = day.weekday()
        season = 1.0 if weekday < 5 else 0.22
        lines: list[bytes] = []
        day_text = day.strftime("%Y-%m-%d")
        stamp = int(day.timestamp()) + 12 * 3600
        for account in company.accounts:
            plan = account.plan_at(stamp)
            if plan is None:
                continue
            vitality = account.vitality(stamp)
            seats = account.seats_at(stamp)
            for n, (user, email) in enumerate(users[account.key][: max(1, min(seats, MAX_USERS))]):
                if rng.random() >= season * (0.12 + 0.75 * vitality) * (1 if n < 3 else 0.55):
                    continue
                known = adopted.get(user, 1)
                if rng.random() < 0.03 * vitality and known < len(plan.features):
                    known += 1
                adopted[user] = known
                for _ in range(1 + (rng.random() < 0.35)):
                    second = rng.randrange(7 * 3600, 19 * 3600)
                    hour, rest = divmod(second, 3600)
                    clock = f"{hour:02d}:{rest // 60:02d}:{rest % 60:02d}"
                    feature = plan.features[rng.randrange(min(known, len(plan.features)))]
                    total += 1
                    lines.append(
                        orjson.dumps(
                            {
                                "event_type": f"{feature}_used",
                                "user_id": user,
                                "device_id": f"dev-{user}",
                                "event_time": f"{day_text} {clock}.000000",
                                "$insert_id": f"{user}-{day_text}-{second}-{total}",
                                "groups": {"company": [account.key]},
                                "event_properties": {"feature": feature},
                                "user_properties": {"email": email, "plan": plan.name},
                            }
                        )
                    )
        if lines:
            name = f"{AMPLITUDE_PROJECT}_{day_text}_0#0.json.gz"
            with gzip.GzipFile(folder / name, "wb", compresslevel=1, mtime=0) as out:  # same seed, same bytes
                out.write(b"\n".join(lines) + b"\n")
        day += timedelta(days=1)
    return total


def _users(account: Account) -> list[tuple[str, str]]:
    people = [(f"u-{account.key}-{i}", email) for i, (email, _, _) in enumerate(account.contacts)]
    extra = [(f"u-{account.key}-{i}", f"user{i}@{account.domain}") for i in range(len(people), MAX_USERS)]
    return people + extra


# ---------------------------------------------------------------- helpers


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _poisson(rng: random.Random, rate: float) -> int:
    """Knuth's method: fine for the small rates used here."""
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
