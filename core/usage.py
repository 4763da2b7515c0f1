"""Writing usage events: each event stored once, the daily rollups kept current in the same
transaction, so usage metrics read the rollups and never scan raw events.

Before the transaction, :func:`prepare_usage_events` (the engine runs it in the reader: the
read-ahead thread, or the child process of a stream that reads in one) normalises times to naive UTC, finds the events that need an
account from the store and, on SQLite when none does, encodes the batch; the transaction then
spends its time in the database. Per batch (one transaction, with the stream's cursor):

1. duplicates inside the batch are dropped (first wins);
2. events without an account are attributed from the store when it knows their user: a contact
   of the same source whose ``source_account_id`` names the group (Segment group and identify
   calls), else a contact of any source with the user's email whose organisation carries an
   ``account_key`` (read-only lookups, one query per batch for the users concerned);
3. the events are inserted with ``ON CONFLICT DO NOTHING`` on ``(source, source_id)``;
4. only the events actually inserted feed the rollups, so a re-delivered event (same dedup key,
   in another file, window or run) is counted once: ``usage_user_daily`` and
   ``usage_feature_daily`` are incremented, ``usage_daily`` is recomputed for the touched
   (account, day) keys from ``usage_user_daily``;
5. every account key seen gets a ``source_accounts`` row (kind ``group``, ``source_id`` and
   ``account_key`` = the key) inserted if missing, never overwriting one a connector filled with
   a name or domain, so identity resolution links the group to Stripe or HubSpot by the key.

Events with no account are rolled up under the account key ``""`` (product-wide figures still
count them); anonymous events (no user id) under the user ``""``, which ``usage_daily`` does not
count as an active user. A ``feature`` property, when the connector keeps one, feeds
``usage_feature_daily``.

On SQLite the batch goes through the raw DBAPI cursor of the engine's connection (same
transaction). The preparer has already encoded it (:class:`EncodedEvents`): the rows as tuples in
dedup key order, and the batch's rollup counts with, per row, the rollup entries it adds to. The
transaction then runs one ``executemany`` of ``INSERT .. ON CONFLICT DO NOTHING``; when fewer rows
went in than were sent, one query finds the batch's keys stored before it (the re-delivered
events) and their counts are taken off; then the counts are upserted. The per-row work in Python
is all in the preparer, which the engine runs in its reader (a child process for the usage
streams: ``Stream.read_in_process``), so the writer's process spends its time in SQLite.
Other databases use one ``INSERT .. ON CONFLICT DO NOTHING .. RETURNING`` per batch and roll up
in Python.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, and_, case, func, select, tuple_

from .store import Store, dialect_insert, table
from .writers import register_writer

UNATTRIBUTED = ""
ANONYMOUS = ""
SQLITE_CACHE_KIB = 98_304
"""SQLite page cache while writing events: the dedup index takes random inserts, and every page
of it that is not cached is a read (and a rewrite at commit). 96 MB holds the index of about 1M
events; 1M-event benchmark 59.5 s with 32 MB (and 20k-event batches, 10 per commit) against
48.1 s with 96 MB (10k-event batches, 20 per commit), peak RSS 208 -> 246 MB."""
_CHUNK = 500

UserDay = tuple[str, str, date, str]


class PreparedEvents(list[dict[str, Any]]):
    """A batch of event rows readied off the write path by :func:`prepare_usage_events`: times
    in naive UTC, the rows that need an account from the store, and for SQLite, when no row
    does, each source's rows encoded (:class:`EncodedEvents`).

    Pickled (to cross from the reader process), an encoded batch carries only its encoded form:
    the writer needs nothing else, and the row dicts would cost more to send than to write."""

    unattributed: list[dict[str, Any]]
    encoded: dict[str, EncodedEvents] | None

    def __reduce__(self) -> tuple[Any, ...]:
        if self.encoded is not None:
            return (_encoded_only, (self.encoded,))
        return (_with_rows, (list(self), self.unattributed))


def _encoded_only(encoded: dict[str, EncodedEvents]) -> PreparedEvents:
    prepared = PreparedEvents()
    prepared.unattributed, prepared.encoded = [], encoded
    return prepared


def _with_rows(rows: list[dict[str, Any]], unattributed: list[dict[str, Any]]) -> PreparedEvents:
    prepared = PreparedEvents(rows)
    prepared.unattributed, prepared.encoded = unattributed, None
    return prepared


@dataclass
class EncodedEvents:
    """One source's events of a batch as the SQLite writer sends them.

    ``rows`` are ``(source, source_id, synced_at, occurred_at, event, user_id, account_key,
    properties)`` tuples, the parameters of the insert,
    one per dedup key (the first event of a key in the batch wins), in key order: consecutive
    inserts then land on the same pages of the key index instead of random ones (the writer
    alone, 1M events, alternated: 13.2 s sorted against 16.2 s unsorted). ``user_days`` are the
    batch's ``(account, day, user)`` rollup keys with their event counts, ``feature_days`` the
    ``(account, day, feature)`` ones; ``user_day_of[i]`` and ``feature_day_of[i]`` say which
    entries row ``i`` counts in (``-1``: none), so the writer can take off the rows it did not
    insert without looking at the others."""

    synced_at: str
    rows: list[tuple[Any, ...]]
    keys: bytes
    """The rows' dedup keys as one JSON array (the writer's duplicate lookup reads it in SQL)."""
    user_days: list[tuple[str, str, str]]
    user_day_events: list[int]
    user_day_of: array[int]
    feature_days: list[tuple[str, str, str]]
    feature_day_events: list[int]
    feature_day_of: array[int]


_DEDUP_KEY = itemgetter("source_id")


def prepare_usage_events(dialect: str, rows: list[dict[str, Any]]) -> PreparedEvents:
    """The per-event work that needs no database; the engine runs it in the reader."""
    prepared = PreparedEvents(rows)
    prepared.unattributed, prepared.encoded = [], None
    if dialect == "sqlite":
        sources = {row["source"] for row in rows}
        encoded = {source: _encode(source, rows, prepared.unattributed) for source in sorted(sources)}
        if not prepared.unattributed:  # else encoded once the store attributed them
            prepared.encoded = encoded
        return prepared
    for row in rows:
        when = row["occurred_at"]
        if when.tzinfo is not None:
            row["occurred_at"] = when.astimezone(UTC).replace(tzinfo=None)
        if _needs_account(row):
            prepared.unattributed.append(row)
    return prepared


def _needs_account(row: dict[str, Any]) -> bool:
    return not row.get("account_key") and bool(row.get("user_id") or row.get("email"))


def _encode_by_source(rows: list[dict[str, Any]]) -> dict[str, EncodedEvents]:
    return {source: _encode(source, rows) for source in sorted({row["source"] for row in rows})}


def _encode(
    source: str, batch: list[dict[str, Any]], unattributed: list[dict[str, Any]] | None = None
) -> EncodedEvents:
    """One pass over ``source``'s events of the batch in key order (a stable sort, so the first
    event of a key is the one kept and its repeats, now adjacent, are skipped). Times are
    normalised to naive UTC on the way, and events the store must attribute are collected in
    ``unattributed``. Repeated values (event names, users, accounts, days, properties) are made
    one object each, so pickle sends a repeat as a reference: the batch crosses from the reader
    process in about half the bytes and time."""
    rows = (
        batch
        if all(row["source"] == source for row in batch)
        else [r for r in batch if r["source"] == source]
    )
    rows = sorted(rows, key=_DEDUP_KEY)
    synced = rows[0].get("synced_at") or datetime.now(UTC)
    synced_at = _utc_naive(synced).isoformat(" ", "microseconds")
    dumps = orjson.dumps
    shared: dict[Any, Any] = {}
    share = shared.setdefault
    texts: dict[str, str] = {}
    tuples: list[tuple[Any, ...]] = []
    append = tuples.append
    user_days: dict[tuple[str, str, str], int] = {}
    feature_days: dict[tuple[str, str, str], int] = {}
    user_counts: list[int] = []
    feature_counts: list[int] = []
    user_of, feature_of = array("l"), array("l")
    user_at, feature_at = user_of.append, feature_of.append
    previous = None
    for r in rows:
        key = r["source_id"]
        if key == previous:
            continue
        previous = key
        when: datetime = r["occurred_at"]
        if when.tzinfo is not None:
            when = r["occurred_at"] = when.astimezone(UTC).replace(tzinfo=None)
        stamp = when.isoformat(" ", "microseconds")
        day = share(stamp[:10], stamp[:10])
        user, account, props = r.get("user_id"), r.get("account_key"), r.get("properties")
        if not account and unattributed is not None and _needs_account(r):
            unattributed.append(r)
        feature = None
        if props is None:
            text = None
        else:
            feature = props.get("feature")
            if type(feature) is str and len(props) == 1:  # the usual {"feature": ...}: encoded once
                text = texts.get(feature)
                if text is None:
                    text = texts[feature] = dumps(props).decode()
            else:
                text = dumps(props, default=str).decode()
                text = share(text, text)
                feature = _feature_text(feature)
        if user is not None:
            user = share(user, user)
        if account is not None:
            account = share(account, account)
        event = r["event"]
        append((source, key, synced_at, stamp, share(event, event), user, account, text))
        group = (account or UNATTRIBUTED, day, user or ANONYMOUS)
        i = user_days.get(group)
        if i is None:
            i = user_days[group] = len(user_counts)
            user_counts.append(1)
        else:
            user_counts[i] += 1
        user_at(i)
        if feature:
            group = (account or UNATTRIBUTED, day, feature)
            j = feature_days.get(group)
            if j is None:
                j = feature_days[group] = len(feature_counts)
                feature_counts.append(1)
            else:
                feature_counts[j] += 1
            feature_at(j)
        else:
            feature_at(-1)
    return EncodedEvents(
        synced_at=synced_at,
        rows=tuples,
        keys=dumps([t[1] for t in tuples]),
        user_days=list(user_days),
        user_day_events=user_counts,
        user_day_of=user_of,
        feature_days=list(feature_days),
        feature_day_events=feature_counts,
        feature_day_of=feature_of,
    )


def _feature_text(value: Any) -> str | None:
    """A feature property as the rollup's text (numbers as SQLite would cast them)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


