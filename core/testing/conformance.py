"""The connector conformance kit: the checks every connector passes, built-in or third-party.

A connector's test suite fills in a small :class:`ConnectorHarness` (which connector, its
settings, a fake of the source API that can be told to fail) and subclasses
:class:`ConnectorConformance`; pytest then runs every check against the real
:class:`~vitalsign.core.sync.SyncEngine` and a temporary SQLite store::

    from vitalsign.testing import ConnectorConformance, ConnectorHarness, FaultInjector

    class ZendeskHarness(ConnectorHarness):
        connector_type = "zendesk"

        def settings(self, env):
            env["ZENDESK_API_TOKEN"] = "zd-test-token"
            return {"subdomain": "acme", "email": "ops@acme.test", "api_token": "${ZENDESK_API_TOKEN}"}

        @contextmanager
        def source(self):
            with FakeZendesk() as fake:      # respx routes, realistic payloads
                yield fake.faults            # a FaultInjector: fail_next(), reject_credentials()

    class TestZendeskConformance(ConnectorConformance):
        @pytest.fixture
        def harness(self):
            return ZendeskHarness()

The checks are plain functions of a :class:`ConformanceRun` (see :data:`CHECKS`), so they also
run outside pytest. What they hold a connector to:

- settings: a :class:`ConnectorSettings` model; fields named like credentials are ``SecretStr``;
  a literal secret in the config is refused; unknown keys are refused; nothing prints a secret;
- ``check`` answers one line on success and fails with a one-line :class:`ConnectorError`
  (not a traceback, not a secret) when the source rejects the credentials;
- every stream declares a name, a raw table (``core.models.RAW_TABLES``), the table's primary
  key and its cursor (``cursor_field``; set it to None explicitly for a stream read in full);
- the records the fake serves all validate against the table's model (nothing quarantined);
- a second incremental run with no change at the source adds no rows;
- a run that crashes after a stream's first batch carrying a cursor resumes from that cursor
  and ends with the same rows as an uninterrupted run;
- 429 (honouring ``Retry-After``) and 5xx go through the shared retry layer
  (:mod:`vitalsign.core.http`); exhausted retries fail the run with one clean line;
- no secret appears in the logs (captured at DEBUG), the store or any error message.
"""

from __future__ import annotations

import logging
import os
import re
import secrets as _secrets
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import orjson
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import SQLModel
from vitalsign.core import http as _http
from vitalsign.core.config import Config, ConnectorConfig, build_settings, instantiate
from vitalsign.core.connector import Batch, Connector, ConnectorSettings, Stream
from vitalsign.core.errors import ConfigError, ConnectorError
from vitalsign.core.models import RAW_TABLES
from vitalsign.core.plugins import register, reset_plugin_manager
from vitalsign.core.registry import connector_types
from vitalsign.core.store import Store, table
from vitalsign.core.sync import RunSummary, SyncEngine

__all__ = [
    "CHECKS",
    "CheckSkipped",
    "ConformanceRun",
    "ConnectorConformance",
    "ConnectorHarness",
    "FakeSource",
    "Fault",
    "FaultInjector",
    "SyncResult",
    "run_checks",
]

SECRET_NAME = re.compile(
    r"(^|_)(token|secret|password|passwd|passphrase|api_?key|secret_?key|private_?key|access_?key"
    r"|credentials?)($|_)",
    re.IGNORECASE,
)
"""Setting names that hold credentials: they must be declared ``SecretStr``."""

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_DERIVED_TABLES = ("usage_user_daily", "usage_daily", "usage_feature_daily")


class CheckSkipped(Exception):
    """A check that does not apply to this connector (e.g. HTTP checks of a file connector)."""


# ---------------------------------------------------------------------------- fake source control


