"""The report as one self-contained HTML file: inline CSS and SVG, no script, no network.

A Content-Security-Policy meta tag forbids every external load, so the file renders the same
offline, from an e-mail attachment or a shared drive. All text is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from . import charts
from .charts import Series
from .report import MOVEMENTS, NO_DATA, SECTIONS, Report, fmt_change, fmt_value

COLORS = {
    "mrr": "#2563eb",
    "new": "#16a34a",
    "expansion": "#65a30d",
    "reactivation": "#0891b2",
    "contraction": "#f97316",
    "churn": "#dc2626",
    "cohort": "#7c3aed",
    "nps": "#db2777",
    "responses": "#cbd5e1",
    "csat": "#0d9488",
    "first_response": "#9333ea",
    "resolution": "#0d9488",
    "dau": "#2563eb",
    "wau": "#0891b2",
    "mau": "#1e3a8a",
    "stickiness": "#ea580c",
    "license_utilization": "#65a30d",
    "red": "#ef4444",
    "yellow": "#eab308",
    "green": "#22c55e",
}

CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f8fafc;
       color: #0f172a; }
header { background: #0f172a; color: #f8fafc; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #cbd5e1; font-size: 14px; }
main { max-width: 1540px; margin: 0 auto; padding: 16px 32px 48px; }
h2 { font-size: 18px; margin: 28px 0 10px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; }
.tile { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 12px; }
.tile .label { font-size: 12px; color: #475569; }
.tile .value { font-size: 20px; font-weight: 600; margin-top: 2px; }
.tile .change { font-size: 12px; margin-top: 2px; }
.good { color: #15803d; } .bad { color: #b91c1c; } .flat, .muted { color: #64748b; }
.nodata .value { color: #94a3b8; font-weight: 400; font-size: 15px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(740px, 1fr)); gap: 14px; }
.card { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 12px 14px;
        overflow-x: auto; }
.card h3 { margin: 0 0 8px; font-size: 15px; }
.chart { display: block; max-width: 100%; height: auto; }
table.risk { border-collapse: collapse; width: 100%; font-size: 13px; }
table.risk th, table.risk td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e2e8f0;
                               vertical-align: top; }
table.risk td.num { text-align: right; white-space: nowrap; }
table.risk ul { margin: 0; padding-left: 18px; }
.note { color: #64748b; font-size: 13px; }
footer { color: #64748b; font-size: 12px; margin-top: 32px; }
"""


