"""Serve the synthetic company (:mod:`vitalsign.testing.synthetic`, built on the billing model of
:mod:`vitalsign.testing.demo_company`) the way the real sources would, for ``vitalsign demo``:

- **Stripe**: every billing decision replayed in time order through the stateful fake's billing
  simulator (customers, per-seat monthly and annual prices, trials, coupons, seat changes and
  upgrades invoiced with prorations, cancellations at period end, failed payments), which issues
  the invoices period by period as Stripe does;
- **HubSpot**: owners, companies (with the shared account key), contacts, the generator's tickets
  moving through the support pipeline and its NPS/CSAT/CES answers, in the loopback CRM fake;
- **Amplitude**: the generator's product usage as export files (``.json.gz``, one JSON event per
  line), one event per feature a user touched that day.

The benchmarks write the same company straight into the store (``synthetic.write_store``); the
demo takes the long way, through the APIs and the real connectors. Deterministic for a seed.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from vitalsign.core.metric import Month

from . import demo_company, synthetic
from .demo_company import DAY, OWNERS, Account, Company, Stint
from .fakes.hubspot import FakeHubSpot, iso
from .fakes.stripe import FakeStripe, fake_api_key
from .synthetic import SyntheticCompany

USAGE_MONTHS = 13
"""Months of product usage served: the report's twelve plus one, so even its first month has the
60 days of history the usage trend compares."""
TICKETS_PER_ACCOUNT = 8.0
ANSWERS_PER_ACCOUNT = 8.0
USER_DAYS_PER_ACCOUNT = 320.0
"""Active user-days per account over the usage months. The generator counts ~25 events per
user-day; the export carries one event per feature used (the usage metrics count users and
features, not clicks), which keeps the demo's files small."""
AMPLITUDE_PROJECT = 424242


@dataclass
class DemoSources:
    """The company served by the fakes as it stood at ``cut`` (the first day of the last full
    month); :meth:`catch_up` then moves every source on to the company's end, the way a month
    goes by between two scheduled syncs."""

    synthetic: SyntheticCompany
    stripe: FakeStripe
    hubspot: FakeHubSpot
    amplitude_glob: Path
    cut: int
    replay: StripeReplay
    crm: HubSpotFeed
    usage: AmplitudeFeed

    @property
    def company(self) -> Company:
        return self.synthetic.company

    @property
    def events(self) -> int:
        return self.usage.total

    @property
    def last_full_month(self) -> Month:
        return Month.of(datetime.fromtimestamp(self.company.end, UTC).date()).previous()

    def catch_up(self) -> None:
        """Everything that happened from ``cut`` to the end: renewals, upgrades and cancellations
        (with Stripe events), tickets opened, answered and closed, answers, a month of usage."""
        end = self.company.end
        self.replay.run(end, emit=True)
        self.crm.publish(self.cut, end, live=True)
        self.usage.write(self.cut, end)


def build(
    *, accounts: int, months: int, seed: int, workdir: Path, now: datetime | None = None
) -> DemoSources:
    """The company, and the sources loaded with its history up to the last full month."""
    sc = synthetic.build(
        accounts=accounts,
        months=months,
        seed=seed,
        end=now,
        tickets_per_account=TICKETS_PER_ACCOUNT * months / 24,
        answers_per_account=ANSWERS_PER_ACCOUNT * months / 24,
        events_per_account=USER_DAYS_PER_ACCOUNT * 25,
        usage_months=min(USAGE_MONTHS, months),
    )
    end = datetime.fromtimestamp(sc.end, UTC)
    cut = int(demo_company.add_months(end, -1).timestamp())
    stripe = FakeStripe(api_key=fake_api_key(f"demo{seed:010d}"), seed=seed)
    replay = StripeReplay(stripe, sc.company)
    replay.run(cut, emit=False)
    hubspot = FakeHubSpot(token=f"pat-demo-{seed:010d}")
    crm = HubSpotFeed(hubspot, sc, seed)
    crm.publish(sc.company.start, cut)
    folder = workdir / "amplitude"
    usage = AmplitudeFeed(folder, sc)
    usage.write(sc.company.start, cut)
    return DemoSources(sc, stripe, hubspot, folder / "*.json.gz", cut, replay, crm, usage)


