"""End to end: real Airflow DAG runs (dag.test) pulling from a real OpenSSH sshd into the store."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledgerlink.store import Store
from sandbox.generate_invoices_nl import write_export

pytestmark = [pytest.mark.integration, pytest.mark.airflow, pytest.mark.sftp, pytest.mark.slow]
FEED = "invoices_nl_sftp"
CONN_ENV = "AIRFLOW_CONN_LEDGERLINK_SFTP_INVOICES"


@pytest.fixture
def feed_env(sftp_server, sftp_root, airflow_db, tmp_path, monkeypatch):
    """A fresh store and staging area per test, the feed's connection pointing at the sshd."""
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("LEDGERLINK_STORE_URL", store_url)
    monkeypatch.setenv("LEDGERLINK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(CONN_ENV, sftp_server.connection_uri())
    return sftp_root / "inbox", store_url


def drop(inbox: Path, rows: int, name: str = "export.csv", **kw) -> Path:
    path = write_export(inbox / name, rows, **kw)
    old = time.time() - 60  # complete already: the stable-size check need not wait for it
    os.utime(path, (old, old))
    return path


def run_dag() -> str:
    from ledgerlink.airflow.factory import build_feed_dag
    from ledgerlink.pipeline.feeds import get_feed

    dag_run = build_feed_dag(get_feed(FEED)).test()
    return str(dag_run.state)


# A DAG run whose load step stops where the store transaction would begin, until it is killed.
HELD_AT_LOAD = """
import sys, time
from pathlib import Path
from ledgerlink.store import Store
from tests.test_feed_dag_e2e import run_dag

def held(*args, **kwargs):
    Path(sys.argv[1]).touch()
    time.sleep(3600)

Store.load = held
run_dag()
"""


def state_of(store: Store) -> tuple[list, list]:
    records = sorted((r["natural_key"], r["content_hash"], r["version"]) for r in store.current_records("invoice"))
    quarantine = sorted((q["source_name"], q["row"], q["reason_code"]) for q in store.list_quarantine(limit=10_000))
    return records, quarantine


def test_dag_run_loads_good_rows_and_quarantines_bad_ones(feed_env):
    inbox, url = feed_env
    drop(inbox, 100, bad_share=0.05)
    assert run_dag() == "success"
    store = Store(url)
    assert store.count_records("invoice") == 95
    entries = store.list_quarantine(feed=FEED)
    assert sorted(e["row"] for e in entries) == [21, 41, 61, 81, 101]
    assert all(e["errors"][0]["mapping_line"] for e in entries)
    run = store.list_runs(feed=FEED)[0]
    assert run["status"] == "succeeded"
    assert run["totals"]["read"]["count"] == 100 and run["totals"]["quarantined"]["count"] == 5
    # Lineage: every record knows its file, checksum and source row.
    lineage = store.current_records("invoice")[0]["lineage"]
    assert lineage["name"] == "export.csv" and len(lineage["sha256"]) == 64 and lineage["row"] >= 2


def test_rerun_adds_nothing(feed_env):
    inbox, url = feed_env
    drop(inbox, 50)
    assert run_dag() == "success"
    store = Store(url)
    before, audit_before = state_of(store), len(store.audit_entries(limit=10_000))
    runs_before = len(store.list_runs(feed=FEED))
    assert run_dag() == "success"
    assert state_of(store) == before
    assert len(store.list_runs(feed=FEED)) == runs_before
    assert len(store.audit_entries(limit=10_000)) == audit_before
    assert store.verify_audit_chain().ok


def test_changed_file_adds_versions_only_for_changed_rows(feed_env):
    inbox, url = feed_env
    path = drop(inbox, 30, bad_share=0)
    assert run_dag() == "success"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        data = list(csv.reader(fh, delimiter=";"))
    for i in (2, 5):
        data[i][11] = f"Gewijzigde omschrijving {i}"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(data)
    old = time.time() - 60
    os.utime(path, (old, old))
    assert run_dag() == "success"
    store = Store(url)
    versions = sorted(r["version"] for r in store.current_records("invoice"))
    assert versions == [1] * 28 + [2, 2]
    run = store.list_runs(feed=FEED)[0]
    assert run["totals"]["loaded"]["count"] == 30


def test_killed_run_restarted_ends_like_one_clean_run(feed_env, tmp_path):
    inbox, url = feed_env
    path = drop(inbox, 60_000, bad_share=0.02)
    reference = tmp_path / "reference.csv"
    reference.write_bytes(path.read_bytes())

    # Run the DAG in another process, held where its load would begin, and kill it hard there.
    marker = tmp_path / "at-load"
    child = subprocess.Popen([sys.executable, "-c", HELD_AT_LOAD, str(marker)],
                             env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = Store(url)
    deadline = time.monotonic() + 120  # a safety net: the child waits at the load for as long as it takes
    try:
        while not marker.exists():
            assert child.poll() is None, "the DAG run ended before it reached the load"
            assert time.monotonic() < deadline, "the DAG run did not reach the load"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert store.count_records("invoice") == 0
    (killed,) = [r for r in store.list_runs(feed=FEED) if r["status"] == "running"]

    assert run_dag() == "success"
    # The next DAG run found the dead run and closed it.
    assert store.get_run(killed["id"])["status"] == "failed"
    assert "abandoned" in store.get_run(killed["id"])["error"]
    from ledgerlink.config import BUNDLED_MAPPINGS_DIR
    from ledgerlink.pipeline.steps import run_file

    clean = Store(f"sqlite:///{tmp_path / 'clean.db'}")
    run_file(clean, FEED, BUNDLED_MAPPINGS_DIR / "csv" / "invoices_nl.yaml", reference)
    got, want = state_of(store), state_of(clean)
    assert len(got[0]) == 60_000 - 1_200
    assert [r[:2] for r in got[0]] == [r[:2] for r in want[0]]
    assert [q[1:] for q in got[1]] == [q[1:] for q in want[1]]
    assert store.verify_audit_chain().ok
