"""``vitalsign report``: the KPIs of the last full month in the terminal, or one HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..metric import Month
from ..report import build_report, render_terminal
from . import app
from ._state import state


@app.command()
def report(
    ctx: typer.Context,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report (works offline).")
    ] = None,
    month: Annotated[
        str | None, typer.Option(help="Month to report, YYYY-MM (default: the last full month).")
    ] = None,
    months: Annotated[int, typer.Option(help="Months of history in trends and charts.")] = 12,
) -> None:
    """Headline KPIs with the change from the month before, the MRR bridge, satisfaction,
    support, usage and the accounts at risk."""
    st = state(ctx)
    try:
        chosen = Month.parse(month) if month else None
    except ValueError as exc:
        raise UsageError(f"--month: {exc}") from None
    if not 2 <= months <= 120:
        raise UsageError("--months must be between 2 and 120")
    store = st.open_store()
    data = build_report(
        store, month=chosen, months=months, options=st.config.metrics, health_options=st.config.health
    )
    if html is None:
        render_terminal(data, st.console)
        return
    from ..report_html import render_html

    try:
        html.write_text(render_html(data), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--html: cannot write {html}: {exc.strerror}") from None
    st.console.print(f"wrote {html}")
