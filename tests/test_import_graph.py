"""Imports point down: no module of funnel's packages imports itself back, and no
package imports a layer above its own, even from inside a function.

The layers, lowest first: ``funnel/`` (schema, config, metrics, I/O) <-
``pipelines/`` <- ``retrieval/``, ``ranking/`` (side by side, neither imports
the other) <- ``serving/`` (export and service) <- the CLI (``funnel.cli``,
``funnel.build``, ``funnel.demo``, which live in ``funnel/`` but drive every stage).
Inside ``serving/`` the exporter (``serving/export/``) and the service are
siblings that share only ``serving.contract`` and ``serving.ranking_rows``;
``serving/evaluation/`` (the funnel evaluation and the gate) sits above both,
and ``funnel export``'s CLI module hands the build its gate.

The graph is read from the source with ``ast`` (nothing is imported), counting
every ``import`` and ``from ... import`` wherever it stands, since an import
placed in a function to dodge a cycle hides the cycle without removing it.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

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


def imported_names(path: Path, package: str) -> Iterator[tuple[str, str | None]]:
    """Each import of the file ``path`` (in ``package``) as ``(module, name)``, wherever it stands:
    ``import a.b`` -> ``("a.b", None)``, ``from a import b`` -> ``("a", "b")``, relative
    imports resolved against ``package``."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                yield source, alias.name


def _package_of(name: str, is_package: bool) -> str:
    return name if is_package else name.rpartition(".")[0]


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """``{module: the project modules it imports}``; ``from a import b`` counts ``a.b`` when it is a module."""
    modules = modules_of(root, packages)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, (path, is_package) in modules.items():
        targets = {known(source if alias is None else f"{source}.{alias}")
                   for source, alias in imported_names(path, _package_of(name, is_package))}
        graph[name] = {t for t in targets if t and t != name}
    return graph


LAYERS = {"funnel": 0, "pipelines": 1, "retrieval": 2, "ranking": 2, "serving": 3}
"""Height of each package's layer: a module may import its own package and the layers below."""
CLI = ("funnel.cli", "funnel.build", "funnel.demo")
"""The top layer: the entry points, which live in ``funnel/`` but drive every stage."""
CLI_LAYER = ("the CLI", max(LAYERS.values()) + 1)


def layer(module: str) -> tuple[str, int] | None:
    """``(name, height)`` of the layer of the dotted ``module``; None outside the project."""
    if any(module == cli or module.startswith(cli + ".") for cli in CLI):
        return CLI_LAYER
    package = module.partition(".")[0]
    return (package, LAYERS[package]) if package in LAYERS else None


def upward_imports(root: Path, packages=PACKAGES) -> list[str]:
    """Every import of a module below ``root`` that reaches a higher layer or a sibling's, as
    ``"retrieval/x.py imports serving.index: retrieval may not import serving"``, sorted."""
    modules = modules_of(root, packages)
    found = set()
    for name, (path, is_package) in modules.items():
        importer = layer(name)
        for source, alias in imported_names(path, _package_of(name, is_package)):
            target = source
            if alias is not None and (f"{source}.{alias}" in modules or layer(f"{source}.{alias}") == CLI_LAYER):
                target = f"{source}.{alias}"
            imported = layer(target)
            if imported is None or imported[0] == importer[0] or imported[1] < importer[1]:
                continue
            found.add(f"{path.relative_to(root).as_posix()} imports {target}: "
                      f"{importer[0]} may not import {imported[0]}")
    return sorted(found)


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


def test_every_import_points_down_the_layers():
    found = upward_imports(ROOT)
    assert not found, "imports pointing up (or across, between retrieval and ranking):\n" + "\n".join(found)



def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


SHARED = ("serving.contract", "serving.ranking_rows")
"""What the exporter and the service both read (names, layouts; no TensorFlow): either side may import it."""
EXPORTER = "serving.export"
ABOVE_BOTH = "serving.evaluation"
"""Runs the service's engine on an export (the funnel evaluation, the gate): it may import both
sides, and neither side imports it."""
ORCHESTRATING = ("serving.export.commands",)
"""``funnel export``'s CLI: it hands the build the gate, so it may import every side."""