@register_writer("usage_events", prepare=prepare_usage_events)
def write_usage_events(store: Store, conn: Connection, table_name: str, rows: list[dict[str, Any]]) -> int:
    """Insert a batch of usage events and roll the new ones up; returns how many were new."""
    if not isinstance(rows, PreparedEvents):
        if not rows:
            return 0
        rows = prepare_usage_events(conn.dialect.name, rows)
    if rows.unattributed:
        attribute_from_store(conn, rows.unattributed)
    if conn.dialect.name == "sqlite":
        encoded = rows.encoded if rows.encoded is not None else _encode_by_source(rows)
        return sum(_write_sqlite(conn, source, events) for source, events in encoded.items())
    if not rows:
        return 0
    new = _insert_returning(conn, unique_events(rows))
    if new:
        update_rollups(conn, new)
        ensure_groups(conn, new)
    return len(new)


def unique_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The batch without repeated dedup keys (the first occurrence wins)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault((row["source"], row["source_id"]), row)
    return rows if len(seen) == len(rows) else list(seen.values())


def _utc_naive(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


_INSERT = """
INSERT INTO usage_events (source, source_id, deleted, synced_at, occurred_at, event, user_id,
                          account_key, properties)
VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (source, source_id) DO NOTHING
"""

_STORED_BEFORE = """
SELECT j.key FROM json_each(:keys) AS j
WHERE NOT EXISTS (SELECT 1 FROM usage_events AS e
                  WHERE e.source = :source AND e.source_id = j.value AND e.rowid > :before)
"""
# The positions of the batch's keys that this batch did not insert: stored by an earlier one.
# The key index holds the rowid, so each probe is one index lookup on pages the insert touched.

_USER_DAYS = """
INSERT INTO usage_user_daily (source, account_key, day, user_id, events) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (source, account_key, day, user_id) DO UPDATE SET events = events + excluded.events
"""

_FEATURE_DAYS = """
INSERT INTO usage_feature_daily (source, account_key, day, feature, events) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (source, account_key, day, feature) DO UPDATE SET events = events + excluded.events
"""

_DAILY = """
INSERT INTO usage_daily (source, account_key, day, active_users, events)
SELECT source, account_key, day, sum(user_id != ''), sum(events) FROM usage_user_daily
WHERE source = ?1 AND account_key = ?2 AND day = ?3
GROUP BY source, account_key, day
ON CONFLICT (source, account_key, day)
DO UPDATE SET active_users = excluded.active_users, events = excluded.events
"""
# usage_daily is recomputed from usage_user_daily for each touched (account, day): one index
# range each, however long the history.

_GROUPS = """
INSERT INTO source_accounts (source, source_id, deleted, synced_at, kind, account_key)
VALUES (?1, ?2, 0, ?3, 'group', ?2)
ON CONFLICT (source, source_id) DO NOTHING
"""


def _write_sqlite(conn: Connection, source: str, events: EncodedEvents) -> int:
    """Insert one source's encoded events, then roll up the ones that went in: all of them but
    the keys an earlier batch stored (the per-connector sync lock makes this batch the only
    writer of its source, so the rows above the previous largest rowid are exactly its own)."""
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    cur = dbapi.cursor()
    try:
        if cur.execute("PRAGMA cache_size").fetchone()[0] != -SQLITE_CACHE_KIB:
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # resizing costs ms: once
        before = cur.execute("SELECT coalesce(max(rowid), 0) FROM usage_events").fetchone()[0]
        synced_at = events.synced_at
        cur.executemany(_INSERT, events.rows)
        inserted = cur.rowcount
        if inserted <= 0:
            return 0
        users, features = events.user_day_events, events.feature_day_events
        if inserted < len(events.rows):
            users, features = list(users), list(features)
            found = cur.execute(_STORED_BEFORE, {"keys": events.keys, "source": source, "before": before})
            for (position,) in found.fetchall():
                users[events.user_day_of[position]] -= 1
                feature = events.feature_day_of[position]
                if feature >= 0:
                    features[feature] -= 1
        user_days = [(source, *key, n) for key, n in zip(events.user_days, users, strict=True) if n]
        cur.executemany(_USER_DAYS, user_days)
        cur.executemany(
            _FEATURE_DAYS,
            [(source, *key, n) for key, n in zip(events.feature_days, features, strict=True) if n],
        )
        touched = sorted({(account, day) for _, account, day, _, _ in user_days})
        cur.executemany(_DAILY, [(source, account, day) for account, day in touched])
        accounts = sorted({account for account, _ in touched if account != UNATTRIBUTED})
        cur.executemany(_GROUPS, [(source, account, synced_at) for account in accounts])
    finally:
        cur.close()
    return inserted


def _insert_returning(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = table("usage_events")
    stmt = (
        dialect_insert(conn.dialect.name, events)
        .on_conflict_do_nothing(index_elements=["source", "source_id"])
        .returning(events.c.source, events.c.source_id)
    )
    params = [
        {
            "source": r["source"],
            "source_id": r["source_id"],
            "deleted": bool(r.get("deleted")),
            "synced_at": r.get("synced_at"),
            "occurred_at": _utc_naive(r["occurred_at"]),
            "event": r["event"],
            "user_id": r.get("user_id"),
            "account_key": r.get("account_key"),
            "properties": r.get("properties"),
        }
        for r in rows
    ]
    new = {(s, sid) for s, sid in conn.execute(stmt, params)}
    if len(new) == len(rows):
        return rows
    return [r for r in rows if (r["source"], r["source_id"]) in new]


# ---------------------------------------------------------------- rollups


def update_rollups(conn: Connection, inserted: Iterable[dict[str, Any]]) -> None:
    """Add newly inserted events to usage_user_daily, usage_feature_daily and usage_daily."""
    user_days: Counter[UserDay] = Counter()
    feature_days: Counter[UserDay] = Counter()
    for row in inserted:
        day = _utc_naive(row["occurred_at"]).date()
        account = row.get("account_key") or UNATTRIBUTED
        user_days[(row["source"], account, day, row.get("user_id") or ANONYMOUS)] += 1
        props = row.get("properties")
        if props:
            feature = props.get("feature")
            if feature is not None and feature != "":
                feature_days[(row["source"], account, day, str(feature))] += 1
    if not user_days:
        return
    touched = sorted({(s, a, d) for s, a, d, _ in user_days})
    _increment(conn, "usage_user_daily", ["source", "account_key", "day", "user_id"], user_days)
    if feature_days:
        _increment(conn, "usage_feature_daily", ["source", "account_key", "day", "feature"], feature_days)
    _refresh_daily(conn, touched)


def _increment(conn: Connection, table_name: str, keys: list[str], counts: Counter[Any]) -> None:
    tbl = table(table_name)
    stmt = dialect_insert(conn.dialect.name, tbl)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={"events": tbl.c.events + stmt.excluded.events}
    )
    conn.execute(stmt, [{**dict(zip(keys, key, strict=True)), "events": n} for key, n in counts.items()])


def _refresh_daily(conn: Connection, keys: list[tuple[str, str, date]]) -> None:
    """Recompute usage_daily for the touched (source, account, day) keys from usage_user_daily."""
    users, daily = table("usage_user_daily"), table("usage_daily")
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        totals = (
            select(
                users.c.source,
                users.c.account_key,
                users.c.day,
                func.sum(case((users.c.user_id != ANONYMOUS, 1), else_=0)).label("active_users"),
                func.sum(users.c.events).label("events"),
            )
            .where(tuple_(users.c.source, users.c.account_key, users.c.day).in_(chunk))
            .group_by(users.c.source, users.c.account_key, users.c.day)
        )
        stmt = dialect_insert(conn.dialect.name, daily).from_select(
            ["source", "account_key", "day", "active_users", "events"], totals
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "account_key", "day"],
            set_={"active_users": stmt.excluded.active_users, "events": stmt.excluded.events},
        )
        conn.execute(stmt)


