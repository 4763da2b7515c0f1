"""Writing usage events: each event stored once, the daily rollups kept current in the same
transaction, so usage metrics read the rollups and never scan raw events.

Before the transaction, :func:`prepare_usage_events` (the engine runs it in the reader: the
read-ahead thread, or the child process of a stream that reads in one) normalises times to naive
UTC, finds the events that need an account from the store and, on SQLite when none does, encodes
the batch; the transaction then spends its time in the database. Per batch (one transaction,
with the stream's cursor):

1. duplicates inside the batch are dropped (first wins);
2. events without an account are attributed from the store when it knows their user: a contact
   of the same source whose ``source_account_id`` names the group (Segment group and identify
   calls), else a contact of any source with the user's email whose organisation carries an
   ``account_key`` (read-only lookups, one query per batch for the users concerned);
3. the events are inserted with ``ON CONFLICT DO NOTHING`` on the table's key ``(source,
   occurred_at, source_id)``, in that order (time first: see :class:`EncodedEvents`);
4. only the events actually inserted feed the rollups, so a re-delivered event (same dedup key
   and time, in another file, window or run) is counted once: ``usage_user_daily`` and
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
transaction) as a handful of statements: the insert, then the rollups computed in SQL from the
rows above the table's previous largest rowid (exactly this batch's new events: the
per-connector sync lock makes the batch the only writer of its source). The insert depends on
where the batch was readied (:class:`EncodedEvents`): in the engine's own process it is one
``INSERT .. SELECT .. FROM json_each(?)`` with the whole batch as one orjson-encoded parameter,
a single call into SQLite that runs without the GIL while the read-ahead thread parses the next
batch (``executemany`` would re-take the GIL for every row and stall on that thread); from a
reader process (``Stream.read_in_process``), where nothing else needs the GIL, it is an
``executemany`` of ready tuples, which SQLite inserts faster than it parses JSON. Either way the
Python work per event happens in the reader and the rollups run in SQLite, so the writer's
process spends its time in the database. Other databases use one
``INSERT .. ON CONFLICT DO NOTHING .. RETURNING`` per batch and roll up in Python.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, and_, case, func, select, tuple_

from .reader_process import in_reader_process
from .store import Store, dialect_insert, table
from .writers import register_writer

UNATTRIBUTED = ""
ANONYMOUS = ""
SQLITE_CACHE_KIB = 32_768
"""SQLite page cache while writing events. Keyed by time, the inserts touch the last pages of the
key's index plus a few for late events, so the cache no longer needs to hold the index (it had
to, at 96 MB, when random dedup keys led). Bench, 1M events: 16, 32 and 96 MB all within noise
(110-115k events/s); 5M: 99.4k with 16 MB, 102.7k with 32 MB; the process tree 251 MB RSS summed
with 32 MB against 321 MB with 96 MB."""
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
    """One source's events of a batch, inserted in key order (time, then dedup key): an export
    arrives in time order, so consecutive inserts land at the end of the key's index, and the few
    late events of a batch together, instead of on random pages of an index that outgrows the
    page cache (5M events, the writer's statements alone: 18.3 s against 46.2 s for the same
    batches keyed and sorted by the dedup key alone). The sort is stable, so of two events with
    one key the first in the batch is still the one kept (``ON CONFLICT DO NOTHING``).

    Readied in the engine's process, ``payload`` is the batch as one JSON array of arrays
    (SQLite finds a value by position faster than by key) for ``json_each``; readied in a reader
    process, ``rows`` are the insert's parameters, ``(source_id, occurred_at, event, user_id,
    account_key, properties)`` with times and properties as the text SQLite stores."""

    synced_at: str
    payload: bytes | None = None
    rows: list[tuple[Any, ...]] = field(default_factory=list)


_KEY_ORDER = itemgetter("occurred_at", "source_id")
_TUPLE_KEY_ORDER = itemgetter(1, 0)
_ENCODED = itemgetter("source_id", "occurred_at", "event", "user_id", "account_key", "properties")


def prepare_usage_events(dialect: str, rows: list[dict[str, Any]]) -> PreparedEvents:
    """The per-event work that needs no database; the engine runs it in the reader."""
    prepared = PreparedEvents(rows)
    prepared.unattributed, prepared.encoded = [], None
    if dialect == "sqlite" and in_reader_process():  # one pass: times, attribution, tuples
        encoded = _encode_by_source(rows, prepared.unattributed)
        if not prepared.unattributed:
            prepared.encoded = encoded
        return prepared
    for row in rows:
        when = row["occurred_at"]
        if when.tzinfo is not None:
            row["occurred_at"] = when.astimezone(UTC).replace(tzinfo=None)
        if _needs_account(row):
            prepared.unattributed.append(row)
    if dialect == "sqlite" and not prepared.unattributed:
        prepared.encoded = _encode_by_source(rows)
    return prepared


def _needs_account(row: dict[str, Any]) -> bool:
    """No account key, but a user or email the store may place in one."""
    return not row.get("account_key") and bool(row.get("user_id") or row.get("email"))


def _encode_by_source(
    rows: list[dict[str, Any]], unattributed: list[dict[str, Any]] | None = None
) -> dict[str, EncodedEvents]:
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_source.setdefault(row["source"], []).append(row)
    if not in_reader_process():
        return {source: _encode_json(batch) for source, batch in by_source.items()}
    return {source: _encode_tuples(batch, unattributed) for source, batch in by_source.items()}


def _synced_at(rows: list[dict[str, Any]]) -> str:
    return _utc_naive(rows[0].get("synced_at") or datetime.now(UTC)).isoformat(" ", "microseconds")


def _encode_json(rows: list[dict[str, Any]]) -> EncodedEvents:
    """The engine's own process: one JSON payload in key order, for ``json_each``."""
    ordered = sorted(rows, key=_KEY_ORDER)
    return EncodedEvents(_synced_at(rows), payload=orjson.dumps([_ENCODED(r) for r in ordered], default=str))