@dataclass(frozen=True)
class Fault:
    """One failing answer a fake API serves instead of its normal one."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@runtime_checkable
class FakeSource(Protocol):
    """What a harness's ``source()`` yields: the knobs the checks turn on the fake API."""

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (and ``Retry-After`` if given)."""

    def reject_credentials(self) -> None:
        """From now on, answer every request as the source answers bad credentials."""


class FaultInjector:
    """A ready :class:`FakeSource` for fake APIs: queued failures and rejected credentials.

    With respx, :meth:`install` adds a catch-all route that answers pending faults and lets
    every other request fall through to the routes added after it. Another fake (a loopback
    HTTP server) calls :meth:`next_fault` at the top of its request handler.
    """

    def __init__(
        self,
        *,
        auth_status: int = 401,
        auth_body: Mapping[str, Any] | None = None,
        error_body: Callable[[int], Mapping[str, Any]] | None = None,
    ) -> None:
        self.auth_status = auth_status
        self.auth_body: Mapping[str, Any] = auth_body or {"error": "invalid credentials"}
        self.error_body = error_body or (lambda status: {"error": f"HTTP {status}"})
        self.credentials_rejected = False
        self.served: list[int] = []
        self._pending: deque[Fault] = deque()

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        headers = {"Content-Type": "application/json"}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        body = orjson.dumps(self.error_body(status))
        self._pending.extend(Fault(status, headers, body) for _ in range(times))

    def reject_credentials(self) -> None:
        self.credentials_rejected = True

    def reset(self) -> None:
        self._pending.clear()
        self.credentials_rejected = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def next_fault(self) -> Fault | None:
        """The failure to serve for the request being handled now, if any."""
        if self.credentials_rejected:
            fault = Fault(
                self.auth_status, {"Content-Type": "application/json"}, orjson.dumps(self.auth_body)
            )
        elif self._pending:
            fault = self._pending.popleft()
        else:
            return None
        self.served.append(fault.status)
        return fault

    def install(self, router: Any) -> None:
        """Add the fault route to a respx router; call it before adding the fake's own routes."""
        import httpx

        def answer(request: httpx.Request) -> httpx.Response | None:
            fault = self.next_fault()
            if fault is None:
                return None  # respx: no match, the fake's own routes answer
            return httpx.Response(fault.status, headers=dict(fault.headers), content=fault.body)

        router.route().side_effect = answer


# ---------------------------------------------------------------------------- the harness


class ConnectorHarness:
    """What a connector's author fills in for the conformance checks.

    ``settings(env)`` returns the ``[connectors.NAME]`` section as it would appear in
    ``vitalsign.toml``: secrets as ``${VAR}`` references, with ``env[VAR]`` set to the value the
    fake API accepts. ``source()`` starts the fake API (same data every time it is entered) and
    yields a :class:`FakeSource`. Serve several pages per stream (set a small page size in the
    settings) so the resume check has something to interrupt.
    """

    connector_type: ClassVar[str]
    """The connector type under test (what ``[connectors.NAME] type = ...`` selects)."""
    http: ClassVar[bool] = True
    """False for sources that are not HTTP APIs (files): the retry checks are skipped."""
    plugin: ClassVar[Any] = None
    """A plugin module or object to register when the type is not installed (tests' own plugins)."""
    secret_values: ClassVar[tuple[str, ...]] = ()
    """Derived secrets to look for besides the settings' own (an encoded Authorization header)."""
    expected_quarantine: ClassVar[int] = 0
    """Records the fake serves on purpose that must be quarantined."""
    empty_streams: ClassVar[tuple[str, ...]] = ()
    """Streams the fake serves no rows for (all others must load at least one)."""

    @property
    def instance_name(self) -> str:
        """The ``[connectors.NAME]`` name: not the type, so a hard-coded source name shows up."""
        return f"{self.connector_type}_under_test"

    def settings(self, env: dict[str, str]) -> dict[str, Any]:
        raise NotImplementedError

    def source(self) -> AbstractContextManager[FakeSource]:
        raise NotImplementedError

    def connector_options(self) -> dict[str, Any]:
        """Extra ``options`` for the connector instance (an injected clock, say)."""
        return {}


# ---------------------------------------------------------------------------- running syncs


@dataclass
class StreamObservation:
    """What the kit saw of one stream during one sync: cursors handed in, batches yielded."""

    cursors: list[Any] = field(default_factory=list)
    batches: int = 0
    records: int = 0
    with_cursor: int = 0
    interrupted: bool = False
    invalid: list[str] = field(default_factory=list)
    """Records of a stream the engine trusts (``validated = True``) that fail their model."""


@dataclass
class SyncResult:
    summary: RunSummary
    streams: dict[str, StreamObservation]


class _Interrupted(RuntimeError):
    """Raised by the kit inside a stream to simulate a crash."""