def render_html(report: Report) -> str:
    labels = [str(m) for m in report.months]
    body = [
        "<header>",
        f"<h1>vitalsign report: {escape(str(report.month))}</h1>",
        f"<p>changes against {escape(str(report.month.previous()))} · {len(labels)} months of history · "
        f"currency {escape(report.currency.upper())} · generated "
        f"{escape(report.generated_at.strftime('%Y-%m-%d %H:%M UTC'))}</p>",
        "</header><main>",
    ]
    for section, specs in SECTIONS.items():
        body.append(f"<h2>{escape(section)}</h2>")
        body.append(_tiles(report, specs))
        body.append('<div class="cards">')
        body += _section_cards(report, section, labels)
        body.append("</div>")
    body.append("<h2>Health</h2>")
    body.append('<div class="cards">')
    body += _health_cards(report)
    body.append("</div>")
    body.append(
        "<footer>Made by vitalsign from the store: every figure is also available through "
        "<code>vitalsign metrics</code> and the SQL views (docs/schema.md).</footer></main>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>vitalsign report {escape(str(report.month))}</title>"
        f"<style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )


def _tiles(report: Report, specs: Any) -> str:
    parts = ['<div class="tiles">']
    for spec in specs:
        kpi = report.kpi(spec)
        if kpi.value is None:
            reason = f' title="{escape(kpi.note)}"' if kpi.note else ""
            parts.append(
                f'<div class="tile nodata"{reason}><div class="label">{escape(spec.label)}</div>'
                f'<div class="value">{NO_DATA}</div></div>'
            )
            continue
        change = fmt_change(kpi, report.currency)
        parts.append(
            f'<div class="tile"><div class="label">{escape(spec.label)}</div>'
            f'<div class="value">{escape(fmt_value(kpi.value, spec.unit, report.currency))}</div>'
            f'<div class="change {kpi.trend}">{escape(change or "")}</div></div>'
        )
    parts.append("</div>")
    return "".join(parts)


def _card(title: str, content: str) -> str:
    return f'<div class="card"><h3>{escape(title)}</h3>{content}</div>'


def _missing(report: Report, *names: str) -> str:
    reasons = [report.notes[n] for n in names if n in report.notes]
    reason = f": {reasons[0]}" if reasons else ""
    return f'<p class="note">{NO_DATA}{escape(reason)}</p>'


def _money(report: Report) -> charts.Fmt:
    return lambda v: fmt_value(v, "money", report.currency)


def _section_cards(report: Report, section: str, labels: list[str]) -> list[str]:
    if section == "Revenue":
        return _revenue_cards(report, labels)
    if section == "Satisfaction":
        return _satisfaction_cards(report, labels)
    if section == "Support":
        return _support_cards(report, labels)
    return _usage_cards(report, labels)


def _revenue_cards(report: Report, labels: list[str]) -> list[str]:
    cards = []
    if report.has("mrr"):
        svg = charts.lines(
            "chart-mrr",
            "MRR at month end",
            labels,
            [Series("MRR", COLORS["mrr"], report.values("mrr"))],
            fmt=_money(report),
            area=True,
        )
        cards.append(_card("MRR over time", svg))
    else:
        cards.append(_card("MRR over time", _missing(report, "mrr")))
    if any(report.has("mrr_movements", c) for c in MOVEMENTS):
        series = [
            Series(name, COLORS[name], [v or 0.0 for v in report.values("mrr_movements", name)])
            for name in MOVEMENTS
        ]
        svg = charts.stacked_bars(
            "chart-movements",
            "MRR movements per month",
            labels,
            series,
            fmt=_money(report),
            negative=("contraction", "churn"),
        )
        cards.append(_card("MRR movements (bridge)", svg))
    else:
        cards.append(_card("MRR movements (bridge)", _missing(report, "mrr_movements")))
    if report.cohorts:
        width = max(len(c.retention) for c in report.cohorts)
        columns = [str(i) for i in range(width)]
        cells = [[*c.retention, *([None] * (width - len(c.retention)))] for c in report.cohorts]
        svg = charts.heatmap(
            "chart-cohorts",
            "Logo retention by cohort",
            [c.month for c in report.cohorts],
            [f"({c.size})" for c in report.cohorts],
            columns,
            cells,
            color=COLORS["cohort"],
        )
        note = (
            '<p class="note">Share of each first-paying-month cohort (size in brackets) '
            "still paying N months later.</p>"
        )
        cards.append(_card("Cohort retention", svg + note))
    else:
        cards.append(_card("Cohort retention", _missing(report, "cohorts")))
    return cards


def _satisfaction_cards(report: Report, labels: list[str]) -> list[str]:
    cards = []
    if report.has("nps"):
        responses = [
            report.value("nps", m, "responses") or float(report.nps_responses.get(str(m), 0))
            for m in report.months
        ]
        svg = charts.lines(
            "chart-nps",
            "NPS and responses per month",
            labels,
            [Series("NPS", COLORS["nps"], report.values("nps"))],
            fmt=lambda v: f"{v:.0f}",
            bars=Series("responses", COLORS["responses"], responses),
            bar_fmt=lambda v: f"{v:.0f}",
        )
        cards.append(_card("NPS trend (bars: responses, right axis)", svg))
    else:
        cards.append(_card("NPS trend", _missing(report, "nps")))
    if report.has("csat"):
        svg = charts.lines(
            "chart-csat",
            "CSAT per month",
            labels,
            [Series("CSAT %", COLORS["csat"], report.values("csat"))],
            fmt=lambda v: f"{v:.0f}%",
        )
        cards.append(_card("CSAT", svg))
    else:
        cards.append(_card("CSAT", _missing(report, "csat")))
    return cards


def _support_cards(report: Report, labels: list[str]) -> list[str]:
    if not (report.has("first_response_time") or report.has("resolution_time")):
        return [_card("Support times", _missing(report, "first_response_time", "resolution_time"))]
    series = [
        Series("first response (median)", COLORS["first_response"], report.values("first_response_time")),
        Series(
            "first response (p90)",
            COLORS["first_response"],
            report.values("first_response_time", "p90"),
            True,
        ),
        Series("resolution (median)", COLORS["resolution"], report.values("resolution_time")),
        Series("resolution (p90)", COLORS["resolution"], report.values("resolution_time", "p90"), True),
    ]
    svg = charts.lines(
        "chart-support",
        "Support times in hours",
        labels,
        [s for s in series if any(s.values)],
        fmt=lambda v: f"{v:.0f} h",
    )
    return [_card("Support times (hours)", svg)]


def _usage_cards(report: Report, labels: list[str]) -> list[str]:
    cards = []
    active = [
        Series(name.upper(), COLORS[name], report.values(name))
        for name in ("dau", "wau", "mau")
        if report.has(name)
    ]
    if active:
        cards.append(_card("Active users", charts.lines("chart-usage", "Active users", labels, active)))
    else:
        cards.append(_card("Active users", _missing(report, "dau", "mau")))
    rates = [
        Series(label, COLORS[name], report.values(name))
        for name, label in (
            ("stickiness", "stickiness (DAU/MAU)"),
            ("license_utilization", "license utilization"),
        )
        if report.has(name)
    ]
    if rates:
        svg = charts.lines(
            "chart-stickiness", "Stickiness and license utilization", labels, rates, fmt=lambda v: f"{v:.0f}%"
        )
        cards.append(_card("Stickiness and license utilization (%)", svg))
    else:
        cards.append(_card("Stickiness", _missing(report, "stickiness")))
    return cards


def _health_cards(report: Report) -> list[str]:
    if report.health_period is None:
        return [_card("Health", _missing(report, "health"))]
    trend = report.health_trend or [
        {
            "month": report.health_period,
            **{b: report.health_bands.get(b, 0) for b in ("red", "yellow", "green")},
        }
    ]
    svg = charts.stacked_bars(
        "chart-health",
        "Accounts per health band",
        [str(r["month"]) for r in trend],
        [
            Series(band, COLORS[band], [float(r.get(band) or 0) for r in trend])
            for band in ("red", "yellow", "green")
        ],
        fmt=lambda v: f"{v:.0f}",
    )
    bands = report.health_bands
    summary = (
        f'<p class="note">{escape(report.health_period)}: {bands.get("green", 0)} green, '
        f"{bands.get('yellow', 0)} yellow, {bands.get('red', 0)} red"
        + (f" ({report.former_red} of them no longer pay)" if report.former_red else "")
        + ".</p>"
    )
    cards = [_card("Health distribution", svg + summary)]
    if not report.at_risk:
        cards.append(_card("Accounts at risk", '<p class="note">No paying account in the red band.</p>'))
        return cards
    rows = [
        '<table class="risk" id="at-risk"><thead><tr><th>Account</th><th>Health</th><th>MRR</th>'
        "<th>Why</th></tr></thead><tbody>"
    ]
    for acc in report.at_risk:
        reasons = "".join(f"<li>{escape(r)}</li>" for r in acc.reasons) or "<li>no component detail</li>"
        mrr = fmt_value(acc.mrr, "money", report.currency) if acc.mrr else ""
        rows.append(
            f'<tr><td>{escape(acc.name)}</td><td class="num">{acc.score:.0f}</td>'
            f'<td class="num">{escape(mrr)}</td><td><ul>{reasons}</ul></td></tr>'
        )
    rows.append("</tbody></table>")
    cards.append(_card(f"Accounts at risk ({len(report.at_risk)} red)", "".join(rows)))
    return cards
