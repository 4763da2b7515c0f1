"""The store's tables: a stable contract documented in docs/schema.md.

Conventions (every raw table):
- primary key ``(source, source_id)``: ``source`` is the connector *instance* name from the config
  (``[connectors.stripe]`` -> ``"stripe"``), ``source_id`` the record's id at the source; a re-sync
  updates the row, it never adds a second one (``usage_events`` alone adds the event's time to its
  key: :class:`UsageEvent`);
- ``deleted`` marks a record deleted or archived at the source (rows are never dropped);
- references to other records of the same source are ``*_id`` columns holding *source ids*;
- money is an integer in minor units (cents) next to a lowercase ISO currency code;
- timestamps are UTC (see :class:`vitalsign.core.types.UTCDateTime`).

Derived tables (revenue_timeline, *_change_points, usage_*, health_scores) are rebuilt or
maintained by the engine; identity tables (accounts, identity_links) by identity resolution and
``vitalsign accounts``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint
from sqlmodel import Field, SQLModel

from .types import JSONType, UTCDateTime


def _ts(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


def _money() -> Any:
    return Field(default=None, sa_type=BigInteger)


def _json() -> Any:
    return Field(default=None, sa_type=JSONType)


class SourceRecord(SQLModel):
    """Columns every raw table has."""

    source: str = Field(primary_key=True, max_length=64)
    source_id: str = Field(primary_key=True, max_length=255)
    deleted: bool = Field(default=False)
    synced_at: datetime | None = _ts()


# ---------------------------------------------------------------- organisations and people


class SourceAccount(SourceRecord, table=True):
    """An organisation as one source knows it: a Stripe customer, a HubSpot company, an analytics
    group. Identity resolution links each to one :class:`Account`."""

    __tablename__ = "source_accounts"

    kind: str = Field(max_length=32)  # customer | company | group
    name: str | None = None
    email: str | None = None
    domain: str | None = Field(default=None, index=True)
    account_key: str | None = Field(default=None, index=True)  # the configured shared key
    owner_id: str | None = None
    lifecycle_stage: str | None = None
    currency: str | None = Field(default=None, max_length=3)
    delinquent: bool | None = None
    created_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()
    properties: dict[str, Any] | None = _json()


class Contact(SourceRecord, table=True):
    __tablename__ = "contacts"

    email: str | None = Field(default=None, index=True)
    name: str | None = None
    source_account_id: str | None = Field(default=None, index=True)  # a company's contacts (health NPS)
    created_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()


class Owner(SourceRecord, table=True):
    """A user of the source who owns accounts: the CSM of a HubSpot company."""

    __tablename__ = "owners"

    email: str | None = None
    name: str | None = None


# ---------------------------------------------------------------- billing


class Product(SourceRecord, table=True):
    __tablename__ = "products"

    name: str | None = None
    active: bool | None = None
    created_at: datetime | None = _ts()


class Price(SourceRecord, table=True):
    __tablename__ = "prices"

    product_id: str | None = None
    nickname: str | None = None
    currency: str | None = Field(default=None, max_length=3)
    unit_amount: int | None = _money()
    type: str | None = None  # recurring | one_time
    billing_scheme: str | None = None  # per_unit | tiered
    recurring_interval: str | None = None  # day | week | month | year
    recurring_interval_count: int | None = None
    usage_type: str | None = None  # licensed | metered
    active: bool | None = None
    created_at: datetime | None = _ts()


class Coupon(SourceRecord, table=True):
    __tablename__ = "coupons"

    name: str | None = None
    percent_off: float | None = None
    amount_off: int | None = _money()
    currency: str | None = Field(default=None, max_length=3)
    duration: str | None = None  # forever | once | repeating
    duration_in_months: int | None = None
    created_at: datetime | None = _ts()


class Subscription(SourceRecord, table=True):
    __tablename__ = "subscriptions"

    source_account_id: str | None = Field(default=None, index=True)
    status: str | None = None  # trialing active past_due unpaid canceled incomplete ...
    currency: str | None = Field(default=None, max_length=3)
    collection_method: str | None = None
    created_at: datetime | None = _ts()
    start_date: datetime | None = _ts()
    trial_start: datetime | None = _ts()
    trial_end: datetime | None = _ts()
    current_period_start: datetime | None = _ts()
    current_period_end: datetime | None = _ts()
    cancel_at_period_end: bool | None = None
    cancel_at: datetime | None = _ts()
    canceled_at: datetime | None = _ts()
    ended_at: datetime | None = _ts()
    # [{"coupon_id": ..., "start": iso, "end": iso|None}] — subscription-level discounts
    discounts: list[dict[str, Any]] | None = _json()
    updated_at: datetime | None = _ts()


class SubscriptionItem(SourceRecord, table=True):
    __tablename__ = "subscription_items"

    subscription_id: str = Field(index=True)
    price_id: str | None = None
    quantity: int | None = None
    current_period_start: datetime | None = _ts()
    current_period_end: datetime | None = _ts()
    discounts: list[dict[str, Any]] | None = _json()
    created_at: datetime | None = _ts()


class Invoice(SourceRecord, table=True):
    __tablename__ = "invoices"

    source_account_id: str | None = Field(default=None, index=True)
    subscription_id: str | None = Field(default=None, index=True)
    status: str | None = None  # draft open paid uncollectible void
    billing_reason: str | None = None
    currency: str | None = Field(default=None, max_length=3)
    subtotal: int | None = _money()
    tax: int | None = _money()
    total: int | None = _money()
    amount_due: int | None = _money()
    amount_paid: int | None = _money()
    created_at: datetime | None = _ts()
    period_start: datetime | None = _ts()
    period_end: datetime | None = _ts()
    due_date: datetime | None = _ts()
    paid_at: datetime | None = _ts()


class InvoiceLine(SourceRecord, table=True):
    """One line of an invoice. ``amount`` is Stripe's line amount: it excludes *exclusive* tax and
    is before discounts; ``inclusive_tax_amount`` is the tax contained in it (taken out for MRR)."""

    __tablename__ = "invoice_lines"

    invoice_id: str = Field(index=True)
    subscription_id: str | None = Field(default=None, index=True)
    subscription_item_id: str | None = Field(default=None, index=True)
    price_id: str | None = None
    kind: str | None = None  # subscription | invoiceitem
    currency: str | None = Field(default=None, max_length=3)
    amount: int | None = _money()
    discount_amount: int | None = _money()
    inclusive_tax_amount: int | None = _money()
    exclusive_tax_amount: int | None = _money()
    quantity: int | None = None
    proration: bool | None = None
    period_start: datetime | None = _ts()
    period_end: datetime | None = _ts()
    description: str | None = None


# ---------------------------------------------------------------- support and surveys


class TicketStage(SourceRecord, table=True):
    """A stage of a ticket pipeline; ``source_id`` is the stage id."""

    __tablename__ = "ticket_stages"

    pipeline_id: str | None = None
    pipeline_label: str | None = None
    label: str | None = None
    is_closed: bool = Field(default=False)
    display_order: int | None = None


class Ticket(SourceRecord, table=True):
    __tablename__ = "tickets"

    source_account_id: str | None = Field(default=None, index=True)
    contact_id: str | None = None
    owner_id: str | None = None
    subject: str | None = None
    pipeline_id: str | None = None
    stage_id: str | None = None
    status: str | None = None  # open | closed
    priority: str | None = None
    channel: str | None = None
    created_at: datetime | None = _ts(index=True)
    first_response_at: datetime | None = _ts()
    closed_at: datetime | None = _ts(index=True)  # resolution metrics bucket by close month
    agent_interactions: int | None = None
    escalated: bool = Field(default=False)
    updated_at: datetime | None = _ts()


class SurveyResponse(SourceRecord, table=True):
    """One answer to an NPS, CSAT or CES survey, with the scale it was asked on."""

    __tablename__ = "survey_responses"

    kind: str = Field(max_length=8)  # nps | csat | ces
    score: float
    scale_min: float
    scale_max: float
    submitted_at: datetime | None = _ts(index=True)
    contact_id: str | None = Field(default=None, index=True)  # answers without a company (HubSpot)
    ticket_id: str | None = None
    source_account_id: str | None = Field(default=None, index=True)  # per-account NPS (health)


# ---------------------------------------------------------------- product usage


class UsageEvent(SourceRecord, table=True):
    """One product event. ``source_id`` is the dedup key ($insert_id, messageId or a hash).

    Unlike the other raw tables the key is ``(source, occurred_at, source_id)``: an event is its
    dedup key at its time (Mixpanel's own rule; a re-delivered event carries its time). Time
    first, because exports arrive in time order: inserts land at the end of the key's index
    instead of at random places of an index of random keys, which outgrows any page cache (5M
    events written alone: 18.3 s against 46.2 s keyed by the dedup key)."""

    __tablename__ = "usage_events"
    __table_args__ = (PrimaryKeyConstraint("source", "occurred_at", "source_id"),)

    occurred_at: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    event: str
    user_id: str | None = None
    account_key: str | None = None
    properties: dict[str, Any] | None = _json()


class UsageUserDaily(SQLModel, table=True):
    """Rollup maintained during ingest: events per user per account per day."""

    __tablename__ = "usage_user_daily"
    # metric windows range-scan by day; covering, so they never read the table rows
    __table_args__ = (Index("ix_usage_user_daily_window", "day", "source", "account_key", "user_id"),)

    source: str = Field(primary_key=True, max_length=64)
    account_key: str = Field(primary_key=True, max_length=255)
    day: date = Field(primary_key=True)
    user_id: str = Field(primary_key=True, max_length=255)
    events: int = Field(default=0, sa_type=BigInteger)


class UsageDaily(SQLModel, table=True):
    """Rollup maintained during ingest: active users and events per account per day."""

    __tablename__ = "usage_daily"
    __table_args__ = (Index("ix_usage_daily_window", "day", "source", "account_key", "active_users"),)

    source: str = Field(primary_key=True, max_length=64)
    account_key: str = Field(primary_key=True, max_length=255)
    day: date = Field(primary_key=True)
    active_users: int = Field(default=0)
    events: int = Field(default=0, sa_type=BigInteger)


class UsageFeatureDaily(SQLModel, table=True):
    """Rollup maintained during ingest: events per configured feature per account per day."""

    __tablename__ = "usage_feature_daily"
    __table_args__ = (Index("ix_usage_feature_daily_window", "day", "source", "account_key", "feature"),)

    source: str = Field(primary_key=True, max_length=64)
    account_key: str = Field(primary_key=True, max_length=255)
    day: date = Field(primary_key=True)
    feature: str = Field(primary_key=True, max_length=255)
    events: int = Field(default=0, sa_type=BigInteger)


class UsageFeatureFirstUse(SQLModel, table=True):
    """Derived from the feature and daily rollups (metrics/derived.py): each group's first use of
    each feature, its month index and the days from the group's first active day to it (none for
    unattributed use, account key ``""``, kept so that the table knows every feature seen)."""

    __tablename__ = "usage_feature_first_use"
    # covering for the adoption medians: grouped by month and feature with no sort
    __table_args__ = (Index("ix_usage_feature_first_use_adoption", "idx", "feature", "days_to_adopt"),)

    source: str = Field(primary_key=True, max_length=64)
    account_key: str = Field(primary_key=True, max_length=255)
    feature: str = Field(primary_key=True, max_length=255)
    first_use: date
    idx: int  # month index of first_use
    days_to_adopt: int | None = None  # NULL when the group has no usage_daily row


class UsageFeatureWindow(SQLModel, table=True):
    """Derived from the feature rollup (metrics/derived.py): per month index, the groups that used
    each feature in the ``[metrics] active_days`` window ending with the month, and the days from
    their first use to their last use in it. Keyed in the order the feature metrics group by."""

    __tablename__ = "usage_feature_windows"
    # covering for the per-feature counts: grouped by month and feature with no row lookups
    __table_args__ = (Index("ix_usage_feature_windows_span", "idx", "feature", "span_days"),)

    idx: int = Field(primary_key=True)
    feature: str = Field(primary_key=True, max_length=255)
    source: str = Field(primary_key=True, max_length=64)
    account_key: str = Field(primary_key=True, max_length=255)
    span_days: int


class UsageGroupWindow(SQLModel, table=True):
    """Derived from the user rollup (metrics/derived.py): distinct users of each group in each
    window ending a month: the calendar month (``days`` 0), the last 7 days, and the
    ``[metrics] active_days`` window."""

    __tablename__ = "usage_group_windows"

    days: int = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    source: str = Field(primary_key=True, max_length=64)
    account_key: str = Field(primary_key=True, max_length=255)
    users: int


# ---------------------------------------------------------------- derived revenue


class RevenueInterval(SQLModel, table=True):
    """The subscription revenue timeline: per subscription item, ``[valid_from, valid_to)`` with
    normalised monthly recurring revenue in minor units of the reporting currency.
    ``valid_to`` NULL means still running. Rebuilt after each sync from invoices and subscriptions."""

    __tablename__ = "revenue_timeline"
    __table_args__ = (Index("ix_revenue_timeline_period", "valid_from", "valid_to"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    source: str = Field(max_length=64)
    source_account_id: str = Field(index=True)
    subscription_id: str = Field(index=True)
    subscription_item_id: str | None = None
    price_id: str | None = None
    product_id: str | None = None
    quantity: int | None = None
    interval_months: float | None = None
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_to: datetime | None = _ts()
    mrr: int = Field(sa_type=BigInteger)  # minor units, reporting currency
    currency: str = Field(max_length=3)  # the reporting currency
    original_currency: str | None = Field(default=None, max_length=3)
    original_mrr: int | None = _money()


class MRRChangePoint(SQLModel, table=True):
    """Each account's month-end MRR change points, derived from ``revenue_timeline`` and the
    customer ``identity_links`` (metrics/derived.py): rebuilt with the timeline and after each
    sync, read by the revenue metrics only while ``derived_state`` says its inputs are unchanged.
    ``acct`` is ``a<account id>``, or ``c<source>:<customer id>`` for an unlinked customer;
    ``idx`` a month index (``year * 12 + month - 1``); ``next_idx`` 10 000 000 on the last."""

    __tablename__ = "mrr_change_points"
    # no index on idx alone: every read takes nearly all rows, and a scan beats an index range
    # with a row lookup each (about 2x on SQLite); the self-join of NRR/GRR uses the primary key

    acct: str = Field(primary_key=True, max_length=330)
    idx: int = Field(primary_key=True)
    account_id: int | None = Field(default=None, index=True)
    d: int = Field(sa_type=BigInteger)  # the MRR change in the month
    level: int = Field(sa_type=BigInteger)  # the MRR after it
    prev: int = Field(sa_type=BigInteger)  # the MRR before it
    rn: int  # 1 for the account's first change point
    next_idx: int
    cohort: int  # the account's first paid month


class SeatChangePoint(SQLModel, table=True):
    """Each linked account's seats at month ends, as change points: derived with
    ``mrr_change_points`` from the seat-priced timeline rows (metrics/derived.py)."""

    __tablename__ = "seat_change_points"

    account_id: int = Field(primary_key=True)
    idx: int = Field(primary_key=True)  # month index of the change
    d: int = Field(sa_type=BigInteger)  # the change in seats
    level: int = Field(sa_type=BigInteger)  # the seats after it
    next_idx: int  # month index of the next change, 10 000 000 on the last


class DerivedState(SQLModel, table=True):
    """What a derived table was built from: a stamp of its inputs, compared before each read
    (and, in row ``revenue_timeline``, a new token at each rebuild of the timeline)."""

    __tablename__ = "derived_state"

    name: str = Field(primary_key=True, max_length=64)
    stamp: str
    built_at: datetime | None = _ts()


# ---------------------------------------------------------------- identity


class Account(SQLModel, table=True):
    """One customer account: what every source record is linked to."""

    __tablename__ = "accounts"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    name: str | None = None
    domain: str | None = Field(default=None, index=True)
    key: str | None = Field(default=None, index=True, unique=True)
    created_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()


class IdentityLink(SQLModel, table=True):
    """Links a source record (Stripe customer, HubSpot company, analytics group) to an account.

    ``method`` says how: ``key`` (explicit shared key), ``domain`` (email/website domain),
    ``manual`` (``vitalsign accounts link``). A manual row with ``account_id`` NULL records an
    ``unlink`` so automatic resolution never re-links it. Manual rows survive re-syncs."""

    __tablename__ = "identity_links"

    source: str = Field(primary_key=True, max_length=64)
    source_kind: str = Field(primary_key=True, max_length=32)
    external_id: str = Field(primary_key=True, max_length=255)
    account_id: int | None = Field(default=None, foreign_key="accounts.id", index=True)
    method: str = Field(max_length=16)
    linked_at: datetime | None = _ts()


class HealthScore(SQLModel, table=True):
    """Health score history: one row per account per month."""

    __tablename__ = "health_scores"
    # monthly reads (the health_score metric, the report) aggregate one month across all accounts:
    # covering, so they never read the rows and their components JSON
    __table_args__ = (Index("ix_health_scores_period_band", "period", "band", "score"),)

    account_id: int = Field(primary_key=True)
    period: str = Field(primary_key=True, max_length=7)  # YYYY-MM
    score: float
    band: str = Field(max_length=8)  # red | yellow | green
    components: list[dict[str, Any]] | None = _json()
    computed_at: datetime | None = _ts()


# ---------------------------------------------------------------- engine bookkeeping


class SyncState(SQLModel, table=True):
    """A stream's cursor, written in the same transaction as the batch it covers."""

    __tablename__ = "sync_state"

    connector: str = Field(primary_key=True, max_length=64)
    stream: str = Field(primary_key=True, max_length=64)
    cursor: Any = _json()
    updated_at: datetime | None = _ts()