class _ObservedStream:
    """Wraps a connector's stream for the engine: records cursors and batches, can interrupt.

    With ``interrupt``, the stream crashes when asked for the batch that follows its first
    committed batch carrying a cursor (any batch for a stream without a cursor): the next page
    has been fetched, nothing of it is committed.
    """

    read_in_process = False
    """The kit observes the read where it runs, so observed streams read in the engine's
    process; :func:`check_process_read_loads_the_same` covers ``Stream.read_in_process``."""

    def __init__(self, inner: Stream, seen: StreamObservation, interrupt: bool) -> None:
        self._inner = inner
        self._seen = seen
        self._interrupt = interrupt

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _validate(self, batch: Batch) -> None:
        """The engine skips validating a trusted stream's rows: the kit checks them instead."""
        now = datetime.now(UTC)
        groups = [(self._inner.table, batch.records), *batch.children.items()]
        for table_name, records in groups:
            model = RAW_TABLES[table_name]
            for record in records:
                try:
                    model.model_validate({**record, "source": "conformance", "synced_at": now})
                except ValidationError as exc:
                    first = exc.errors(include_url=False, include_input=False)[0]
                    where = ".".join(str(p) for p in first["loc"])
                    self._seen.invalid.append(
                        f"{table_name} {record.get('source_id')}: {where}: {first['msg']}"
                    )

    def read(self, cursor: Any) -> Iterator[Batch]:
        self._seen.cursors.append(cursor)
        batches = self._inner.read(cursor)
        armed = False
        try:
            for batch in batches:
                if armed:
                    self._seen.interrupted = True
                    raise _Interrupted("conformance kit: simulated crash after a committed batch")
                self._seen.batches += 1
                self._seen.records += len(batch.records)
                self._seen.with_cursor += batch.cursor is not None
                if getattr(self._inner, "validated", False):
                    self._validate(batch)
                yield batch
                if self._interrupt and (batch.cursor is not None or self._inner.cursor_field is None):
                    armed = True
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        try:
            text = record.getMessage()
        except Exception:  # a broken log call must not hide the rest
            text = repr(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += f"\n{record.exc_info[1]!r}"
        self.lines.append(f"{record.name} {record.levelname} {text}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class ConformanceRun:
    """One harness under test in a scratch folder: environment, plugin, stores, log capture.

    Use as a context manager: it sets the harness's environment variables, makes sure the
    connector type is registered, records every retry wait of the shared retry layer instead of
    sleeping (``sleeps``), and captures all logging at DEBUG (``logs``). Everything is restored
    on exit.
    """

    def __init__(self, harness: ConnectorHarness, workdir: Path) -> None:
        self.harness = harness
        self.workdir = Path(workdir)
        self.name = harness.instance_name
        self.env: dict[str, str] = {}
        self.section = dict(harness.settings(self.env))
        self.sleeps: list[float] = []
        self.logs = _LogCapture()
        self.errors: list[str] = []
        self.bad_values: list[str] = []
        self._saved_env: dict[str, str | None] = {}
        self._saved_retrying: Any = None
        self._saved_level = logging.NOTSET
        self._stores = 0

    # -------------------------------------------------------------- setup and teardown

    def __enter__(self) -> ConformanceRun:
        for key, value in self.env.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        reset_plugin_manager()
        if self.harness.connector_type not in connector_types():
            if self.harness.plugin is None:
                raise AssertionError(
                    f"connector type {self.harness.connector_type!r} is not installed "
                    f"(no `vitalsign` entry point) and the harness names no plugin to register"
                )
            register(self.harness.plugin, name=f"conformance-{self.harness.connector_type}")
        self._patch_retry_waits()
        root = logging.getLogger()
        self._saved_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self.logs)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self.logs)
        root.setLevel(self._saved_level)
        _http.Retrying = self._saved_retrying
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_plugin_manager()

    def _patch_retry_waits(self) -> None:
        """Record the waits of :func:`vitalsign.core.http.call_with_retry` instead of sleeping.

        Every retry of the shared layer builds its ``Retrying`` through this module attribute, so
        a recorded wait is also the proof that a retry went through the shared layer.
        """
        real = _http.Retrying
        self._saved_retrying = real
        sleeps = self.sleeps

        def recording(*args: Any, **kwargs: Any) -> Any:
            kwargs["sleep"] = sleeps.append
            return real(*args, **kwargs)

        _http.Retrying = recording

    # -------------------------------------------------------------- settings and connectors

    @property
    def connector_class(self) -> type[Connector]:
        return connector_types()[self.harness.connector_type]

    @property
    def settings_model(self) -> type[ConnectorSettings]:
        return self.connector_class.settings_model

    @property
    def secret_fields(self) -> list[str]:
        """The secret settings the harness configures (a model may declare more, unused)."""
        return [name for name in self.settings_model.secret_fields() if self.section.get(name)]

    @property
    def secrets(self) -> list[str]:
        """Every secret value in play: the secret settings' values and the harness's extras."""
        found = [v for v in self.harness.secret_values if v]
        for name in self.secret_fields:
            raw = self.section.get(name)
            match = _ENV_REF.match(raw.strip()) if isinstance(raw, str) else None
            if match and self.env.get(match.group(1)):
                found.append(self.env[match.group(1)])
        return [s for s in found if len(s) >= 4]

    def connector_config(self, section: Mapping[str, Any] | None = None) -> ConnectorConfig:
        return ConnectorConfig(
            name=self.name, type=self.harness.connector_type, settings=dict(section or self.section)
        )

    def config(self, store: Store | None = None, section: Mapping[str, Any] | None = None) -> Config:
        url = store.url.render_as_string(hide_password=False) if store else "sqlite://"
        return Config(
            path=self.workdir / "vitalsign.toml",  # relative paths in settings resolve here
            store_url=url,
            connectors={self.name: self.connector_config(section)},
        )

    def connector(self, section: Mapping[str, Any] | None = None) -> Connector:
        """A fresh instance, built the way the CLI builds it (plus the harness's options)."""
        connector = instantiate(self.connector_config(section), self.config(section=section))
        extra: dict[str, Any] = getattr(self.harness, "connector_options", dict)()
        if extra:
            connector.close()
            connector = type(connector)(
                connector.name, connector.settings, options={**connector.options, **extra}
            )
        return connector

    @contextmanager
    def bad_credentials(self) -> Iterator[None]:
        """Swap every secret in the environment for a wrong value, for the duration."""
        saved = {}
        for name in self.secret_fields:
            raw = self.section.get(name)
            match = _ENV_REF.match(raw.strip()) if isinstance(raw, str) else None
            if match:
                var = match.group(1)
                saved[var] = os.environ.get(var)
                wrong = f"wrong-{_secrets.token_hex(8)}"
                os.environ[var] = wrong
                self.bad_values.append(wrong)
        try:
            yield
        finally:
            for var, value in saved.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value

    @contextmanager
    def source(self) -> Iterator[FakeSource]:
        """The harness's fake, checked to offer the knobs the checks turn."""
        with self.harness.source() as fake:
            if not isinstance(fake, FakeSource):
                raise AssertionError(
                    f"{type(self.harness).__name__}.source() must yield an object with fail_next() and "
                    f"reject_credentials() (vitalsign.testing.FakeSource), got {type(fake).__name__}"
                )
            yield fake

    # -------------------------------------------------------------- stores and syncs

    def new_store(self, label: str = "store") -> Store:
        self._stores += 1
        store = Store(f"sqlite:///{self.workdir / f'{label}-{self._stores}.db'}")
        store.upgrade()
        return store

    def sync(
        self,
        store: Store,
        *,
        interrupt: bool = False,
        full_refresh: bool = False,
        observe: bool = True,
    ) -> SyncResult:
        """One run of the real engine over a fresh connector instance (``observe=False``: its
        streams as they are, unwatched, so each reads where it asks to)."""
        connector = self.connector()
        seen: dict[str, StreamObservation] = {}
        original = connector.streams
        if not observe:
            try:
                return SyncResult(SyncEngine(store, self.config(store)).sync_connector(connector), seen)
            finally:
                connector.close()

        def observed() -> list[Stream]:
            wrapped: list[Stream] = []
            for stream in original():
                obs = seen.setdefault(stream.name, StreamObservation())
                wrapped.append(_ObservedStream(stream, obs, interrupt))
            return wrapped

        connector.streams = observed
        try:
            summary = SyncEngine(store, self.config(store)).sync_connector(
                connector, full_refresh=full_refresh
            )
        finally:
            connector.close()
        if summary.error:
            self.errors.append(summary.error)
        for stats in summary.streams.values():
            if stats.error:
                self.errors.append(stats.error)
        return SyncResult(summary, seen)

    def rows(self, store: Store) -> dict[str, list[tuple[Any, ...]]]:
        """This instance's rows in every raw and usage-rollup table, without ``synced_at``."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with store.connect() as conn:
            for name in [*RAW_TABLES, *_DERIVED_TABLES]:
                tbl = table(name)
                columns = [c for c in tbl.columns if c.name != "synced_at"]
                result = conn.execute(select(*columns).where(tbl.c.source == self.name))
                out[name] = sorted((tuple(r) for r in result), key=repr)
        return out

    def counts(self, store: Store) -> dict[str, int]:
        counts = {name: len(rows) for name, rows in self.rows(store).items()}
        counts["quarantine"] = len(self.quarantine(store))
        return counts

    def quarantine(self, store: Store) -> list[tuple[str, str | None, str]]:
        q = table("quarantine")
        with store.connect() as conn:
            return [
                (r.stream, r.source_id, r.reason)
                for r in conn.execute(
                    select(q.c.stream, q.c.source_id, q.c.reason).where(q.c.connector == self.name)
                )
            ]

    def cursors(self, store: Store) -> dict[str, Any]:
        state = table("sync_state")
        with store.connect() as conn:
            return {
                r.stream: r.cursor
                for r in conn.execute(
                    select(state.c.stream, state.c.cursor).where(state.c.connector == self.name)
                )
            }

    def store_text(self, store: Store) -> str:
        """Every value of every table of the store, as text (for the secret scan)."""
        parts: list[str] = []
        with store.connect() as conn:
            for tbl in SQLModel.metadata.sorted_tables:
                for row in conn.execute(select(tbl)):
                    parts.append(" ".join(str(v) for v in row))
        return "\n".join(parts)

    # -------------------------------------------------------------- assertions

    def assert_no_secret(self, text: str, where: str) -> None:
        for secret in [*self.secrets, *self.bad_values]:
            if secret in text:
                raise AssertionError(f"a secret value appears in {where}")

    def assert_clean_error(self, message: str, where: str) -> None:
        if not message or not message.strip():
            raise AssertionError(f"{where}: empty error message")
        if "\n" in message.strip():
            raise AssertionError(f"{where}: error message is not one line: {message!r}")
        if "Traceback" in message:
            raise AssertionError(f"{where}: error message carries a traceback: {message!r}")
        self.assert_no_secret(message, where)


# ---------------------------------------------------------------------------- the checks


def check_settings(run: ConformanceRun) -> None:
    """Settings are a ConnectorSettings model, credentials are SecretStr given by ${ENV} only."""
    model = run.settings_model
    if not (isinstance(model, type) and issubclass(model, ConnectorSettings)):
        raise AssertionError(f"{run.connector_class.__name__}.settings_model is not a ConnectorSettings")
    secret = set(model.secret_fields())
    unmarked = [n for n in model.model_fields if SECRET_NAME.search(n) and n not in secret]
    if unmarked:
        raise AssertionError(f"settings {unmarked} look like credentials but are not SecretStr")
    if run.harness.http and "base_url" not in model.model_fields:
        raise AssertionError("an HTTP connector must have a base_url setting (tests, proxies, regions)")
    for name in secret & set(run.section):
        raw = run.section[name]
        if not (isinstance(raw, str) and _ENV_REF.match(raw.strip())):
            raise AssertionError(f"the harness gives secret {name!r} as a literal: use ${{VAR}}")
    cls = run.connector_class
    settings = build_settings(run.connector_config(), cls)
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        run.assert_no_secret(text, "the settings' repr/str/JSON")
    for name in secret & set(run.section):
        literal = run.secrets[0] if run.secrets else "literal-secret-value"
        raw = run.section[name]
        match = _ENV_REF.match(raw.strip())
        if match:
            literal = run.env.get(match.group(1), literal)
        try:
            build_settings(run.connector_config({**run.section, name: literal}), cls)
        except ConfigError as exc:
            message = str(exc)
            if name not in message:
                raise AssertionError(
                    f"refusing literal {name!r}: message does not name it: {message}"
                ) from None
            run.assert_clean_error(message, f"the error refusing a literal {name}")
        else:
            raise AssertionError(f"a literal secret for {name!r} in the config was accepted")
    try:
        build_settings(run.connector_config({**run.section, "no_such_setting_xyz": 1}), cls)
    except ConfigError as exc:
        if "no_such_setting_xyz" not in str(exc):
            raise AssertionError(f"unknown setting refused without naming it: {exc}") from None
    else:
        raise AssertionError("an unknown setting was accepted silently (keep extra='forbid')")


def _declares(cls: type, attribute: str) -> bool:
    return any(attribute in vars(k) for k in cls.__mro__ if k is not Stream and k is not object)


def check_streams_declared(run: ConformanceRun) -> None:
    """Every stream names itself, a raw table, the table's primary key and its cursor."""
    cls = run.connector_class
    classes = cls.stream_classes()
    if not classes:
        raise AssertionError(
            f"{cls.__name__}.stream_classes() is empty (`vitalsign connectors` shows nothing)"
        )
    with run.harness.source():
        connector = run.connector()
        try:
            streams = connector.streams()
        finally:
            connector.close()
    names = [s.name for s in streams]
    if len(set(names)) != len(names):
        raise AssertionError(f"stream names repeat: {names}")
    listed = sorted(c.name for c in classes)
    if sorted(names) != listed:
        raise AssertionError(f"streams() gives {sorted(names)} but stream_classes() lists {listed}")
    for stream in streams:
        label = f"stream {stream.name!r}"
        if not (isinstance(stream.name, str) and re.fullmatch(r"[a-z][a-z0-9_]*", stream.name)):
            raise AssertionError(f"{label}: name must be snake_case")
        if stream.table not in RAW_TABLES:
            raise AssertionError(f"{label}: table {stream.table!r} is not a raw table ({sorted(RAW_TABLES)})")
        pk = [c.name for c in table(stream.table).primary_key.columns]
        if list(stream.primary_key) != pk:
            raise AssertionError(
                f"{label}: primary_key {stream.primary_key} is not {stream.table}'s key {pk}"
            )
        if not _declares(type(stream), "cursor_field"):
            raise AssertionError(
                f"{label}: declare cursor_field (the source field the cursor follows, "
                f"or None explicitly for a stream re-read in full)"
            )
        if stream.cursor_field is not None and not isinstance(stream.cursor_field, str):
            raise AssertionError(f"{label}: cursor_field must be a string or None")
        for child, column in stream.child_tables.items():
            if child not in RAW_TABLES:
                raise AssertionError(f"{label}: child table {child!r} is not a raw table")
            if column not in table(child).columns:
                raise AssertionError(f"{label}: child table {child} has no column {column!r}")


