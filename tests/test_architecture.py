"""The package's layers (docs/architecture.md): every import of a jedi_bench module, at module level or
inside a function, goes to the same package or to a package of a lower layer, and no modules import
each other in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jedi_bench"

#: each top-level part of the package and its layer: a part may import only parts of lower layers
LAYERS = {
    "__init__": 0,
    "config": 0,
    "io": 0,
    "locks": 0,
    "runinfo": 0,
    "reference": 1,
    "data": 1,
    "diffusion": 1,
    "nets": 1,
    "worldmodels": 2,
    "envs": 2,
    "agent": 3,
    "train": 4,
    "analysis": 4,
    "compute": 5,
    "diagnostics": 5,
    "commands": 6,
    "cli": 7,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The jedi_bench modules ``path`` imports (``from a import b`` counts as a.b when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("jedi_bench")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jedi_bench"):
            assert node.level == 0, f"{path}: use absolute imports"
            found.add(node.module)
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").exists() or (
                    PACKAGE.parent / sub.replace(".", "/") / "__init__.py"
                ).exists():
                    found.add(sub)
    return found


def part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


GRAPH = {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_part_of_the_package_has_a_layer():
    assert {part(m) for m in GRAPH} <= set(LAYERS), set(map(part, GRAPH)) - set(LAYERS)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_down_the_layers(module):
    here = part(module)
    upward = [
        m
        for m in GRAPH[module]
        if part(m) != here and part(m) != "__init__" and LAYERS[part(m)] >= LAYERS[here]
    ]
    assert not upward, f"{module} (layer {LAYERS[here]}) imports {upward} of the same or a higher layer"


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(GRAPH.get(module, ())):
            if dep == module or dep not in GRAPH or dep == "jedi_bench":
                continue
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
