"""Commands that set up and move data: init, connectors, check, sync, status, store upgrade."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from .. import identity
from ..config import CONFIG_FILENAME, STARTER_CONFIG, instantiate
from ..errors import UsageError
from ..models import RAW_TABLES
from ..output import rich_table, to_json
from ..plugins import plugin_info, plugin_name_of
from ..registry import connector_types
from ..store import table
from ..sync import StreamStats, SyncEngine
from . import app
from ._state import state

store_app = typer.Typer(help="Manage the store.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@app.command()
def init(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path(CONFIG_FILENAME),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter vitalsign.toml."""
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (use --force to overwrite)")
    path.write_text(STARTER_CONFIG, encoding="utf-8")
    state(ctx).console.print(f"wrote {path}")


def describe_connectors() -> list[dict[str, Any]]:
    infos = plugin_info()
    rows = []
    for ctype, cls in connector_types().items():
        plugin = plugin_name_of(cls)
        info = infos.get(plugin) if plugin else None
        rows.append(
            {
                "type": ctype,
                "description": cls.description,
                "plugin": plugin,
                "origin": info.origin if info else "unknown",
                "distribution": info.distribution if info else None,
                "version": info.version if info else None,
                "settings": {
                    name: {"required": f.is_required(), "secret": name in cls.settings_model.secret_fields()}
                    for name, f in cls.settings_model.model_fields.items()
                },
                "streams": [
                    {
                        "name": s.name,
                        "table": s.table,
                        "primary_key": list(s.primary_key),
                        "cursor": s.cursor_field,
                        "child_tables": dict(s.child_tables),
                    }
                    for s in cls.stream_classes()
                ],
            }
        )
    return rows


@app.command()
def connectors(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Installed connector plugins (built-in and third-party) and their streams."""
    st = state(ctx)
    rows = describe_connectors()
    if as_json:
        st.console.file.write(to_json(rows) + "\n")
        return
    flat = [
        {
            "type": r["type"],
            "from": f"{r['distribution']} {r['version']}" if r["origin"] == "third-party" else r["origin"],
            "streams": ", ".join(f"{s['name']}->{s['table']}" for s in r["streams"]),
            "description": r["description"],
        }
        for r in rows
    ]
    st.console.print(rich_table(flat, title="connectors"))


@app.command()
def check(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Connector instance name.")]) -> None:
    """Check a connector's credentials and connectivity."""
    st = state(ctx)
    connector = instantiate(st.config.connector(name), st.config)
    try:
        reached = connector.check()
    finally:
        connector.close()
    st.console.print(f"{name}: ok ({reached})")


class _TerminalProgress:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[tuple[str, str], Any] = {}

    def stream_started(self, connector: str, stream: str) -> None:
        self.tasks[(connector, stream)] = self.progress.add_task(f"{connector}/{stream}", total=None)

    def batch_done(self, connector: str, stream: str, rows: int, quarantined: int) -> None:
        task = self.tasks[(connector, stream)]
        self.progress.update(task, advance=rows)

    def stream_finished(self, connector: str, stream: str, stats: StreamStats) -> None:
        task = self.tasks[(connector, stream)]
        label = f"{connector}/{stream}: {stats.rows} rows" + (
            f", {stats.quarantined} quarantined" if stats.quarantined else ""
        )
        if stats.status == "failed":
            label += f" [failed: {stats.error}]"
        self.progress.update(task, description=label, total=stats.rows or 1, completed=stats.rows or 1)


class _LineProgress:
    """Plain lines on stderr, for cron and log files."""

    def _line(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{stamp} {text}", file=sys.stderr, flush=True)

    def stream_started(self, connector: str, stream: str) -> None:
        self._line(f"{connector}/{stream}: started")

    def batch_done(self, connector: str, stream: str, rows: int, quarantined: int) -> None:
        pass

    def stream_finished(self, connector: str, stream: str, stats: StreamStats) -> None:
        text = (
            f"{connector}/{stream}: {stats.status}, {stats.rows} rows, {stats.deleted} deleted, "
            f"{stats.quarantined} quarantined in {stats.seconds:.1f}s"
        )
        if stats.error:
            text += f": {stats.error}"
        self._line(text)


@app.command()
def sync(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Connector instances (default: all).")] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Forget the cursors and read everything again.")
    ] = False,
) -> None:
    """Sync connectors into the store (incremental unless --full-refresh)."""
    st = state(ctx)
    config = st.config
    if not config.connectors:
        raise UsageError("no connectors configured: add a [connectors.NAME] section (see `vitalsign init`)")
    store = st.store
    if st.interactive:
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=st.err, transient=False) as bar:
            summaries = SyncEngine(store, config, progress=_TerminalProgress(bar)).sync(
                names, full_refresh=full_refresh
            )
    else:
        summaries = SyncEngine(store, config, progress=_LineProgress()).sync(names, full_refresh=full_refresh)
    failed = [s for s in summaries if s.status != "success"]
    for summary in summaries:
        line = (
            f"{summary.connector}: {summary.status}, {summary.rows} rows, "
            f"{summary.quarantined} quarantined (run {summary.run_id})"
        )
        st.err.print(line)
    if failed:
        for summary in failed:
            print(f"error: {summary.connector}: {summary.error}", file=sys.stderr)
        raise typer.Exit(1)


