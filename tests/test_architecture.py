"""The package's shape: no import circles, and imports point down the layers ARCHITECTURE.md draws.

Every import counts, the ones inside functions too: a circle hidden in a lazy import is still a
circle for the reader.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "clinlm"

#: Module-name prefix -> layer; the longest prefix wins. A module may import its own layer or lower.
LAYERS = {
    "clinlm.errors": 0, "clinlm.document": 0, "clinlm.labels": 0, "clinlm.text": 0, "clinlm.windows": 0,
    "clinlm.decoding": 0, "clinlm.manifest": 0, "clinlm.metrics": 0, "clinlm.version": 0,
    "clinlm.formats": 1, "clinlm.runtime": 1, "clinlm.data": 1,
    "clinlm.context": 2,
    "clinlm.tasks": 3, "clinlm.omop": 3, "clinlm.linking": 3, "clinlm.pretrain": 3,
    "clinlm": 4,  # the public API (clinlm/__init__.py)
    "clinlm.serve": 5, "clinlm.spark": 5,
    "clinlm.cli.app": 5, "clinlm.cli.console": 5, "clinlm.cli.options": 5,
    "clinlm.cli.annotate": 6,  # command modules: *.commands (see layer_of)
    "clinlm.cli": 7, "clinlm.__main__": 7,
}
COMMANDS_LAYER = 6


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The clinlm modules that ``path`` imports (a ``from X import y`` of a submodule y counts as X.y)."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "clinlm")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "clinlm":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, name, set(mods)) for name, path in mods.items()}


def layer_of(name: str) -> int:
    if name.endswith(".commands"):
        return COMMANDS_LAYER
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[best]


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_the_finder_sees_a_circle_and_an_upward_import():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert cycles(g) == [["a", "b", "c"]]
    assert layer_of("clinlm.tasks.ner.commands") > layer_of("clinlm.cli.app") > layer_of("clinlm.tasks.ner.pipeline")
    assert layer_of("clinlm.formats.files") < layer_of("clinlm.context.annotator")


def test_no_import_circles():
    assert cycles(graph()) == []


def test_imports_point_down_the_layers():
    upward = [f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
              for m, deps in sorted(graph().items()) for d in sorted(deps) if layer_of(d) > layer_of(m)]
    assert upward == []


def test_no_command_module_imports_a_private_name_of_another_module():
    private = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("clinlm"):
                private += [f"{name}: from {node.module} import {a.name}" for a in node.names
                            if a.name.startswith("_") and a.name != "__version__"]
    assert private == []


@pytest.mark.parametrize("room", ["tasks/ner", "tasks/relation", "tasks/pair", "tasks/qa", "tasks/mc", "runtime",
                                  "context", "cli", "formats", "omop", "pretrain", "linking"])
def test_architecture_md_names_every_module_of_a_room(room):
    text = (SRC.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for path in sorted((PACKAGE / room).glob("*.py")):
        if path.name != "__init__.py":
            assert path.stem in text, f"ARCHITECTURE.md does not mention {room}/{path.name}"


def test_every_import_path_the_readme_shows_exists():
    """README's ``from clinlm.x import y`` lines and dotted ``clinlm.x.y`` names resolve (docs follow moves)."""
    import importlib
    import re

    readme = (SRC.parent / "README.md").read_text(encoding="utf-8")
    missing = []
    for module, names in re.findall(r"^\s*from (clinlm[\w.]*) import ([\w, ]+)", readme, re.M):
        mod = importlib.import_module(module)
        missing += [f"{module}.{n}" for n in (x.strip() for x in names.split(",")) if n and not hasattr(mod, n)]
    for dotted in set(re.findall(r"`(clinlm(?:\.[A-Za-z_]\w*)+)", readme)):
        if dotted.endswith(".json"):
            continue
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                obj = getattr(obj, attr, None)
            if obj is None:
                missing.append(dotted)
            break
    assert missing == []
