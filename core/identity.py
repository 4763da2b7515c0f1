"""Identity resolution: link every source record of an organisation to one account.

Order of precedence, per source record (Stripe customer, HubSpot company, analytics group):
1. a manual link or unlink (``vitalsign accounts link/unlink``) always wins and survives re-syncs;
2. an explicit shared key (``source_accounts.account_key``, filled from the field each connector's
   config names) links to the account with that key;
3. the record's domain (its website domain, else its email's domain) links to the account with
   that domain, unless it is a free-mail domain (gmail.com and friends never link);
4. otherwise the record stays unlinked (``vitalsign status`` counts these).

A new account is created for a key or domain not seen before. Runs after every sync; it reads
source_accounts (one row per organisation, not per event) and writes links in one batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from .errors import UsageError
from .models import IdentityLink, SourceAccount
from .store import table, upsert, utcnow

FREE_MAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "mail.ru",
        "yandex.ru",
        "yandex.com",
        "zoho.com",
        "qq.com",
        "163.com",
        "126.com",
        "hey.com",
        "fastmail.com",
        "tutanota.com",
        "t-online.de",
        "orange.fr",
        "free.fr",
        "libero.it",
        "naver.com",
    ]
)


@dataclass
class ResolveStats:
    linked: int = 0
    created_accounts: int = 0
    unlinked: int = 0

    def __str__(self) -> str:
        return f"{self.linked} linked, {self.created_accounts} new accounts, {self.unlinked} unlinked"


def normalise_domain(value: str | None) -> str | None:
    """``https://www.Acme.com/x`` and ``jo@acme.com`` both give ``acme.com``."""
    if not value:
        return None
    text = value.strip().lower()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.split("/", 1)[0].split(":", 1)[0]
    if text.startswith("www."):
        text = text[4:]
    return text or None


def free_mail_domains(options: Mapping[str, Any]) -> frozenset[str]:
    extra = options.get("free_mail_domains", [])
    return FREE_MAIL_DOMAINS | {str(d).lower() for d in extra}


def resolve(conn: Connection, options: Mapping[str, Any] | None = None) -> ResolveStats:
    """Link every source account; returns counts of what happened.

    Works in set-sized steps, not per record: new accounts are inserted in one batch per pass
    (keys first, then domains) and links written in batches, so 100k organisations resolve in
    seconds rather than one INSERT round trip each.
    """
    options = options or {}
    free = free_mail_domains(options)
    now = utcnow()
    stats = ResolveStats()
    sa, links_t, accounts_t = table("source_accounts"), table("identity_links"), table("accounts")

    manual = {
        (r.source, r.source_kind, r.external_id)
        for r in conn.execute(select(links_t).where(links_t.c.method == "manual"))
    }
    by_key: dict[str, int] = {}
    by_domain: dict[str, int] = {}
    for acc in conn.execute(select(accounts_t.c.id, accounts_t.c.key, accounts_t.c.domain)):
        if acc.key:
            by_key[acc.key] = acc.id
        if acc.domain:
            by_domain.setdefault(acc.domain, acc.id)

    keyed: list[tuple[Any, str | None]] = []
    domain_only: list[tuple[Any, str]] = []
    for rec in conn.execute(
        select(sa.c.source, sa.c.source_id, sa.c.kind, sa.c.name, sa.c.email, sa.c.domain, sa.c.account_key)
        .where(sa.c.deleted.is_(False))
        .order_by(sa.c.source, sa.c.source_id)
    ):
        if (rec.source, rec.kind, rec.source_id) in manual:
            continue
        domain = normalise_domain(rec.domain) or normalise_domain(rec.email)
        if domain in free:
            domain = None
        if rec.account_key:
            keyed.append((rec, domain))
        elif domain:
            domain_only.append((rec, domain))
        else:
            stats.unlinked += 1

    # pass 1: keys. New keys become accounts in one batch; their domains then answer for them.
    new_keys: dict[str, dict[str, Any]] = {}
    for rec, domain in keyed:
        if rec.account_key not in by_key and rec.account_key not in new_keys:
            new_keys[rec.account_key] = _account_row(
                rec.name or domain or rec.account_key, domain, rec.account_key, now
            )
    by_key.update(_insert_accounts(conn, list(new_keys.values()), "key"))
    stats.created_accounts += len(new_keys)
    domain_updates: list[dict[str, Any]] = []
    for rec, domain in keyed:
        if domain and domain not in by_domain:
            by_domain[domain] = by_key[rec.account_key]
            domain_updates.append({"account": by_key[rec.account_key], "new_domain": domain})
    if domain_updates:
        conn.execute(
            accounts_t.update()
            .where(accounts_t.c.id == bindparam("account"), accounts_t.c.domain.is_(None))
            .values(domain=bindparam("new_domain")),
            domain_updates,
        )

    # pass 2: domains that no keyed account already answers for.
    new_domains: dict[str, dict[str, Any]] = {}
    for rec, domain in domain_only:
        if domain not in by_domain and domain not in new_domains:
            new_domains[domain] = _account_row(rec.name or domain, domain, None, now)
    by_domain.update(_insert_accounts(conn, list(new_domains.values()), "domain"))
    stats.created_accounts += len(new_domains)

    links = [_link_row(rec, by_key[rec.account_key], "key", now) for rec, _ in keyed]
    links += [_link_row(rec, by_domain[domain], "domain", now) for rec, domain in domain_only]
    stats.linked = len(links)
    links = _changed_links(conn, links)
    for start in range(0, len(links), 2000):
        upsert(
            conn,
            "identity_links",
            links[start : start + 2000],
            update_columns=["account_id", "method", "linked_at"],
        )
    _fill_account_names(conn)
    return stats


