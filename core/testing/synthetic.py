"""A seeded synthetic SaaS company, and a fast writer putting it straight into store tables.

The company's billing life comes from the demo model (:mod:`vitalsign.testing.demo_company`:
sign-ups, plans, per-seat monthly and annual prices, trials, coupons, seat changes, upgrades,
contractions, churn, failed payments and come-backs, each account with a latent health). This
module adds what the CRM and the product would hold, driven by the same health and fading before
an account leaves: tickets, NPS/CSAT/CES answers and product usage with features and a weekly
rhythm. ``vitalsign demo`` serves the same model through the API fakes; benchmarks and tests use
:func:`write_store`, which skips the connectors and writes every table directly with batched Core
inserts, including the derived ones (``revenue_timeline``, the usage rollups).

Volumes scale with the account count: by default per 100 000 accounts about 200 000 tickets,
100 000 survey answers and 10 000 000 usage events. Usage is written as the rollups only (events
per user per day, per account per day and per feature per day: what the metrics read); the raw
events are not materialised, the rollup ``events`` columns add up to the event count.

Deterministic: the same arguments give the same company and the same rows.
"""

from __future__ import annotations

import bisect
import calendar
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from vitalsign.core.store import Store, table

from . import demo_company
from .demo_company import DAY, OWNERS, PLANS, Account, Company, Stint

STRIPE, HUBSPOT, AMPLITUDE = "stripe", "hubspot", "amplitude"
USAGE_MONTHS = 12
"""Months of product usage (the analytics tool was connected a year before the end)."""


@dataclass(frozen=True)
class Ticket:
    id: str
    account: int
    created: int
    first_response: int | None
    closed: int | None
    interactions: int
    escalated: bool
    priority: str
    contact: int


@dataclass(frozen=True)
class Answer:
    id: str
    account: int
    kind: str  # nps | csat | ces
    score: int
    scale: tuple[int, int]
    submitted: int
    contact: int
    ticket: str | None = None


@dataclass(frozen=True)
class Stretch:
    """A stretch of one subscription at constant MRR: one ``revenue_timeline`` row."""

    start: int
    end: int | None  # None: still running at the company's end
    plan: str
    seats: int
    annual: bool
    discount: float  # 0..1
    mrr: int  # cents per month


@dataclass
class SyntheticCompany:
    """The demo company plus its CRM and product records (usage is generated on demand)."""

    company: Company
    seed: int
    tickets: list[Ticket] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    usage_events: int = 0
    usage_months: int = USAGE_MONTHS
    _user_day_rate: float = 0.0

    @property
    def accounts(self) -> list[Account]:
        return self.company.accounts

    @property
    def end(self) -> int:
        return self.company.end

    def usage(self, account: Account) -> Iterator[tuple[date, str, int, dict[str, int]]]:
        """``(day, user, events, {feature: events})`` of one account, day by day."""
        yield from _usage(self, account)


def build(
    *,
    accounts: int = 1_000,
    months: int = 36,
    seed: int = 7,
    end: datetime | None = None,
    tickets_per_account: float = 2.0,
    answers_per_account: float = 1.0,
    events_per_account: float = 100.0,
    usage_months: int = USAGE_MONTHS,
) -> SyntheticCompany:
    """A company of ``accounts`` customers over ``months`` months ending at ``end``."""
    company = demo_company.generate(accounts=accounts, months=months, seed=seed, end=end)
    out = SyntheticCompany(company=company, seed=seed, usage_months=usage_months)
    rng = random.Random(seed * 7919 + 1)
    _support(out, rng, tickets_per_account * accounts, answers_per_account * accounts)
    out.usage_events = round(events_per_account * accounts)
    out._user_day_rate = _calibrate_usage(out)
    return out


