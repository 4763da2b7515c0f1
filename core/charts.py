"""Charts as inline SVG strings, drawn in Python: the HTML report needs no script and no network.

Three shapes cover the report: bars stacked around zero (MRR movements, health bands), lines
with optional bars on a second axis (MRR, NPS with response counts, support times, usage), and a
heat map (cohort retention). Every text node goes through ``html.escape``. Bars and markers are
solid fills so a screenshot shows the series' exact colours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

Fmt = Callable[[float], str]

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 56, 16, 52
AXIS = "#94a3b8"
GRID = "#e2e8f0"
INK = "#334155"


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: Sequence[float | None]
    dashed: bool = False


def _plain(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}".rstrip("0").rstrip(".")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]``."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


class _Frame:
    """Maps values to pixels in the plot area and draws axes, grid and month labels."""

    def __init__(self, labels: Sequence[str], low: float, high: float, width: int, height: int) -> None:
        self.labels, self.width, self.height = list(labels), width, height
        self.ticks = nice_ticks(min(low, 0.0) if low >= 0 else low, high)
        self.low, self.high = self.ticks[0], self.ticks[-1]
        self.plot_w = width - LEFT - RIGHT
        self.plot_h = height - TOP - BOTTOM
        self.slot = self.plot_w / max(len(self.labels), 1)

    def x(self, index: int) -> float:
        return LEFT + self.slot * (index + 0.5)

    def y(self, value: float, low: float | None = None, high: float | None = None) -> float:
        lo, hi = (self.low, self.high) if low is None or high is None else (low, high)
        return TOP + self.plot_h * (1 - (value - lo) / ((hi - lo) or 1))

    def axes(self, fmt: Fmt) -> list[str]:
        parts = []
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(
                f'<line x1="{LEFT}" x2="{self.width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            )
            parts.append(
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{INK}">'
                f"{escape(fmt(tick))}</text>"
            )
        every = max(1, math.ceil(len(self.labels) / 12))
        for i, label in enumerate(self.labels):
            if i % every == 0:
                parts.append(
                    f'<text x="{self.x(i):.1f}" y="{self.height - BOTTOM + 16}" text-anchor="middle" '
                    f'font-size="11" fill="{INK}">{escape(label)}</text>'
                )
        zero = self.y(0.0) if self.low <= 0 <= self.high else self.y(self.low)
        parts.append(
            f'<line x1="{LEFT}" x2="{self.width - RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="{AXIS}"/>'
        )
        return parts


def _legend(series: Sequence[Series], width: int, height: int) -> list[str]:
    parts, x = [], LEFT
    y = height - 14
    for s in series:
        parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="12" rx="2" fill="{s.color}"/>')
        parts.append(f'<text x="{x + 17}" y="{y + 1}" font-size="12" fill="{INK}">{escape(s.name)}</text>')
        x += 30 + 7 * len(s.name)
    return parts


def _svg(chart_id: str, title: str, width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def stacked_bars(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Fmt = _plain,
    negative: Sequence[str] = (),
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Bars stacked per label; series named in ``negative`` are drawn below zero."""
    ups = [0.0] * len(labels)
    downs = [0.0] * len(labels)
    for s in series:
        for i, v in enumerate(s.values):
            if v:
                if s.name in negative:
                    downs[i] -= abs(v)
                else:
                    ups[i] += v
    frame = _Frame(labels, min(downs, default=0.0), max(ups, default=1.0) or 1.0, width, height)
    body = frame.axes(fmt)
    bar_w = frame.slot * 0.62
    up_base = [0.0] * len(labels)
    down_base = [0.0] * len(labels)
    for s in series:
        for i, v in enumerate(s.values):
            if not v:
                continue
            if s.name in negative:
                top, bottom = down_base[i], down_base[i] - abs(v)
                down_base[i] = bottom
            else:
                bottom, top = up_base[i], up_base[i] + v
                up_base[i] = top
            y1, y2 = frame.y(top), frame.y(bottom)
            body.append(
                f'<rect x="{frame.x(i) - bar_w / 2:.1f}" y="{y1:.1f}" width="{bar_w:.1f}" '
                f'height="{max(y2 - y1, 0.5):.1f}" fill="{s.color}">'
                f"<title>{escape(f'{labels[i]} {s.name}: {fmt(v)}')}</title></rect>"
            )
    body += _legend(series, width, height)
    return _svg(chart_id, title, width, height, body)


