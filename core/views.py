"""SQL views over the store, so Datasette, Metabase or a notebook read the headline metrics
without vitalsign (docs/schema.md, "Views", documents every column).

The views are plain SQL, written once per dialect where SQLite and PostgreSQL differ (month
arithmetic, durations, string aggregation, rounding). They are (re)created by
``Store.upgrade()``, which every sync and ``vitalsign store upgrade`` run: dropped while a
migration is pending (SQLite rebuilds a table by renaming it, which fails while a view names it),
and rewritten when their definition changed. A view never stores data; it reads the tables
that the sync maintains, so it is always current.

Money is in major units of the reporting currency, rates are percentages, durations hours:
the same conventions as ``vitalsign metrics``. Monthly values of state (MRR, paying accounts)
are taken at the month's end; flows (movements, responses, tickets) over the month.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from .errors import StoreError

__all__ = ["VIEWS", "View", "create_views", "drop_views", "view_names", "views_around_migration"]


@dataclass(frozen=True)
class Dialect:
    """The few expressions that differ between SQLite and PostgreSQL."""

    name: str

    @property
    def pg(self) -> bool:
        return self.name == "postgresql"

    def month(self, column: str) -> str:
        """``'YYYY-MM'`` of a timestamp or date column."""
        return f"to_char({column}, 'YYYY-MM')" if self.pg else f"strftime('%Y-%m', {column})"

    def month_start(self, column: str) -> str:
        """The first day of the column's month, as a date."""
        return (
            f"CAST(date_trunc('month', {column}) AS date)" if self.pg else f"date({column}, 'start of month')"
        )

    def next_month(self, day: str) -> str:
        return f"CAST({day} + interval '1 month' AS date)" if self.pg else f"date({day}, '+1 month')"

    def now(self) -> str:
        return "(now() AT TIME ZONE 'UTC')" if self.pg else "datetime('now')"

    def hours(self, later: str, earlier: str) -> str:
        if self.pg:
            return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 3600.0)"
        return f"((julianday({later}) - julianday({earlier})) * 24.0)"

    def round(self, expr: str, digits: int) -> str:
        # PostgreSQL rounds to n digits only numerics, not double precision
        return f"round(CAST({expr} AS numeric), {digits})" if self.pg else f"round({expr}, {digits})"

    def concat_sorted(self, column: str) -> str:
        """Comma-separated values; SQLite keeps the order of its (ordered) input."""
        if self.pg:
            return f"string_agg({column}, ',' ORDER BY {column})"
        return f"group_concat({column}, ',')"

    def month_calendar(self, table: str, column: str) -> str:
        """CTE ``months(month_start)``: every month from the column's first to the later of its
        last and the current month."""
        if self.pg:
            return f"""bounds AS (
    SELECT {self.month_start(f"min({column})")} AS first_month,
           {self.month_start(f"greatest(max({column}), {self.now()})")} AS last_month
    FROM {table}
),
months AS (
    SELECT CAST(gs AS date) AS month_start
    FROM bounds, generate_series(bounds.first_month, bounds.last_month, interval '1 month') AS gs
    WHERE bounds.first_month IS NOT NULL
)"""
        return f"""bounds AS (
    SELECT date(min({column}), 'start of month') AS first_month,
           max(date(max({column}), 'start of month'), date('now', 'start of month')) AS last_month
    FROM {table}
),
months(month_start) AS (
    SELECT first_month FROM bounds WHERE first_month IS NOT NULL
    UNION ALL
    SELECT date(month_start, '+1 month') FROM months, bounds WHERE month_start < bounds.last_month
)"""

    @property
    def with_recursive(self) -> str:
        return "WITH RECURSIVE" if not self.pg else "WITH"


@dataclass(frozen=True)
class View:
    name: str
    summary: str
    build: Callable[[Dialect], str]


