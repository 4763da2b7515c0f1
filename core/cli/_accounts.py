"""``vitalsign accounts``: list accounts, show what is linked to one, link and unlink by hand."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from .. import identity
from ..errors import UsageError
from ..output import FORMATS, render
from ..store import table
from . import app
from ._state import state

accounts_app = typer.Typer(help="Customer accounts and the source records linked to them.")
app.add_typer(accounts_app, name="accounts")


@accounts_app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_accounts, ctx=ctx)


@accounts_app.command("list")
def list_accounts(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
) -> None:
    """Every account with how many source records link to it."""
    _check_format(fmt)
    st = state(ctx)
    store = st.open_store()
    accounts, links = table("accounts"), table("identity_links")
    with store.connect() as conn:
        linked = (
            select(links.c.account_id, func.count().label("records"))
            .where(links.c.account_id.is_not(None))
            .group_by(links.c.account_id)
            .subquery()
        )
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                select(
                    accounts.c.id,
                    accounts.c.name,
                    accounts.c.domain,
                    accounts.c.key,
                    func.coalesce(linked.c.records, 0).label("records"),
                )
                .outerjoin(linked, linked.c.account_id == accounts.c.id)
                .order_by(accounts.c.id)
            )
        ]
    render(rows, fmt, st.console, title="accounts")


@accounts_app.command("show")
def show(
    ctx: typer.Context,
    account_id: Annotated[int, typer.Argument(help="Account id (see `accounts list`).")],
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
) -> None:
    """An account's linked records and how each was linked."""
    _check_format(fmt)
    st = state(ctx)
    store = st.open_store()
    accounts, links, sa = table("accounts"), table("identity_links"), table("source_accounts")
    with store.connect() as conn:
        account = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
        if account is None:
            raise UsageError(f"no account with id {account_id}")
        records = [
            dict(r._mapping)
            for r in conn.execute(
                select(
                    links.c.source,
                    links.c.source_kind.label("kind"),
                    links.c.external_id,
                    links.c.method,
                    sa.c.name,
                    sa.c.domain,
                    sa.c.email,
                    sa.c.account_key,
                    sa.c.deleted,
                )
                .outerjoin(sa, (sa.c.source == links.c.source) & (sa.c.source_id == links.c.external_id))
                .where(links.c.account_id == account_id)
                .order_by(links.c.source, links.c.external_id)
            )
        ]
    if fmt == "json":
        data: dict[str, Any] = {**dict(account._mapping), "linked_records": records}
        render([data], fmt, st.console)
        return
    st.console.print(
        f"account {account.id}: {account.name} (domain {account.domain or '-'}, key {account.key or '-'})"
    )
    render(records, fmt, st.console, title="linked records")


def _kind_of(conn: Any, source: str, external_id: str, kind: str | None) -> str:
    if kind:
        return kind
    sa = table("source_accounts")
    found = conn.execute(
        select(sa.c.kind).where(sa.c.source == source, sa.c.source_id == external_id)
    ).scalar()
    if found is None:
        raise UsageError(f"no record {external_id!r} from source {source!r} (give --kind to link it anyway)")
    return str(found)


@accounts_app.command("link")
def link(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Connector instance, e.g. stripe.")],
    external_id: Annotated[str, typer.Argument(help="The record's id at the source, e.g. cus_123.")],
    account_id: Annotated[int, typer.Argument(help="The account to link it to.")],
    kind: Annotated[str | None, typer.Option(help="customer, company or group (default: looked up).")] = None,
) -> None:
    """Link a source record to an account by hand; kept across re-syncs."""
    st = state(ctx)
    store = st.open_store()
    with store.begin() as conn:
        identity.link(
            conn,
            source=source,
            kind=_kind_of(conn, source, external_id, kind),
            external_id=external_id,
            account_id=account_id,
        )
    st.console.print(f"linked {source}:{external_id} to account {account_id}")


@accounts_app.command("unlink")
def unlink(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Connector instance, e.g. stripe.")],
    external_id: Annotated[str, typer.Argument(help="The record's id at the source.")],
    kind: Annotated[str | None, typer.Option(help="customer, company or group (default: looked up).")] = None,
) -> None:
    """Detach a source record from its account; automatic resolution will leave it alone."""
    st = state(ctx)
    store = st.open_store()
    with store.begin() as conn:
        identity.unlink(
            conn, source=source, kind=_kind_of(conn, source, external_id, kind), external_id=external_id
        )
    st.console.print(f"unlinked {source}:{external_id}")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