# ---------------------------------------------------------------- accounts


def ensure_groups(conn: Connection, inserted: Iterable[dict[str, Any]]) -> None:
    """A ``source_accounts`` group row for every account key of these events, if missing."""
    keys = sorted({(r["source"], r["account_key"]) for r in inserted if r.get("account_key")})
    if not keys:
        return
    accounts = table("source_accounts")
    now = datetime.now(UTC)
    stmt = dialect_insert(conn.dialect.name, accounts).on_conflict_do_nothing(
        index_elements=["source", "source_id"]
    )
    for start in range(0, len(keys), _CHUNK):
        conn.execute(
            stmt,
            [
                {
                    "source": s,
                    "source_id": k,
                    "kind": "group",
                    "account_key": k,
                    "deleted": False,
                    "synced_at": now,
                }
                for s, k in keys[start : start + _CHUNK]
            ],
        )


def attribute_from_store(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Fill ``account_key`` of events whose user the store can place in an account."""
    contacts, accounts = table("contacts"), table("source_accounts")
    by_user: dict[tuple[str, str], str | None] = {}
    emails: dict[tuple[str, str], str] = {}
    users = sorted({(r["source"], r["user_id"]) for r in rows if r.get("user_id")})
    for start in range(0, len(users), _CHUNK):
        chunk = users[start : start + _CHUNK]
        found = conn.execute(
            select(
                contacts.c.source, contacts.c.source_id, contacts.c.source_account_id, contacts.c.email
            ).where(tuple_(contacts.c.source, contacts.c.source_id).in_(chunk), contacts.c.deleted.is_(False))
        )
        for source, user, account, email in found:
            if account:
                by_user[(source, user)] = account
            elif email:
                emails[(source, user)] = email.lower()
    wanted: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        key = (row["source"], row.get("user_id") or "")
        account = by_user.get(key)
        if account:
            row["account_key"] = account
            continue
        email = row.get("email") or emails.get(key)
        user = row.get("user_id")
        if not email and user and "@" in user:
            email = user
        if email:
            wanted.setdefault(email.lower(), []).append(row)
    if not wanted:
        return
    addresses = sorted(wanted)
    for start in range(0, len(addresses), _CHUNK):
        batch = addresses[start : start + _CHUNK]
        matches = conn.execute(
            select(func.lower(contacts.c.email), accounts.c.account_key)
            .select_from(
                contacts.join(
                    accounts,
                    and_(
                        accounts.c.source == contacts.c.source,
                        accounts.c.source_id == contacts.c.source_account_id,
                    ),
                )
            )
            .where(
                func.lower(contacts.c.email).in_(batch),
                accounts.c.account_key.is_not(None),
                contacts.c.deleted.is_(False),
            )
        )
        for address, key in matches:
            for row in wanted.get(address, []):
                row["account_key"] = key
