"""`vitalsign demo`: a seeded company, served through the Stripe and HubSpot fakes and as Amplitude
files, synced by the real connectors, then reported. The end-to-end test checks the store against
the fakes' own state, so the whole chain (model, fake, connector, timeline, metric) must agree."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from vitalsign.core.cli import main
from vitalsign.core.compute import compute_metrics
from vitalsign.core.demo import demo_config_text, prepare_store
from vitalsign.core.errors import UsageError
from vitalsign.core.store import Store, table, upsert
from vitalsign.testing import demo_company, demo_sources
from vitalsign.testing.fakes.stripe import FakeStripe

END = datetime(2026, 6, 1, tzinfo=UTC)


def test_company_is_deterministic_for_a_seed() -> None:
    first = demo_company.generate(accounts=60, months=12, seed=5, end=END)
    again = demo_company.generate(accounts=60, months=12, seed=5, end=END)
    other = demo_company.generate(accounts=60, months=12, seed=6, end=END)
    assert first == again
    assert first != other


def test_company_has_the_life_of_a_saas_business() -> None:
    company = demo_company.generate(accounts=400, months=24, seed=42, end=END)
    stints = [s for a in company.accounts for s in a.stints]
    assert len({a.key for a in company.accounts}) == 400
    assert all(company.start <= a.created < company.end for a in company.accounts)
    assert any(s.annual for s in stints)
    assert any(not s.annual for s in stints)
    assert {s.coupon for s in stints} >= {None, "LAUNCH20", "WELCOME30"}
    assert any(s.trial_days for s in stints)
    changes = [c for s in stints for c in s.changes]
    assert any(c.plan for c in changes), "upgrades"
    assert any(c.seats for c in changes), "seat changes"
    churned = [a for a in company.accounts if a.churn_at is not None and a.churn_at < company.end]
    assert 0.1 < len(churned) / 400 < 0.6
    assert any(len(a.stints) > 1 for a in company.accounts), "reactivations"
    assert any(s.payment_failure_at for s in stints), "involuntary churn"
    leaving = next(a for a in company.accounts if a.churn_at and a.churn_at > company.end)
    assert leaving.vitality(leaving.churn_at - 5 * demo_company.DAY) < leaving.health / 4  # fades first


def test_sources_are_deterministic_for_a_seed(tmp_path: Path) -> None:
    def build(folder: str) -> tuple[list[str], int, dict[str, str]]:
        sources = demo_sources.build(accounts=15, months=4, seed=9, workdir=tmp_path / folder, now=END)
        sources.catch_up()  # the month after the first sync too
        customers = [c["id"] for c in sources.stripe.objects["customer"].newest_first()]
        files = {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((tmp_path / folder).rglob("*.gz"))
        }
        return customers, len(sources.hubspot.objects["tickets"]), files

    one, two = build("a"), build("b")
    assert one == two
    assert len(one[0]) == 15
    assert one[2], "usage files written"


def test_demo_refuses_a_store_that_holds_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'real.db'}"
    store = Store(url)
    store.upgrade()
    with store.begin() as conn:
        upsert(
            conn,
            "source_accounts",
            [{"source": "stripe", "source_id": "cus_1", "kind": "customer", "deleted": False}],
        )
    store.dispose()
    with pytest.raises(UsageError, match="already holds data"):
        prepare_store(url, default=False)


def test_demo_config_is_a_valid_vitalsign_toml() -> None:
    import tomllib

    config = tomllib.loads(
        demo_config_text(
            store_url="sqlite:///x.db",
            stripe_url="http://127.0.0.1:1",
            hubspot_url="http://127.0.0.1:2",
            amplitude_glob="/tmp/a/*.json.gz",
        )
    )
    assert (
        config["connectors"]["stripe"]["api_key"] == "${VITALSIGN_DEMO_STRIPE_KEY}"
    )  # a reference, no secret
    assert config["connectors"]["hubspot"]["escalation"] == {"priorities": ["URGENT"]}
    assert set(config["connectors"]) == {"stripe", "hubspot", "amplitude"}


def expected_mrr(fake: FakeStripe) -> float:
    """MRR straight from the fake's subscriptions as they stand at the end: each live item's price
    x quantity per month, net of a percent coupon live when its current period was invoiced."""
    total = 0.0
    for sub in fake.objects["subscription"].newest_first():
        if sub["status"] not in ("active", "past_due"):
            continue
        for item in sub["items"]:
            price = item["price"]
            months = 12 if price["recurring"]["interval"] == "year" else 1
            amount = price["unit_amount"] * item["quantity"] / months
            for d in sub["discounts"]:
                coupon = fake.get("coupon", d["source"]["coupon"])
                start = item["current_period_start"]
                if d["start"] <= start and (d["end"] is None or start < d["end"]):
                    amount *= 1 - coupon["percent_off"] / 100
            total += amount
    return total / 100


@pytest.mark.slow
def test_demo_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    built: list[demo_sources.DemoSources] = []
    real_build = demo_sources.build

    def keep(**kwargs: Any) -> demo_sources.DemoSources:
        sources = real_build(**kwargs)
        built.append(sources)
        return sources

    monkeypatch.setattr(demo_sources, "build", keep)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    html = tmp_path / "report.html"
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["demo", "--accounts", "30", "--months", "8", "--seed", "11", "--store", url, "--html", str(html)]
        )
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    sources = built[0]
    month = sources.last_full_month
    assert f"vitalsign report for {month}" in captured.out
    rounds = captured.err.split(f"incremental sync, {month}:")
    assert len(rounds) == 2, captured.err
    for connector in ("stripe", "hubspot", "amplitude"):
        first = int(re.search(rf"{connector}: success, (\d+) rows", rounds[0]).group(1))  # type: ignore[union-attr]
        then = int(re.search(rf"{connector}: success, (\d+) rows", rounds[1]).group(1))  # type: ignore[union-attr]
        assert 0 < then < first, (connector, first, then)  # the second sync reads only the new month
    assert sources.stripe.api_key not in captured.out + captured.err + Path("demo.db").read_bytes().decode(
        "latin-1"
    )

    store = Store(url)
    try:
        with store.connect() as conn:
            counts = {
                name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
                for name in (
                    "accounts",
                    "invoice_lines",
                    "tickets",
                    "survey_responses",
                    "usage_events",
                    "quarantine",
                )
            }
            linked = conn.execute(text("SELECT sources, count(*) FROM v_accounts GROUP BY sources")).all()
            health = conn.execute(
                select(func.count(func.distinct(table("health_scores").c.period)))
            ).scalar_one()
        assert counts["accounts"] == 30  # Stripe customer, HubSpot company and usage group: one account each
        by_sources = dict(linked)
        assert set(by_sources) <= {"amplitude,hubspot,stripe", "hubspot,stripe"}  # all linked by the key
        assert by_sources["amplitude,hubspot,stripe"] >= 20  # usage for all but long-gone accounts
        assert counts["quarantine"] == 0
        assert counts["usage_events"] == sources.events
        # the shared generator's company, record for record, through the APIs and the connectors
        assert counts["tickets"] == len(sources.synthetic.tickets)
        assert counts["survey_responses"] == len(sources.synthetic.answers)
        user_days = sum(1 for a in sources.synthetic.accounts for _ in sources.synthetic.usage(a))
        with store.connect() as conn:
            stored_user_days = conn.execute(
                select(func.count()).select_from(table("usage_user_daily"))
            ).scalar_one()
        assert stored_user_days == user_days
        assert health == 8  # a health history month by month
        mrr = compute_metrics(store, ["mrr"], start=month, end=month)[0]["value"]
        assert mrr == pytest.approx(expected_mrr(sources.stripe), rel=1e-6)
        assert f"${mrr:,.0f}" in captured.out
    finally:
        store.dispose()
    page = html.read_text(encoding="utf-8")
    assert 'id="chart-mrr"' in page
    assert 'id="chart-cohorts"' in page
