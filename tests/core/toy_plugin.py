"""A small connector plugin used by the core tests (and by the subprocess crash test)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from vitalsign.core import Batch, Connector, ConnectorSettings, SecretStr, Stream, hookimpl
from vitalsign.core.connector import QuarantineItem
from vitalsign.core.store import utcnow


class ToySettings(ConnectorSettings):
    token: SecretStr
    records: int = 10
    batch_size: int = 3
    bad_every: int = 0  # every Nth record invalid
    sleep: float = 0.0  # seconds between batches (crash test)
    fail_after: int = -1  # raise after this many batches
    commit_batches: int = 1  # batches per transaction (Stream.commit_batches)
    retire_unseen: bool = False  # the last batch retires contacts the read did not list
    read_ahead: str = "none"  # contacts read ahead: none | thread | process (Stream.read_in_process)


class ContactStream(Stream):
    name = "contacts"
    table = "contacts"
    cursor_field = "position"

    def __init__(self, settings: ToySettings) -> None:
        self.settings = settings
        self.commit_batches = settings.commit_batches
        self.prefetch = 0 if settings.read_ahead == "none" else 1
        self.read_in_process = settings.read_ahead == "process"

    def read(self, cursor: Any) -> Iterator[Batch]:
        start = int(cursor or 0)
        n, size = self.settings.records, self.settings.batch_size
        started = utcnow()
        for batches, offset in enumerate(range(start, n, size)):
            if batches == self.settings.fail_after:
                raise RuntimeError("toy source broke")
            records: list[dict[str, Any]] = []
            quarantine: list[QuarantineItem] = []
            for i in range(offset, min(offset + size, n)):
                if self.settings.bad_every and i % self.settings.bad_every == self.settings.bad_every - 1:
                    records.append({"source_id": f"c{i}", "created_at": "not-a-date"})
                else:
                    records.append(
                        {
                            "source_id": f"c{i}",
                            "email": f"user{i}@acme{i % 3}.com",
                            "created_at": "2026-01-02T03:04:05Z",
                            "name": f"User {i}",
                        }
                    )
            if self.settings.sleep:
                time.sleep(self.settings.sleep)
            last = offset + size >= n
            retire = started if self.settings.retire_unseen and last else None
            yield Batch(
                records=records,
                cursor=min(offset + size, n),
                quarantine=quarantine,
                retire_unseen_before=retire,
            )
            marker = os.environ.get("TOY_BATCH_MARKER")
            if marker:
                with open(marker, "a") as fh:
                    fh.write(f"{min(offset + size, n)} {os.getpid()}\n")


class CompanyStream(Stream):
    name = "companies"
    table = "source_accounts"
    cursor_field = None

    def read(self, cursor: Any) -> Iterator[Batch]:
        yield Batch(
            records=[
                {
                    "source_id": "co1",
                    "kind": "company",
                    "name": "Acme",
                    "domain": "acme.com",
                    "account_key": "A-1",
                },
                {"source_id": "co2", "kind": "company", "name": "Jo", "domain": "gmail.com"},
                {"source_id": "co3", "kind": "company", "name": "Beta", "domain": "https://www.beta.io/"},
            ]
        )


class ToyConnector(Connector):
    type = "toy"
    settings_model = ToySettings
    description = "A toy source for tests"

    @classmethod
    def stream_classes(cls) -> list[type[Stream]]:
        return [CompanyStream, ContactStream]

    def check(self) -> str:
        return "toy ok"

    def streams(self) -> list[Stream]:
        settings = self.settings
        assert isinstance(settings, ToySettings)
        return [CompanyStream(), ContactStream(settings)]


@hookimpl
def vitalsign_connectors() -> list[type[Connector]]:
    return [ToyConnector]