def _encode_tuples(
    rows: list[dict[str, Any]], unattributed: list[dict[str, Any]] | None = None
) -> EncodedEvents:
    """A reader process: the insert's parameters, in the batch's order (the writer sorts them:
    the reader is the busier of the two processes). With ``unattributed``, this one pass also
    normalises times and collects the events the store must place in an account."""
    dumps = orjson.dumps
    texts: dict[Any, str] = {}  # the usual {"feature": ...} encoded once per feature
    # Repeated values made one object each, so pickle sends a repeat as a reference: a smaller
    # batch, pickled and unpickled faster (1M events: 127 -> 101 MB through the pipe).
    shared: dict[Any, Any] = {}
    share = shared.setdefault
    tuples = []
    for r in rows:
        when = r["occurred_at"]
        if when.tzinfo is not None:
            when = r["occurred_at"] = when.astimezone(UTC).replace(tzinfo=None)
        props = r.get("properties")
        text = None
        if props is not None:
            feature = props.get("feature") if len(props) == 1 else None
            text = texts.get(feature) if type(feature) is str else None
            if text is None:
                text = dumps(props, default=str).decode()
                if type(feature) is str:
                    texts[feature] = text
        event, user, account = r["event"], r.get("user_id"), r.get("account_key")
        if not account and unattributed is not None and _needs_account(r):
            unattributed.append(r)
        tuples.append(
            (
                r["source_id"],
                when.isoformat(" ", "microseconds"),
                share(event, event),
                share(user, user),
                share(account, account),
                text,
            )
        )
    return EncodedEvents(_synced_at(rows), rows=tuples)


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
        return _write_sqlite(conn, rows.encoded if rows.encoded is not None else _encode_by_source(rows))
    if not rows:
        return 0
    new = _insert_returning(conn, unique_events(rows))
    if new:
        update_rollups(conn, new)
        ensure_groups(conn, new)
    return len(new)


def unique_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The batch without repeated keys (the first occurrence wins)."""
    seen: dict[tuple[str, datetime, str], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(_event_key(row), row)
    return rows if len(seen) == len(rows) else list(seen.values())


def _utc_naive(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


# SQLite: the batch goes in as ONE JSON array parameter and every statement below is one call
# into SQLite, which runs without the GIL; with executemany each row would re-take the GIL,
# and a reader thread parsing the next batch would make every row wait for it.
_EVENTS_FROM_JSON = """
INSERT INTO usage_events (source, source_id, deleted, synced_at, occurred_at, event, user_id,
                          account_key, properties)
SELECT :source, j.value ->> 0, 0, :synced_at,
       substr(replace(j.value ->> 1, 'T', ' ') || '.000000', 1, 26),
       j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5
FROM json_each(:rows) AS j WHERE true
ON CONFLICT (source, occurred_at, source_id) DO NOTHING
"""
# occurred_at: orjson writes naive datetimes as ISO text with a "T" and drops ".000000"; the
# SQL turns that into SQLAlchemy's SQLite format "YYYY-MM-DD HH:MM:SS.ffffff".

_EVENTS_FROM_TUPLES = """
INSERT INTO usage_events (source, source_id, deleted, synced_at, occurred_at, event, user_id,
                          account_key, properties)