def _changed_links(conn: Connection, links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The links that are new or point elsewhere than the stored ones: an unchanged link keeps
    its ``linked_at``, so "when was this linked" stays true and whatever is derived from the links
    (the metrics' stored tables, stamped with the latest ``linked_at``) is not rebuilt for
    nothing after every sync."""
    links_t = table("identity_links")
    stored = {
        (r.source, r.source_kind, r.external_id): (r.account_id, r.method)
        for r in conn.execute(
            select(
                links_t.c.source,
                links_t.c.source_kind,
                links_t.c.external_id,
                links_t.c.account_id,
                links_t.c.method,
            )
        )
    }
    return [
        link
        for link in links
        if stored.get((link["source"], link["source_kind"], link["external_id"]))
        != (link["account_id"], link["method"])
    ]


def _account_row(name: str | None, domain: str | None, key: str | None, now: Any) -> dict[str, Any]:
    return {"name": name, "domain": domain, "key": key, "created_at": now, "updated_at": now}


def _link_row(rec: Any, account_id: int, method: str, now: Any) -> dict[str, Any]:
    return {
        "source": rec.source,
        "source_kind": rec.kind,
        "external_id": rec.source_id,
        "account_id": account_id,
        "method": method,
        "linked_at": now,
    }


def _insert_accounts(conn: Connection, rows: list[dict[str, Any]], by: str) -> dict[str, int]:
    """Insert new accounts in one batch; return their ids by ``key`` or ``domain``."""
    if not rows:
        return {}
    accounts_t = table("accounts")
    conn.execute(accounts_t.insert(), rows)
    column = accounts_t.c[by]
    values = [r[by] for r in rows]
    found: dict[str, int] = {}
    for start in range(0, len(values), 500):
        query = select(column, accounts_t.c.id).where(column.in_(values[start : start + 500]))
        if by == "domain":
            query = query.where(accounts_t.c.key.is_(None))
        for value, account_id in conn.execute(query):
            found[value] = account_id  # new keys and domains: one account each
    return found


def _fill_account_names(conn: Connection) -> None:
    """Accounts created from a bare key get the name of a linked record that has one."""
    accounts_t, links_t, sa = table("accounts"), table("identity_links"), table("source_accounts")
    name = (
        select(func.max(sa.c.name))
        .select_from(
            links_t.join(sa, (sa.c.source == links_t.c.source) & (sa.c.source_id == links_t.c.external_id))
        )
        .where(links_t.c.account_id == accounts_t.c.id, sa.c.name.is_not(None))
        .scalar_subquery()
    )
    conn.execute(
        accounts_t.update()
        .where((accounts_t.c.name.is_(None)) | (accounts_t.c.name == accounts_t.c.key))
        .values(name=func.coalesce(name, accounts_t.c.name))
    )


def link(conn: Connection, *, source: str, kind: str, external_id: str, account_id: int) -> None:
    """A manual link; it wins over automatic resolution on every later sync."""
    accounts_t = table("accounts")
    if conn.execute(select(accounts_t.c.id).where(accounts_t.c.id == account_id)).first() is None:
        raise UsageError(f"no account with id {account_id}")
    _write_manual(conn, source, kind, external_id, account_id)


def unlink(conn: Connection, *, source: str, kind: str, external_id: str) -> None:
    """Detach a record for good: automatic resolution will not link it again."""
    _write_manual(conn, source, kind, external_id, None)


def _write_manual(conn: Connection, source: str, kind: str, external_id: str, account_id: int | None) -> None:
    links_t = table("identity_links")
    conn.execute(
        links_t.delete().where(
            links_t.c.source == source, links_t.c.source_kind == kind, links_t.c.external_id == external_id
        )
    )
    conn.execute(
        links_t.insert().values(
            source=source,
            source_kind=kind,
            external_id=external_id,
            account_id=account_id,
            method="manual",
            linked_at=utcnow(),
        )
    )


def unlinked_count(conn: Connection) -> int:
    sa, links_t = table("source_accounts"), table("identity_links")
    linked = select(links_t.c.external_id).where(
        links_t.c.source == sa.c.source,
        links_t.c.external_id == sa.c.source_id,
        links_t.c.account_id.is_not(None),
    )
    return int(
        conn.execute(
            select(func.count()).select_from(sa).where(sa.c.deleted.is_(False), ~linked.exists())
        ).scalar_one()
    )


__all__ = [
    "FREE_MAIL_DOMAINS",
    "IdentityLink",
    "ResolveStats",
    "SourceAccount",
    "link",
    "normalise_domain",
    "resolve",
    "unlink",
    "unlinked_count",
]
