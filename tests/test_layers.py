"""The layers of the house (README "Layers"), checked on every import statement of the product code.

Every ``import`` and ``from ... import`` counts, wherever it stands (module level, inside a function,
under ``TYPE_CHECKING``): a lazy import hides a dependency, it does not remove it. That only the store
knows its tables is checked by tests/test_store_boundary.py.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("ledgerlink", "connectors", "dags", "plugins")
SKIP = ("ledgerlink/schemas", "ledgerlink/mappings")  # links to data folders


@dataclass(frozen=True)
class Import:
    importer: str  # module name
    path: str  # file, relative to the repository
    line: int
    target: str  # imported module (a submodule when ``from pkg import submodule``)
    names: tuple[str, ...]  # the names taken from it (``from x import a, b``)

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    modules = {}
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(SKIP) or "/migrations/versions/" in rel:
                continue
            modules[_module_name(path)] = path
    return modules


MODULES = _sources()


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports() -> list[Import]:
    found = []
    for name, path in MODULES.items():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [Import(name, rel, node.lineno, alias.name, ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = _resolve(name, path.name == "__init__.py", node)
                names = tuple(alias.name for alias in node.names)
                submodules = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
                found += [Import(name, rel, node.lineno, sub, ()) for sub in submodules]
                rest = tuple(n for n in names if f"{module}.{n}" not in MODULES)
                if rest or not submodules:
                    found.append(Import(name, rel, node.lineno, module, rest))
    return found


IMPORTS = _imports()


def _under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_only_the_airflow_glue_imports_airflow():
    bad = [f"{i.where()}: {i.target}" for i in IMPORTS
           if _under(i.importer, "ledgerlink", "connectors") and not _under(i.importer, "ledgerlink.airflow")
           and _under(i.target, "airflow", "ledgerlink.airflow")]
    assert not bad, "only ledgerlink/airflow/ may import Airflow or the glue:\n  " + "\n  ".join(bad)


def test_dag_files_only_wire_the_glue():
    bad = [f"{i.where()}: {i.target}" for i in IMPORTS if _under(i.importer, "dags", "plugins")
           and _under(i.target, "ledgerlink", "connectors") and not _under(i.target, "ledgerlink.airflow")]
    assert not bad, "DAG and plugin files import only ledgerlink.airflow (and airflow.sdk):\n  " + "\n  ".join(bad)


def _dist_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_library_the_product_imports_is_a_declared_dependency():
    """An installed wheel pulls in what pyproject.toml declares: each third-party module that ledgerlink and
    its connectors import (Airflow's side aside: the ``airflow`` extra) must be one of those."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_dist_name(d) for d in project["dependencies"]}
    declared |= {_dist_name(d) for extra in project["optional-dependencies"].values() for d in extra}
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for i in IMPORTS:
        top = i.target.split(".")[0]
        if (not _under(i.importer, "ledgerlink", "connectors") or _under(i.importer, "ledgerlink.airflow")
                or top in sys.stdlib_module_names or top in ("ledgerlink", "connectors", "__future__")):
            continue
        if not {_dist_name(d) for d in dists.get(top, [top])} & declared:
            missing[top] = i.where()
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_product_code_never_imports_the_sandbox():
    bad = [f"{i.where()}: {i.target}" for i in IMPORTS if _under(i.target, "sandbox")]
    assert not bad, "the sandbox is not part of the product:\n  " + "\n  ".join(bad)


def _package(module: str) -> str:
    path = MODULES.get(module)
    return module if path is not None and path.name == "__init__.py" else module.rpartition(".")[0]


def test_no_private_name_is_imported_across_packages():
    bad = [f"{i.where()}: {name} from {i.target}" for i in IMPORTS for name in i.names
           if name.startswith("_") and not name.startswith("__") and i.target in MODULES
           and _package(i.target) != _package(i.importer)]
    assert not bad, "private names stay in their package:\n  " + "\n  ".join(bad)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out


def test_no_two_modules_import_each_other():
    edges: dict[str, set[str]] = defaultdict(set)
    for i in IMPORTS:
        target = i.target
        # ``import a.b.c`` and ``from a.b import c`` reach the nearest module we have
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target != i.importer:
            edges[i.importer].add(target)
    cycles = _cycles(edges)
    shown = ["  " + " <-> ".join(c) for c in cycles]
    assert not cycles, "modules that import each other (directly or round a loop):\n" + "\n".join(shown)