class SyncRun(SQLModel, table=True):
    __tablename__ = "sync_runs"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    connector: str = Field(max_length=64, index=True)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = _ts()
    status: str = Field(max_length=16)  # running | success | failed
    full_refresh: bool = Field(default=False)
    stats: dict[str, Any] | None = _json()  # {stream: {"rows": n, "quarantined": n, ...}}
    log: list[str] | None = _json()
    error: str | None = None


class QuarantinedRecord(SQLModel, table=True):
    """A record that failed validation: kept with its reason and raw payload, never dropped."""

    __tablename__ = "quarantine"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    connector: str = Field(max_length=64, index=True)
    stream: str = Field(max_length=64)
    run_id: int | None = None
    source_id: str | None = None
    reason: str
    location: str | None = None  # file:line for file sources
    payload: str | None = None
    created_at: datetime | None = _ts()


RAW_TABLES: dict[str, type[SourceRecord]] = {
    str(m.__tablename__): m
    for m in (
        SourceAccount,
        Contact,
        Owner,
        Product,
        Price,
        Coupon,
        Subscription,
        SubscriptionItem,
        Invoice,
        InvoiceLine,
        TicketStage,
        Ticket,
        SurveyResponse,
        UsageEvent,
    )
}
"""Tables a connector stream may target, by name."""