VALUES ({source}, ?1, 0, {synced_at}, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (source, occurred_at, source_id) DO NOTHING
"""
# The batch's constants are SQL literals (_quoted), so executemany binds only what varies.

_NEW = "FROM usage_events WHERE rowid > :before AND +source = :source"
# "+source": no index on source for these, or SQLite walks the whole (source, occurred_at,
# source_id) index instead of the rowid range of the batch.

_BATCH_DAYS = f"""
INSERT INTO temp.usage_batch_days (account_key, day, user_id, feature, events)
SELECT coalesce(account_key, ''), substr(occurred_at, 1, 10), coalesce(user_id, ''),
       CASE WHEN properties IS NOT NULL THEN CAST(properties ->> 'feature' AS TEXT) END, count(*)
{_NEW} GROUP BY 1, 2, 3, 4
"""
# One pass over the batch's new events (JSON properties parsed once) into a small temporary
# table of (account, day, user, feature) counts; the three rollups are derived from it.

_USER_DAYS = """
INSERT INTO usage_user_daily (source, account_key, day, user_id, events)
SELECT :source, account_key, day, user_id, sum(events) FROM temp.usage_batch_days WHERE true
GROUP BY account_key, day, user_id
ON CONFLICT (source, account_key, day, user_id) DO UPDATE SET events = events + excluded.events
"""

_FEATURE_DAYS = """
INSERT INTO usage_feature_daily (source, account_key, day, feature, events)
SELECT :source, account_key, day, feature, sum(events) FROM temp.usage_batch_days
WHERE feature IS NOT NULL AND feature != ''
GROUP BY account_key, day, feature
ON CONFLICT (source, account_key, day, feature) DO UPDATE SET events = events + excluded.events
"""

_DAILY = """
INSERT INTO usage_daily (source, account_key, day, active_users, events)
SELECT u.source, u.account_key, u.day, sum(u.user_id != ''), sum(u.events)
FROM (SELECT DISTINCT account_key, day FROM temp.usage_batch_days) AS t
CROSS JOIN usage_user_daily AS u
WHERE u.source = :source AND u.account_key = t.account_key AND u.day = t.day
GROUP BY u.source, u.account_key, u.day
ON CONFLICT (source, account_key, day)
DO UPDATE SET active_users = excluded.active_users, events = excluded.events
"""
# CROSS JOIN keeps the touched (account, day) keys as the outer loop: one index range of
# usage_user_daily each, however long the history.

_GROUPS = """
INSERT INTO source_accounts (source, source_id, deleted, synced_at, kind, account_key)
SELECT DISTINCT :source, account_key, 0, :synced_at, 'group', account_key
FROM temp.usage_batch_days WHERE account_key != ''
ON CONFLICT (source, source_id) DO NOTHING
"""

_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS usage_batch_days (
    account_key TEXT, day TEXT, user_id TEXT, feature TEXT, events INTEGER
)
"""


def _quoted(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _write_sqlite(conn: Connection, encoded: dict[str, EncodedEvents]) -> int:
    """Insert, then roll up and register groups from the rows above the previous largest rowid:
    exactly this batch's new events (the sync lock makes it the only writer of its source)."""
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    cur = dbapi.cursor()
    inserted = 0
    try:
        if cur.execute("PRAGMA cache_size").fetchone()[0] != -SQLITE_CACHE_KIB:
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # resizing costs ms: once
        for source, events in encoded.items():
            params = {"source": source, "synced_at": events.synced_at}
            params["before"] = cur.execute("SELECT coalesce(max(rowid), 0) FROM usage_events").fetchone()[0]
            if events.payload is not None:
                cur.execute(_EVENTS_FROM_JSON, {**params, "rows": events.payload})
            else:
                insert = _EVENTS_FROM_TUPLES.format(
                    source=_quoted(source), synced_at=_quoted(events.synced_at)
                )
                events.rows.sort(key=_TUPLE_KEY_ORDER)  # stable: a key's first event goes in first
                cur.executemany(insert, events.rows)
            if cur.rowcount <= 0:
                continue
            inserted += cur.rowcount
            cur.execute(_TEMP)
            cur.execute("DELETE FROM temp.usage_batch_days")
            cur.execute(_BATCH_DAYS, params)
            cur.execute(_USER_DAYS, params)
            cur.execute(_FEATURE_DAYS, params)
            cur.execute(_DAILY, params)
            cur.execute(_GROUPS, params)
    finally:
        cur.close()
    return inserted


def _insert_returning(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = table("usage_events")
    stmt = (
        dialect_insert(conn.dialect.name, events)
        .on_conflict_do_nothing(index_elements=["source", "occurred_at", "source_id"])
        .returning(events.c.source, events.c.occurred_at, events.c.source_id)
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
    new = {(s, _utc_naive(when), sid) for s, when, sid in conn.execute(stmt, params)}
    if len(new) == len(rows):
        return rows
    return [r for r in rows if _event_key(r) in new]


def _event_key(row: dict[str, Any]) -> tuple[str, datetime, str]:
    return row["source"], _utc_naive(row["occurred_at"]), row["source_id"]


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
