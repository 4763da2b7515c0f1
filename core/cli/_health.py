"""``vitalsign health``: each account's health score for a month, stored as history, with
``--explain`` showing every component's input, score and weight."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from ..errors import UsageError
from ..metric import Month
from ..output import FORMATS, render
from . import app
from ._state import state


@app.command()
def health(
    ctx: typer.Context,
    account: Annotated[int | None, typer.Option("--account", help="One account id (default: all).")] = None,
    explain: Annotated[bool, typer.Option(help="Show each component's input, score and weight.")] = False,
    period: Annotated[
        str | None, typer.Option(help="Month, YYYY-MM (default: the current month, as of now).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
) -> None:
    """Health score per account (0-100, red < 50 <= yellow < 75 <= green); keeps a monthly history."""
    from vitalsign.metrics.health import compute_health, store_health

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    try:
        month = Month.parse(period) if period else Month.of(datetime.now(UTC).date())
    except ValueError as exc:
        raise UsageError(f"--period: {exc}") from None
    st = state(ctx)
    store = st.open_store()
    options = {**st.config.health, "metrics": dict(st.config.metrics)}
    with store.begin() as conn:
        if account is not None and not _account_exists(conn, account):
            raise UsageError(f"no account with id {account} (see `vitalsign accounts list`)")
        results = compute_health(
            conn, month, account_ids=[account] if account is not None else None, options=options
        )
        store_health(conn, results)
    if account is not None and not results:
        st.err.print(f"account {account} has no data any health component can score for {month}")
    render(_rows(results, explain, nested=fmt == "json"), fmt, st.console, title=f"health {month}")


def _account_exists(conn: Any, account_id: int) -> bool:
    from sqlalchemy import select

    from ..store import table

    accounts = table("accounts")
    return conn.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first() is not None


def _rows(results: list[Any], explain: bool, *, nested: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in sorted(results, key=lambda r: (r.score, r.account_id)):
        head = {
            "account_id": r.account_id,
            "account": r.name,
            "period": r.period,
            "score": r.score,
            "band": r.band,
        }
        if not explain:
            rows.append({**head, **{c["name"]: c["score"] for c in r.components}})
        elif nested:
            total = sum(c["weight"] for c in r.components)
            rows.append({**head, "components": [_explained(c, total) for c in r.components]})
        else:
            total = sum(c["weight"] for c in r.components)
            rows.extend({**head, **_explained(c, total)} for c in r.components)
    return rows


def _explained(component: dict[str, Any], total_weight: float) -> dict[str, Any]:
    share = component["weight"] / total_weight if total_weight else 0.0
    return {
        "component": component["name"],
        "input": component["input"],
        "component_score": component["score"],
        "weight": component["weight"],
        "points": round(component["score"] * share, 1),
        "detail": component["detail"],
    }
