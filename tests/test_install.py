"""The installed package: built as a wheel, it carries the product and its data, not the sandbox, and
its commands work from any folder, or say in one line what to set."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    if built.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{built.stderr[-3000:]}")
    (path,) = out.glob("ledgerlink-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    return target


def test_the_wheel_carries_the_product_and_its_data_but_not_the_sandbox(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("sandbox/")]
    for needed in ("ledgerlink/schemas/invoice.schema.json", "ledgerlink/schemas/mapping.schema.json",
                   "ledgerlink/mappings/bank/ing_nl.yaml", "connectors/erp/definitions/xero.yaml",
                   "ledgerlink/store/migrations/env.py", "ledgerlink/financing/default_rules.yaml"):
        assert needed in names, f"{needed} missing from the wheel"
    assert not [n for n in names if "/samples/" in n], "mapping samples are for the checkout's tests"


def _ledgerlink(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "LEDGERLINK_HOME": str(cwd / "home")}
    code = f"import sys; sys.path.insert(0, {str(site)!r}); from ledgerlink.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_commands_work_from_an_empty_folder(installed, tmp_path):
    assert _ledgerlink(installed, tmp_path, "--help").returncode == 0
    shipped = installed / "ledgerlink" / "mappings" / "csv" / "invoices_nl.yaml"
    checked = _ledgerlink(installed, tmp_path, "mapping", "validate", str(shipped))
    assert checked.returncode == 0, checked.stderr
    # Without a project there are no feeds: one line says what to set.
    feeds = _ledgerlink(installed, tmp_path, "feeds")
    assert feeds.returncode == 2
    assert feeds.stderr.strip().count("\n") == 0 and "LEDGERLINK_ROOT" in feeds.stderr
    demo = _ledgerlink(installed, tmp_path, "demo", "--once")
    assert demo.returncode == 2 and "source checkout" in demo.stderr


def test_a_project_folder_is_found_from_inside_it(installed, tmp_path):
    project = tmp_path / "acme"
    (project / "dags").mkdir(parents=True)
    (project / "mappings" / "csv").mkdir(parents=True)
    (project / "mappings" / "csv" / "invoices.yaml").write_text(
        (ROOT / "mappings" / "csv" / "invoices_nl.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (project / "dags" / "feeds.yaml").write_text(
        "version: 1\nfeeds:\n  - name: acme_invoices\n    entity: invoice\n    mapping: mappings/csv/invoices.yaml\n"
        "    source: {connector: folder, path: /tmp/acme-drop}\n", encoding="utf-8")
    inside = project / "mappings"
    listed = _ledgerlink(installed, inside, "feeds")
    assert listed.returncode == 0, listed.stderr
    assert "acme_invoices" in listed.stdout and "mappings/csv/invoices.yaml" in listed.stdout