# ---------------------------------------------------------------- Stripe


Action = Callable[[bool], None]
"""A billing decision applied to the fake; the flag says whether it emits Stripe events."""


class StripeReplay:
    """Every billing decision of the company, replayed in time order through the fake's billing
    simulator. ``run(until)`` applies what happened before ``until`` and bills up to it; a later
    ``run`` goes on from there with events emitted, which an incremental sync then reads."""

    def __init__(self, fake: FakeStripe, company: Company) -> None:
        self.fake, self.company = fake, company
        start = company.start
        self.prices: dict[tuple[str, bool], str] = {}
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
                self.prices[(plan.name, annual)] = price["id"]
        for code, (percent, duration, months) in demo_company.COUPONS.items():
            fake.create_coupon(
                percent_off=percent,
                duration=duration,
                duration_in_months=months,
                coupon_id=code,
                created=start,
                emit=False,
            )
        self.customers: dict[str, str] = {}
        self.subscriptions: dict[int, str] = {}  # id(stint) -> subscription id
        actions: list[tuple[int, int, Action]] = []

        def add(at: int, action: Action) -> None:
            if at < company.end:
                actions.append((at, len(actions), action))

        for account in company.accounts:
            add(account.created, self._customer(account))
            for stint in account.stints:
                add(stint.start, self._subscribe(account, stint))
                for change in stint.changes:
                    add(change.at, self._change(stint, change))
                if stint.payment_failure_at is not None:
                    add(stint.payment_failure_at, self._fail(stint))
                if stint.cancel_at is not None:
                    paid = stint.cancel_at > stint.start + stint.trial_days * DAY
                    add(stint.cancel_at, self._cancel(stint, stint.payment_failure_at is None and paid))
        self.actions = sorted(actions, key=lambda a: (a[0], a[1]))
        self.done = 0

    def run(self, until: int, *, emit: bool) -> None:
        while self.done < len(self.actions) and self.actions[self.done][0] < until:
            at, _, action = self.actions[self.done]
            self.fake.advance(at, emit=emit)
            action(emit)
            self.done += 1
        self.fake.advance(until - 1, emit=emit)

    def _customer(self, account: Account) -> Action:
        def run(emit: bool) -> None:
            customer = self.fake.create_customer(
                email=f"billing@{account.domain}",
                name=account.name,
                metadata={"account_id": account.key},
                created=account.created,
                emit=emit,
            )
            self.customers[account.key] = customer["id"]

        return run

    def _subscribe(self, account: Account, stint: Stint) -> Action:
        def run(emit: bool) -> None:
            sub = self.fake.create_subscription(
                self.customers[account.key],
                [(self.prices[(stint.plan, stint.annual)], stint.seats)],
                start=stint.start,
                trial_days=stint.trial_days,
                coupon=stint.coupon,
                emit=emit,
            )
            self.subscriptions[id(stint)] = sub["id"]

        return run

    def _live(self, stint: Stint) -> str | None:
        sub_id = self.subscriptions.get(id(stint))
        if sub_id is None or self.fake.get("subscription", sub_id)["status"] in (
            "canceled",
            "incomplete_expired",
        ):
            return None
        return sub_id

    def _change(self, stint: Stint, change: demo_company.Change) -> Action:
        def run(emit: bool) -> None:
            sub_id = self._live(stint)
            if sub_id is None:
                return
            price = self.prices[(change.plan, stint.annual)] if change.plan else None
            # billed at once (as many SaaS bill upgrades), so the new terms are on an invoice right away
            self.fake.update_item(
                sub_id, at=change.at, quantity=change.seats, price=price, proration_behavior="always_invoice"
            )

        return run

    def _fail(self, stint: Stint) -> Action:
        def run(emit: bool) -> None:
            sub_id = self._live(stint)
            if sub_id is not None:
                self.fake.fail_next_payment(sub_id)

        return run

    def _cancel(self, stint: Stint, at_period_end: bool) -> Action:
        assert stint.cancel_at is not None
        at = stint.cancel_at

        def run(emit: bool) -> None:
            sub_id = self._live(stint)
            if sub_id is not None:
                self.fake.cancel_subscription(sub_id, at=at, at_period_end=at_period_end)

        return run


