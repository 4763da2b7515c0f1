"""The connector contract: what a source plugin declares and yields.

A connector declares typed settings (secrets as ``SecretStr``), a ``check`` of credentials and
connectivity, and its streams. A stream declares its name, target table, primary key and cursor
as data, reads the source from the cursor the engine hands it and yields :class:`Batch` objects.
It never touches the store: the sync engine validates, upserts and commits each batch together
with the cursor the batch carries.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr

from .http import RetryPolicy

__all__ = [
    "Batch",
    "Connector",
    "ConnectorSettings",
    "QuarantineItem",
    "SecretStr",
    "Stream",
]


class ConnectorSettings(BaseModel):
    """Base class of a connector's settings (one ``[connectors.NAME]`` table of the config).

    Declare secrets as ``SecretStr``: the config loader then accepts them only as ``${ENV}``
    references and nothing prints their value. Unknown keys are an error, so typos surface.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_limit: float | None = None
    """Requests per second at most, shared by all of this connector's streams (None = default)."""
    max_retries: int = 5
    """Retries of a request that hit a 429, a 5xx or a connection error."""
    retry_backoff: float = 0.5
    """First wait before a retry, in seconds, doubled each time (Retry-After wins when sent)."""
    read_in_process: bool = True
    """Let streams that read in a child process (``Stream.read_in_process``) do so. False keeps
    every read in the engine's process, in a thread: for an application that embeds the engine
    where forking is unsafe, or a test that inspects a fake of the source in-process."""

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.max_retries + 1, backoff=self.retry_backoff)

    @classmethod
    def secret_fields(cls) -> list[str]:
        return [name for name, f in cls.model_fields.items() if _is_secret(f.annotation)]


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(arg is SecretStr for arg in getattr(annotation, "__args__", ()))


@dataclass
class QuarantineItem:
    """A record the stream could not turn into a row at all (e.g. a line that is not JSON)."""

    reason: str
    payload: str | None = None
    location: str | None = None
    source_id: str | None = None


@dataclass
class Batch:
    """What a stream yields: records for its table, and the cursor that covers them.

    ``records`` are plain dicts with the target table's columns (``source`` is filled by the
    engine; ``source_id`` is required). ``children`` holds rows of child tables read with the
    parents (``{"invoice_lines": [...]}``); with ``Stream.child_tables`` naming the parent column,
    child rows of a parent in this batch that are no longer at the source are marked deleted.
    ``deleted`` lists source ids of the stream's table deleted at the source. ``cursor`` is the
    stream state after this batch (JSON-serialisable); None keeps the previous cursor.

    ``retire_unseen_before`` goes with the batch that completes a read of the stream's whole
    list: the engine then marks deleted, in this batch's transaction, the source's live rows of
    the stream's table not written since that instant, i.e. those the read did not list (a
    source that forgets deletions, like Stripe's 30 days of events, leaves no other trace of
    them). The instant is on the clock the engine stamps ``synced_at`` with (UTC now) and must
    be taken before the read's first batch. A record quarantined by the read was not rewritten
    and would look unlisted: the engine retires nothing when this batch quarantines any, and a
    stream must not set it after an earlier batch of the read quarantined one.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    cursor: Any = None
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    deleted_children: dict[str, list[str]] = field(default_factory=dict)
    quarantine: list[QuarantineItem] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    retire_unseen_before: datetime | None = None


class Stream:
    """One stream of a connector. Subclasses set the class attributes and implement ``read``.

    ``cursor_field`` names the source field the cursor follows (documentation and conformance;
    the engine stores whatever ``Batch.cursor`` carries). ``child_tables`` maps a child table to
    the column holding the parent's source id.
    """

    name: ClassVar[str]
    table: ClassVar[str]
    primary_key: ClassVar[tuple[str, ...]] = ("source", "source_id")
    cursor_field: ClassVar[str | None] = None
    child_tables: ClassVar[Mapping[str, str]] = {}
    validated: ClassVar[bool] = False
    """True when the stream builds typed rows itself (and quarantines bad input itself): the
    engine then skips per-record model validation, which matters at 100k records/s, and stamps
    ``source`` and ``synced_at`` into the yielded record dicts themselves (a batch's records
    belong to the engine once yielded)."""
    prefetch: ClassVar[int] = 0
    """Batches to read ahead in a background thread while the engine writes (0: none)."""
    read_in_process: ClassVar[bool] = False
    """With ``prefetch``: read ahead in a forked child process instead of a thread, so that a
    read that is CPU-bound Python (parsing, mapping) runs on another core than the writes
    (:mod:`vitalsign.core.reader_process`). The engine's copy of the stream then sees none of
    the state ``read`` changes: everything the engine needs must travel in the batches (as the
    contract asks anyway), and batches are pickled to cross. Where ``fork`` is not available,
    the thread is used."""
    commit_batches: ClassVar[int] = 1
    """Batches the engine applies in one transaction; the cursor of the last one is committed
    with the rows of all of them. More than one saves per-commit work when every commit rewrites
    many index pages (random dedup keys). The transaction also ends after ``commit_seconds``,
    when the reader keeps the engine waiting, and before a reader error is reported."""
    commit_seconds: ClassVar[float] = 10.0
    partial_children: ClassVar[bool] = False
    """True when child rows name only the fields the source knew (an analytics call that saw a
    user's group but not their email): the engine then never overwrites a stored value with a
    field a row does not carry. False: child rows are whole records (absent means NULL)."""

    def read(self, cursor: Any) -> Iterator[Batch]:
        """Yield batches from ``cursor`` on (None: read everything)."""
        raise NotImplementedError


class Connector:
    """Base class of a source connector plugin.

    One instance per ``[connectors.NAME]`` section: ``name`` is the instance name (the ``source``
    value of every row it produces), ``settings`` its validated settings.
    """

    type: ClassVar[str]
    """The connector type, e.g. ``"stripe"``: what ``type = ...`` in the config selects."""
    settings_model: ClassVar[builtins.type[ConnectorSettings]] = ConnectorSettings
    description: ClassVar[str] = ""
    default_rate_limit: ClassVar[float | None] = None

    def __init__(
        self, name: str, settings: ConnectorSettings, *, options: Mapping[str, Any] | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        self.options: Mapping[str, Any] = options or {}
        self.log = logging.getLogger(f"vitalsign.connectors.{name}")

    @classmethod
    def stream_classes(cls) -> list[builtins.type[Stream]]:
        """The stream classes, for listing without settings (``vitalsign connectors``)."""
        return []

    def check(self) -> str:
        """Verify credentials and connectivity; return a short description of what was reached.

        Raise :class:`~vitalsign.core.errors.AuthenticationError` or another ConnectorError
        with a clear message on failure.
        """
        raise NotImplementedError

    def streams(self) -> list[Stream]:
        raise NotImplementedError

    def close(self) -> None:
        """Release clients and connections."""
