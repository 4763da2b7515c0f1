"""`vitalsign report`: the terminal summary and the HTML file, on fixed metrics (report_fakes) and on
an empty store with no metrics installed (it must say "no data", not crash)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from rich.console import Console
from vitalsign.core.cli import main
from vitalsign.core.metric import Month
from vitalsign.core.plugins import register, reset_plugin_manager
from vitalsign.core.report import build_report, render_terminal, top_reasons
from vitalsign.core.report_html import render_html
from vitalsign.core.store import Store

FAKES = Path(__file__).with_name("report_fakes.py")


def _load() -> ModuleType:
    import importlib.util
    import sys

    if "report_fakes" not in sys.modules:
        spec = importlib.util.spec_from_file_location("report_fakes", FAKES)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["report_fakes"] = module
        spec.loader.exec_module(module)
    return sys.modules["report_fakes"]


fakes = _load()


@pytest.fixture
def no_builtin_metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only the fake metrics: the real metrics plugin is blocked for these tests."""
    monkeypatch.setenv("VITALSIGN_DISABLE_PLUGINS", "metrics")
    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture
def fake_metrics(no_builtin_metrics: None) -> None:
    register(fakes.FakeMetricsPlugin(), "fake_metrics")


def terminal_text(store: Store) -> str:
    report = build_report(store, month=fakes.MONTH, months=6)
    console = Console(record=True, width=200, color_system=None)
    render_terminal(report, console)
    return console.export_text()


def test_terminal_report_shows_kpis_changes_bridge_and_risks(sqlite_store: Store, fake_metrics: None) -> None:
    fakes.load_company(sqlite_store)
    out = terminal_text(sqlite_store)
    # June 2025 is month index 5: MRR 1000 + 5 * 100, May 1400
    assert re.search(r"MRR\s+│\s+\$1,500\s+│\s+\+\$100.00\s+│\s+\$1,400", out), out
    assert re.search(r"Logo churn\s+│\s+2.5 %\s+│\s+-0.5 pts", out)
    assert re.search(r"First response \(median\)\s+│\s+2.5 h\s+│\s+-0.5 h", out)
    assert "no data: metric ltv is not installed" in out
    assert "no data: ces failed: ces exploded on purpose" in out
    # the bridge: 150 + 40 + 10 - 30 - 70 = 100 every month
    assert re.search(
        r"2025-06\s+│\s+\$150.00\s+│\s+\$40.00\s+│\s+\$10.00\s+│\s+\$30.00\s+│\s+\$70.00\s+│\s+\$100.00", out
    )
    assert "health 2025-06: 3 green, 0 yellow, 3 red (1 red accounts no longer pay: not listed)" in out
    assert "Accounts at risk (2 red)" in out
    risk = out[out.index("Accounts at risk (2 red)") :]
    assert risk.index('Acme <Corp> & "Sons" [bold]') < risk.index("Account 3")  # worst first
    assert "Account 2" not in risk  # red, but churned in March: lost, not at risk
    assert "usage trend 12/100: active users down 60% in 30 days" in risk
    assert "billing" not in risk  # a healthy component is not a reason


