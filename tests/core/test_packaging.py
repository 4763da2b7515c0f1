"""The layout contract: every package folder is in the wheel, and the source folders only import
under the ``vitalsign`` namespace."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def package_dirs() -> dict[str, Path]:
    return {name: ROOT / path for name, path in PYPROJECT["tool"]["setuptools"]["package-dir"].items()}


def expected_packages() -> set[str]:
    """Every folder with an __init__.py under a mapped source folder, as its import name."""
    mapped = package_dirs()
    found: set[str] = set()
    for root_name, root in mapped.items():
        for init in root.rglob("__init__.py"):
            folder = init.parent
            # a folder mapped to a package of its own (core/testing) is named by that mapping
            owner = max(
                (n for n, p in mapped.items() if folder == p or p in folder.parents),
                key=lambda n: len(str(mapped[n])),
            )
            if owner != root_name:
                continue
            relative = folder.relative_to(root).parts
            found.add(".".join((root_name, *relative)))
    return found


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    missing = expected_packages() - listed
    assert not missing, f"package folders missing from [tool.setuptools] packages: {sorted(missing)}"


def test_listed_packages_exist():
    mapped = package_dirs()
    for name in PYPROJECT["tool"]["setuptools"]["packages"]:
        root_name = max((n for n in mapped if name == n or name.startswith(n + ".")), key=len)
        folder = mapped[root_name].joinpath(
            *name[len(root_name) + 1 :].split(".") if name != root_name else ()
        )
        assert (folder / "__init__.py").is_file(), f"{name} is listed but {folder} has no __init__.py"


@pytest.mark.parametrize("folder", ["core", "connectors", "metrics"])
def test_source_folders_do_not_import_bare(folder):
    result = subprocess.run(
        [sys.executable, "-c", f"import {folder}"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode != 0, f"`import {folder}` worked from the repo root"
    assert f"import vitalsign.{folder}" in result.stderr


def test_top_level_layout():
    allowed = {
        "pyproject.toml",
        "README.md",
        "uv.lock",
        "core",
        "connectors",
        "metrics",
        "tests",
        "examples",
        "bench",
        "docs",
        ".ci",
        ".git",
        ".gitignore",
    }
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    top = {path.split("/", 1)[0] for path in tracked}
    assert top <= allowed, f"unexpected top-level entries: {sorted(top - allowed)}"


def readme_command(kind: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {kind}-command -->\s*```(?:sh|bash|console)?\n(.+?)\n```", text, re.S)
    assert match, f"README.md has no <!-- {kind}-command --> block"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1].strip() == readme_command("test")


def test_readme_main_command_is_one_line():
    assert "\n" not in readme_command("main")
