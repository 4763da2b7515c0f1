"""The HTML report in a real headless Chromium (Debian's, installed by .ci/run): the page loads
offline with no console error and no request, and a screenshot shows every chart in its
colours (pixels checked inside each chart's box, not only the DOM)."""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from vitalsign.core.plugins import register, reset_plugin_manager
from vitalsign.core.report import build_report
from vitalsign.core.report_html import COLORS, render_html
from vitalsign.core.store import Store

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium (apt-get install chromium; CI installs it)", allow_module_level=True)

pytestmark = pytest.mark.slow


def _fakes() -> ModuleType:
    if "report_fakes" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "report_fakes", Path(__file__).with_name("report_fakes.py")
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["report_fakes"] = module
        spec.loader.exec_module(module)
    return sys.modules["report_fakes"]


@pytest.fixture
def report_file(sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    fakes = _fakes()
    monkeypatch.setenv("VITALSIGN_DISABLE_PLUGINS", "metrics")
    reset_plugin_manager()
    register(fakes.FakeMetricsPlugin(), "fake_metrics")
    fakes.load_company(sqlite_store)
    path = tmp_path / "report.html"
    path.write_text(render_html(build_report(sqlite_store, month=fakes.MONTH, months=6)), encoding="utf-8")
    yield path
    reset_plugin_manager()


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def count_colour(image: Any, box: Any, color: str, tolerance: int = 6) -> int:
    """Pixels of ``color`` (within ``tolerance`` per channel) inside ``box`` of the screenshot."""
    target = _rgb(color)
    crop = image.crop(
        (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"]))
    ).convert("RGB")
    colours = crop.getcolors(maxcolors=crop.width * crop.height) or []
    return sum(
        count
        for count, pixel in colours
        if all(abs(channel - want) <= tolerance for channel, want in zip(pixel, target, strict=True))
    )


EXPECTED = {
    "chart-mrr": ["mrr"],
    "chart-movements": ["new", "expansion", "reactivation", "contraction", "churn"],
    "chart-cohorts": ["cohort"],
    "chart-nps": ["nps", "responses"],
    "chart-csat": ["csat"],
    "chart-support": ["first_response", "resolution"],
    "chart-usage": ["dau", "wau", "mau"],
    "chart-stickiness": ["stickiness", "license_utilization"],
    "chart-health": ["red", "yellow", "green"],
}


def test_report_renders_charts_in_headless_chromium(report_file: Path) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report_file.as_uri(), wait_until="load")
            boxes = {}
            for chart in EXPECTED:
                box = page.locator(f"#{chart}").bounding_box()
                assert box is not None, f"{chart} is not rendered"
                assert box["width"] > 200, (chart, box)
                assert box["height"] > 100, (chart, box)
                boxes[chart] = box
            rows = page.locator("#at-risk tbody tr").count()
            png = page.screenshot(full_page=True)
        finally:
            browser.close()

    assert errors == []
    assert requests == [report_file.as_uri()]  # the file itself, nothing else
    assert rows == 2
    image = Image.open(io.BytesIO(png))
    for chart, colours in EXPECTED.items():
        for name in colours:
            assert count_colour(image, boxes[chart], COLORS[name]) >= 20, f"{chart}: no {name} pixels"
    # a colour shows where its chart is, not everywhere: no health red in the MRR chart
    assert count_colour(image, boxes["chart-mrr"], COLORS["red"]) == 0


def test_empty_report_renders_without_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No metric installed and an empty store: the page still loads cleanly and says so."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("VITALSIGN_DISABLE_PLUGINS", "metrics")
    reset_plugin_manager()
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    store.upgrade()
    path = tmp_path / "empty.html"
    path.write_text(render_html(build_report(store, months=3)), encoding="utf-8")
    store.dispose()
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(path.as_uri(), wait_until="load")
            charts = page.locator("svg.chart").count()
            body = page.inner_text("body")
        finally:
            browser.close()
    assert errors == []
    assert charts == 0
    assert "no data: metric mrr is not installed" in body
    assert "no account has health data yet" in body