def serving_side(module: str) -> str | None:
    """``"the exporter"``, ``"the service"`` or ``"the evaluation"`` for a module of ``serving``;
    None for the shared modules, the ``serving`` package itself and anything outside it."""
    if not _within(module, "serving") or module == "serving" or any(_within(module, m) for m in SHARED):
        return None
    if _within(module, ABOVE_BOTH):
        return "the evaluation"
    return "the exporter" if _within(module, EXPORTER) else "the service"


def sibling_imports(root: Path, packages=PACKAGES) -> list[str]:
    """Every import between the exporter and the service, or from either into the evaluation
    above them, as ``"serving.export.verify imports serving.engine: the exporter may not import
    the service"``; the ``ORCHESTRATING`` modules are exempt."""
    found = []
    for module, targets in sorted(import_graph(root, packages).items()):
        side = serving_side(module)
        if side not in ("the exporter", "the service") or module in ORCHESTRATING:
            continue
        for target in sorted(targets):
            other = serving_side(target)
            if other is not None and other != side:
                found.append(f"{module} imports {target}: {side} may not import {other}")
    return found


def test_the_exporter_and_the_service_import_only_what_they_share():
    """Export and service are siblings: what both need (folder, signature and input names, the
    ranking rows' layouts) is in ``SHARED``, so the service loads no export code (TensorFlow, TFRS,
    the training models) and the exporter runs no service code, not even in a function."""
    found = sibling_imports(ROOT)
    assert not found, "\n".join(found)


def plant(root: Path, files: dict[str, str]) -> None:
    """Write a small source tree below ``root``: ``{relative path: text}``."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_an_import_between_the_siblings_is_reported_by_pair(tmp_path):
    files = {
        "serving/__init__.py": "",
        "serving/contract.py": "",
        "serving/ranking_rows.py": "from serving.contract import OWNER\n",
        "serving/engine.py": "from serving import ranking_rows\n\ndef f():\n    from serving.export import modules\n",
        "serving/backends/__init__.py": "",
        "serving/backends/tf.py": "from ..evaluation.gate import choose_order\n",
        "serving/export/__init__.py": "",
        "serving/export/modules.py": "from serving.contract import OWNER\nfrom serving.ranking_rows import ITEM_FEATURES\n",
        "serving/export/verify.py": "def f():\n    import serving.engine\n",
        "serving/export/commands.py": "from serving.evaluation import gate\nfrom serving import engine\n",
        "serving/evaluation/__init__.py": "",
        "serving/evaluation/gate.py": "from serving.engine import x\nfrom serving.export import modules\n",
    }
    plant(tmp_path, files)
    assert sibling_imports(tmp_path, ("serving",)) == [
        "serving.backends.tf imports serving.evaluation.gate: the service may not import the evaluation",
        "serving.engine imports serving.export.modules: the service may not import the exporter",
        "serving.export.verify imports serving.engine: the exporter may not import the service",
    ]


def test_an_upward_import_hidden_in_a_function_is_reported(tmp_path):
    files = {
        "funnel/__init__.py": "",
        "funnel/config.py": "def f():\n    from funnel import cli\n",
        "funnel/demo.py": "from serving import launch\nimport serving.app\n",  # the CLI: allowed
        "pipelines/__init__.py": "",
        "pipelines/read.py": "import funnel.config\nfrom retrieval import towers\n",
        "retrieval/__init__.py": "",
        "retrieval/index.py": "from funnel import config\nfrom . import x\n",
        "retrieval/x.py": "import numpy\n\ndef f():\n    import serving.app\n",
        "retrieval/sub/__init__.py": "",
        "retrieval/sub/y.py": "from ...serving.app import create_app\nfrom ..index import build\n",
        "ranking/__init__.py": "",
        "ranking/m.py": "from retrieval.index import build\nfrom pipelines import read\n",
        "serving/__init__.py": "",
        "serving/app.py": "from retrieval import index\nfrom ..ranking import m\nfrom funnel import config\n",
    }
    plant(tmp_path, files)
    assert upward_imports(tmp_path) == [
        "funnel/config.py imports funnel.cli: funnel may not import the CLI",
        "pipelines/read.py imports retrieval: pipelines may not import retrieval",
        "ranking/m.py imports retrieval.index: ranking may not import retrieval",
        "retrieval/sub/y.py imports serving.app: retrieval may not import serving",
        "retrieval/x.py imports serving.app: retrieval may not import serving",
    ]
