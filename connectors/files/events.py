"""What every usage connector shares: turning a source's JSON (or CSV) records into
``usage_events`` rows, and the stream that batches them with their cursor.

A connector supplies an :class:`EventMapper` (where its records keep the event name, user, time,
account and dedup key) and a :class:`UnitSource` (the files or API windows to read, and the cursor
that says which are done). :class:`EventStream` does the rest: parse each line, map it, quarantine
what cannot be mapped with ``file:line`` and a reason, and yield batches of typed rows.

Rows are built here already typed (``occurred_at`` a naive UTC datetime), so the stream sets
``validated = True`` and the engine skips per-record pydantic validation; it also sets
``prefetch`` so the engine reads the next batches while the previous one is written: in a child
process for local files (:class:`LocalEventStream`), in a thread for API windows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import Field
from vitalsign.core import Batch, ConnectorSettings, QuarantineItem, SourceDataError, Stream
from vitalsign.core.errors import ConfigError

Getter = Callable[[Mapping[str, Any]], Any]
MAX_PAYLOAD = 2000
_EPOCH = datetime(1970, 1, 1)


class UsageSettings(ConnectorSettings):
    """Settings every usage connector has (each adds its own source settings)."""

    properties: list[str] = Field(default_factory=list)
    """Event properties to keep (names in the event's properties, or dotted paths from the
    record's root). Everything else is dropped so the store stays small."""
    feature_property: str | None = "feature"
    """The property whose value names the product feature used (feeds usage_feature_daily)."""
    batch_size: int = Field(default=10_000, ge=1, le=200_000)
    """Events per batch: one cursor each; the engine commits ``EventStream.commit_batches`` of
    them in one transaction."""


def getter(path: str) -> Getter:
    """A fast accessor for a dotted path (``groups.company``); a key containing dots is tried
    whole first (Mixpanel's ``$insert_id`` style keys never contain dots, custom ones might)."""
    parts = path.split(".")
    if len(parts) == 1:
        key = parts[0]
        return lambda obj: obj.get(key)
    if len(parts) == 2:
        first, second = parts

        def two(obj: Mapping[str, Any]) -> Any:
            inner = obj.get(first)
            if isinstance(inner, dict):
                return inner.get(second)
            return obj.get(path)

        return two

    def deep(obj: Mapping[str, Any]) -> Any:
        value: Any = obj
        for part in parts:
            if not isinstance(value, dict):
                return obj.get(path)
            value = value.get(part)
        return value

    return deep


def key_value(value: Any) -> str | None:
    """An account or user key as text: numbers stringified, a list's first element, blanks None.

    Amplitude's ``groups.company`` is a list when a user belongs to several groups."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, list):
        return key_value(value[0]) if value else None
    return None


def dedup_hash(event: str, user: str | None, occurred_at: datetime) -> str:
    """The dedup key of an event that has none: stable across files and runs."""
    text = f"{event}\x1f{user or ''}\x1f{occurred_at.isoformat()}"
    return "h:" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def zone(name: str | None, setting: str) -> ZoneInfo | None:
    if not name or name.upper() == "UTC":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{setting}: unknown time zone {name!r}") from None


# ---------------------------------------------------------------- time parsing


class TimeError(ValueError):
    pass


def naive_utc(value: datetime, tz: ZoneInfo | None = None) -> datetime:
    """Naive UTC from an aware datetime, or from a naive one read in ``tz`` (None = UTC)."""
    if value.tzinfo is None:
        if tz is None:
            return value
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC).replace(tzinfo=None)


def parse_iso(value: Any, tz: ZoneInfo | None = None) -> datetime:
    """ISO-8601 text (``Z`` allowed; ``YYYY-MM-DD HH:MM:SS.ffffff`` as Amplitude writes it)."""
    if not isinstance(value, str):
        raise TimeError(f"not a timestamp: {value!r}")
    try:
        return naive_utc(datetime.fromisoformat(value), tz)
    except ValueError:
        raise TimeError(f"not an ISO-8601 timestamp: {value!r}") from None


MS_THRESHOLD = 100_000_000_000
"""Epoch values above this are milliseconds (in seconds it would be the year 5138)."""


def parse_epoch(value: Any, tz: ZoneInfo | None = None, unit: str = "auto") -> datetime:
    """Epoch seconds or milliseconds (``auto`` tells them apart by magnitude).

    With ``tz`` the number is wall-clock time in that zone (Mixpanel projects created before
    2023 report ``time`` in the project timezone), converted to UTC here."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise TimeError(f"not an epoch timestamp: {value!r}") from None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TimeError(f"not an epoch timestamp: {value!r}")
    millis = unit == "ms" or (unit == "auto" and abs(value) >= MS_THRESHOLD)
    try:
        moment = _EPOCH + (timedelta(milliseconds=value) if millis else timedelta(seconds=value))
    except OverflowError:
        raise TimeError(f"epoch timestamp out of range: {value!r}") from None
    return naive_utc(moment, tz) if tz is not None else moment


def time_parser(fmt: str, tz: ZoneInfo | None) -> Callable[[Any], datetime]:
    """``iso`` | ``epoch`` (auto s/ms) | ``epoch_s`` | ``epoch_ms`` | a ``strptime`` pattern."""
    if fmt == "iso":
        return lambda v: parse_iso(v, tz)
    if fmt in ("epoch", "auto"):
        return lambda v: parse_epoch(v, tz)
    if fmt == "epoch_s":
        return lambda v: parse_epoch(v, tz, "s")
    if fmt == "epoch_ms":
        return lambda v: parse_epoch(v, tz, "ms")
    if "%" not in fmt:
        raise ConfigError(f"time_format: {fmt!r} is not iso, epoch, epoch_s, epoch_ms or a strptime pattern")

    def pattern(value: Any) -> datetime:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return parse_epoch(value, tz)
        try:
            return naive_utc(datetime.strptime(str(value), fmt), tz)
        except ValueError:
            raise TimeError(f"{value!r} does not match time_format {fmt!r}") from None

    return pattern


# ---------------------------------------------------------------- mapping


Spec = str | Getter
"""Where a field is: a dotted path from the record's root, or a function of the record."""


@dataclass
class EventMapper:
    """Turns one parsed record into a ``usage_events`` row.

    Calling it returns the row, ``None`` for a record that is not an event (a group or identify
    call, handled by ``side``), or a string: the reason to quarantine it.

    The mapping runs once per event, at a hundred thousand events a second, so it is compiled:
    :func:`_compile` writes a function with these paths inlined as plain ``dict.get`` calls
    (no getter closures, no per-field function calls), which is what ``__call__`` runs.
    """

    event: Spec
    user: Spec
    time: Spec
    parse_time: Callable[[Any], datetime]
    account: Spec | None
    dedup_keys: list[Spec]
    anonymous: Spec | None = None
    email: Spec | None = None
    properties_root: Spec | None = None
    properties: list[str] = field(default_factory=list)
    feature: str | None = "feature"
    require_user: bool = False
    """Quarantine events with neither a user nor an anonymous id (Segment requires one)."""
    side: Callable[[Mapping[str, Any]], bool] | None = None
    """Handles non-event records; returns True when it consumed the record."""
    user_accounts: dict[str, str] = field(default_factory=dict)
    """user id -> account key learned in this run (Segment group and identify calls)."""
    fn: Callable[[Any], dict[str, Any] | str | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.fn = _compile(self)

    def __call__(self, obj: Any) -> dict[str, Any] | str | None:
        return self.fn(obj)

    def kept_properties(self) -> list[tuple[str, str]]:
        """(stored name, path) of each kept property; the feature property is stored as
        ``feature``. A plain name is looked up in the properties object, a dotted one from the
        record's root."""
        names = list(self.properties)
        if self.feature and self.feature not in names:
            names.append(self.feature)
        return [("feature" if name == self.feature else name, name) for name in names]


def _compile(m: EventMapper) -> Callable[[Any], dict[str, Any] | str | None]:
    env: dict[str, Any] = {
        "TimeError": TimeError,
        "_parse": m.parse_time,
        "_fromiso": datetime.fromisoformat,
        "_UTC": UTC,
        "_key": key_value,
        "_hash": dedup_hash,
        "_side": m.side,
        "_user_accounts": m.user_accounts,
    }
    body: list[str] = ["if type(obj) is not dict:", "    return 'not a JSON object'"]

    def fetch(target: str, spec: Spec, source: str = "obj") -> None:
        """Emit ``target = <value of spec in source>``."""
        if callable(spec):
            name = f"_f{len(env)}"
            env[name] = spec
            body.append(f"{target} = {name}({source})")
            return
        parts = spec.split(".")
        if len(parts) == 1:
            body.append(f"{target} = {source}.get({spec!r})")
        elif len(parts) == 2:
            body.append(f"_t = {source}.get({parts[0]!r})")
            body.append(f"{target} = _t.get({parts[1]!r}) if type(_t) is dict else {source}.get({spec!r})")
        else:
            fetch(target, getter(spec), source)

    def as_key(target: str) -> None:
        body.append(f"if type({target}) is not str or not {target}:")
        body.append(f"    {target} = _key({target})")

    if m.side is not None:
        body += ["if _side(obj):", "    return None"]
    fetch("name", m.event)
    body += ["if type(name) is not str or not name:", "    return 'missing event name'"]
    fetch("raw", m.time)
    body += ["if raw is None or raw == '':", "    return 'missing event time'"]
    if m.parse_time is parse_iso:  # the common case inlined: two calls fewer per event
        body += [
            "if type(raw) is not str:",
            "    return f'not a timestamp: {raw!r}'",
            "try:",
            "    when = _fromiso(raw)",
            "except ValueError:",
            "    return f'not an ISO-8601 timestamp: {raw!r}'",
            "if when.tzinfo is not None:",
            "    when = when.astimezone(_UTC).replace(tzinfo=None)",
        ]
    else:
        body += ["try:", "    when = _parse(raw)", "except TimeError as exc:", "    return str(exc)"]
    fetch("user", m.user)
    as_key("user")
    if m.anonymous is not None:
        body.append("if user is None:")
        start = len(body)
        fetch("anon", m.anonymous)
        as_key("anon")
        body[start:] = ["    " + line for line in body[start:]]
        body += ["else:", "    anon = None"]
    else:
        body.append("anon = None")
    if m.require_user:
        body += ["if user is None and anon is None:", "    return 'missing user id and anonymous id'"]
    if m.account is not None:
        fetch("account", m.account)
        as_key("account")
    else:
        body.append("account = None")
    body += [
        "if account is None and user is not None and _user_accounts:",
        "    account = _user_accounts.get(user)",
    ]
    body.append("sid = None")
    for spec in m.dedup_keys:
        body.append("if not sid:")
        start = len(body)
        fetch("sid", spec)
        as_key("sid")
        body[start:] = ["    " + line for line in body[start:]]
    body += ["if not sid:", "    sid = _hash(name, user if user is not None else anon, when)"]
    kept = m.kept_properties()
    if kept:
        if m.properties_root is not None:
            fetch("root", m.properties_root)
            body += ["if type(root) is not dict:", "    root = {}"]
        else:
            body.append("root = obj")
        body.append("props = None")
        for stored, path in kept:
            if "." in path:
                fetch("value", path)
            else:
                body.append(f"value = root.get({path!r})")
            body += ["if value is not None:", "    if props is None:", "        props = {}"]
            body.append(f"    props[{stored!r}] = value")
    else:
        body.append("props = None")
    body.append(
        "row = {'source_id': sid, 'occurred_at': when, 'event': name, 'user_id': user,"
        " 'account_key': account, 'properties': props}"
    )
    if m.email is not None:
        body.append("if account is None:")
        start = len(body)
        fetch("email", m.email)
        body += ["if type(email) is str and '@' in email:", "    row['email'] = email"]
        body[start:] = ["    " + line for line in body[start:]]
    body.append("return row")
    source = "def map_event(obj):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(source, "<usage event mapper>", "exec"), env)
    mapped: Callable[[Any], dict[str, Any] | str | None] = env["map_event"]
    return mapped


# ---------------------------------------------------------------- units and the stream


class Unit(Protocol):
    """One thing to read completely: a file, an archive, an API window."""

    name: str

    def lines(self) -> Iterator[tuple[str, int, bytes]]:
        """``(location name, line number, line)``; raises SourceDataError on unreadable data."""
        ...


class UnitSource(Protocol):
    """The units still to read after ``cursor``, and the cursor once some are done."""

    def units(self, cursor: Any) -> Iterable[Unit]: ...

    def done(self, unit: Unit) -> None:
        """Record ``unit`` as completely read."""

    def cursor(self) -> Any:
        """The JSON-serialisable cursor covering every unit marked done."""


@dataclass
class Extras:
    """Non-event rows a mapper learns while reading: named groups, users (Segment calls)."""

    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def drain(self) -> dict[str, list[dict[str, Any]]]:
        children: dict[str, list[dict[str, Any]]] = {}
        if self.accounts:
            children["source_accounts"] = [dict(row) for row in self.accounts.values()]
            self.accounts = {}
        if self.contacts:
            children["contacts"] = [dict(row) for row in self.contacts.values()]
            self.contacts = {}
        return children


class EventStream(Stream):
    """The ``events`` stream of a usage connector: lines in, batches of usage_events rows out.

    Bad lines are quarantined with ``file:line`` and the run continues. A unit that cannot be
    read to its end (truncated gzip) keeps the lines before the damage, is not marked done (so the
    next run retries it), and fails the stream with its name once every other unit was read.
    Re-reading a unit is harmless: the writer counts each dedup key once.
    """

    name = "events"
    table = "usage_events"
    primary_key = ("source", "occurred_at", "source_id")  # an event is its dedup key at its time
    cursor_field = "files or windows done"
    validated: ClassVar[bool] = True
    prefetch: ClassVar[int] = 2
    partial_children: ClassVar[bool] = True
    commit_batches: ClassVar[int] = 200
    commit_seconds: ClassVar[float] = 30.0
    """A transaction ends after 200 batches or 30 s of writing, whichever comes first: each commit
    writes every page its batches dirtied (rollup and index pages again and again), so fewer,
    larger commits write far less (1M events, when the key was the dedup key alone: 31.0 s with
    20 batches a commit, 21.8 s in one). A crash
    loses at most that much reading, never data: the cursor is committed with the rows."""

    def __init__(
        self, source: UnitSource, mapper: EventMapper, *, batch_size: int, extras: Extras | None = None
    ) -> None:
        self.source = source
        self.mapper = mapper
        self.batch_size = batch_size
        self.extras = extras or Extras()

    def read(self, cursor: Any) -> Iterator[Batch]:
        rows: list[dict[str, Any]] = []
        quarantine: list[QuarantineItem] = []
        failures: list[str] = []
        dirty = False
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        mapper, size = self.mapper.fn, self.batch_size
        for unit in self.source.units(cursor):
            try:
                for location, number, line in unit.lines():
                    if type(line) is bytes:
                        try:
                            obj = loads(line)
                        except decode_error:
                            quarantine.append(_bad(location, number, line, "not valid JSON"))
                            continue
                    else:  # already parsed (a CSV row)
                        obj = line
                    result = mapper(obj)
                    if type(result) is dict:
                        rows.append(result)
                        if len(rows) >= size:
                            yield self._batch(rows, quarantine, dirty)
                            rows, quarantine, dirty = [], [], False
                    elif result is not None:
                        quarantine.append(_bad(location, number, line, str(result)))
            except SourceDataError as exc:
                failures.append(str(exc))
                failed = getattr(self.source, "failed", None)
                if failed is not None:
                    failed(unit)
                continue
            self.source.done(unit)
            dirty = True
        if rows or quarantine or dirty or self.extras.accounts or self.extras.contacts:
            yield self._batch(rows, quarantine, dirty)
        if failures:
            raise SourceDataError("; ".join(failures))

    def _batch(self, rows: list[dict[str, Any]], quarantine: list[QuarantineItem], dirty: bool) -> Batch:
        return Batch(
            records=rows,
            cursor=self.source.cursor() if dirty else None,
            quarantine=quarantine,
            children=self.extras.drain(),
        )


class LocalEventStream(EventStream):
    """Events from local files. Reading them is decompressing and parsing, CPU-bound Python, so
    the engine reads in a child process, on the other core than its writes
    (``Stream.read_in_process``; bench/bench_usage.py measures it). API windows stay in the
    engine's thread: their client's state (requests made, rate limits) belongs to the engine."""

    read_in_process: ClassVar[bool] = True


def event_stream(
    source: UnitSource, mapper: EventMapper, *, batch_size: int, extras: Extras | None = None
) -> EventStream:
    """The events stream over ``source``: read in a child process when its units are local
    files (``source.local``)."""
    kind = LocalEventStream if getattr(source, "local", False) else EventStream
    return kind(source, mapper, batch_size=batch_size, extras=extras)


def _bad(location: str, number: int, line: Any, reason: str) -> QuarantineItem:
    if isinstance(line, bytes):
        payload = line[:MAX_PAYLOAD].decode("utf-8", "replace")
    else:
        payload = orjson.dumps(line, default=str).decode()[:MAX_PAYLOAD]
    return QuarantineItem(reason=reason, payload=payload, location=f"{location}:{number}")


@dataclass(frozen=True)
class Window:
    """A time window of an export API: ``label`` is what the cursor records once it is done."""

    start: datetime
    end: datetime
    label: str


class WindowSource:
    """API windows as units: the cursor is ``{"through": label}`` of the last window done, so a
    crash inside a window re-reads that window only (the dedup keys make that harmless)."""

    def __init__(self, windows: Callable[[str | None], list[Any]]) -> None:
        self._windows = windows
        self._through: str | None = None
        self._stuck = False

    def units(self, cursor: Any) -> list[Any]:
        self._through = cursor.get("through") if isinstance(cursor, dict) else None
        self._stuck = False
        return self._windows(self._through)

    def done(self, unit: Any) -> None:
        if not self._stuck:
            self._through = unit.window.label

    def failed(self, unit: Any) -> None:
        """A window that could not be read holds the cursor where it is: later windows still
        load, and the next run reads again from the failed one."""
        self._stuck = True

    def cursor(self) -> dict[str, str | None]:
        return {"through": self._through}