def test_report_without_metrics_or_data_says_no_data(
    tmp_path: Path, no_builtin_metrics: None, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(SystemExit) as exit_info:
        main(["--store", url, "report", "--month", "2025-06"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "no data: metric mrr is not installed" in out
    assert "MRR bridge: no data" in out
    assert "no account has health data yet" in out


def test_report_rejects_a_bad_month(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--store", f"sqlite:///{tmp_path / 's.db'}", "report", "--month", "2025-13"])
    assert exit_info.value.code == 2
    assert "--month" in capsys.readouterr().err


def test_top_reasons_are_the_weakest_components_worst_first() -> None:
    components = [
        {"name": "billing", "score": 95, "detail": "paid"},
        {"name": "usage_trend", "score": 20, "detail": "down"},
        {"name": "nps", "score": 5},
        {"name": "support", "score": None, "detail": "no tickets"},
    ]
    assert top_reasons(components) == ["nps 5/100", "usage trend 20/100: down"]
    assert top_reasons("not a list") == []


def test_html_report_is_self_contained_and_escaped(sqlite_store: Store, fake_metrics: None) -> None:
    fakes.load_company(sqlite_store)
    page = render_html(build_report(sqlite_store, month=fakes.MONTH, months=6))
    for chart in ("mrr", "movements", "cohorts", "nps", "csat", "support", "usage", "stickiness", "health"):
        assert f'id="chart-{chart}"' in page
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing loaded from anywhere
    assert "Content-Security-Policy" in page
    assert "Acme &lt;Corp&gt; &amp; &quot;Sons&quot; [bold]" in page
    assert "Acme <Corp>" not in page
    assert "last NPS answer 3 &lt;detractor&gt;" in page
    # cohort 2025-01 had two accounts, one churned in March: 100 %, 100 %, 50 % ...
    assert ">2025-01 <tspan" in page
    assert re.search(r"2025-01 month 2: 50%", page)


def test_report_html_option_writes_the_file(tmp_path: Path, fake_metrics: None) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    target = tmp_path / "report.html"
    with pytest.raises(SystemExit) as exit_info:
        main(["--store", url, "report", "--html", str(target), "--month", "2025-06", "--months", "6"])
    assert exit_info.value.code == 0
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert 'id="chart-mrr"' in page
    assert "2025-06" in page


def test_months_option_is_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--store", f"sqlite:///{tmp_path / 's.db'}", "report", "--months", "1"])
    assert exit_info.value.code == 2


def test_month_default_is_the_last_full_month() -> None:
    from datetime import UTC, datetime

    from vitalsign.core.report import last_full_month

    assert last_full_month(datetime(2026, 1, 15, tzinfo=UTC)) == Month(2025, 12)


def test_money_format() -> None:
    from vitalsign.core.report import fmt_value

    assert fmt_value(-100.0, "money") == "-$100.00"
    assert fmt_value(12345.6, "money") == "$12,346"
    assert fmt_value(5.0, "money", "chf") == "5.00 CHF"
    assert fmt_value(None, "money") == "no data"


@pytest.mark.slow
def test_embed_example_reads_the_views_and_the_metrics(sqlite_store: Store) -> None:
    import subprocess
    import sys

    fakes.load_company(sqlite_store)
    script = Path(__file__).resolve().parents[2] / "examples" / "embed_report.py"
    result = subprocess.run(
        [sys.executable, str(script), "--store", str(sqlite_store.url), "--months", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "| month | MRR | paying |" in result.stdout
    assert re.search(r"\| \d{4}-\d\d \| 1,500.00 \| 4 \|", result.stdout)  # accounts 1, 3, 5, 6 still pay
    assert (
        'Accounts at risk: Acme <Corp> & "Sons" [bold] (35), Account 3 (42), Account 2 (45)' in result.stdout
    )


def test_report_on_every_dialect(store: Store, fake_metrics: None) -> None:
    """Cohorts, health and the at-risk list read the views and tables with plain SQL: the same
    answers on SQLite and PostgreSQL."""
    fakes.load_company(store)
    report = build_report(store, month=fakes.MONTH, months=6)
    cohorts = {c.month: (c.size, [round(r) for r in c.retention]) for c in report.cohorts}
    assert cohorts["2025-01"] == (2, [100, 100, 50, 50, 50, 50])  # account 2 left in March
    assert cohorts["2025-02"] == (2, [100, 100, 100, 50, 50])  # account 4 paid through April
    assert cohorts["2025-03"] == (2, [100, 100, 100, 100])
    assert report.health_bands == {"red": 3, "green": 3}
    assert [(a.name, a.score, a.mrr) for a in report.at_risk] == [
        ('Acme <Corp> & "Sons" [bold]', 35.0, 100.0),
        ("Account 3", 42.0, 300.0),
    ]
    assert report.former_red == 1
    assert report.value("mrr", fakes.MONTH) == 1500.0


def test_report_html_to_an_unwritable_place_is_one_clear_error(
    tmp_path: Path, no_builtin_metrics: None, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing-folder" / "report.html"
    with pytest.raises(SystemExit) as exit_info:
        main(["--store", f"sqlite:///{tmp_path / 's.db'}", "report", "--html", str(target)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --html: cannot write {target}: No such file or directory"]