def _account_mrr(d: Dialect) -> str:
    return f"""{d.with_recursive} {d.month_calendar("revenue_timeline", "valid_from")},
linked AS (
    SELECT r.valid_from, r.valid_to, r.mrr, l.account_id,
           CASE WHEN l.account_id IS NOT NULL THEN 'account:' || CAST(l.account_id AS TEXT)
                ELSE r.source || ':' || r.source_account_id END AS account_ref
    FROM revenue_timeline r
    LEFT JOIN identity_links l
      ON l.source = r.source AND l.source_kind = 'customer' AND l.external_id = r.source_account_id
),
spans AS (
    SELECT account_ref, max(account_id) AS account_id, {d.month_start("min(valid_from)")} AS first_month
    FROM linked GROUP BY account_ref
),
grid AS (
    SELECT s.account_ref, s.account_id, m.month_start, {d.next_month("m.month_start")} AS next_start
    FROM spans s JOIN months m ON m.month_start >= s.first_month
),
month_end AS (
    SELECT g.account_ref, g.account_id, g.month_start, COALESCE(sum(x.mrr), 0) AS mrr_minor
    FROM grid g
    LEFT JOIN linked x
      ON x.account_ref = g.account_ref AND x.valid_from < g.next_start
     AND (x.valid_to IS NULL OR x.valid_to >= g.next_start)
    GROUP BY g.account_ref, g.account_id, g.month_start
),
ordered AS (
    SELECT account_ref, account_id, month_start, mrr_minor,
           COALESCE(lag(mrr_minor) OVER (PARTITION BY account_ref ORDER BY month_start), 0) AS previous_minor,
           COALESCE(max(mrr_minor) OVER (PARTITION BY account_ref ORDER BY month_start
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS best_before
    FROM month_end
)
SELECT {d.month("o.month_start")} AS month,
       o.account_id,
       o.account_ref,
       a.name AS account_name,
       o.mrr_minor / 100.0 AS mrr,
       o.previous_minor / 100.0 AS previous_mrr,
       CASE
           WHEN o.previous_minor = 0 AND o.mrr_minor > 0 AND o.best_before > 0 THEN 'reactivation'
           WHEN o.previous_minor = 0 AND o.mrr_minor > 0 THEN 'new'
           WHEN o.previous_minor > 0 AND o.mrr_minor = 0 THEN 'churn'
           WHEN o.mrr_minor > o.previous_minor THEN 'expansion'
           WHEN o.mrr_minor < o.previous_minor THEN 'contraction'
           WHEN o.mrr_minor > 0 THEN 'flat'
       END AS movement
FROM ordered o
LEFT JOIN accounts a ON a.id = o.account_id"""


def _mrr_monthly(d: Dialect) -> str:
    def movement(kind: str, amount: str) -> str:
        return f"{d.round(f'sum(CASE WHEN movement = {kind!r} THEN {amount} ELSE 0 END)', 2)}"

    def count(kind: str) -> str:
        return f"sum(CASE WHEN movement = {kind!r} THEN 1 ELSE 0 END)"

    return f"""SELECT month,
       {d.round("sum(mrr)", 2)} AS mrr,
       {d.round("12 * sum(mrr)", 2)} AS arr,
       sum(CASE WHEN mrr > 0 THEN 1 ELSE 0 END) AS paying_accounts,
       CASE WHEN sum(CASE WHEN mrr > 0 THEN 1 ELSE 0 END) > 0
            THEN {d.round("sum(mrr) / sum(CASE WHEN mrr > 0 THEN 1 ELSE 0 END)", 2)} END AS arpa,
       {movement("new", "mrr")} AS new_mrr,
       {movement("expansion", "mrr - previous_mrr")} AS expansion_mrr,
       {movement("contraction", "previous_mrr - mrr")} AS contraction_mrr,
       {movement("churn", "previous_mrr")} AS churned_mrr,
       {movement("reactivation", "mrr")} AS reactivation_mrr,
       {d.round("sum(mrr - previous_mrr)", 2)} AS net_new_mrr,
       {count("new")} AS new_accounts,
       {count("churn")} AS churned_accounts,
       {count("reactivation")} AS reactivated_accounts
FROM v_account_mrr
GROUP BY month"""