# ---------------------------------------------------------------- HubSpot


COMPANY_ID, CONTACT_ID, TICKET_ID, FEEDBACK_ID, OWNER_ID = (
    9_100_000,
    150_000,
    32_000_000_000,
    950_000,
    81_500_000,
)


class HubSpotFeed:
    """The CRM as it stands at a moment: ``publish(since, until)`` adds or updates every record
    created or changed in that window. Its last-modified date (what HubSpot's search, and so an
    incremental sync, goes by) is when it changed for the history loaded before the first sync,
    and the wall clock for the month published after it, as HubSpot stamps a change when it is
    written."""

    def __init__(self, fake: FakeHubSpot, sc: SyntheticCompany, seed: int) -> None:
        self.fake, self.sc, self.seed = fake, sc, seed
        fake.add_default_pipeline()
        for i, (first, last) in enumerate(OWNERS):
            fake.add_owner(OWNER_ID + i, f"{first.lower()}.{last.lower()}@vendor.example", first, last)
        self.contacts: dict[tuple[int, int], int] = {}
        for account in sc.accounts:
            for n in range(len(account.contacts)):
                self.contacts[(account.index, n)] = CONTACT_ID + len(self.contacts)
        self.accounts = {a.index: a for a in sc.accounts}
        self.live = False

    def publish(self, since: int, until: int, *, live: bool = False) -> None:
        self.live = live
        for account in self.sc.accounts:
            if since <= account.created < until:
                self._company(account)
        for i, ticket in enumerate(self.sc.tickets):
            changes = [t for t in (ticket.created, ticket.first_response, ticket.closed) if t is not None]
            if any(since <= t < until for t in changes):
                self._ticket(ticket, TICKET_ID + i, until)
        for i, answer in enumerate(self.sc.answers):
            if since <= answer.submitted < until:
                contact = self.contacts[(answer.account, answer.contact)]
                submitted = _dt(answer.submitted)
                kind = answer.kind.upper()
                _feedback(
                    self.fake, FEEDBACK_ID + i, kind, answer.score, submitted, contact, self._stamp(submitted)
                )

    def _stamp(self, when: datetime) -> datetime | None:
        """The last-modified date: ``when`` for history, None (the fake's clock) when live."""
        return None if self.live else when

    def _company(self, account: Account) -> None:
        cid = COMPANY_ID + account.index
        created = _dt(account.created)
        self.fake.add(
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
            modified=self._stamp(created + timedelta(minutes=1)),
        )
        for n, (email, first, last) in enumerate(account.contacts):
            self.fake.add(
                "contacts",
                self.contacts[(account.index, n)],
                {"email": email, "firstname": first, "lastname": last, "associatedcompanyid": cid},
                associations={"companies": [cid]},
                created=created,
                modified=self._stamp(created + timedelta(minutes=2)),
            )

    def _ticket(self, t: synthetic.Ticket, ticket_id: int, until: int) -> None:
        """The ticket as it stood at ``until``: replied, closed (stage 4) or still open;
        escalated ones are URGENT (the demo config's escalation rule)."""
        account = self.accounts[t.account]
        rng = random.Random(self.seed * 7919 + ticket_id)  # the same subject at every publish
        replied = t.first_response if t.first_response is not None and t.first_response < until else None
        closed = t.closed if t.closed is not None and t.closed < until else None
        created = _dt(t.created)
        props: dict[str, Any] = {
            "subject": rng.choice(SUBJECTS),
            "hs_pipeline": "0",
            "hs_pipeline_stage": "4" if closed else ("3" if replied else "1"),
            "hs_ticket_priority": "URGENT" if t.escalated else t.priority,
            "hs_ticket_category": rng.choice(["PRODUCT_ISSUE", "BILLING_ISSUE", "GENERAL_INQUIRY"]),
            "source_type": rng.choice(["EMAIL", "EMAIL", "CHAT", "FORM", "PHONE"]),
            "createdate": iso(created),
            "time_to_first_agent_reply": (replied - t.created) * 1000 if replied else None,
            "hs_num_times_contacted": t.interactions if closed else (1 if replied else 0),
            "hs_is_closed": closed is not None,
            "closed_date": iso(_dt(closed)) if closed else None,
            "hubspot_owner_id": OWNER_ID + account.owner,
        }
        self.fake.add(
            "tickets",
            ticket_id,
            props,
            associations={
                "companies": [COMPANY_ID + account.index],
                "contacts": [self.contacts[(account.index, t.contact)]],
            },
            created=created,
            modified=self._stamp(_dt(closed or replied or t.created) + timedelta(seconds=30)),
        )