def check_connection(run: ConformanceRun) -> None:
    """``check`` reaches the fake source and says so in one line."""
    with run.harness.source():
        connector = run.connector()
        try:
            reached = connector.check()
        finally:
            connector.close()
    if not isinstance(reached, str) or not reached.strip() or "\n" in reached.strip():
        raise AssertionError(f"check() must return one non-empty line, got {reached!r}")
    run.assert_no_secret(reached, "check()'s answer")


def check_bad_credentials(run: ConformanceRun) -> None:
    """Rejected credentials: ``check`` and ``sync`` fail with one clean ConnectorError line."""
    if not run.secret_fields:
        raise CheckSkipped("the harness configures no secret setting")
    with run.source() as fake, run.bad_credentials():
        fake.reject_credentials()
        connector = run.connector()
        try:
            connector.check()
        except ConnectorError as exc:
            run.assert_clean_error(str(exc), "check()'s error on bad credentials")
        except Exception as exc:
            raise AssertionError(
                f"check() on bad credentials raised {type(exc).__name__}, not a ConnectorError: {exc}"
            ) from exc
        else:
            raise AssertionError("check() succeeded with credentials the source rejects")
        finally:
            connector.close()
        result = run.sync(run.new_store("badcreds"))
    if result.summary.status != "failed":
        raise AssertionError("a sync with rejected credentials did not fail")
    run.assert_clean_error(result.summary.error or "", "the sync error on bad credentials")