def _nps_monthly(d: Dialect) -> str:
    return f"""WITH answers AS (
    SELECT {d.month("submitted_at")} AS month,
           (score - scale_min) * 10.0 / (scale_max - scale_min) AS score10
    FROM survey_responses
    WHERE kind = 'nps' AND NOT deleted AND submitted_at IS NOT NULL AND scale_max > scale_min
)
SELECT month,
       count(*) AS responses,
       sum(CASE WHEN score10 >= 9 THEN 1 ELSE 0 END) AS promoters,
       sum(CASE WHEN score10 > 6 AND score10 < 9 THEN 1 ELSE 0 END) AS passives,
       sum(CASE WHEN score10 <= 6 THEN 1 ELSE 0 END) AS detractors,
       {
        d.round(
            "100.0 * (sum(CASE WHEN score10 >= 9 THEN 1 ELSE 0 END)"
            " - sum(CASE WHEN score10 <= 6 THEN 1 ELSE 0 END)) / count(*)",
            1,
        )
    } AS nps
FROM answers
GROUP BY month"""


def _satisfaction_monthly(d: Dialect) -> str:
    return f"""WITH answers AS (
    SELECT {d.month("submitted_at")} AS month, kind,
           1 + (score - scale_min) * 4.0 / (scale_max - scale_min) AS score5,
           1 + (score - scale_min) * 6.0 / (scale_max - scale_min) AS score7
    FROM survey_responses
    WHERE kind IN ('csat', 'ces') AND NOT deleted AND submitted_at IS NOT NULL AND scale_max > scale_min
)
SELECT month,
       sum(CASE WHEN kind = 'csat' THEN 1 ELSE 0 END) AS csat_responses,
       CASE WHEN sum(CASE WHEN kind = 'csat' THEN 1 ELSE 0 END) > 0 THEN
           {
        d.round(
            "100.0 * sum(CASE WHEN kind = 'csat' AND score5 >= 4 THEN 1 ELSE 0 END)"
            " / sum(CASE WHEN kind = 'csat' THEN 1 ELSE 0 END)",
            1,
        )
    } END AS csat,
       sum(CASE WHEN kind = 'ces' THEN 1 ELSE 0 END) AS ces_responses,
       {d.round("avg(CASE WHEN kind = 'ces' THEN score7 END)", 2)} AS ces
FROM answers
GROUP BY month"""


def _support_monthly(d: Dialect) -> str:
    def median(name: str, month_col: str, later: str) -> str:
        return f"""{name}_values AS (
    SELECT month, hours,
           row_number() OVER (PARTITION BY month ORDER BY hours) AS rn,
           count(*) OVER (PARTITION BY month) AS n
    FROM (SELECT {d.month(month_col)} AS month, {d.hours(later, "created_at")} AS hours
          FROM live_tickets WHERE {later} IS NOT NULL AND created_at IS NOT NULL) AS x
),
{name} AS (
    SELECT month, avg(hours) AS median_hours FROM {name}_values
    WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY month
)"""

    return f"""WITH live_tickets AS (SELECT * FROM tickets WHERE NOT deleted),
created AS (
    SELECT {d.month("created_at")} AS month, count(*) AS tickets,
           sum(CASE WHEN escalated THEN 1 ELSE 0 END) AS escalations
    FROM live_tickets WHERE created_at IS NOT NULL GROUP BY {d.month("created_at")}
),
resolved AS (
    SELECT {d.month("closed_at")} AS month, count(*) AS resolved,
           sum(CASE WHEN agent_interactions <= 1 THEN 1 ELSE 0 END) AS first_contact
    FROM live_tickets WHERE closed_at IS NOT NULL GROUP BY {d.month("closed_at")}
),
{median("first_response", "created_at", "first_response_at")},
{median("resolution", "closed_at", "closed_at")},
all_months AS (SELECT month FROM created UNION SELECT month FROM resolved)
SELECT m.month,
       COALESCE(c.tickets, 0) AS tickets,
       COALESCE(c.escalations, 0) AS escalations,
       {d.round("f.median_hours", 2)} AS median_first_response_hours,
       COALESCE(r.resolved, 0) AS resolved,
       {d.round("s.median_hours", 2)} AS median_resolution_hours,
       CASE WHEN r.resolved > 0 THEN {d.round("100.0 * r.first_contact / r.resolved", 1)} END
           AS first_contact_resolution_rate
FROM all_months m
LEFT JOIN created c ON c.month = m.month
LEFT JOIN resolved r ON r.month = m.month
LEFT JOIN first_response f ON f.month = m.month
LEFT JOIN resolution s ON s.month = m.month"""


_USAGE_ACCOUNT = """LEFT JOIN identity_links l
  ON l.source = u.source AND l.source_kind = 'group' AND l.external_id = u.account_key
LEFT JOIN accounts k ON k.key = u.account_key AND u.account_key <> ''"""


