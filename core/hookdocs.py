"""The hook reference of docs/plugins.md, generated from :mod:`vitalsign.core.hookspecs`.

``core/hookspecs.py`` is the single source: a hook's signature and docstring there are its
documentation. ``tests/core/test_hookspecs.py`` fails when docs/plugins.md is out of step;
regenerate the section with::

    python -m vitalsign.core.hookdocs docs/plugins.md           # rewrite the section
    python -m vitalsign.core.hookdocs --check docs/plugins.md   # exit 1 if it is stale
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import hookspecs

START = "<!-- hook-reference:start (generated: python -m vitalsign.core.hookdocs docs/plugins.md) -->"
END = "<!-- hook-reference:end -->"
_SPEC_MARK = "vitalsign_spec"


def hook_specs() -> list[Callable[..., Any]]:
    """Every hook spec in the order ``core/hookspecs.py`` declares them."""
    specs = [
        fn
        for fn in vars(hookspecs).values()
        if inspect.isfunction(fn) and hasattr(fn, _SPEC_MARK) and fn.__module__ == hookspecs.__name__
    ]
    return sorted(specs, key=lambda fn: fn.__code__.co_firstlineno)


def markdown(doc: str) -> str:
    """Docstring reST to Markdown: ``x`` and :role:`~a.b.C` become `x` and `C`."""
    doc = re.sub(r":[a-z]+:`~[\w.]*?\.?(\w+)`", r"`\1`", doc)
    doc = re.sub(r":[a-z]+:`([\w.]+)`", r"`\1`", doc)
    return doc.replace("``", "`")


def _annotation(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return "?"
    return value if isinstance(value, str) else inspect.formatannotation(value)


def render_hook(fn: Callable[..., Any]) -> str:
    """One hook: its signature as a plugin implements it, how it is called, its docstring."""
    sig = inspect.signature(fn)
    params = [f"{name}: {_annotation(p.annotation)}" for name, p in sig.parameters.items()]
    returns = _annotation(sig.return_annotation)
    call = ", ".join(f"{name}=..." for name in sig.parameters)
    options = getattr(fn, _SPEC_MARK, {}) or {}
    flags = (("firstresult", "the first non-None result wins"), ("historic", "historic"))
    notes = [label for key, label in flags if options.get(key)]
    how = f"Called as `pm.hook.{fn.__name__}({call})`" + (f" ({', '.join(notes)})" if notes else "")
    if sig.parameters:
        how += "; an implementation takes any subset of these arguments, by name"
    lines = [
        f"### `{fn.__name__}`",
        "",
        "```python",
        "@hookimpl",
        f"def {fn.__name__}({', '.join(params)}) -> {returns}: ...",
        "```",
        "",
        how + ".",
        "",
        markdown(inspect.getdoc(fn) or ""),
    ]
    return "\n".join(lines).rstrip() + "\n"


def hook_reference() -> str:
    """The whole generated section, markers excluded."""
    intro = markdown(inspect.getdoc(hookspecs) or "")
    body = "\n".join(render_hook(fn) for fn in hook_specs())
    return f"{intro}\n\n{body}"


def section_of(text: str) -> str | None:
    """The generated section currently in a document (None when the markers are missing)."""
    if START not in text or END not in text:
        return None
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def update(path: Path) -> bool:
    """Rewrite the section in ``path``; True when it changed."""
    text = path.read_text(encoding="utf-8")
    if section_of(text) is None:
        raise SystemExit(f"{path}: no {START!r} ... {END!r} markers")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    new = f"{head}{START}\n{hook_reference()}{END}{tail}"
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [Path(a) for a in args if a != "--check"] or [Path("docs/plugins.md")]
    stale = False
    for path in paths:
        if check:
            if section_of(path.read_text(encoding="utf-8")) != hook_reference():
                print(f"{path}: hook reference is stale (python -m vitalsign.core.hookdocs {path})")
                stale = True
        elif update(path):
            print(f"{path}: hook reference updated")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