def _sync_ok(run: ConformanceRun, result: SyncResult, what: str) -> None:
    summary = result.summary
    if summary.status != "success":
        raise AssertionError(f"{what} failed: {summary.error}")


def check_records_validate(run: ConformanceRun) -> None:
    """Everything the fake serves validates against the stream's table: nothing quarantined."""
    store = run.new_store("validate")
    with run.harness.source():
        result = run.sync(store)
    invalid = [problem for seen in result.streams.values() for problem in seen.invalid]
    if invalid:
        raise AssertionError(
            f"{len(invalid)} records of trusted streams (validated = True) fail their model: "
            + "; ".join(invalid[:5])
        )
    _sync_ok(run, result, "the first sync")
    quarantined = run.quarantine(store)
    if len(quarantined) != run.harness.expected_quarantine:
        sample = "; ".join(f"{s}/{sid}: {reason}" for s, sid, reason in quarantined[:5])
        raise AssertionError(
            f"{len(quarantined)} records quarantined (expected {run.harness.expected_quarantine}): {sample}"
        )
    for name, stats in result.summary.streams.items():
        if stats.rows == 0 and name not in run.harness.empty_streams:
            raise AssertionError(f"stream {name!r} loaded no rows from the fake (list it in empty_streams?)")


def check_incremental_rerun_adds_no_rows(run: ConformanceRun) -> None:
    """A second run with no change at the source adds no rows and resumes from saved cursors."""
    store = run.new_store("rerun")
    with run.harness.source():
        first = run.sync(store)
        _sync_ok(run, first, "the first sync")
        before = run.counts(store)
        cursors = run.cursors(store)
        second = run.sync(store)
    _sync_ok(run, second, "the second sync")
    after = run.counts(store)
    grown = {t: (before[t], after[t]) for t in after if after[t] != before[t]}
    if grown:
        raise AssertionError(f"a second run with no source changes changed row counts: {grown}")
    for name, seen in second.streams.items():
        stream_cls = next(c for c in run.connector_class.stream_classes() if c.name == name)
        if stream_cls.cursor_field is None:
            continue
        if cursors.get(name) is None:
            raise AssertionError(f"incremental stream {name!r} saved no cursor after a successful run")
        if not seen.cursors or seen.cursors[0] != cursors[name]:
            raise AssertionError(f"stream {name!r} was not handed its saved cursor on the second run")