def _usage_daily(d: Dialect) -> str:
    return f"""SELECT u.day, u.source, u.account_key,
       COALESCE(l.account_id, k.id) AS account_id,
       u.active_users, u.events
FROM usage_daily u
{_USAGE_ACCOUNT}"""


def _usage_monthly(d: Dialect) -> str:
    return f"""WITH daily AS (
    SELECT day, count(DISTINCT user_id) AS users FROM usage_user_daily WHERE user_id <> '' GROUP BY day
),
dau AS (
    SELECT {d.month("day")} AS month, avg(users) AS avg_dau, count(*) AS active_days
    FROM daily GROUP BY {d.month("day")}
),
monthly AS (
    SELECT {d.month("day")} AS month,
           count(DISTINCT user_id) AS mau,
           count(DISTINCT CASE WHEN account_key <> '' THEN account_key END) AS active_accounts,
           sum(events) AS events
    FROM usage_user_daily WHERE user_id <> '' GROUP BY {d.month("day")}
)
SELECT m.month, m.mau, {d.round("d.avg_dau", 1)} AS avg_dau,
       CASE WHEN m.mau > 0 THEN {d.round("100.0 * d.avg_dau / m.mau", 1)} END AS stickiness,
       m.active_accounts, m.events, d.active_days
FROM monthly m JOIN dau d ON d.month = m.month"""


def _accounts(d: Dialect) -> str:
    return f"""WITH linked AS (
    SELECT l.account_id, sa.source, sa.kind, sa.owner_id
    FROM identity_links l
    JOIN source_accounts sa
      ON sa.source = l.source AND sa.source_id = l.external_id AND sa.kind = l.source_kind
    WHERE l.account_id IS NOT NULL
),
per_source AS (
    SELECT account_id, source, count(*) AS n FROM linked GROUP BY account_id, source
),
sources AS (
    SELECT account_id, {d.concat_sorted("source")} AS sources, sum(n) AS linked_records
    FROM (SELECT * FROM per_source ORDER BY account_id, source) AS ordered_sources
    GROUP BY account_id
),
owner_names AS (
    SELECT x.account_id, max(o.name) AS owner
    FROM linked x JOIN owners o ON o.source = x.source AND o.source_id = x.owner_id
    GROUP BY x.account_id
),
mrr_now AS (
    SELECT l.account_id, sum(r.mrr) / 100.0 AS mrr
    FROM revenue_timeline r
    JOIN identity_links l
      ON l.source = r.source AND l.source_kind = 'customer' AND l.external_id = r.source_account_id
    WHERE r.valid_from <= {d.now()} AND (r.valid_to IS NULL OR r.valid_to > {d.now()})
    GROUP BY l.account_id
)
SELECT a.id AS account_id, a.name, a.domain, a.key, a.created_at,
       s.sources, COALESCE(s.linked_records, 0) AS linked_records,
       o.owner,
       COALESCE(m.mrr, 0) AS mrr,
       h.score AS health_score, h.band AS health_band
FROM accounts a
LEFT JOIN sources s ON s.account_id = a.id
LEFT JOIN owner_names o ON o.account_id = a.id
LEFT JOIN mrr_now m ON m.account_id = a.id
LEFT JOIN v_health_latest h ON h.account_id = a.id"""


def _health_latest(d: Dialect) -> str:
    return """SELECT h.account_id, a.name AS account_name, h.period, h.score, h.band, h.components
FROM health_scores h
JOIN (SELECT account_id, max(period) AS period FROM health_scores GROUP BY account_id) latest
  ON latest.account_id = h.account_id AND latest.period = h.period
LEFT JOIN accounts a ON a.id = h.account_id"""


def _health_monthly(d: Dialect) -> str:
    return f"""SELECT period AS month,
       count(*) AS accounts,
       sum(CASE WHEN band = 'red' THEN 1 ELSE 0 END) AS red,
       sum(CASE WHEN band = 'yellow' THEN 1 ELSE 0 END) AS yellow,
       sum(CASE WHEN band = 'green' THEN 1 ELSE 0 END) AS green,
       {d.round("avg(score)", 1)} AS average_score
FROM health_scores
GROUP BY period"""


