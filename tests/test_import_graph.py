"""Imports point down: no module of funnel's packages imports itself back, even from inside a function.

The graph is read from the source with ``ast`` (nothing is imported), counting
every ``import`` and ``from ... import`` wherever it stands, since an import
placed in a function to dodge a cycle hides the cycle without removing it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("funnel", "pipelines", "retrieval", "ranking", "serving")


def modules_of(root: Path, packages) -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is a package's __init__)}`` of every module below ``packages``."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """``{module: the project modules it imports}``; ``from a import b`` counts ``a.b`` when it is a module."""
    modules = modules_of(root, packages)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module
                targets.update(known(f"{source}.{alias.name}") for alias in node.names)
        graph[name] = {t for t in targets if t and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe(graph: dict[str, set[str]], component: list[str]) -> str:
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & set(component)))}" for m in component)


def test_the_packages_have_no_import_cycle():
    graph = import_graph(ROOT)
    assert len(graph) > 100  # every module was read
    found = cycles(graph)
    assert not found, "import cycles: " + " | ".join(describe(graph, c) for c in found)


def test_a_cycle_hidden_in_a_function_level_import_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "train.py").write_text("from pkg.sub import idw\n")
    (package / "sub" / "idw.py").write_text("def f():\n    from ..evaluate import score\n")
    (package / "evaluate.py").write_text("def g():\n    from pkg import train\n")
    (package / "leaf.py").write_text("import pkg.train\n")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.sub.idw"] == {"pkg.evaluate"}
    assert graph["pkg.evaluate"] == {"pkg.train"}
    assert cycles(graph) == [["pkg.evaluate", "pkg.sub.idw", "pkg.train"]]
