"""The report: headline KPIs, the MRR bridge, satisfaction, support, usage, cohorts and the
accounts at risk, gathered once and rendered to the terminal (here) or to HTML (report_html).

Every figure comes from the metrics layer (``compute_metrics``), the health-score history
(``health_scores``) or the SQL views (cohorts), so the report shows the same numbers as
``vitalsign metrics``. A metric that is not installed, has no data or fails is shown as
"no data" with the reason: the report never crashes on a half-filled store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from sqlalchemy import text

from .compute import compute_metrics
from .metric import Month
from .registry import metrics as registered_metrics
from .store import Store

log = logging.getLogger("vitalsign.report")

NO_DATA = "no data"


@dataclass(frozen=True)
class KpiSpec:
    name: str
    label: str
    unit: str  # money | percent | count | hours | score | ratio
    lower_is_better: bool = False


SECTIONS: dict[str, tuple[KpiSpec, ...]] = {
    "Revenue": (
        KpiSpec("mrr", "MRR", "money"),
        KpiSpec("arr", "ARR", "money"),
        KpiSpec("paying_accounts", "Paying accounts", "count"),
        KpiSpec("arpa", "ARPA", "money"),
        KpiSpec("logo_churn_rate", "Logo churn", "percent", lower_is_better=True),
        KpiSpec("gross_mrr_churn_rate", "Gross MRR churn", "percent", lower_is_better=True),
        KpiSpec("net_mrr_churn_rate", "Net MRR churn", "percent", lower_is_better=True),
        KpiSpec("nrr", "NRR (12 months)", "percent"),
        KpiSpec("grr", "GRR (12 months)", "percent"),
        KpiSpec("quick_ratio", "Quick ratio", "ratio"),
        KpiSpec("ltv", "LTV", "money"),
    ),
    "Satisfaction": (
        KpiSpec("nps", "NPS", "score"),
        KpiSpec("csat", "CSAT", "percent"),
        KpiSpec("ces", "CES (1-7)", "score"),
    ),
    "Support": (
        KpiSpec("ticket_volume", "Tickets", "count"),
        KpiSpec("first_response_time", "First response (median)", "hours", lower_is_better=True),
        KpiSpec("resolution_time", "Resolution (median)", "hours", lower_is_better=True),
        KpiSpec("first_contact_resolution_rate", "First-contact resolution", "percent"),
        KpiSpec("escalations", "Escalations", "count", lower_is_better=True),
    ),
    "Usage": (
        KpiSpec("dau", "DAU", "count"),
        KpiSpec("wau", "WAU", "count"),
        KpiSpec("mau", "MAU", "count"),
        KpiSpec("stickiness", "Stickiness (DAU/MAU)", "percent"),
        KpiSpec("license_utilization", "License utilization", "percent"),
    ),
}
MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churn")


@dataclass
class Kpi:
    spec: KpiSpec
    value: float | None
    previous: float | None
    note: str | None = None  # why the value is missing, when it is

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def trend(self) -> str:
        """``good``, ``bad`` or ``flat``: colours the change."""
        change = self.change
        if not change:
            return "flat"
        better = change < 0 if self.spec.lower_is_better else change > 0
        return "good" if better else "bad"


@dataclass
class AtRiskAccount:
    account_id: int
    name: str
    score: float
    reasons: list[str]
    mrr: float | None = None


@dataclass
class Cohort:
    month: str
    size: int
    retention: list[float]  # % of the cohort still paying, months since start 0, 1, 2...


@dataclass
class Report:
    month: Month
    start: Month
    currency: str
    generated_at: datetime
    series: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    cohorts: list[Cohort] = field(default_factory=list)
    health_period: str | None = None
    health_bands: dict[str, int] = field(default_factory=dict)
    health_trend: list[dict[str, Any]] = field(default_factory=list)
    at_risk: list[AtRiskAccount] = field(default_factory=list)
    nps_responses: dict[str, int] = field(default_factory=dict)  # by month, from v_nps_monthly
    former_red: int = 0  # red accounts left out of the at-risk list: they no longer pay

    @property
    def months(self) -> list[Month]:
        return self.start.until(self.month)

    def value(self, name: str, month: Month, column: str = "value") -> float | None:
        for row in self.series.get(name, []):
            if row.get("period") == str(month) and "segment" not in row:
                value = row.get(column)
                return float(value) if isinstance(value, int | float) else None
        return None

    def values(self, name: str, column: str = "value") -> list[float | None]:
        """One value per month of the report (None where missing)."""
        return [self.value(name, m, column) for m in self.months]

    def kpi(self, spec: KpiSpec) -> Kpi:
        value = self.value(spec.name, self.month)
        previous = self.value(spec.name, self.month.previous())
        note = self.notes.get(spec.name) if value is None else None
        return Kpi(spec, value, previous, note)

    def has(self, name: str, column: str = "value") -> bool:
        return any(v is not None for v in self.values(name, column))


def last_full_month(now: datetime | None = None) -> Month:
    return Month.of((now or datetime.now(UTC)).date()).previous()


def build_report(
    store: Store,
    *,
    month: Month | None = None,
    months: int = 12,
    options: Mapping[str, Any] | None = None,
    health_options: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Report:
    """Gather every figure of the report for ``month`` (default: the last full month) and the
    ``months - 1`` months before it. ``options`` is the ``[metrics]`` config, ``health_options``
    the ``[health]`` one."""
    health_options = dict(health_options or {})
    options = {**dict(options or {}), "health": health_options}
    end = month or last_full_month(now)
    report = Report(
        month=end,
        start=end.shift(-(months - 1)),
        currency=str(options.get("currency", "usd")).lower(),
        generated_at=now or datetime.now(UTC),
    )
    try:
        installed: Mapping[str, Any] = registered_metrics()
    except Exception as exc:  # a broken metrics plugin: report what does not need it
        log.debug("loading metrics failed: %s", exc, exc_info=True)
        installed, broken = {}, f"metrics plugins failed to load: {_first_line(exc)}"
    else:
        broken = ""
    names = [spec.name for specs in SECTIONS.values() for spec in specs]
    for name in [*names, "mrr_movements", "cohort_retention", "health_score"]:
        if name not in installed:
            report.notes[name] = broken or f"metric {name} is not installed"
            continue
        try:
            rows = compute_metrics(store, [name], start=report.start, end=end, options=options)
        except Exception as exc:  # one broken metric must not take the report down
            log.debug("metric %s failed: %s", name, exc, exc_info=True)
            report.notes[name] = f"{name} failed: {_first_line(exc)}"
            continue
        report.series[name] = rows
    _gather_cohorts(store, report)
    _gather_responses(store, report)
    _gather_health(
        store, report, {**health_options, "metrics": {k: v for k, v in options.items() if k != "health"}}
    )
    return report


def _gather_cohorts(store: Store, report: Report) -> None:
    """Logo retention per first-paying-month cohort: the ``cohort_retention`` metric, else the
    v_account_mrr view (grouped in SQL)."""
    paying: dict[str, dict[str, int]] = {}
    if "cohort_retention" in report.series:
        for row in report.series["cohort_retention"]:
            paying.setdefault(str(row["cohort"]), {})[str(row["period"])] = int(row.get("accounts") or 0)
    else:
        sql = """
            WITH firsts AS (
                SELECT account_ref, min(month) AS cohort FROM v_account_mrr WHERE mrr > 0 GROUP BY account_ref
            )
            SELECT f.cohort, v.month, count(*) AS paying
            FROM v_account_mrr v JOIN firsts f ON f.account_ref = v.account_ref
            WHERE v.mrr > 0 AND f.cohort >= :first AND v.month <= :last
            GROUP BY f.cohort, v.month
        """
        try:
            with store.connect() as conn:
                rows = conn.execute(text(sql), {"first": str(report.start), "last": str(report.month)}).all()
        except Exception as exc:
            log.debug("cohorts failed: %s", exc, exc_info=True)
            report.notes["cohorts"] = _first_line(exc)
            return
        for cohort, month, count in rows:
            paying.setdefault(str(cohort), {})[str(month)] = int(count)
    for cohort in sorted(paying):
        start = Month.parse(cohort)
        size = paying[cohort].get(cohort, 0)
        if not size:
            continue
        retention = [100.0 * paying[cohort].get(str(m), 0) / size for m in start.until(report.month)]
        report.cohorts.append(Cohort(cohort, size, retention))
    if not report.cohorts:
        report.notes.setdefault("cohorts", "no paying accounts in the period")


def _gather_responses(store: Store, report: Report) -> None:
    try:
        with store.connect() as conn:
            rows = conn.execute(
                text("SELECT month, responses FROM v_nps_monthly WHERE month BETWEEN :a AND :b"),
                {"a": str(report.start), "b": str(report.month)},
            ).all()
    except Exception as exc:
        log.debug("nps responses failed: %s", exc, exc_info=True)
        return
    report.nps_responses = {str(month): int(n) for month, n in rows}


def _live_health(store: Store, month: Month, options: Mapping[str, Any]) -> list[Any] | None:
    """Scores computed now when the month has no stored history (the report never writes)."""
    try:
        from vitalsign.metrics.health import compute_health
    except ImportError:
        return None
    with store.connect() as conn:
        return compute_health(conn, month, options=options)


def _gather_health(store: Store, report: Report, options: Mapping[str, Any]) -> None:
    """Bands per month (the ``health_score`` metric, else the v_health_monthly view) and the red
    accounts of the report's month: its stored history, else scored live, else the latest
    stored month before it."""
    if "health_score" in report.series:
        report.health_trend = [
            {"month": r["period"], **{b: int(r.get(b) or 0) for b in ("red", "yellow", "green")}}
            for r in report.series["health_score"]
            if r.get("accounts")
        ]
    try:
        with store.connect() as conn:
            if not report.health_trend:
                report.health_trend = [
                    dict(r._mapping)
                    for r in conn.execute(
                        text(
                            "SELECT month, red, yellow, green FROM v_health_monthly "
                            "WHERE month BETWEEN :a AND :b ORDER BY month"
                        ),
                        {"a": str(report.start), "b": str(report.month)},
                    )
                ]
            period = str(report.month)
            scores = _stored_scores(conn, period)
        if not scores:
            live = _live_health(store, report.month, options)
            scores = [(h.account_id, h.name, h.score, h.band, h.components) for h in live or []]
        if not scores:
            with store.connect() as conn:
                latest = conn.execute(
                    text("SELECT max(period) FROM health_scores WHERE period <= :m"), {"m": str(report.month)}
                ).scalar()
                if latest is not None:
                    period = str(latest)
                    scores = _stored_scores(conn, period)
        mrr = _account_mrr(store, period)
    except Exception as exc:
        log.debug("health failed: %s", exc, exc_info=True)
        report.notes["health"] = _first_line(exc)
        return
    if not scores:
        report.notes["health"] = "no account has health data yet"
        return
    report.health_period = period
    bands: dict[str, int] = {}
    for _, _, _, band, _ in scores:
        bands[band] = bands.get(band, 0) + 1
    report.health_bands = bands
    red = sorted((s for s in scores if s[3] == "red"), key=lambda s: (s[2], s[0]))
    if mrr:  # with revenue data, an account no longer paying is lost already, not at risk
        report.former_red = sum(1 for s in red if not mrr.get(int(s[0])))
        red = [s for s in red if mrr.get(int(s[0]))]
    for account_id, name, score, _, components in red:
        report.at_risk.append(
            AtRiskAccount(
                account_id=int(account_id),
                name=name or f"account {account_id}",
                score=float(score),
                reasons=top_reasons(components),
                mrr=mrr.get(int(account_id)),
            )
        )


def _stored_scores(conn: Any, period: str) -> list[tuple[int, str | None, float, str, Any]]:
    rows = conn.execute(
        text(
            "SELECT h.account_id, a.name, h.score, h.band, h.components FROM health_scores h "
            "LEFT JOIN accounts a ON a.id = h.account_id WHERE h.period = :p"
        ),
        {"p": period},
    ).all()
    return [(int(r.account_id), r.name, float(r.score), str(r.band), _json(r.components)) for r in rows]


def _account_mrr(store: Store, period: str) -> dict[int, float]:
    with store.connect() as conn:
        rows = conn.execute(
            text("SELECT account_id, mrr FROM v_account_mrr WHERE month = :p AND account_id IS NOT NULL"),
            {"p": period},
        ).all()
    return {int(a): float(m) for a, m in rows}


def top_reasons(components: Any, limit: int = 3) -> list[str]:
    """The weakest components of a health score, worst first, each as one readable line."""
    if not isinstance(components, list):
        return []
    scored = [c for c in components if isinstance(c, Mapping) and isinstance(c.get("score"), int | float)]
    scored.sort(key=lambda c: float(c["score"]))
    reasons = []
    for comp in scored[:limit]:
        if float(comp["score"]) >= 75:
            break
        name = str(comp.get("name") or comp.get("component") or "component").replace("_", " ")
        detail = comp.get("detail") or comp.get("explanation") or ""
        line = f"{name} {float(comp['score']):.0f}/100"
        reasons.append(f"{line}: {detail}" if detail else line)
    return reasons


def _json(value: Any) -> Any:
    if isinstance(value, str):
        import orjson

        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# ---------------------------------------------------------------- formatting


def fmt_value(value: float | None, unit: str, currency: str = "usd") -> str:
    if value is None:
        return NO_DATA
    if unit == "money":
        symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency, "")
        sign = "-" if value < 0 else ""
        amount = f"{abs(value):,.0f}" if abs(value) >= 1000 else f"{abs(value):,.2f}"
        return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency.upper()}"
    if unit == "percent":
        return f"{value:.1f} %"
    if unit == "hours":
        return f"{value:.1f} h"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:.1f}"


def fmt_change(kpi: Kpi, currency: str = "usd") -> str:
    change = kpi.change
    if change is None:
        return ""
    if change == 0:
        return "+0"
    sign = "+" if change > 0 else "-"
    if kpi.spec.unit == "percent":
        return f"{sign}{abs(change):.1f} pts"
    return sign + fmt_value(abs(change), kpi.spec.unit, currency)


# ---------------------------------------------------------------- terminal


_TREND_STYLE = {"good": "green", "bad": "red", "flat": "dim"}


def render_terminal(report: Report, console: Console) -> None:
    console.print(
        Text.assemble(
            ("vitalsign report ", "bold"),
            f"for {report.month} (change vs {report.month.previous()}), currency {report.currency.upper()}",
        )
    )
    for section, specs in SECTIONS.items():
        table = Table(title=section, title_justify="left", show_header=True, expand=False)
        table.add_column("KPI")
        table.add_column(str(report.month), justify="right")
        table.add_column("change", justify="right")
        table.add_column(str(report.month.previous()), justify="right")
        reasons: dict[str, None] = {}
        for spec in specs:
            kpi = report.kpi(spec)
            if kpi.note:
                reasons[kpi.note] = None
            value = Text(fmt_value(kpi.value, spec.unit, report.currency))
            if kpi.value is None:
                value.stylize("dim")
            change = Text(fmt_change(kpi, report.currency), style=_TREND_STYLE[kpi.trend])
            previous = fmt_value(kpi.previous, spec.unit, report.currency) if kpi.previous is not None else ""
            table.add_row(spec.label, value, change, previous)
        console.print(table)
        for reason in reasons:
            console.print(Text(f"  {NO_DATA}: {reason}", style="dim"))  # reasons may hold [brackets]
        if section == "Revenue":
            console.print(_bridge_table(report))
    console.print(_at_risk_panel(report))


def _bridge_table(report: Report) -> Table | Text:
    if "mrr_movements" not in report.series or not report.series["mrr_movements"]:
        reason = report.notes.get("mrr_movements")
        return Text(f"MRR bridge: {NO_DATA}" + (f" ({reason})" if reason else ""), style="dim")
    table = Table(title="MRR bridge (last 6 months)", title_justify="left")
    table.add_column("month")
    for name in (*MOVEMENTS, "net"):
        table.add_column(name, justify="right")
    for month in report.months[-6:]:
        cells = [
            fmt_value(report.value("mrr_movements", month, c), "money", report.currency) for c in MOVEMENTS
        ]
        net = report.value("mrr_movements", month, "net")
        cells.append(fmt_value(net, "money", report.currency))
        table.add_row(str(month), *cells)
    return table


def _at_risk_panel(report: Report) -> Panel:
    if report.health_period is None:
        reason = report.notes.get("health")
        message = f"{NO_DATA}" + (f": {reason}" if reason else "")
        return Panel(Text(message, style="dim"), title="Accounts at risk")
    bands = report.health_bands
    summary = Text(
        f"health {report.health_period}: "
        f"{bands.get('green', 0)} green, {bands.get('yellow', 0)} yellow, {bands.get('red', 0)} red"
    )
    if report.former_red:
        summary.append(f" ({report.former_red} red accounts no longer pay: not listed)")
    if not report.at_risk:
        return Panel(Group(summary, Text("no paying account in the red band")), title="Accounts at risk")
    table = Table(show_header=True, expand=False)
    table.add_column("account")
    table.add_column("health", justify="right")
    table.add_column("MRR", justify="right")
    table.add_column("top reasons")
    for acc in report.at_risk[:15]:
        table.add_row(  # Text, not markup: names and reasons come from the sources
            Text(acc.name),
            f"{acc.score:.0f}",
            fmt_value(acc.mrr, "money", report.currency) if acc.mrr else "",
            Text("\n".join(acc.reasons)),
        )
    more = len(report.at_risk) - 15
    items: list[Any] = [summary, table]
    if more > 0:
        items.append(Text(f"... and {more} more (vitalsign health --format table)", style="dim"))
    return Panel(Group(*items), title=f"Accounts at risk ({len(report.at_risk)} red)")
