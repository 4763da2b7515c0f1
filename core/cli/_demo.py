"""``vitalsign demo``: a synthetic company through the real connectors, then the report."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UsageError
from ..store import Store
from . import app
from ._state import state


@app.command()
def demo(
    ctx: typer.Context,
    accounts: Annotated[int, typer.Option(help="Customer accounts to generate.")] = 300,
    months: Annotated[int, typer.Option(help="Months of history.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same company.")] = 42,
    store: Annotated[
        str | None,
        typer.Option(
            "--store", help="Store URL (default: sqlite:///vitalsign-demo.db, replaced on each run)."
        ),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the HTML report to this file.")
    ] = None,
) -> None:
    """Generate a SaaS company, serve it through fakes of the Stripe and HubSpot APIs and as
    Amplitude exports, sync it with the real connectors, then print the report."""
    from ..demo import run_demo
    from ..report import build_report, render_terminal
    from ._sync import _LineProgress

    if not 1 <= accounts <= 20_000:
        raise UsageError("--accounts must be between 1 and 20000")
    if not 3 <= months <= 60:
        raise UsageError("--months must be between 3 and 60")
    st = state(ctx)
    url = store or st.store_url  # never $VITALSIGN_STORE or the config's store: that is real data
    st.err.print(f"generating {accounts} accounts over {months} months (seed {seed}) ...")
    with tempfile.TemporaryDirectory(prefix="vitalsign-demo-") as workdir:
        result = run_demo(
            workdir=Path(workdir),
            accounts=accounts,
            months=months,
            seed=seed,
            store_url=url,
            progress=_LineProgress() if not st.interactive else None,
        )
    labels = ("first sync, history up to the last full month", f"incremental sync, {result.month}")
    for label, summaries in zip(labels, result.rounds, strict=False):
        st.err.print(f"{label}:")
        for summary in summaries:
            st.err.print(
                f"  {summary.connector}: {summary.status}, {summary.rows} rows, "
                f"{summary.quarantined} quarantined" + (f": {summary.error}" if summary.error else "")
            )
    store_obj = Store(result.store_url)
    shown = store_obj.display_url  # never print a password
    counts = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in result.counts.items())
    st.err.print(f"store {shown}: {counts}")
    st.err.print("took " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in result.seconds.items()))
    try:
        if not result.ok:
            print("error: a demo sync failed (see above)", file=sys.stderr)
            raise typer.Exit(1)
        report = build_report(store_obj, month=result.month, options={"currency": "usd"})
    finally:
        store_obj.dispose()
    render_terminal(report, st.console)
    if html is not None:
        from ..report_html import render_html

        html.write_text(render_html(report), encoding="utf-8")
        st.err.print(f"wrote {html}")
    prefix = f"vitalsign --store {shown}"
    st.err.print("explore the demo store:")
    for command in ("report --html report.html", "metrics mrr nrr --by plan", "health --explain"):
        st.err.print(f"  {prefix} {command}", soft_wrap=True)
