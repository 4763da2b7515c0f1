"""What every command shares: global options, the loaded config and the opened store."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cached_property

import typer
from rich.console import Console

from ..config import Config, load_config
from ..store import Store


@dataclass
class State:
    config_path: str | None = None
    store_url: str | None = None
    debug: bool = False
    console: Console = field(default_factory=lambda: Console(highlight=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))

    @cached_property
    def config(self) -> Config:
        return load_config(self.config_path, store_url=self.store_url)

    @cached_property
    def store(self) -> Store:
        return Store(self.config.store_url)

    def open_store(self) -> Store:
        """The store, migrated to the newest schema."""
        store = self.store
        store.upgrade()
        return store

    @property
    def interactive(self) -> bool:
        return sys.stderr.isatty()


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    if not isinstance(obj, State):
        obj = State()
        ctx.find_root().obj = obj
    return obj