def check_resume_from_saved_cursor(run: ConformanceRun) -> None:
    """Crashed after its first batch carrying a cursor, a rerun resumes there with the same result."""
    reference = run.new_store("reference")
    resumed = run.new_store("resumed")
    with run.harness.source():
        _sync_ok(run, run.sync(reference), "the uninterrupted sync")
        crashed = run.sync(resumed, interrupt=True)
        saved = run.cursors(resumed)
        rerun = run.sync(resumed)
    _sync_ok(run, rerun, "the sync after the interruption")
    for name, seen in crashed.streams.items():
        stream_cls = next(c for c in run.connector_class.stream_classes() if c.name == name)
        if stream_cls.cursor_field is None or seen.interrupted or seen.batches < 2:
            continue
        raise AssertionError(
            f"stream {name!r} yields {seen.batches} batches but none before the last carries a cursor, "
            f"so a crash loses its progress: give each batch the cursor that resumes after it"
        )
    interrupted = [n for n, s in crashed.streams.items() if s.interrupted]
    if not interrupted:
        raise AssertionError(
            "no stream yielded more than one batch, so nothing could be interrupted: serve several "
            "pages per stream from the fake (a small page size in the harness settings)"
        )
    for name in interrupted:
        stream_cls = next(c for c in run.connector_class.stream_classes() if c.name == name)
        if stream_cls.cursor_field is None:
            continue
        if saved.get(name) is None:
            raise AssertionError(f"stream {name!r}: the cursor of its committed batch was not saved")
        if rerun.streams[name].cursors[:1] != [saved[name]]:
            raise AssertionError(f"stream {name!r} was not resumed from its saved cursor")
    _assert_same_rows(run, reference, resumed, "interrupted + resumed run differs from an uninterrupted one")