def collect_status(st: Any) -> dict[str, Any]:
    store = st.open_store()
    with store.connect() as conn:
        runs_t, state_t, q_t = table("sync_runs"), table("sync_state"), table("quarantine")
        latest = select(func.max(runs_t.c.id)).group_by(runs_t.c.connector)
        runs = [
            {
                "connector": r.connector,
                "run_id": r.id,
                "status": r.status,
                "started_at": r.started_at.isoformat() if r.started_at else None,
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "streams": r.stats or {},
                "error": r.error,
            }
            for r in conn.execute(select(runs_t).where(runs_t.c.id.in_(latest)).order_by(runs_t.c.connector))
        ]
        cursors = [
            {
                "connector": r.connector,
                "stream": r.stream,
                "cursor": r.cursor,
                "updated_at": r.updated_at.isoformat() if r.updated_at else None,
            }
            for r in conn.execute(select(state_t).order_by(state_t.c.connector, state_t.c.stream))
        ]
        counts: dict[str, dict[str, int]] = {}
        for name in RAW_TABLES:
            tbl = table(name)
            for source, total in conn.execute(select(tbl.c.source, func.count()).group_by(tbl.c.source)):
                counts.setdefault(name, {})[source] = total
        quarantine = [
            {"connector": c, "stream": s, "records": n}
            for c, s, n in conn.execute(
                select(q_t.c.connector, q_t.c.stream, func.count()).group_by(q_t.c.connector, q_t.c.stream)
            )
        ]
        accounts = conn.execute(select(func.count()).select_from(table("accounts"))).scalar_one()
        unlinked = identity.unlinked_count(conn)
    return {
        "store": store.display_url,
        "schema_revision": store.revision(),
        "runs": runs,
        "cursors": cursors,
        "row_counts": counts,
        "quarantine": quarantine,
        "accounts": accounts,
        "unlinked_records": unlinked,
    }


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Last runs, cursors, row counts, quarantine and unlinked records."""
    st = state(ctx)
    data = collect_status(st)
    if as_json:
        st.console.file.write(to_json(data) + "\n")
        return
    console = st.console
    console.print(f"store: {data['store']} (schema {data['schema_revision']})")
    if data["runs"]:
        console.print(
            rich_table(
                [
                    {
                        "connector": r["connector"],
                        "run": r["run_id"],
                        "status": r["status"],
                        "finished": r["finished_at"] or "",
                        "error": r["error"] or "",
                    }
                    for r in data["runs"]
                ],
                title="last runs",
            )
        )
    else:
        console.print("no sync has run yet")
    counts = [
        {"table": t, "source": s, "rows": n} for t, per in data["row_counts"].items() for s, n in per.items()
    ]
    if counts:
        console.print(rich_table(counts, title="rows"))
    if data["quarantine"]:
        console.print(rich_table(data["quarantine"], title="quarantine"))
    console.print(f"accounts: {data['accounts']}, unlinked source records: {data['unlinked_records']}")


@store_app.command("upgrade")
def store_upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations to the store (sync does this too)."""
    st = state(ctx)
    store = st.open_store()
    st.console.print(f"{store.display_url}: schema at {store.revision()}")
