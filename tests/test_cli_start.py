"""The command line starts without the libraries only the work needs: building the parser (what
`ledgerlink --help` and every command do first) imports none of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "sqlalchemy", "lxml", "polars", "pyarrow", "airflow", "requests", "paramiko", "saxonche",
         "numpy", "jsonschema", "schwifty")

PROBE = """
import json, sys
import ledgerlink.cli
ledgerlink.cli.build_parser()
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=120)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_building_the_parser_imports_no_heavy_library() -> None:
    loaded = {name.split(".")[0] for name in _modules_after(PROBE)}
    assert "ledgerlink" in loaded and "argparse" in loaded
    assert not loaded & set(HEAVY), f"the parser's modules import {sorted(loaded & set(HEAVY))}"


@pytest.mark.parametrize("command", [["mapping", "preview", "m.yaml", "s.csv"], ["records", "list", "invoice"],
                                     ["financing", "outbox", "--dead"], ["einvoice", "parse", "x.xml"]])
def test_parsing_a_command_imports_no_heavy_library(command: list[str]) -> None:
    code = PROBE.replace("ledgerlink.cli.build_parser()", f"ledgerlink.cli.build_parser().parse_args({command!r})")
    loaded = {name.split(".")[0] for name in _modules_after(code)}
    assert not loaded & set(HEAVY), f"{' '.join(command)} imports {sorted(loaded & set(HEAVY))} before it runs"


def test_the_package_names_still_load_on_use() -> None:
    # The packages' names load when first used (the command line does not pay for them).
    from ledgerlink.cashapp import Matcher
    from ledgerlink.financing import load_rules
    from ledgerlink.mapping import MapResult, load_mapping

    assert callable(load_rules) and callable(load_mapping)
    assert Matcher.__name__ == "Matcher" and MapResult.__name__ == "MapResult"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        import ledgerlink.mapping as mapping

        mapping.nothing  # noqa: B018 - the attribute access is the test
