"""``vitalsign metrics``: compute registered KPIs and print them as table, JSON or CSV."""

from __future__ import annotations

from typing import Annotated

import typer

from ..compute import compute_metrics, parse_period
from ..errors import UsageError
from ..output import FORMATS, render
from ..registry import metrics as registered_metrics
from . import app
from ._state import state


@app.command()
def metrics(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Metric names (none: list the metrics).")] = None,
    start: Annotated[str | None, typer.Option(help="First month, YYYY-MM (inclusive).")] = None,
    end: Annotated[
        str | None, typer.Option(help="Last month, YYYY-MM (inclusive; default: last full month).")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Segment: plan, owner or cohort.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
    window: Annotated[
        int | None,
        typer.Option(help="Trailing days for NPS/CSAT/CES (default: [metrics] satisfaction_window_days)."),
    ] = None,
    account: Annotated[int | None, typer.Option("--account", help="Restrict to one account id.")] = None,
) -> None:
    """Compute KPIs per month (list them when no name is given)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    st = state(ctx)
    if not names:
        listing = [
            {
                "metric": m.name,
                "family": m.family,
                "unit": m.unit,
                "columns": ", ".join(m.columns),
                "by": ", ".join(m.segments),
                "description": m.description,
            }
            for m in sorted(registered_metrics().values(), key=lambda m: (m.family, m.name))
        ]
        render(listing, fmt, st.console, title="metrics")
        return
    first, last = parse_period(start, end)
    store = st.open_store()
    options = {**st.config.metrics, "health": dict(st.config.health)}
    if window is not None:
        if window < 1:
            raise UsageError("--window must be a number of days >= 1")
        options["window_days"] = window
    rows = compute_metrics(store, names, start=first, end=last, by=by, options=options, account_id=account)
    render(rows, fmt, st.console, title=", ".join(names))
