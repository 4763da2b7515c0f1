"""Fixtures of the HubSpot connector tests: the loopback fake, configs pointing at it, syncs.

The official client sends through urllib3, so every test talks HTTP to FakeHubSpot on
127.0.0.1. Retry waits are recorded instead of slept (``sleeps``), as the conformance kit does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from vitalsign.core import http as core_http
from vitalsign.core.config import Config, ConnectorConfig, instantiate
from vitalsign.core.store import Store, table
from vitalsign.core.sync import RunSummary, SyncEngine
from vitalsign.testing.fakes.hubspot import FakeHubSpot

MakeConfig = Callable[..., Config]


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as portal:
        yield portal


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait of the shared retry layer, recorded instead of slept."""
    waits: list[float] = []
    real = core_http.Retrying

    def recording(*args: Any, **kwargs: Any) -> Any:
        kwargs["sleep"] = waits.append
        return real(*args, **kwargs)

    monkeypatch.setattr(core_http, "Retrying", recording)
    return waits


@pytest.fixture
def make_config(fake: FakeHubSpot, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> MakeConfig:
    """``make_config(**settings)``: a config with one ``[connectors.hubspot]`` on the fake."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", fake.token)

    def make(**settings: Any) -> Config:
        section = {
            "access_token": "${HUBSPOT_ACCESS_TOKEN}",
            "base_url": fake.base_url,
            "account_key": "account_id",
            "index_lag_seconds": 0,
            "requests_per_10s": 0,
            "search_per_second": 0,
            **settings,
        }
        return Config(
            path=None,
            store_url="sqlite://",
            connectors={"hubspot": ConnectorConfig(name="hubspot", type="hubspot", settings=section)},
        )

    return make


def sync(store: Store, config: Config, *, full_refresh: bool = False) -> RunSummary:
    [summary] = SyncEngine(store, config).sync(["hubspot"], full_refresh=full_refresh)
    return summary


def rows(store: Store, name: str, **where: Any) -> dict[str, Any]:
    """source_id -> row of a table (optionally filtered by column values)."""
    tbl = table(name)
    query = select(tbl)
    for column, value in where.items():
        query = query.where(tbl.c[column] == value)
    with store.connect() as conn:
        return {r.source_id: r for r in conn.execute(query)}


def connector(config: Config) -> Any:
    return instantiate(config.connector("hubspot"), config)


@pytest.fixture
def helpers() -> Any:
    class Helpers:
        sync = staticmethod(sync)
        rows = staticmethod(rows)
        connector = staticmethod(connector)

    return Helpers
