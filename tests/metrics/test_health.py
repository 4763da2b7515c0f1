"""Health score: components, weights, bands, history, plugins and the CLI output shape."""

from __future__ import annotations

from datetime import UTC, date, datetime

import orjson
from typer.testing import CliRunner
from vitalsign.core import ComponentScore, HealthComponent, hookimpl
from vitalsign.core.cli import app
from vitalsign.core.metric import Month
from vitalsign.core.plugins import register
from vitalsign.metrics.health import band, compute_health, interpolate, store_health


def at(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def acme(data):
    """Account 1, hand-scored for March 2026 (default weights 25/15/15/15/15/15):

    usage_trend          20 user-days vs 20 before: 0 %        -> 75
    license_utilization  7 active users / 10 seats: 70 %        -> 80
    nps                  one 10, one 0: NPS 0                   -> 50
    support              3 tickets, no escalation: load 3       -> 75
    billing              an open invoice past its due date      -> 0
    mrr_trend            $110 now vs $100 at December's end     -> 100
    score = (75*25 + 80*15 + 50*15 + 75*15 + 0*15 + 100*15) / 100 = 64.5 (yellow)
    """
    data.account(1, "Acme", customer="c1", company="co1", group="g1")
    data.account(2, "Solo", customer="c2")
    data.insert(
        "prices",
        [{"source": "stripe", "source_id": "seat", "type": "recurring", "usage_type": "licensed"}],
    )
    data.timeline(
        data.mrr("c1", at(2025, 10, 1), at(2026, 2, 1), 100, quantity=10, price="seat"),
        data.mrr("c1", at(2026, 2, 1), None, 110, quantity=10, price="seat"),
        data.mrr("c2", at(2025, 10, 1), at(2026, 3, 5), 100),
        data.mrr("c2", at(2026, 3, 5), None, 50),
    )
    data.usage("g1", date(2026, 2, 10), [f"p{i}" for i in range(10)])
    data.usage("g1", date(2026, 2, 20), [f"p{i}" for i in range(10)])
    data.usage("g1", date(2026, 3, 5), [f"u{i}" for i in range(7)])
    data.usage("g1", date(2026, 3, 20), [f"u{i}" for i in range(7)])
    data.usage("g1", date(2026, 3, 28), [f"u{i}" for i in range(6)])
    data.insert(
        "survey_responses",
        [
            {
                "source_id": f"s{i}",
                "kind": "nps",
                "score": s,
                "submitted_at": at(2026, 3, 1),
                "source_account_id": "co1",
            }
            for i, s in enumerate([10, 0])
        ],
    )
    data.insert(
        "tickets",
        [{"source_id": f"t{i}", "created_at": at(2026, 3, 10), "source_account_id": "co1"} for i in range(3)],
    )
    data.insert(
        "invoices",
        [
            {
                "source": "stripe",
                "source_id": "in_1",
                "source_account_id": "c1",
                "status": "open",
                "created_at": at(2026, 3, 1),
                "due_date": at(2026, 3, 15),
                "amount_due": 11000,
            }
        ],
    )


def test_thresholds_and_bands():
    points = [(-50, 0), (-20, 50), (0, 75), (20, 100)]
    assert [interpolate(points, x) for x in (-80, -35, 10, 50)] == [0, 25, 87.5, 100]
    assert [band(s) for s in (49.9, 50, 74.9, 75)] == ["red", "yellow", "yellow", "green"]


def test_hand_scored_account_with_explanation(data):
    acme(data)
    with data.store.connect() as conn:
        [result] = compute_health(conn, Month(2026, 3), account_ids=[1])
    parts = {c["name"]: (c["input"], c["score"], c["weight"]) for c in result.components}
    assert parts == {
        "usage_trend": (0.0, 75.0, 25.0),
        "license_utilization": (70.0, 80.0, 15.0),
        "nps": (0.0, 50.0, 15.0),
        "support": (3.0, 75.0, 15.0),
        "billing": (1.0, 0.0, 15.0),
        "mrr_trend": (10.0, 100.0, 15.0),
    }
    assert (result.score, result.band) == (64.5, "yellow")


def test_weights_from_config_and_missing_components_renormalised(data):
    acme(data)
    options = {"weights": {"usage_trend": 0, "billing": 45}}
    with data.store.connect() as conn:
        results = {r.account_id: r for r in compute_health(conn, Month(2026, 3), options=options)}
    # Acme: (80*15 + 50*15 + 75*15 + 0*45 + 100*15) / 105
    assert results[1].score == round((1200 + 750 + 1125 + 1500) / 105, 1)
    # Solo has billing (nothing overdue: 100) and an MRR trend (-50 %: 0) only
    assert [c["name"] for c in results[2].components] == ["billing", "mrr_trend"]
    assert (results[2].score, results[2].band) == (75.0, "green")


class Constant(HealthComponent):
    name = "csm_gut_feeling"
    default_weight = 100.0

    def evaluate(self, conn, *, period, account_ids, options):
        return {1: ComponentScore(input=1.0, score=10.0, detail="worried")}


class GutPlugin:
    @hookimpl
    def vitalsign_health_components(self):
        return [Constant()]


def test_component_from_a_plugin_and_history(data):
    acme(data)
    register(GutPlugin(), "gut")
    with data.store.begin() as conn:
        [result] = compute_health(conn, Month(2026, 3), account_ids=[1])
        store_health(conn, [result])
    assert "csm_gut_feeling" in [c["name"] for c in result.components]
    assert result.score == round((6450 + 10 * 100) / 200, 1)
    [row] = data.run("health_score", "2026-03", account_id=1)
    assert (row["value"], row["accounts"], row["red"], row["yellow"]) == (result.score, 1, 1, 0)


def test_health_cli_explain_json_and_metrics_json(data, tmp_path, monkeypatch):
    acme(data)
    monkeypatch.chdir(tmp_path)
    url = data.store.url.render_as_string(hide_password=False)
    runner = CliRunner()
    result = runner.invoke(
        app, ["--store", url, "health", "--explain", "--period", "2026-03", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    accounts = orjson.loads(result.stdout)
    acme_row = next(a for a in accounts if a["account_id"] == 1)
    assert set(acme_row) == {"account_id", "account", "period", "score", "band", "components"}
    assert acme_row["score"] == 64.5
    billing = next(c for c in acme_row["components"] if c["component"] == "billing")
    assert set(billing) == {"component", "input", "component_score", "weight", "points", "detail"}
    assert (billing["input"], billing["component_score"], billing["weight"]) == (1.0, 0.0, 15.0)
    assert sum(c["points"] for c in acme_row["components"]) == 64.5
    csv = runner.invoke(
        app, ["--store", url, "health", "--account", "1", "--period", "2026-03", "--format", "csv"]
    )
    assert csv.exit_code == 0
    header, line = csv.stdout.splitlines()
    columns = "usage_trend,license_utilization,nps,support,billing,mrr_trend"
    assert header == f"account_id,account,period,score,band,{columns}"
    assert line == "1,Acme,2026-03,64.5,yellow,75.0,80.0,50.0,75.0,0.0,100.0"
    mrr = runner.invoke(
        app, ["--store", url, "metrics", "mrr", "--start", "2026-02", "--end", "2026-03", "--format", "json"]
    )
    assert mrr.exit_code == 0, mrr.output
    assert orjson.loads(mrr.stdout) == [
        {"metric": "mrr", "period": "2026-02", "value": 210.0},
        {"metric": "mrr", "period": "2026-03", "value": 160.0},
    ]
    history = runner.invoke(
        app,
        [
            "--store",
            url,
            "metrics",
            "health_score",
            "--start",
            "2026-03",
            "--end",
            "2026-03",
            "--format",
            "json",
        ],
    )
    assert orjson.loads(history.stdout)[0]["accounts"] == 2


def test_nps_component_counts_answers_through_the_contacts_company(data):
    """HubSpot leaves a survey answer's company empty: it belongs to its contact's company."""
    data.account(1, "Acme", company="co1")
    data.account(2, "Other", company="co2")
    data.insert(
        "contacts",
        [
            {"source": "hubspot", "source_id": "ct1", "source_account_id": "co1"},
            {"source": "hubspot", "source_id": "ct2", "source_account_id": "co2"},
        ],
    )
    answers = [("ct1", None, 10), ("ct1", None, 9), ("ct2", None, 0), (None, "co1", 0), ("ct2", "co1", 8)]
    data.insert(
        "survey_responses",
        [
            {
                "source_id": f"s{i}",
                "kind": "nps",
                "score": score,
                "submitted_at": at(2026, 3, 1),
                "contact_id": contact,
                "source_account_id": company,
            }
            for i, (contact, company, score) in enumerate(answers)
        ],
    )
    with data.store.connect() as conn:
        results = {r.account_id: r for r in compute_health(conn, Month(2026, 3))}
        [one] = compute_health(conn, Month(2026, 3), account_ids=[1])
    nps = {a: next(c for c in r.components if c["name"] == "nps") for a, r in results.items()}
    # Acme: 10 and 9 through its contact, 0 and 8 (a company set on the answer wins) directly
    assert (nps[1]["input"], nps[1]["detail"]) == (25.0, "2 promoters, 1 passives, 1 detractors in 180 days")
    assert nps[2]["input"] == -100.0
    assert next(c for c in one.components if c["name"] == "nps")["input"] == 25.0
