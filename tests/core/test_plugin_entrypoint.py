"""A plugin installed from a package, as a user would, is listed and synced by the real CLI.

The package is built from a temporary folder and installed into a temporary target directory
that only the subprocesses see (PYTHONPATH), so the shared environment is never modified.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "vitalsign-tinyplug"
version = "0.3.1"
requires-python = ">=3.11"

[project.entry-points.vitalsign]
tinyplug = "vitalsign_tinyplug"

[tool.setuptools]
py-modules = ["vitalsign_tinyplug"]
"""

MODULE = '''\
"""A third-party connector in one module: two pages of contacts."""

from vitalsign.core import Batch, Connector, ConnectorSettings, SecretStr, Stream, hookimpl


class TinySettings(ConnectorSettings):
    token: SecretStr
    people: int = 5


class PeopleStream(Stream):
    name = "people"
    table = "contacts"
    cursor_field = "position"

    def __init__(self, people):
        self.people = people

    def read(self, cursor):
        start = cursor or 0
        for first in range(start, self.people, 3):
            last = min(first + 3, self.people)
            records = [
                {"source_id": f"p{i}", "email": f"person{i}@tinyplug.example", "name": f"Person {i}"}
                for i in range(first, last)
            ]
            yield Batch(records=records, cursor=last)


class TinyConnector(Connector):
    type = "tinyplug"
    settings_model = TinySettings
    description = "a plugin installed from a package"

    @classmethod
    def stream_classes(cls):
        return [PeopleStream]

    def check(self):
        return "tinyplug ok"

    def streams(self):
        return [PeopleStream(self.settings.people)]


@hookimpl
def vitalsign_connectors():
    return [TinyConnector]
'''


def vitalsign(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("vitalsign")
    return subprocess.run(
        [str(exe), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.slow
def test_an_installed_plugin_is_listed_and_syncs(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (CI installs it first)")
    package = tmp_path / "vitalsign-tinyplug"
    package.mkdir()
    (package / "pyproject.toml").write_text(PYPROJECT)
    (package / "vitalsign_tinyplug.py").write_text(MODULE)
    target = tmp_path / "site"
    install = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--python",
            sys.executable,
            "--target",
            str(target),
            str(package),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    assert (target / "vitalsign_tinyplug.py").is_file()

    env = {**os.environ, "PYTHONPATH": str(target), "TINY_TOKEN": "tiny-secret-4242"}
    env.pop("VITALSIGN_CONFIG", None)
    env.pop("VITALSIGN_DISABLE_PLUGINS", None)
    listed = vitalsign(["connectors", "--json"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {row["type"]: row for row in json.loads(listed.stdout)}
    tiny = rows["tinyplug"]
    assert (tiny["origin"], tiny["distribution"], tiny["version"], tiny["plugin"]) == (
        "third-party",
        "vitalsign-tinyplug",
        "0.3.1",
        "tinyplug",
    )
    assert tiny["streams"] == [
        {
            "name": "people",
            "table": "contacts",
            "primary_key": ["source", "source_id"],
            "cursor": "position",
            "child_tables": {},
        }
    ]
    assert tiny["settings"]["token"] == {"required": True, "secret": True}

    store = tmp_path / "store.db"
    (tmp_path / "vitalsign.toml").write_text(
        f'[store]\nurl = "sqlite:///{store}"\n\n'
        '[connectors.crm]\ntype = "tinyplug"\ntoken = "${TINY_TOKEN}"\n'
    )
    synced = vitalsign(["sync", "crm"], env, tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert "tiny-secret-4242" not in synced.stdout + synced.stderr
    with sqlite3.connect(store) as db:
        people = db.execute("SELECT source, source_id, email FROM contacts ORDER BY source_id").fetchall()
        cursor = db.execute("SELECT cursor FROM sync_state WHERE connector = 'crm'").fetchone()
    assert people == [("crm", f"p{i}", f"person{i}@tinyplug.example") for i in range(5)]
    assert json.loads(str(cursor[0])) == 5

    # installed for the subprocesses only: this environment does not see it
    assert "tinyplug" not in {ep.name for ep in entry_points(group="vitalsign")}


def test_connectors_json_says_where_each_plugin_came_from() -> None:
    from typer.testing import CliRunner
    from vitalsign.core.cli import app

    result = CliRunner().invoke(app, ["connectors", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["type"]: row for row in json.loads(result.stdout)}
    zendesk = rows["zendesk"]
    assert (zendesk["origin"], zendesk["distribution"], zendesk["plugin"]) == (
        "third-party",
        "vitalsign-zendesk",
        "zendesk",
    )
    assert zendesk["version"] == "0.1.0"
    assert [s["name"] for s in zendesk["streams"]] == ["organizations", "tickets", "satisfaction_ratings"]
    assert zendesk["settings"]["api_token"] == {"required": True, "secret": True}
    assert rows["stripe"]["origin"] == "builtin"
    assert rows["stripe"]["distribution"] == "vitalsign"
