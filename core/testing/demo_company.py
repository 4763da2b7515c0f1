"""The demo company as a timeline of customer decisions: who signs up when, on which plan and
billing interval, trials and coupons, seat changes, upgrades, churn and come-backs, and each
account's latent health, which drives the support load, the survey answers and the product usage
the sources serve (``demo_sources``).

Everything comes from one ``random.Random(seed)``: the same seed gives the same company. Times are
Unix seconds (UTC) like the Stripe fake's; the history ends at ``end`` (the first day of a month),
so the report's "last full month" is the month before it whatever the day the demo runs.

Churn is decided up to three months *after* ``end``: those accounts have not left yet, but their
usage is already fading, their NPS dropping and their tickets escalating, which is what the
health score is meant to catch.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

DAY = 86_400

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Barbara",
    "Carlos",
    "Chen",
    "Dana",
    "Elena",
    "Emeka",
    "Farah",
    "Grace",
    "Hana",
    "Ivan",
    "Jonas",
    "Kai",
    "Lara",
    "Mateo",
    "Mei",
    "Nadia",
    "Noor",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Sofia",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Yara",
    "Zoe",
]
LAST_NAMES = [
    "Adams",
    "Berg",
    "Costa",
    "Diaz",
    "Eze",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quist",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zimmer",
]
NAME_A = [
    "Acme",
    "Blue",
    "Bright",
    "Cedar",
    "Cloud",
    "Copper",
    "Delta",
    "Ember",
    "Fern",
    "Granite",
    "Harbor",
    "Iron",
    "Juniper",
    "Keystone",
    "Lumen",
    "Maple",
    "Nimbus",
    "North",
    "Oak",
    "Orbit",
    "Pine",
    "Quartz",
    "River",
    "Sage",
    "Silver",
    "Summit",
    "Tidal",
    "Umber",
    "Vertex",
    "Willow",
    "Zephyr",
]
NAME_B = [
    "Analytics",
    "Bakery",
    "Labs",
    "Logistics",
    "Health",
    "Foods",
    "Robotics",
    "Studio",
    "Systems",
    "Works",
    "Partners",
    "Media",
    "Energy",
    "Dental",
    "Legal",
    "Travel",
    "Security",
    "Freight",
    "Capital",
    "Clinics",
    "Schools",
    "Games",
    "Motors",
]


@dataclass(frozen=True)
class Plan:
    name: str
    monthly: int  # per seat per month, cents
    annual: int  # per seat per year, cents (two months free)
    features: tuple[str, ...]
    seats: tuple[int, int]


PLANS = (
    Plan("Starter", 1900, 19000, ("dashboards", "reports", "sharing"), (2, 8)),
    Plan("Growth", 3900, 39000, ("dashboards", "reports", "sharing", "alerts", "integrations"), (5, 25)),
    Plan(
        "Scale",
        7900,
        79000,
        ("dashboards", "reports", "sharing", "alerts", "integrations", "sso", "api"),
        (20, 80),
    ),
)
COUPONS = {"LAUNCH20": (20.0, "forever", None), "WELCOME30": (30.0, "repeating", 3)}
OWNERS = (("Maria", "Lopez"), ("Tom", "Becker"), ("Aisha", "Khan"), ("Lucas", "Meyer"), ("Ines", "Duarte"))


@dataclass
class Change:
    at: int
    seats: int | None = None
    plan: str | None = None


@dataclass
class Stint:
    """One subscription: from ``start`` until cancelled at ``cancel_at`` (None: still running)."""

    start: int
    plan: str
    seats: int
    annual: bool
    trial_days: int = 0
    coupon: str | None = None
    changes: list[Change] = field(default_factory=list)
    cancel_at: int | None = None
    payment_failure_at: int | None = None  # a failed renewal: past_due, then cancelled at once


@dataclass
class Account:
    index: int
    key: str
    name: str
    domain: str
    owner: int
    created: int
    health: float  # 0 (about to leave) .. 1 (thriving), the latent driver of every signal
    contacts: list[tuple[str, str, str]]  # (email, first, last)
    stints: list[Stint] = field(default_factory=list)
    churn_at: int | None = None  # when the last stint ends for good (may be after ``end``)

    def active(self, at: int) -> Stint | None:
        for stint in self.stints:
            ends = stint.cancel_at if stint.cancel_at is not None else math.inf
            if stint.start <= at < ends:
                return stint
        return None

    def seats_at(self, at: int) -> int:
        stint = self.active(at)
        if stint is None:
            return 0
        seats = stint.seats
        for change in stint.changes:
            if change.at <= at and change.seats is not None:
                seats = change.seats
        return seats

    def plan_at(self, at: int) -> Plan | None:
        stint = self.active(at)
        if stint is None:
            return None
        name = stint.plan
        for change in stint.changes:
            if change.at <= at and change.plan is not None:
                name = change.plan
        return plan(name)

    def vitality(self, at: int) -> float:
        """How engaged the account is at ``at``: its health, fading over the 75 days before it
        leaves (usage, NPS and tickets follow this)."""
        if self.churn_at is None or at >= self.churn_at:
            return self.health
        days_left = (self.churn_at - at) / DAY
        return self.health * min(1.0, max(0.08, days_left / 75))


@dataclass
class Company:
    seed: int
    start: int
    end: int
    accounts: list[Account]
    plans: tuple[Plan, ...] = PLANS


def plan(name: str) -> Plan:
    return next(p for p in PLANS if p.name == name)


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)


def generate(*, accounts: int, months: int, seed: int, end: datetime | None = None) -> Company:
    """A company of ``accounts`` customers signing up over ``months`` months before ``end``
    (default: the first day of the current month, UTC)."""
    rng = random.Random(seed)
    end_dt = month_start(end or datetime.now(UTC))
    start_dt = add_months(end_dt, -months)
    start, stop = int(start_dt.timestamp()), int(end_dt.timestamp())
    # sign-ups grow ~4 % a month; a fifth of the accounts are there from the start
    weights = [1.04**m for m in range(months)]
    names: set[str] = set()
    out = []
    for i in range(accounts):
        if i < max(1, accounts // 5):
            created = start + rng.randrange(0, 20 * DAY)
        else:
            m = rng.choices(range(months), weights)[0]
            first = int(add_months(start_dt, m).timestamp())
            created = first + rng.randrange(0, 28 * DAY)
        created = min(created, stop - 3 * DAY)
        out.append(_account(rng, i, created, stop, names))
    out.sort(key=lambda a: (a.created, a.index))
    return Company(seed=seed, start=start, end=stop, accounts=out)


def _account(rng: random.Random, i: int, created: int, end: int, names: set[str]) -> Account:
    while True:
        name = f"{rng.choice(NAME_A)} {rng.choice(NAME_B)}"
        if name not in names or len(names) > 600:
            break
    if name in names:
        name = f"{name} {i}"
    names.add(name)
    slug = name.lower().replace(" ", "")
    domain = f"{slug}.example"
    contacts = []
    for _ in range(rng.randint(2, 4)):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        contacts.append((f"{first.lower()}.{last.lower()}@{domain}", first, last))
    health = min(0.98, max(0.05, rng.betavariate(5, 2)))
    account = Account(
        index=i,
        key=f"ACC-{i + 1:05d}",
        name=name,
        domain=domain,
        owner=rng.randrange(len(OWNERS)),
        created=created,
        health=health,
        contacts=list(dict.fromkeys(contacts)),
    )
    _subscriptions(rng, account, end)
    return account


def _subscriptions(rng: random.Random, account: Account, end: int) -> None:
    """The account's billing life: first subscription, changes, churn and maybe a come-back."""
    horizon = end + 90 * DAY  # decide churn a little past the end: those accounts fade already
    at = account.created
    chosen = rng.choices(PLANS, (55, 35, 10))[0]
    first = True
    while at < horizon:
        annual = rng.random() < (0.4 if chosen.name == "Scale" else 0.18)
        seats = rng.randint(*chosen.seats)
        trial = 14 if first and rng.random() < 0.4 else 0
        coupon = None
        roll = rng.random()
        if roll < 0.15:
            coupon = "LAUNCH20"
        elif roll < 0.25:
            coupon = "WELCOME30"
        stint = Stint(start=at, plan=chosen.name, seats=seats, annual=annual, trial_days=trial, coupon=coupon)
        account.stints.append(stint)
        if trial and rng.random() < 0.15:  # the trial does not convert
            stint.cancel_at = at + (trial - 2) * DAY
            account.churn_at = stint.cancel_at
            return
        paid_from = at + trial * DAY
        month = 30 * DAY
        t = paid_from + rng.randrange(10, 40) * DAY
        hazard = 0.008 + 0.16 * (1 - account.health) ** 2
        current_plan, current_seats = chosen, seats
        while t < horizon:
            if rng.random() < 0.06 * account.health:  # expansion: more seats
                current_seats += max(1, round(current_seats * rng.uniform(0.1, 0.35)))
                stint.changes.append(Change(t, seats=current_seats))
            elif rng.random() < 0.02 * account.health and current_plan is not PLANS[-1]:
                current_plan = PLANS[PLANS.index(current_plan) + 1]  # upgrade
                stint.changes.append(Change(t, plan=current_plan.name))
            elif rng.random() < 0.025 * (1 - account.health) and current_seats > 2:
                current_seats -= max(1, round(current_seats * rng.uniform(0.1, 0.3)))  # contraction
                stint.changes.append(Change(t, seats=current_seats))
            if rng.random() < hazard:
                if rng.random() < 0.08 and not annual:  # involuntary churn: a card that fails
                    stint.payment_failure_at = t
                    stint.cancel_at = t + 12 * DAY
                else:
                    stint.cancel_at = t
                    shrink_at = t - rng.randint(20, 50) * DAY
                    if current_seats > 3 and shrink_at > paid_from and rng.random() < 0.5:
                        current_seats -= max(1, round(current_seats * rng.uniform(0.2, 0.5)))
                        stint.changes.append(Change(shrink_at, seats=current_seats))  # leaving slowly
                        stint.changes.sort(key=lambda c: c.at)
                break
            t += month
        if stint.cancel_at is None:
            return
        account.churn_at = stint.cancel_at
        if rng.random() < 0.14:  # comes back two to seven months later
            at = stint.cancel_at + rng.randint(60, 210) * DAY
            first = False
            account.churn_at = None
            account.health = min(0.95, account.health + 0.25)
            continue
        return