# ---------------------------------------------------------------- billing


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` shifted by whole months, the day clamped to the month's length (as Stripe
    anchors billing periods: Jan 31 -> Feb 28 -> Mar 31)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def paid_start(stint: Stint) -> int:
    return stint.start + stint.trial_days * DAY


def stint_end(stint: Stint) -> int | None:
    """When the subscription stops: at the end of the paid period it was cancelled in (a failed
    payment or an unconverted trial stops at once); None while it runs."""
    if stint.cancel_at is None:
        return None
    start = paid_start(stint)
    if stint.payment_failure_at is not None or stint.cancel_at <= start:
        return stint.cancel_at
    step = 12 if stint.annual else 1
    boundary, k = start, 0
    while boundary < stint.cancel_at:
        k += 1
        boundary = _ts(add_months(_dt(start), k * step))
    return boundary


def unit_price(plan_name: str, annual: bool) -> int:
    """Cents per seat per billing interval."""
    plan = demo_company.plan(plan_name)
    return plan.annual if annual else plan.monthly


def stretches(stint: Stint, end: int) -> list[Stretch]:
    """The stint's constant-MRR stretches up to ``end`` (trials are not revenue)."""
    start, stop = paid_start(stint), stint_end(stint)
    if start >= end or (stop is not None and stop <= start):
        return []
    cuts = {start}
    coupon_end = None
    if stint.coupon:
        _, duration, months = demo_company.COUPONS[stint.coupon]
        if duration == "repeating" and months:
            coupon_end = _ts(add_months(_dt(start), months))
            cuts.add(coupon_end)
    cuts.update(c.at for c in stint.changes if c.at > start)
    limit = min(stop, end) if stop is not None else end
    points = sorted(c for c in cuts if c < limit)
    out = []
    for i, at in enumerate(points):
        until = points[i + 1] if i + 1 < len(points) else (stop if stop is not None and stop <= end else None)
        plan, seats = stint.plan, stint.seats
        for change in stint.changes:
            if change.at <= at:
                plan = change.plan or plan
                seats = change.seats or seats
        discount = 0.0
        if stint.coupon and (coupon_end is None or at < coupon_end):
            discount = demo_company.COUPONS[stint.coupon][0] / 100
        per_month = unit_price(plan, stint.annual) * seats / (12 if stint.annual else 1)
        out.append(Stretch(at, until, plan, seats, stint.annual, discount, round(per_month * (1 - discount))))
    return out


def periods(stint: Stint, end: int) -> Iterator[tuple[int, int]]:
    """The billing periods ``[start, end)`` invoiced before ``end``."""
    start, stop = paid_start(stint), stint_end(stint)
    step = 12 if stint.annual else 1
    k = 0
    while True:
        begin = _ts(add_months(_dt(start), k * step))
        if begin >= end or (stop is not None and begin >= stop):
            return
        k += 1
        yield begin, _ts(add_months(_dt(start), k * step))


# ---------------------------------------------------------------- support and surveys


def _active_span(account: Account, end: int) -> tuple[int, int]:
    first = account.stints[0].start if account.stints else account.created
    last = max((stint_end(s) or end) for s in account.stints) if account.stints else end
    return first, min(last, end)


def _poisson(rng: random.Random, rate: float) -> int:
    if rate <= 0:
        return 0
    if rate > 30:
        return max(0, round(rng.gauss(rate, math.sqrt(rate))))
    threshold, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def _support(out: SyntheticCompany, rng: random.Random, tickets: float, answers: float) -> None:
    """Tickets and survey answers, more of them (and worse) as an account's health drops."""
    end = out.end
    spans = [_active_span(a, end) for a in out.accounts]
    months = [max(0.0, (b - a) / (30 * DAY)) for a, b in spans]
    ticket_w = [m * (0.3 + 1.5 * (1 - a.health)) for m, a in zip(months, out.accounts, strict=True)]
    answer_w = months
    t_rate = tickets / max(1e-9, sum(ticket_w))
    a_rate = answers / max(1e-9, sum(answer_w))
    n_ticket = n_answer = 0
    for account, (first, last), tw, aw in zip(out.accounts, spans, ticket_w, answer_w, strict=True):
        if last <= first:
            continue
        contacts = max(1, len(account.contacts))
        for _ in range(_poisson(rng, t_rate * tw)):
            created = _skewed_time(rng, account, first, last)
            v = account.vitality(created)
            n_ticket += 1
            response = created + int(rng.expovariate(1 / (3600 * (2 + 10 * (1 - v)))))
            closed = response + int(rng.expovariate(1 / (3600 * (6 + 40 * (1 - v)))))
            escalated = rng.random() < 0.02 + 0.25 * (1 - v) ** 2
            interactions = 1 if rng.random() < 0.3 + 0.5 * v else rng.randint(2, 6)
            ticket = Ticket(
                id=f"tk{n_ticket}",
                account=account.index,
                created=created,
                first_response=response if response < end else None,
                closed=closed if closed < end else None,
                interactions=interactions,
                escalated=escalated,
                priority="HIGH" if escalated or rng.random() < 0.1 else rng.choice(("LOW", "MEDIUM")),
                contact=rng.randrange(contacts),
            )
            out.tickets.append(ticket)
        for _ in range(_poisson(rng, a_rate * aw)):
            at = _skewed_time(rng, account, first, last)
            v = account.vitality(at)
            n_answer += 1
            roll = rng.random()
            if roll < 0.7:
                kind, scale, score = "nps", (0, 10), round(rng.gauss(2.5 + 7.5 * v, 1.6))
            elif roll < 0.9:
                kind, scale, score = "csat", (1, 5), round(rng.gauss(1.5 + 3.5 * v, 0.8))
            else:
                kind, scale, score = "ces", (1, 7), round(rng.gauss(1.5 + 5 * v, 1.0))
            out.answers.append(
                Answer(
                    id=f"sv{n_answer}",
                    account=account.index,
                    kind=kind,
                    score=min(scale[1], max(scale[0], score)),
                    scale=scale,
                    submitted=at,
                    contact=rng.randrange(contacts),
                )
            )
    out.tickets.sort(key=lambda t: t.created)
    out.answers.sort(key=lambda a: a.submitted)


def _skewed_time(rng: random.Random, account: Account, first: int, last: int) -> int:
    """A moment in ``[first, last)``, later ones likelier for an account about to leave."""
    u = rng.random()
    if account.churn_at is not None and account.health < 0.6:
        u = u**0.6
    return first + int(u * (last - first - 1))


# ---------------------------------------------------------------- usage


def _usage_window(out: SyntheticCompany) -> tuple[int, int]:
    start = _ts(add_months(_dt(out.end), -out.usage_months))
    return max(start, out.company.start), out.end


def _users(account: Account, at: int) -> int:
    seats = account.seats_at(at) or max((s.seats for s in account.stints), default=1)
    return max(1, min(25, round(seats * (0.25 + 0.6 * account.health))))


def _month_starts(first: int, last: int) -> list[int]:
    out, moment = [], demo_company.month_start(_dt(first))
    while _ts(moment) < last:
        out.append(_ts(moment))
        moment = add_months(moment, 1)
    return out


WEEKDAY = (1.0, 1.05, 1.05, 1.0, 0.9, 0.25, 0.15)  # Monday..Sunday


def _account_months(out: SyntheticCompany, account: Account) -> Iterator[tuple[int, int, float]]:
    """``(month start, month end, expected user-days at rate 1)`` for the usage window."""
    first, last = _usage_window(out)
    for m in _month_starts(first, last):
        m_end = min(_ts(add_months(_dt(m), 1)), last)
        mid = (m + m_end) // 2
        if account.active(mid) is None and account.active(m) is None:
            continue
        yield m, m_end, _users(account, mid) * (m_end - m) / DAY * 0.75 * account.vitality(mid)


def _calibrate_usage(out: SyntheticCompany) -> float:
    """The user-day rate that makes the expected event total the requested one."""
    expected = 0.0
    for account in out.accounts:
        for _, _, weight in _account_months(out, account):
            expected += weight * _events_mean(account.health)
    return out.usage_events / expected if expected else 0.0


def _events_mean(health: float) -> float:
    return 12 + 20 * health


def _usage(out: SyntheticCompany, account: Account) -> Iterator[tuple[date, str, int, dict[str, int]]]:
    rng = random.Random(out.seed * 1_000_003 + account.index)
    features_by_plan = {p.name: p.features for p in PLANS}
    adoption: dict[str, int] = {}
    first_paid = account.stints[0].start if account.stints else account.created
    for feature in PLANS[-1].features:
        delay = rng.expovariate(account.health / 25) if feature != "dashboards" else 0
        adoption[feature] = first_paid + int(delay * DAY)
    for m, m_end, weight in _account_months(out, account):
        days = [d for d in range(m, m_end, DAY) if account.active(d) is not None]
        if not days:
            continue
        cum, total = [], 0.0
        for d in days:
            total += WEEKDAY[_dt(d).weekday()] * account.vitality(d)
            cum.append(total)
        users = _users(account, days[len(days) // 2])
        picks: dict[tuple[int, int], int] = {}
        for _ in range(_poisson(rng, weight * out._user_day_rate)):
            day = days[min(len(days) - 1, bisect.bisect_left(cum, rng.random() * total))]
            user = min(users - 1, int(rng.random() ** 1.6 * users))  # a few users do most of it
            events = max(1, round(rng.expovariate(1 / _events_mean(account.health))))
            picks[(day, user)] = picks.get((day, user), 0) + events
        for (day, user), events in sorted(picks.items()):
            plan = account.plan_at(day)
            offered = features_by_plan[plan.name] if plan else ()
            used = [f for f in offered if adoption[f] <= day]
            feats: dict[str, int] = {}
            if used:
                for _ in range(min(len(used), 1 + (events > 20) + (events > 40))):
                    feature = rng.choice(used)
                    feats[feature] = feats.get(feature, 0) + max(1, events // 4)
            yield _dt(day).date(), f"{account.key.lower()}-u{user}", events, feats


# ---------------------------------------------------------------- writing the store


def customer_id(account: Account) -> str:
    return f"cus_{account.index:06d}"


def company_id(account: Account) -> str:
    return f"co_{account.index:06d}"


def group_key(account: Account) -> str:
    return account.key


def write_store(sc: SyntheticCompany, store: Store, *, batch: int = 20_000) -> dict[str, int]:
    """Write the company into ``store`` directly (no connector), rows counted by table."""
    counts: dict[str, int] = {}
    writer = _Writer(store, batch, counts)
    now = _dt(sc.end)
    with writer:
        _write_catalog(writer, sc, now)
        for account in sc.accounts:
            _write_account(writer, sc, account, now)
        _write_support(writer, sc)
    with writer:
        for account in sc.accounts:
            _write_usage(writer, sc, account)
    return counts


class _Writer:
    """Buffers rows per table and flushes them as executemany batches in one transaction."""

    PARENTS = {"identity_links": ("accounts",)}  # foreign keys: parents are written first

    def __init__(self, store: Store, batch: int, counts: dict[str, int]) -> None:
        self.store, self.batch, self.counts = store, batch, counts
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.conn: Any = None
        self._tx: Any = None

    def __enter__(self) -> _Writer:
        self._tx = self.store.begin()
        self.conn = self._tx.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            for name in list(self.rows):
                self.flush(name)
        self._tx.__exit__(*exc)

    def add(self, name: str, row: dict[str, Any]) -> None:
        rows = self.rows.setdefault(name, [])
        rows.append(row)
        if len(rows) >= self.batch:
            self.flush(name)

    def flush(self, name: str) -> None:
        for parent in self.PARENTS.get(name, ()):
            self.flush(parent)
        rows = self.rows.pop(name, [])
        if rows:
            self.conn.execute(table(name).insert(), rows)
            self.counts[name] = self.counts.get(name, 0) + len(rows)


def _write_catalog(w: _Writer, sc: SyntheticCompany, now: datetime) -> None:
    start = _dt(sc.company.start)
    for i, (first, last) in enumerate(OWNERS):
        w.add(
            "owners",
            {
                "source": HUBSPOT,
                "source_id": f"own_{i}",
                "deleted": False,
                "synced_at": now,
                "email": f"{first.lower()}@vendor.example",
                "name": f"{first} {last}",
            },
        )
    for plan in PLANS:
        product = f"prod_{plan.name.lower()}"
        w.add(
            "products",
            {
                "source": STRIPE,
                "source_id": product,
                "deleted": False,
                "synced_at": now,
                "name": plan.name,
                "active": True,
                "created_at": start,
            },
        )
        for annual in (False, True):
            w.add(
                "prices",
                {
                    "source": STRIPE,
                    "source_id": _price(plan.name, annual),
                    "deleted": False,
                    "synced_at": now,
                    "product_id": product,
                    "nickname": f"{plan.name} seat {'annual' if annual else 'monthly'}",
                    "currency": "usd",
                    "unit_amount": unit_price(plan.name, annual),
                    "type": "recurring",
                    "billing_scheme": "per_unit",
                    "recurring_interval": "year" if annual else "month",
                    "recurring_interval_count": 1,
                    "usage_type": "licensed",
                    "active": True,
                    "created_at": start,
                },
            )
    for code, (percent, duration, months) in demo_company.COUPONS.items():
        w.add(
            "coupons",
            {
                "source": STRIPE,
                "source_id": code,
                "deleted": False,
                "synced_at": now,
                "name": code,
                "percent_off": percent,
                "amount_off": None,
                "currency": None,
                "duration": duration,
                "duration_in_months": months,
                "created_at": start,
            },
        )


def _price(plan: str, annual: bool) -> str:
    return f"price_{plan.lower()}_{'year' if annual else 'month'}"


def _write_account(w: _Writer, sc: SyntheticCompany, account: Account, now: datetime) -> None:
    created = _dt(account.created)
    aid = account.index + 1
    w.add(
        "accounts",
        {
            "id": aid,
            "name": account.name,
            "domain": account.domain,
            "key": account.key,
            "created_at": created,
            "updated_at": now,
        },
    )
    records = (
        (STRIPE, "customer", customer_id(account), f"billing@{account.domain}", None),
        (HUBSPOT, "company", company_id(account), None, f"own_{account.owner}"),
        (AMPLITUDE, "group", group_key(account), None, None),
    )
    for source, kind, external, email, owner in records:
        w.add(
            "source_accounts",
            {
                "source": source,
                "source_id": external,
                "deleted": False,
                "synced_at": now,
                "kind": kind,
                "name": account.name,
                "email": email,
                "domain": account.domain if kind == "company" else None,
                "account_key": account.key,
                "owner_id": owner,
                "lifecycle_stage": "customer" if kind == "company" else None,
                "currency": "usd" if kind == "customer" else None,
                "delinquent": None,
                "created_at": created,
                "updated_at": now,
                "properties": None,
            },
        )
        w.add(
            "identity_links",
            {
                "source": source,
                "source_kind": kind,
                "external_id": external,
                "account_id": aid,
                "method": "key",
                "linked_at": now,
            },
        )
    for i, (email, first, last) in enumerate(account.contacts):
        w.add(
            "contacts",
            {
                "source": HUBSPOT,
                "source_id": f"ct_{account.index}_{i}",
                "deleted": False,
                "synced_at": now,
                "email": email,
                "name": f"{first} {last}",
                "source_account_id": company_id(account),
                "created_at": created,
                "updated_at": now,
            },
        )
    for n, stint in enumerate(account.stints):
        if stint.start >= sc.end:
            continue
        _write_subscription(w, sc, account, stint, n, now)


def _write_subscription(
    w: _Writer, sc: SyntheticCompany, account: Account, stint: Stint, n: int, now: datetime
) -> None:
    sub = f"sub_{account.index:06d}_{n}"
    item = f"si_{account.index:06d}_{n}"
    customer = customer_id(account)
    end = stint_end(stint)
    ended = end is not None and end <= sc.end
    paid = paid_start(stint)
    past_due = stint.payment_failure_at is not None and stint.payment_failure_at < sc.end and not ended
    if ended:
        status = "canceled"
    elif past_due:
        status = "past_due"
    elif paid > sc.end:
        status = "trialing"
    else:
        status = "active"
    parts = stretches(stint, sc.end)
    last = parts[-1] if parts else None
    current = [p for p in periods(stint, sc.end)]
    cps, cpe = current[-1] if current else (stint.start, paid)
    w.add(
        "subscriptions",
        {
            "source": STRIPE,
            "source_id": sub,
            "deleted": False,
            "synced_at": now,
            "source_account_id": customer,
            "status": status,
            "currency": "usd",
            "collection_method": "charge_automatically",
            "created_at": _dt(stint.start),
            "start_date": _dt(stint.start),
            "trial_start": _dt(stint.start) if stint.trial_days else None,
            "trial_end": _dt(paid) if stint.trial_days else None,
            "current_period_start": _dt(cps),
            "current_period_end": _dt(cpe),
            "cancel_at_period_end": bool(
                stint.cancel_at is not None and not ended and stint.cancel_at < sc.end
            ),
            "cancel_at": _dt(end)
            if end is not None and stint.cancel_at is not None and stint.cancel_at < sc.end
            else None,
            "canceled_at": _dt(stint.cancel_at)
            if stint.cancel_at is not None and stint.cancel_at < sc.end
            else None,
            "ended_at": _dt(end) if ended and end is not None else None,
            "discounts": [{"coupon_id": stint.coupon, "start": _dt(paid).isoformat(), "end": None}]
            if stint.coupon
            else None,
            "updated_at": now,
        },
    )
    w.add(
        "subscription_items",
        {
            "source": STRIPE,
            "source_id": item,
            "deleted": False,
            "synced_at": now,
            "subscription_id": sub,
            "price_id": _price(last.plan if last else stint.plan, stint.annual),
            "quantity": last.seats if last else stint.seats,
            "current_period_start": _dt(cps),
            "current_period_end": _dt(cpe),
            "discounts": None,
            "created_at": _dt(stint.start),
        },
    )
    for part in parts:
        w.add(
            "revenue_timeline",
            {
                "source": STRIPE,
                "source_account_id": customer,
                "subscription_id": sub,
                "subscription_item_id": item,
                "price_id": _price(part.plan, part.annual),
                "product_id": f"prod_{part.plan.lower()}",
                "quantity": part.seats,
                "interval_months": 12.0 if part.annual else 1.0,
                "valid_from": _dt(part.start),
                "valid_to": _dt(part.end) if part.end is not None else None,
                "mrr": part.mrr,
                "currency": "usd",
                "original_currency": "usd",
                "original_mrr": part.mrr,
            },
        )
    for k, (begin, stop) in enumerate(current):
        billed = next((p for p in reversed(parts) if p.start <= begin), parts[0] if parts else None)
        if billed is None:
            break
        part = billed
        amount = unit_price(part.plan, part.annual) * part.seats
        discount = round(amount * part.discount)
        failed = stint.payment_failure_at is not None and begin <= stint.payment_failure_at < stop
        invoice = f"in_{account.index:06d}_{n}_{k}"
        w.add(
            "invoices",
            {
                "source": STRIPE,
                "source_id": invoice,
                "deleted": False,
                "synced_at": now,
                "source_account_id": customer,
                "subscription_id": sub,
                "status": "open" if failed else "paid",
                "billing_reason": "subscription_create" if k == 0 else "subscription_cycle",
                "currency": "usd",
                "subtotal": amount,
                "tax": 0,
                "total": amount - discount,
                "amount_due": amount - discount,
                "amount_paid": 0 if failed else amount - discount,
                "created_at": _dt(begin),
                "period_start": _dt(begin),
                "period_end": _dt(stop),
                "due_date": _dt(begin + 7 * DAY) if failed else None,
                "paid_at": None if failed else _dt(begin + 3600),
            },
        )
        w.add(
            "invoice_lines",
            {
                "source": STRIPE,
                "source_id": f"il_{account.index:06d}_{n}_{k}",
                "deleted": False,
                "synced_at": now,
                "invoice_id": invoice,
                "subscription_id": sub,
                "subscription_item_id": item,
                "price_id": _price(part.plan, part.annual),
                "kind": "subscription",
                "currency": "usd",
                "amount": amount,
                "discount_amount": discount,
                "inclusive_tax_amount": 0,
                "exclusive_tax_amount": 0,
                "quantity": part.seats,
                "proration": False,
                "period_start": _dt(begin),
                "period_end": _dt(stop),
                "description": f"{part.seats} x {part.plan} seat",
            },
        )


def _write_support(w: _Writer, sc: SyntheticCompany) -> None:
    now = _dt(sc.end)
    accounts = {a.index: a for a in sc.accounts}
    for t in sc.tickets:
        account = accounts[t.account]
        w.add(
            "tickets",
            {
                "source": HUBSPOT,
                "source_id": t.id,
                "deleted": False,
                "synced_at": now,
                "source_account_id": company_id(account),
                "contact_id": f"ct_{t.account}_{t.contact}",
                "owner_id": f"own_{account.owner}",
                "subject": "Help needed",
                "pipeline_id": "0",
                "stage_id": "4" if t.closed else "1",
                "status": "closed" if t.closed else "open",
                "priority": t.priority,
                "channel": "email",
                "created_at": _dt(t.created),
                "first_response_at": _dt(t.first_response) if t.first_response else None,
                "closed_at": _dt(t.closed) if t.closed else None,
                "agent_interactions": t.interactions,
                "escalated": t.escalated,
                "updated_at": _dt(t.closed or t.created),
            },
        )
    for a in sc.answers:
        account = accounts[a.account]
        w.add(
            "survey_responses",
            {
                "source": HUBSPOT,
                "source_id": a.id,
                "deleted": False,
                "synced_at": now,
                "kind": a.kind,
                "score": float(a.score),
                "scale_min": float(a.scale[0]),
                "scale_max": float(a.scale[1]),
                "submitted_at": _dt(a.submitted),
                "contact_id": f"ct_{a.account}_{a.contact}",
                "ticket_id": a.ticket,
                "source_account_id": company_id(account),
            },
        )


def _write_usage(w: _Writer, sc: SyntheticCompany, account: Account) -> None:
    key = group_key(account)
    daily: dict[date, list[int]] = {}
    features: dict[tuple[date, str], int] = {}
    for day, user, events, feats in sc.usage(account):
        w.add(
            "usage_user_daily",
            {"source": AMPLITUDE, "account_key": key, "day": day, "user_id": user, "events": events},
        )
        totals = daily.setdefault(day, [0, 0])
        totals[0] += 1
        totals[1] += events
        for feature, n in feats.items():
            features[(day, feature)] = features.get((day, feature), 0) + n
    for day, (users, events) in daily.items():
        w.add(
            "usage_daily",
            {"source": AMPLITUDE, "account_key": key, "day": day, "active_users": users, "events": events},
        )
    for (day, feature), n in features.items():
        w.add(
            "usage_feature_daily",
            {"source": AMPLITUDE, "account_key": key, "day": day, "feature": feature, "events": n},
        )


__all__ = [
    "Answer",
    "Stretch",
    "SyntheticCompany",
    "Ticket",
    "build",
    "periods",
    "stint_end",
    "stretches",
    "write_store",
]