def lines(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Fmt = _plain,
    bars: Series | None = None,
    bar_fmt: Fmt = _plain,
    area: bool = False,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Line series with round markers; ``bars`` (e.g. response counts) on a right-hand axis."""
    values = [v for s in series for v in s.values if v is not None]
    low = min(values, default=0.0)
    high = max(values, default=1.0)
    frame = _Frame(labels, low if low < 0 else 0.0, high if high > 0 else 1.0, width, height)
    body = frame.axes(fmt)
    if bars is not None:
        bar_values = [v for v in bars.values if v is not None]
        bar_ticks = nice_ticks(0.0, max(bar_values, default=1.0) or 1.0)
        bar_hi = bar_ticks[-1]
        bar_w = frame.slot * 0.5
        for i, v in enumerate(bars.values):
            if v:
                y = frame.y(v, 0.0, bar_hi)
                base = frame.y(0.0, 0.0, bar_hi)
                body.append(
                    f'<rect x="{frame.x(i) - bar_w / 2:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                    f'height="{base - y:.1f}" fill="{bars.color}">'
                    f"<title>{escape(f'{labels[i]} {bars.name}: {bar_fmt(v)}')}</title></rect>"
                )
        for tick in bar_ticks:
            body.append(
                f'<text x="{width - RIGHT + 6}" y="{frame.y(tick, 0.0, bar_hi) + 4:.1f}" font-size="11" '
                f'fill="{INK}">{escape(bar_fmt(tick))}</text>'
            )
    for s in series:
        points = [(frame.x(i), frame.y(v)) for i, v in enumerate(s.values) if v is not None]
        if not points:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        if area and len(points) > 1:
            base = frame.y(max(frame.low, 0.0))
            body.append(
                f'<polygon points="{points[0][0]:.1f},{base:.1f} {path} {points[-1][0]:.1f},{base:.1f}" '
                f'fill="{s.color}" fill-opacity="0.12"/>'
            )
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        body.append(f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="2.5"{dash}/>')
        for i, v in enumerate(s.values):
            if v is not None:
                body.append(
                    f'<circle cx="{frame.x(i):.1f}" cy="{frame.y(v):.1f}" r="4.5" fill="{s.color}">'
                    f"<title>{escape(f'{labels[i]} {s.name}: {fmt(v)}')}</title></circle>"
                )
    body += _legend([*series, *([bars] if bars else [])], width, height)
    return _svg(chart_id, title, width, height, body)


def blend(color: str, share: float, base: str = "#ffffff") -> str:
    """``color`` mixed with ``base``: share 1 gives the colour, 0 the base."""
    share = min(max(share, 0.0), 1.0)
    c = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(base[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(bb + (cc - bb) * share) for cc, bb in zip(c, b, strict=True)]
    return "#" + "".join(f"{v:02x}" for v in mixed)


def heatmap(
    chart_id: str,
    title: str,
    rows: Sequence[str],
    row_notes: Sequence[str],
    columns: Sequence[str],
    cells: Sequence[Sequence[float | None]],
    *,
    color: str,
    fmt: Fmt = lambda v: f"{v:.0f}%",
    cell_w: int = 44,
    cell_h: int = 24,
) -> str:
    """A grid of cells shaded by value (0-100)."""
    left, top = 120, 28
    width = left + cell_w * len(columns) + 8
    height = top + cell_h * len(rows) + 8
    body = []
    for j, label in enumerate(columns):
        body.append(
            f'<text x="{left + cell_w * (j + 0.5):.1f}" y="{top - 10}" text-anchor="middle" font-size="11" '
            f'fill="{INK}">{escape(label)}</text>'
        )
    for i, (label, note) in enumerate(zip(rows, row_notes, strict=True)):
        y = top + cell_h * i
        body.append(
            f'<text x="{left - 8}" y="{y + cell_h * 0.65:.1f}" text-anchor="end" font-size="11" fill="{INK}">'
            f'{escape(label)} <tspan fill="{AXIS}">{escape(note)}</tspan></text>'
        )
        for j, value in enumerate(cells[i]):
            if value is None:
                continue
            fill = blend(color, 0.15 + 0.85 * value / 100)
            ink = "#ffffff" if value >= 55 else INK
            x = left + cell_w * j
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}">'
                f"<title>{escape(f'{label} month {columns[j]}: {fmt(value)}')}</title></rect>"
                f'<text x="{x + (cell_w - 2) / 2:.1f}" y="{y + cell_h * 0.62:.1f}" text-anchor="middle" '
                f'font-size="10" fill="{ink}">{escape(fmt(value))}</text>'
            )
    return _svg(chart_id, title, width, height, body)
