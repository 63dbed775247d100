"""Only ledgerlink/store/ knows the store's tables and the insides of its objects.

Every module of the product outside the store package (ledgerlink/, connectors/, dags/, plugins/)
is parsed; none may import ``ledgerlink.store.tables``, import a private name of the store package,
or use a private attribute of the store's objects (``store._read()``, ``box._rng``...).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from ledgerlink.store import FinancingRepository, Outbox, Store, UnitOfWork

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("ledgerlink", "connectors", "dags", "plugins")
STORE_PACKAGE = ROOT / "ledgerlink" / "store"
TABLES = "ledgerlink.store.tables"


def private_members(*classes: type) -> frozenset[str]:
    """The single-underscore names the classes define or assign to ``self`` in their source."""
    names: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            if klass.__module__.startswith("ledgerlink.store"):
                names.update(vars(klass))
                source = Path(inspect.getsourcefile(klass) or "").read_text(encoding="utf-8")
                for node in ast.walk(ast.parse(source)):
                    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                        names.add(node.attr)
    return frozenset(n for n in names if n.startswith("_") and not n.startswith("__"))


STORE_PRIVATES = private_members(Store, UnitOfWork, Outbox, FinancingRepository)


def violations(source: str, path: str) -> list[str]:
    """Each use of the store's insides in ``source``, as ``path:line: what``, in line order."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"imports {TABLES}") for alias in node.names
                      if alias.name == TABLES or alias.name.startswith(TABLES + ".")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            names = [alias.name for alias in node.names]
            if module == TABLES or (module == "ledgerlink.store" and "tables" in names):
                found.append((node.lineno, f"imports {TABLES}"))
            if module.startswith("ledgerlink.store"):
                found += [(node.lineno, f"imports the private name {name} from {module}")
                          for name in names if name.startswith("_")]
        elif (isinstance(node, ast.Attribute) and node.attr in STORE_PRIVATES
              and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append((node.lineno, f"uses the store's private attribute {node.attr}"))
    return [f"{path}:{line}: {what}" for line, what in sorted(found)]


def product_modules() -> list[Path]:
    files = [p for folder in PRODUCT for p in sorted((ROOT / folder).rglob("*.py"))]
    return [p for p in files if STORE_PACKAGE not in p.parents]


def test_the_checker_finds_each_kind_of_use() -> None:
    source = "\n".join([
        "import ledgerlink.store.tables",
        "from ledgerlink.store.tables import outbox",
        "from ledgerlink.store import Store, tables",
        "from ledgerlink.store.outbox import Outbox, _entry",
        "with store._read() as conn: pass",
        "delay = box._rng.random()",
        "self._read()",
        "from ledgerlink.store import Store",
    ])
    assert violations(source, "m.py") == [
        "m.py:1: imports ledgerlink.store.tables",
        "m.py:2: imports ledgerlink.store.tables",
        "m.py:3: imports ledgerlink.store.tables",
        "m.py:4: imports the private name _entry from ledgerlink.store.outbox",
        "m.py:5: uses the store's private attribute _read",
        "m.py:6: uses the store's private attribute _rng",
    ]
    assert {"_read", "_scrub", "_writer", "_conn", "_rng"} <= STORE_PRIVATES


def test_no_module_outside_the_store_uses_its_tables_or_private_names() -> None:
    modules = product_modules()
    assert any(p.name == "decide.py" for p in modules) and not any(p.parent == STORE_PACKAGE for p in modules)
    found = [v for p in modules for v in violations(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    if found:
        pytest.fail("only ledgerlink/store/ may know the store's tables and insides:\n" + "\n".join(found),
                    pytrace=False)