def _feedback(
    fake: FakeHubSpot,
    fid: int,
    kind: str,
    value: int,
    at: datetime,
    contact: int,
    modified: datetime | None,
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
    fake.add(
        "feedback_submissions",
        fid,
        props,
        associations={"contacts": [contact]},
        created=at,
        modified=modified,
    )


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


class AmplitudeFeed:
    """The generator's usage as Amplitude export files, one per day: ``write(since, until)``
    writes the days in that window (the export of a month that went by).

    A user-day becomes one event per feature used that day (``<feature>_used``), or one
    ``session_started`` when no feature was; times spread over the working day."""

    def __init__(self, folder: Path, sc: SyntheticCompany) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.by_day: dict[date, list[str]] = {}
        for account in sc.accounts:
            emails = [email for email, _, _ in account.contacts]
            rng = random.Random(sc.seed * 31 + account.index)
            for day, user, _events, features in sc.usage(account):
                index = int(user.rsplit("-u", 1)[1])
                email = emails[index] if index < len(emails) else f"{user}@{account.domain}"
                lines = self.by_day.setdefault(day, [])
                used: list[str | None] = [*sorted(features)] or [None]
                for feature in used:
                    second = rng.randrange(7 * 3600, 19 * 3600)
                    hour, rest = divmod(second, 3600)
                    clock = f"{hour:02d}:{rest // 60:02d}:{rest % 60:02d}"
                    lines.append(
                        orjson.dumps(
                            {
                                "event_type": f"{feature}_used" if feature else "session_started",
                                "user_id": user,
                                "device_id": f"dev-{user}",
                                "event_time": f"{day.isoformat()} {clock}.000000",
                                "$insert_id": f"{user}-{day.isoformat()}-{feature or 'session'}",
                                "groups": {"company": [account.key]},
                                "event_properties": {"feature": feature} if feature else {},
                                "user_properties": {"email": email},
                            }
                        ).decode()  # a str of its exact size: orjson's bytes keep a 4 KiB buffer
                    )
        self.total = 0

    def write(self, since: int, until: int) -> int:
        first, last = _dt(since).date(), _dt(until).date()
        written = 0
        for day in sorted(d for d in self.by_day if first <= d < last):
            name = f"{AMPLITUDE_PROJECT}_{day.isoformat()}_0#0.json.gz"
            lines = self.by_day[day]
            with gzip.GzipFile(self.folder / name, "wb", compresslevel=1, mtime=0) as out:  # reproducible
                out.write(("\n".join(lines) + "\n").encode())
            written += len(lines)
        self.total += written
        return written


# ---------------------------------------------------------------- helpers


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
