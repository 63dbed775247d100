"""Files sent again and runs that died: the quarantine counts a repeated bad row on its open entry, and a
run whose process was killed is marked abandoned by the next run of its feed."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledgerlink.config import BUNDLED_MAPPINGS_DIR
from ledgerlink.pipeline.steps import run_file
from ledgerlink.store import QuarantineEntry, StagedRecord, Store
from ledgerlink.store.runs import process_gone
from sandbox.generate_invoices_nl import write_export
from tests.fixtures.cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
FEED = "invoices_nl_folder"
MAPPING = BUNDLED_MAPPINGS_DIR / "csv" / "invoices_nl.yaml"


def read_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh, delimiter=";"))


def write_rows(path: Path, data: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(data)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LEDGERLINK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LEDGERLINK_STORE_URL", raising=False)
    return tmp_path / "home"


# --- a file sent again -----------------------------------------------------------------------


def test_resent_file_with_one_changed_row_keeps_one_open_entry_per_bad_row(capsys, home, tmp_path):
    path = write_export(tmp_path / "export.csv", 60, bad_share=0.05)  # data rows 20, 40, 60 are spoiled
    first = run_cli(capsys, "run", FEED, str(path))
    assert first.returncode == 0, first.stderr
    store = Store()
    entries = store.list_quarantine(feed=FEED)
    assert sorted(e["row"] for e in entries) == [21, 41, 61]
    first_run = entries[0]["run_id"]

    data = read_rows(path)
    data[5][7], data[5][8], data[5][9] = "100,00", "21,00", "121,00"  # one good row changed
    write_rows(path, data)
    second = run_cli(capsys, "run", FEED, str(path))
    assert second.returncode == 0, second.stderr
    assert "quarantined 3 (3 already open from an earlier run)" in second.stdout
    second_run = next(r["id"] for r in store.list_runs(feed=FEED) if r["id"] != first_run)

    again = store.list_quarantine(feed=FEED, status=None)
    assert [e["id"] for e in again] == [e["id"] for e in entries]  # no new entries
    assert {(e["seen_count"], e["run_id"], e["last_run_id"]) for e in again} == {(2, first_run, second_run)}
    assert "seen 2x, last by run " + second_run in run_cli(capsys, "quarantine", "list", "--feed", FEED).stdout

    data[20][11] = "another description, still a bad amount"  # a bad row that changed is a new entry
    write_rows(path, data)
    assert run_cli(capsys, "run", FEED, str(path)).returncode == 0
    after = store.list_quarantine(feed=FEED)
    assert len(after) == 4
    assert [e["seen_count"] for e in after] == [2, 3, 3, 1]


def bad_row(row: int) -> QuarantineEntry:
    return QuarantineEntry(row=row, location=None, raw={"vendor_id": f"V{row:03d}", "iban": ""},
                           errors=[{"field": "iban", "rule": "required", "message": "IBAN is required",
                                    "mapping_line": 14}])


def load(store: Store, entries, **kwargs) -> str:
    run = store.start_run("acme-vendors", "vendor")
    store.load(run, "acme-vendors", "vendor", [StagedRecord.build("vendor_id=V001", {"a": 1})], entries, **kwargs)
    return run


def test_repeated_rows_count_on_open_entries_and_a_replay_that_fails_again_opens_one(store):
    load(store, [bad_row(3), bad_row(4), bad_row(4)])  # the same row twice in one file: two entries
    second = load(store, [bad_row(3), bad_row(4), bad_row(4), bad_row(5)])
    entries = store.list_quarantine()
    assert [(e["row"], e["seen_count"]) for e in entries] == [(3, 2), (4, 2), (4, 2), (5, 1)]
    assert {e["last_run_id"] for e in entries} == {second}
    load_audit = store.audit_entries(actions=["load"], limit=1)[0]["details"]
    assert (load_audit["quarantined"], load_audit["quarantine_repeated"]) == (4, 3)

    replayed_id = entries[0]["id"]
    replay_run = load(store, [bad_row(3)], resolve_quarantine=[replayed_id])  # still bad after the replay
    assert store.get_quarantine(replayed_id)["status"] == "replayed"
    reopened = [e for e in store.list_quarantine() if e["row"] == 3]
    assert len(reopened) == 1 and reopened[0]["run_id"] == replay_run and reopened[0]["seen_count"] == 1

    store.resolve_quarantine([reopened[0]["id"]], "discarded", actor="bob")
    load(store, [bad_row(3)])  # a discarded row sent again is a new entry
    assert [e["seen_count"] for e in store.list_quarantine() if e["row"] == 3] == [1]


def test_other_feeds_and_other_rules_are_not_repeats(store):
    load(store, [bad_row(3)])
    other_rule = QuarantineEntry(row=3, location=None, raw=bad_row(3).raw,
                                 errors=[{"field": "iban", "rule": "iban", "message": "bad", "mapping_line": 14}])
    load(store, [other_rule])
    run = store.start_run("other-feed", "vendor")
    store.load(run, "other-feed", "vendor", [], [bad_row(3)])
    assert [e["seen_count"] for e in store.list_quarantine(limit=10)] == [1, 1, 1]


# --- a run killed on the command line ---------------------------------------------------------


def wait_for_running_run(store_db: Path, deadline_s: float = 120) -> str:
    """The id of the feed's run once the killed-to-be process has started it."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if store_db.exists():
            try:
                runs = Store(f"sqlite:///{store_db}", migrate=False).list_runs(feed=FEED)
            except Exception:  # the process is still creating the store
                runs = []
            if runs and runs[0]["status"] == "running":
                return runs[0]["id"]
        time.sleep(0.01)
    raise AssertionError("the run never started")


def test_run_killed_by_sigkill_is_marked_abandoned_by_the_next_run(capsys, home, tmp_path):
    big = write_export(tmp_path / "big.csv", 20_000, bad_share=0.01)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "LEDGERLINK_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "ledgerlink.cli", "run", FEED, str(big)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        killed = wait_for_running_run(home / "ledgerlink.db")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    store = Store()
    run = store.get_run(killed)
    assert (run["status"], run["host"], run["pid"]) == ("running", socket.gethostname(), proc.pid)
    assert store.count_records("invoice") == 0  # its load never committed

    small = write_export(tmp_path / "small.csv", 10, bad_share=0)
    ran = run_cli(capsys, "run", FEED, str(small))
    assert ran.returncode == 0, ran.stderr
    run = store.get_run(killed)
    assert run["status"] == "failed"
    assert run["error"].startswith("abandoned: the process running it stopped")
    assert any(e["subject"] == f"run:{killed}" for e in store.audit_entries(actions=["run.finish"]))


def test_a_live_run_and_a_run_of_another_host_are_left_running(store, tmp_path):
    live = store.start_run(FEED, "invoice", this_process=True)  # this process: alive
    scheduled = store.start_run(FEED, "invoice")  # an Airflow run: steps in several processes
    run_file(store, FEED, MAPPING, write_export(tmp_path / "export.csv", 5, bad_share=0))
    assert store.get_run(live)["status"] == store.get_run(scheduled)["status"] == "running"
    assert store.fail_abandoned_runs(FEED) == [scheduled]  # as a new DAG run does: the live one stays
    assert store.get_run(live)["status"] == "running"
    assert not process_gone({"host": "another-host.example", "pid": 999_999_999})
    assert not process_gone({"host": socket.gethostname(), "pid": None})
    assert process_gone({"host": socket.gethostname(), "pid": 999_999_999})  # above any pid_max