def _assert_same_rows(run: ConformanceRun, reference: Store, other: Store, what: str) -> None:
    """The two stores hold the same rows of this instance (``what``: the failure's words)."""
    expected, got = run.rows(reference), run.rows(other)
    differ = [t for t in expected if expected[t] != got[t]]
    if differ:
        detail = ", ".join(f"{t}: {len(expected[t])} vs {len(got[t])} rows" for t in differ)
        raise AssertionError(f"{what}: {detail}")


def check_process_read_loads_the_same(run: ConformanceRun) -> None:
    """A stream that reads in a child process (``Stream.read_in_process``) loads exactly what
    it loads when read in the engine's thread: its batches carry everything the engine needs."""
    connector = run.connector()
    try:
        forked = [s.name for s in connector.streams() if s.prefetch > 0 and s.read_in_process]
    finally:
        connector.close()
    if not forked:
        raise CheckSkipped("no stream reads in a child process")
    threaded, in_process = run.new_store("thread"), run.new_store("process")
    with run.harness.source():
        _sync_ok(run, run.sync(threaded), "the sync read in threads")
        _sync_ok(run, run.sync(in_process, observe=False), "the sync read in a child process")
    _assert_same_rows(run, threaded, in_process, f"streams {forked} read in a child process load differently")
    if run.quarantine(threaded) != run.quarantine(in_process):
        raise AssertionError(f"streams {forked} read in a child process quarantine differently")


def check_retries(run: ConformanceRun) -> None:
    """429 with Retry-After and 5xx answers are retried by the shared layer; the data is complete."""
    if not run.harness.http:
        raise CheckSkipped("not an HTTP connector")
    reference = run.new_store("clean")
    store = run.new_store("retried")
    with run.source() as fake:
        _sync_ok(run, run.sync(reference), "the clean sync")
        del run.sleeps[:]
        retry_logs = len([r for r in run.logs.records if r.name == "vitalsign.http"])
        fake.fail_next(429, retry_after=7)
        fake.fail_next(500)
        fake.fail_next(503)
        result = run.sync(store)
    _sync_ok(run, result, "the sync through 429/500/503 answers")
    if 7.0 not in run.sleeps:
        raise AssertionError(
            f"Retry-After: 7 was not honoured by the shared retry layer (waits recorded: {run.sleeps}); "
            f"send requests through vitalsign.core.HttpClient or call_with_retry"
        )
    if len(run.sleeps) < 3:
        raise AssertionError(f"expected 3 retries through vitalsign.core.http, saw waits {run.sleeps}")
    warnings = [r for r in run.logs.records[retry_logs:] if r.name == "vitalsign.http"]
    if len(warnings) < 3:
        raise AssertionError("the retries were not logged by vitalsign.core.http")
    if run.rows(reference) != run.rows(store):
        raise AssertionError("the sync that went through retries loaded different rows than a clean one")


def check_retries_exhausted(run: ConformanceRun) -> None:
    """A source that keeps answering 503 fails the run with one clean line, after bounded retries."""
    if not run.harness.http:
        raise CheckSkipped("not an HTTP connector")
    with run.source() as fake:
        del run.sleeps[:]
        fake.fail_next(503, times=10_000)
        connector = run.connector()
        try:
            connector.check()
        except ConnectorError as exc:
            run.assert_clean_error(str(exc), "check()'s error when the source is down")
        except Exception as exc:
            raise AssertionError(
                f"check() against a failing source raised {type(exc).__name__}, not a ConnectorError"
            ) from exc
        else:
            raise AssertionError("check() succeeded against a source answering 503")
        finally:
            connector.close()
        if not run.sleeps:
            raise AssertionError("503 answers were not retried through vitalsign.core.http")
        result = run.sync(run.new_store("down"))
    if result.summary.status != "failed":
        raise AssertionError("a sync against a source that keeps answering 503 did not fail")
    run.assert_clean_error(result.summary.error or "", "the sync error when the source is down")


