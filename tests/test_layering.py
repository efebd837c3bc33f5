"""The package's import graph keeps its layering (lower packages never import higher ones).

The graph is read from the source with :mod:`ast` (every ``import`` and ``from ... import``,
at module level or inside functions), so the test needs no imports of the package itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mspectmol"

#: Layer of each sub-package; a package may import its own layer's base modules and any
#: lower layer, except for the edges in :data:`FORBIDDEN`.
LAYERS: dict[str, int] = {
    "errors": 0, "fileio": 0, "_version": 0, "": 0,
    "spectra": 1, "chem": 1,
    "data": 2,
    "models": 3,
    "evaluation": 4,
    "training": 5,
    "explain": 6, "predict": 6, "structure": 6, "conformers": 6,
    "suites": 7,
    "web": 8, "cli": 9, "__main__": 10,
}
#: Edges that the layer numbers alone would allow but the design rules out: tasks use
#: inference (``models``), never the trainer; ``explain`` is below ``predict``; the two
#: bottom packages are independent of each other.
FORBIDDEN = {
    ("spectra", "chem"), ("chem", "spectra"),
    ("explain", "training"), ("predict", "training"), ("structure", "training"),
    ("conformers", "training"), ("explain", "predict"), ("explain", "structure"),
    ("explain", "conformers"), ("conformers", "structure"), ("structure", "conformers"),
    ("structure", "explain"), ("conformers", "explain"),
}
#: Imports between tasks of the same layer that are allowed (everything else is not).
SAME_LAYER = {("predict", "explain"), ("structure", "predict")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The ``mspectmol`` modules a source file imports (absolute names)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {t for t in found if t == "mspectmol" or t.startswith("mspectmol.")}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_package_has_a_layer():
    packages = {_layer_of(m) for m in _graph()}
    assert packages <= set(LAYERS), f"packages without a layer: {packages - set(LAYERS)}"


def test_no_import_climbs_the_layers():
    wrong = []
    for module, targets in _graph().items():
        src = _layer_of(module)
        for target in targets:
            dst = _layer_of(target)
            if src == dst or dst not in LAYERS:
                continue
            up = LAYERS[dst] > LAYERS[src]
            same = LAYERS[dst] == LAYERS[src] and LAYERS[src] > 0
            if up or (src, dst) in FORBIDDEN or (same and (src, dst) not in SAME_LAYER):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_between_modules():
    graph = {m: {t for t in ts if t != m and not m.startswith(t + ".")}
             for m, ts in _graph().items()}
    # a package's __init__ re-exporting its modules is not a cycle of the design
    for m in graph:
        graph[m] = {t for t in graph[m] if not (t.startswith(m + ".") and m in graph)}
    assert _cycles(graph) == []


@pytest.mark.parametrize("limit", [450])
def test_no_module_is_over_the_size_limit(limit):
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > limit}
    assert not long, f"modules over {limit} lines: {long}"


def test_the_checks_see_a_violation():
    graph = {"mspectmol.data.x": {"mspectmol.training.y"}, "mspectmol.training.y": set()}
    assert LAYERS[_layer_of("mspectmol.training.y")] > LAYERS[_layer_of("mspectmol.data.x")]
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
    assert _cycles(graph) == []
