"""Rendering rows as a table (rich), JSON (orjson) or CSV: the output contract of the CLI."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "json", "csv")


def columns_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Column names in first-seen order across all rows."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def to_json(rows: Any) -> str:
    return orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode()


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns_of(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def render(rows: Sequence[dict[str, Any]], fmt: str, console: Console, *, title: str | None = None) -> None:
    if fmt == "json":
        console.file.write(to_json(list(rows)) + "\n")
    elif fmt == "csv":
        console.file.write(to_csv(rows))
    else:
        console.print(rich_table(rows, title=title))


def rich_table(rows: Sequence[dict[str, Any]], *, title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    columns = columns_of(rows)
    for name in columns:
        numeric = any(isinstance(r.get(name), int | float) for r in rows)
        table.add_column(name, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.1f}"
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=str).decode()
    return str(value)