def check_no_secret_leaks(run: ConformanceRun) -> None:
    """No secret in the logs (DEBUG), the store, or any error message, across every scenario."""
    store = run.new_store("secrets")
    with run.source() as fake:
        connector = run.connector()
        try:
            run.assert_no_secret(connector.check(), "check()'s answer")
            run.assert_no_secret(repr(connector.settings), "the settings' repr")
        finally:
            connector.close()
        run.sync(store)
        run.sync(store)
        if run.harness.http:
            fake.fail_next(429, retry_after=1)
            fake.fail_next(503, times=10_000)
            run.sync(store)
    if run.secret_fields:
        with run.source() as fake, run.bad_credentials():
            fake.reject_credentials()
            connector = run.connector()
            try:
                connector.check()
            except Exception as exc:
                run.errors.append(str(exc))
            finally:
                connector.close()
            run.sync(store)
    if not run.secrets:
        raise CheckSkipped("the connector has no secrets to leak")
    run.assert_no_secret(run.logs.text, "the logs")
    run.assert_no_secret(run.store_text(store), "the store")
    for message in run.errors:
        run.assert_no_secret(message, "an error message")


CHECKS: dict[str, Callable[[ConformanceRun], None]] = {
    "settings_declared_and_secrets_marked": check_settings,
    "streams_declared": check_streams_declared,
    "check_succeeds": check_connection,
    "check_fails_cleanly_on_bad_credentials": check_bad_credentials,
    "records_validate": check_records_validate,
    "second_run_adds_no_rows": check_incremental_rerun_adds_no_rows,
    "resumes_from_saved_cursor": check_resume_from_saved_cursor,
    "process_read_loads_the_same": check_process_read_loads_the_same,
    "rate_limits_and_server_errors_retried": check_retries,
    "retries_exhausted_fail_cleanly": check_retries_exhausted,
    "no_secret_in_logs_store_or_errors": check_no_secret_leaks,
}
"""Every check by name, in the order they are worth reading a failure in."""


def run_checks(
    harness: ConnectorHarness, workdir: Path, names: Sequence[str] | None = None
) -> dict[str, str]:
    """Run checks outside pytest; returns ``{name: "passed" | "skipped: ..." | "failed: ..."}``."""
    outcome: dict[str, str] = {}
    for name in names or list(CHECKS):
        folder = Path(workdir) / name
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with ConformanceRun(harness, folder) as run:
                CHECKS[name](run)
        except CheckSkipped as exc:
            outcome[name] = f"skipped: {exc}"
        except AssertionError as exc:
            outcome[name] = f"failed: {exc}"
        else:
            outcome[name] = "passed"
    return outcome


# ---------------------------------------------------------------------------- pytest suite


class ConnectorConformance:
    """Subclass in a ``Test*`` class and provide a ``harness`` fixture; each check is a test.

    The fixture can be parametrized to run the suite over several harnesses (the built-in
    connectors do that in tests/core/test_conformance_builtin.py).
    """

    @pytest.fixture
    def conformance(self, harness: ConnectorHarness, tmp_path: Path) -> Iterator[ConformanceRun]:
        with ConformanceRun(harness, tmp_path) as run:
            yield run

    def _run(self, check: Callable[[ConformanceRun], None], run: ConformanceRun) -> None:
        try:
            check(run)
        except CheckSkipped as exc:
            pytest.skip(str(exc))

    def test_settings_declared_and_secrets_marked(self, conformance: ConformanceRun) -> None:
        self._run(check_settings, conformance)

    def test_streams_declared(self, conformance: ConformanceRun) -> None:
        self._run(check_streams_declared, conformance)

    def test_check_succeeds(self, conformance: ConformanceRun) -> None:
        self._run(check_connection, conformance)

    def test_check_fails_cleanly_on_bad_credentials(self, conformance: ConformanceRun) -> None:
        self._run(check_bad_credentials, conformance)

    def test_records_validate(self, conformance: ConformanceRun) -> None:
        self._run(check_records_validate, conformance)

    def test_second_run_adds_no_rows(self, conformance: ConformanceRun) -> None:
        self._run(check_incremental_rerun_adds_no_rows, conformance)

    def test_resumes_from_saved_cursor(self, conformance: ConformanceRun) -> None:
        self._run(check_resume_from_saved_cursor, conformance)

    def test_process_read_loads_the_same(self, conformance: ConformanceRun) -> None:
        self._run(check_process_read_loads_the_same, conformance)

    def test_rate_limits_and_server_errors_retried(self, conformance: ConformanceRun) -> None:
        self._run(check_retries, conformance)

    def test_retries_exhausted_fail_cleanly(self, conformance: ConformanceRun) -> None:
        self._run(check_retries_exhausted, conformance)

    def test_no_secret_in_logs_store_or_errors(self, conformance: ConformanceRun) -> None:
        self._run(check_no_secret_leaks, conformance)
