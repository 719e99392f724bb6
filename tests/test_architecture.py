"""The layering ARCHITECTURE.md describes, checked on the source: imports point down only
(host -> functions -> domain -> storage / inference -> base), storage and inference do not
know each other, the domain knows nothing of HTTP, and no two modules import each other,
even through others."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("devhost", "functions", "shared")
# The modules everything may use: configuration, errors, time, the contract's model names.
BASE = {"shared.settings", "shared.errors", "shared.clock", "shared.models_status",
        "shared.model_names"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    files = [ROOT / "function_app.py"]
    for package in PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return {_module_name(path): path for path in files}


MODULES = _modules()


def _imported_names(path: Path) -> set[str]:
    """Every module `path` imports anywhere in it (`from a import b` gives `a.b` when that is a
    project module, else `a`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES
                      else node.module for alias in node.names}
    return found


IMPORTS = {name: _imported_names(path) for name, path in MODULES.items()}
GRAPH = {name: {i for i in imports if i in MODULES and i != name}
         for name, imports in IMPORTS.items()}


def layer(module: str) -> int:
    if module in BASE:
        return 0
    if module.startswith(("shared.storage", "shared.inference")):
        return 1
    if module.startswith("shared"):
        return 2
    if module.startswith("functions"):
        return 3
    return 4        # function_app and the local host


def test_imports_point_down_only():
    upward = [(module, imported) for module, imports in GRAPH.items() for imported in imports
              if layer(imported) > layer(module)]
    assert not upward


def test_storage_and_inference_are_independent():
    crossing = [(module, imported) for module, imports in GRAPH.items() for imported in imports
                if layer(module) == layer(imported) == 1
                and module.split(".")[1] != imported.split(".")[1]]
    assert not crossing


def test_domain_knows_nothing_of_http():
    http = [(module, imported) for module, imports in IMPORTS.items() for imported in imports
            if module.startswith("shared") and imported.startswith("azure.functions")]
    assert not http


def test_no_import_cycles():
    cycles, state = [], {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(GRAPH[module]):
            if state.get(imported) == "open":
                cycles.append(trail[trail.index(imported):] + [imported])
            elif imported not in state:
                visit(imported, trail + [imported])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles


def test_the_graph_is_not_empty():
    """The checks above see the real imports (a broken parser would pass them vacuously)."""
    assert "shared.collections.faces" in GRAPH["functions.person_groups"]
    assert layer("shared.storage.face_ids") == 1 and GRAPH["shared.storage.face_ids"]
