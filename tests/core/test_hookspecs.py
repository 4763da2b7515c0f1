"""The hook contract: every hook typed and documented, the docs generated from it, misspelt
hook implementations refused, and plugins blockable by name."""

from __future__ import annotations

import importlib.metadata
import inspect
from pathlib import Path
from types import SimpleNamespace

import pytest
from vitalsign.core import ConfigError, hookimpl
from vitalsign.core.hookdocs import END, START, hook_reference, hook_specs, main, section_of
from vitalsign.core.plugins import ENTRY_POINT_GROUP, get_plugin_manager, register, reset_plugin_manager
from vitalsign.core.registry import connector_types

PLUGINS_MD = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def test_the_hookspecs_are_found():
    names = [fn.__name__ for fn in hook_specs()]
    assert names[:2] == ["vitalsign_connectors", "vitalsign_metrics"]
    pm = get_plugin_manager()
    assert all(hasattr(pm.hook, name) for name in names)
    assert all(name.startswith("vitalsign_") for name in names)


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda fn: fn.__name__)
def test_every_hook_is_documented_and_typed(spec):
    doc = inspect.getdoc(spec)
    assert doc, f"{spec.__name__} has no docstring"
    assert len(doc.splitlines()[0]) > 10, f"{spec.__name__}: the docstring's first line says nothing"
    sig = inspect.signature(spec)
    untyped = [name for name, p in sig.parameters.items() if p.annotation is inspect.Parameter.empty]
    assert not untyped, f"{spec.__name__}: untyped parameters {untyped}"
    assert sig.return_annotation is not inspect.Signature.empty, f"{spec.__name__}: no return type"
    kinds = {p.kind for p in sig.parameters.values()}
    assert kinds <= {inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY}


def test_the_docs_hook_reference_is_generated_from_hookspecs():
    section = section_of(PLUGINS_MD.read_text(encoding="utf-8"))
    assert section is not None, f"docs/plugins.md lacks the {START} ... {END} markers"
    assert section == hook_reference(), (
        "docs/plugins.md's hook reference is stale: run `python -m vitalsign.core.hookdocs docs/plugins.md`"
    )


def test_the_generator_rewrites_only_its_section(tmp_path: Path):
    doc = tmp_path / "plugins.md"
    doc.write_text(f"# Title\n\nintro\n\n{START}\nold text\n{END}\n\n## After\n", encoding="utf-8")
    assert main(["--check", str(doc)]) == 1
    assert main([str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nintro\n\n")
    assert text.endswith(f"{END}\n\n## After\n")
    assert "old text" not in text
    assert "### `vitalsign_after_sync`" in text
    assert main(["--check", str(doc)]) == 0


def test_a_misspelt_hook_implementation_is_refused():
    @hookimpl
    def vitalsign_conectors() -> list[object]:  # one "n" short
        return []

    plugin = SimpleNamespace(vitalsign_conectors=vitalsign_conectors)
    with pytest.raises(ConfigError, match="vitalsign_conectors"):
        register(plugin, name="typo-plugin")
    assert get_plugin_manager().get_plugin("typo-plugin") is None


def test_a_hook_implementation_with_an_unknown_argument_is_refused():
    @hookimpl
    def vitalsign_after_sync(store: object, session: object) -> None:
        pass

    with pytest.raises(ConfigError, match="session") as err:
        register(SimpleNamespace(vitalsign_after_sync=vitalsign_after_sync), name="bad-args")
    assert "\n" not in str(err.value)  # the CLI prints one line


def test_vitalsign_disable_plugins_blocks_a_named_plugin(monkeypatch: pytest.MonkeyPatch):
    installed = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert "zendesk" in installed, "the Zendesk example should be installed (uv sync)"
    assert "zendesk" in connector_types()
    monkeypatch.setenv("VITALSIGN_DISABLE_PLUGINS", "revenue_timeline, zendesk")
    reset_plugin_manager()
    pm = get_plugin_manager()
    assert pm.is_blocked("zendesk")
    assert pm.get_plugin("zendesk") is None
    assert "zendesk" not in connector_types()
    assert pm.is_blocked("revenue_timeline")
    monkeypatch.delenv("VITALSIGN_DISABLE_PLUGINS")
    reset_plugin_manager()
    assert "zendesk" in connector_types()
