"""Core test fixtures: the toy connector plugin and a config that names it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from vitalsign.core.plugins import register

TOY_PATH = Path(__file__).with_name("toy_plugin.py")


def load_toy() -> ModuleType:
    if "toy_plugin" in sys.modules:
        return sys.modules["toy_plugin"]
    spec = importlib.util.spec_from_file_location("toy_plugin", TOY_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["toy_plugin"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The toy connector registered as a plugin, with its secret in the environment."""
    monkeypatch.setenv("TOY_TOKEN", "s3cret-value")
    module = load_toy()
    register(module, "toy")
    return module


@pytest.fixture
def toy_config(tmp_path: Path):
    """Write a vitalsign.toml with a [connectors.toy] section; returns its path."""

    def write(**settings: object) -> Path:
        lines = ["[connectors.toy]", 'token = "${TOY_TOKEN}"']
        for key, value in settings.items():
            rendered = str(value).lower() if isinstance(value, bool) else repr(value).replace("'", '"')
            lines.append(f"{key} = {rendered}")
        path = tmp_path / "vitalsign.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    return write


def process_running(pid: int) -> bool:
    """Whether ``pid`` runs (Linux /proc; a zombie nobody reaped yet has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@pytest.fixture
def running():
    """:func:`process_running`, for the tests that check a reader process has ended."""
    return process_running