VIEWS: tuple[View, ...] = (
    View("v_account_mrr", "month-end MRR of every account, every month, with its movement", _account_mrr),
    View("v_mrr_monthly", "MRR, ARR, paying accounts, ARPA and the MRR bridge per month", _mrr_monthly),
    View("v_nps_monthly", "NPS responses, promoters, passives, detractors and NPS per month", _nps_monthly),
    View("v_satisfaction_monthly", "CSAT and CES per month", _satisfaction_monthly),
    View(
        "v_support_monthly", "tickets, escalations, response and resolution times per month", _support_monthly
    ),
    View("v_usage_daily", "active users and events per account per day", _usage_daily),
    View("v_usage_monthly", "MAU, average DAU, stickiness and active accounts per month", _usage_monthly),
    View("v_health_latest", "each account's latest health score, band and components", _health_latest),
    View("v_health_monthly", "health bands per month", _health_monthly),
    View("v_accounts", "accounts with their linked sources, owner, current MRR and health", _accounts),
)
"""In creation order: a view only reads tables and the views before it."""


def view_names() -> list[str]:
    return [v.name for v in VIEWS]


def view_sql(view: View, dialect: str) -> str:
    return f"CREATE VIEW {view.name} AS\n{view.build(Dialect(dialect))}"


def drop_views(conn: Connection) -> None:
    """Drop the views, dependents first. Never CASCADE: a view an analyst built on top of ours
    is theirs; PostgreSQL then refuses, and the error says what to drop."""
    for view in reversed(VIEWS):
        statement = text(f"DROP VIEW IF EXISTS {view.name}")
        if conn.dialect.name != "postgresql":  # SQLite does not track what depends on a view
            conn.execute(statement)
            continue
        try:
            with conn.begin_nested():
                conn.execute(statement)
        except DBAPIError as exc:
            raise StoreError(
                f"cannot replace view {view.name}: other objects depend on it ({_first_line(exc.orig)}); "
                f"drop them, run `vitalsign store upgrade`, then create them again"
            ) from exc


def create_views(conn: Connection) -> bool:
    """Create the views, or recreate them when their SQL changed; True if anything was written.

    In steady state (every sync calls this) nothing is written: SQLite keeps each view's SQL in
    ``sqlite_master``, PostgreSQL gets a digest of it as the view's comment. PostgreSQL first
    tries ``CREATE OR REPLACE VIEW``, which keeps views that others built on ours; only a change
    of columns needs the drop and create that SQLite always does.
    """
    dialect = conn.dialect.name
    statements = {v.name: view_sql(v, dialect) for v in VIEWS}
    current = _current(conn)
    if current == {n: _digest(sql) for n, sql in statements.items()}:
        return False
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(b"vitalsign-views")})
        try:
            with conn.begin_nested():
                for name, sql in statements.items():
                    if current.get(name) != _digest(sql):
                        conn.execute(text(sql.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)))
                        conn.execute(text(f"COMMENT ON VIEW {name} IS 'vitalsign {_digest(sql)}'"))
            return True
        except DBAPIError:  # columns changed: replace is not enough
            pass
    drop_views(conn)
    for name, sql in statements.items():
        conn.execute(text(sql))
        if dialect == "postgresql":
            conn.execute(text(f"COMMENT ON VIEW {name} IS 'vitalsign {_digest(sql)}'"))
    return True


def _first_line(exc: BaseException | None) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _digest(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()[:16]


def _current(conn: Connection) -> dict[str, str]:
    names = view_names()
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'v' AND n.nspname = current_schema()"
            )
        ).all()
        return {name: (comment or "").removeprefix("vitalsign ") for name, comment in rows if name in names}
    rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'view'")).all()
    return {name: _digest(sql) for name, sql in rows if name in names}


@contextmanager
def views_around_migration(engine: Engine) -> Iterator[None]:
    """Drop the views while a migration is pending, then bring them up to date."""
    if _migration_pending(engine):
        with engine.begin() as conn:
            drop_views(conn)
    yield
    with engine.begin() as conn:
        create_views(conn)


def _migration_pending(engine: Engine) -> bool:
    from alembic.script import ScriptDirectory

    from .migrations import alembic_config, current_revision

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return current_revision(engine) not in heads
