"""DAG integrity: every DAG file imports, alone too, defines the expected DAGs and is configured for
operations. How fast the files parse is measured by bench/bench_dag_parse.py, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ledgerlink.errors import ConfigError
from ledgerlink.pipeline.feeds import load_feeds

DAGS_DIR = Path(__file__).resolve().parent.parent / "dags"

pytestmark = pytest.mark.airflow
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
DAG_IDS = {"financing.py": {"financing_push", "financing_status"},
           "cash_application.py": {"cash_application"},
           "ledgerlink_feeds.py": {f"ledgerlink_{f.name}" for f in load_feeds()}}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_every_dag_file_imports(dagbag):
    assert DAG_FILES, "no DAG files found"
    assert dagbag.import_errors == {}


def test_one_dag_per_feed_and_the_financing_dags(dagbag):
    assert {p.name for p in DAG_FILES} == set(DAG_IDS)
    assert set(dagbag.dag_ids) == set().union(*DAG_IDS.values())


def test_dags_have_owner_retries_tags_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no documentation"
        assert dag.max_active_runs == 1, f"{dag_id} may run twice at once"
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", f"{dag_id}.{t.task_id} has no owner"
            assert t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"


def test_feed_dags_extract_map_load_publish(dagbag):
    dag = dagbag.dags["ledgerlink_invoices_nl_sftp"]
    assert dag.task_dict["publish"].upstream_task_ids == {"load"}
    assert dag.task_dict["load"].upstream_task_ids == {"map_and_validate"}
    assert dag.task_dict["map_and_validate"].upstream_task_ids == {"extract"}
    outlets = dag.task_dict["publish"].outlets
    assert [a.uri for a in outlets] == ["ledgerlink://store/invoice"]


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_alone_in_a_fresh_process(dag_file: Path):
    # As the DAG processor parses it: a fresh interpreter, the file run on its own.
    code = ("import json, runpy\nfrom airflow.sdk import DAG\n"
            f"found = runpy.run_path({str(dag_file)!r})\n"
            "print(json.dumps(sorted(v.dag_id for v in found.values() if isinstance(v, DAG))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(json.loads(proc.stdout.strip().splitlines()[-1])) == DAG_IDS[dag_file.name]


def test_feeds_file_errors_name_the_file_and_the_feed(tmp_path):
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - name: x1\n    entity: invoice\n    mapping: nowhere.yaml\n"
                   "    source: {connector: sftp}\n")
    with pytest.raises(ConfigError) as exc:
        load_feeds(bad)
    assert str(bad) in str(exc.value)
    assert "feeds/0/source" in str(exc.value) and "conn_id" in str(exc.value)


def test_feeds_file_refuses_a_missing_mapping(tmp_path):
    bad = tmp_path / "feeds.yaml"
    bad.write_text("feeds:\n  - name: x1\n    entity: invoice\n    mapping: nowhere.yaml\n"
                   "    source: {connector: folder, path: /tmp}\n")
    with pytest.raises(ConfigError, match="feed 'x1': mapping file nowhere.yaml does not exist"):
        load_feeds(bad)
