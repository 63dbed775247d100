"""The console's store queries: feed health, quarantine filters and pages, audit search, the
incrementally verified audit chain, financing figures and bulk seeding."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from ledgerlink.errors import StoreError
from ledgerlink.store import QuarantineEntry, Store
from ledgerlink.store.audit import AuditEntry
from ledgerlink.store.console import AuditFilter, QuarantineFilter
from ledgerlink.store.records import StagedRecord


def _bad(row: int, rule: str, source: str = "a.csv") -> QuarantineEntry:
    return QuarantineEntry(row=row, location=None, raw={"Bedrag": "x"},
                           errors=[{"field": "amount", "rule": rule, "message": "not a number", "mapping_line": 9}],
                           source_name=source)


def _run(store: Store, feed: str, status: str, quarantine=(), totals=None) -> str:
    run_id = store.start_run(feed, "invoice")
    if quarantine:
        store.load(run_id, feed, "invoice", [], list(quarantine))
    store.finish_run(run_id, status, totals=totals, error="boom" if status == "failed" else None)
    return run_id


def test_feed_health_has_the_last_run_its_totals_and_failures_since_the_last_success(store):
    _run(store, "inv", "succeeded")
    _run(store, "inv", "failed")
    _run(store, "inv", "failed", [_bad(1, "type.money"), _bad(2, "type.money")],
         totals={"read": {"count": 5, "amounts": {"EUR": "10.00"}},
                 "quarantined": {"count": 2, "amounts": {"EUR": "3.50", "USD": "1.00"}}})
    _run(store, "vendors", "succeeded")
    health = {h["feed"]: h for h in store.console.feed_health()}
    assert sorted(health) == ["inv", "vendors"]
    inv = health["inv"]
    assert inv["last_run"]["status"] == "failed"
    assert inv["last_run"]["totals"]["quarantined"]["amounts"] == {"EUR": "3.50", "USD": "1.00"}
    assert inv["last_success"]["status"] == "succeeded"
    assert inv["failures_since_success"] == 2 and inv["open_quarantine"] == 2
    assert health["vendors"]["failures_since_success"] == 0 and health["vendors"]["open_quarantine"] == 0


def test_feed_health_finds_a_success_older_than_the_latest_runs_it_reads(store):
    from ledgerlink.store.console import RECENT_RUNS

    first = _run(store, "flaky", "succeeded")
    for _ in range(RECENT_RUNS + 2):
        _run(store, "flaky", "failed")
    (flaky,) = store.console.feed_health()
    assert flaky["last_success"]["id"] == first and flaky["failures_since_success"] == RECENT_RUNS + 2
    assert flaky["last_run"]["status"] == "failed"


def test_quarantine_page_filters_and_counts(store):
    _run(store, "inv", "succeeded", [_bad(i, "type.money" if i % 2 else "required") for i in range(1, 8)])
    _run(store, "other", "succeeded", [_bad(1, "required", "b.csv")])
    every = store.console.quarantine_page(QuarantineFilter(status=None), page=1, size=3)
    assert every.total == 8 and every.pages == 3 and len(every.rows) == 3
    assert every.rows[0]["id"] > every.rows[1]["id"]  # newest first
    assert "raw" not in every.rows[0] and every.rows[0]["errors"][0]["rule"]
    last = store.console.quarantine_page(QuarantineFilter(status=None), page=3, size=3)
    assert len(last.rows) == 2
    money = store.console.quarantine_page(QuarantineFilter(feed="inv", rule="type.money"))
    assert money.total == 4 and {r["reason_code"] for r in money.rows} == {"type.money"}
    assert store.console.quarantine_page(QuarantineFilter(source_name="b.csv")).total == 1
    today = dt.datetime.now(dt.UTC).date()
    assert store.console.quarantine_page(QuarantineFilter(created_from=today, created_to=today)).total == 8
    assert store.console.quarantine_page(QuarantineFilter(created_to=today - dt.timedelta(days=1))).total == 0
    ids = [r["id"] for r in store.list_quarantine(feed="inv", limit=2)]
    store.resolve_quarantine(ids, "discarded", actor="airflow:op", reason="duplicate export")
    assert store.console.quarantine_page(QuarantineFilter(status="discarded")).total == 2
    assert store.console.quarantine_page(QuarantineFilter()).total == 6
    (entry,) = store.audit_entries(1, actions=["quarantine.discarded"])
    assert entry["details"]["reason"] == "duplicate export" and entry["actor"] == "airflow:op"
    assert store.console.quarantine_choices() == {"feed": ["inv", "other"], "rule": ["required", "type.money"]}
    with pytest.raises(StoreError, match="unknown quarantine status 'closed'"):
        QuarantineFilter(status="closed")
    with pytest.raises(StoreError, match="page size 0"):
        store.console.quarantine_page(QuarantineFilter(), size=0)


def test_audit_search_by_record_user_and_time(store):
    store.audit("a.one", "run:1", {"n": 1}, actor="airflow:ann")
    store.audit("a.two", "run:2", {"n": 2}, actor="airflow:bob")
    store.audit("b.three", "run:1", {"n": 3}, actor="airflow:bob")
    by_record = store.console.audit_search(AuditFilter(subject="run:1"))
    assert [x["details"]["n"] for x in by_record] == [3, 1]
    assert [x["action"] for x in store.console.audit_search(AuditFilter(actor="airflow:bob", action_prefix="a."))] == [
        "a.two"]
    today = dt.datetime.now(dt.UTC).date()
    assert len(store.console.audit_search(AuditFilter(at_from=today, at_to=today))) == 3
    assert store.console.audit_search(AuditFilter(at_to=today - dt.timedelta(days=1))) == []
    newest = store.console.audit_search(AuditFilter(), size=1)
    older = store.console.audit_search(AuditFilter(before_id=newest[0]["id"]), size=5)
    assert [x["action"] for x in older] == ["a.two", "a.one"]


def test_the_chain_check_starts_from_the_checkpoint(store):
    for i in range(3):
        store.audit("x", f"s:{i}", {"i": i}, actor="t")
    first = store.console.verify_audit_chain_incrementally()
    assert first.ok and first.checked == 3
    store.audit("x", "s:3", {"i": 3}, actor="t")
    second = store.console.verify_audit_chain_incrementally()
    assert second.ok and second.checked == 4
    with store.engine.connect() as conn:
        mark = conn.execute(sa.text("SELECT verified_id, checked FROM audit_checkpoint")).one()
    assert mark.checked == 4
    assert store.console.verify_audit_chain_incrementally().checked == 4  # nothing new: nothing re-read


def test_the_chain_check_notices_a_change_to_the_checkpointed_entry_or_after_it(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    for i in range(3):
        store.audit("x", f"s:{i}", {"i": i}, actor="t")
    assert store.console.verify_audit_chain_incrementally().ok
    with store.engine.begin() as conn:  # what someone with the database file could do
        names = [r[0] for r in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_log'")]
        for name in names:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
        last = conn.exec_driver_sql("SELECT max(id) FROM audit_log").scalar()
        conn.exec_driver_sql("UPDATE audit_log SET details='{\"i\":9}' WHERE id=?", (last,))
    broken = store.console.verify_audit_chain_incrementally()
    assert not broken.ok and broken.first_bad_id == last
    store.close()

    store = Store(f"sqlite:///{tmp_path / 't.db'}")
    store.audit("x", "s:0", {"i": 0}, actor="t")
    assert store.console.verify_audit_chain_incrementally().ok
    store.audit("x", "s:1", {"i": 1}, actor="t")
    with store.engine.begin() as conn:
        for (name,) in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_log'").all():
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
        conn.exec_driver_sql("UPDATE audit_log SET actor='mallory' WHERE id=(SELECT max(id) FROM audit_log)")
    later = store.console.verify_audit_chain_incrementally()
    assert not later.ok and "altered" in later.reason
    store.close()


def test_financing_overview_counts_statuses_and_sums_what_waits(store):
    box = store.outbox
    box.enqueue("financing.submit", "k1", {"amount": "100.10", "currency": "EUR"})
    box.enqueue("financing.submit", "k2", {"amount": "0.20", "currency": "EUR"})
    dead = box.enqueue("financing.submit", "k3", {"amount": "5.00", "currency": "USD"})
    box.mark_dead_many([(dead.id, "HTTP 422: refused")])
    box.enqueue("ledger.post", "k4", {"amount": "1.00", "currency": "EUR"})
    run_id = store.start_run("financing_status", "financing_request")
    store.load(run_id, "financing_status", "financing_request", [
        StagedRecord.build("A", {"status": "funded"}), StagedRecord.build("B", {"status": "funded"}),
        StagedRecord.build("C", {"status": "offered"})])
    store.finish_run(run_id, "succeeded")
    o = store.console.financing_overview(submit_kind="financing.submit", request_entity="financing_request",
                                         kind_prefix="financing.")
    assert o["waiting_count"] == 2 and o["waiting_amounts"] == {"EUR": "100.30"}
    assert o["outbox"] == {"pending": 2, "dead": 1}
    assert o["requests_by_status"] == {"funded": 2, "offered": 1}
    run_id = store.start_run("financing_status", "financing_request")
    store.load(run_id, "financing_status", "financing_request", [StagedRecord.build("C", {"status": "accepted"})])
    store.finish_run(run_id, "succeeded")
    again = store.console.financing_overview(submit_kind="financing.submit", request_entity="financing_request",
                                             kind_prefix="financing.")
    assert again["requests_by_status"] == {"accepted": 1, "funded": 2}  # counted again after the new version
    (letter,) = store.console.dead_letters(kind_prefix="financing.")
    assert letter["id"] == dead.id and letter["payload"]["currency"] == "USD"


def test_bulk_insert_and_bulk_audit(store):
    run_id = store.start_run("bulk", "invoice")
    n = store.console.bulk_insert("quarantine", (
        {"run_id": run_id, "feed": "bulk", "entity": "invoice", "raw": "{}", "reason_code": "r",
         "errors": '[{"field":"f","rule":"r","message":"m"}]', "status": "open", "created_at": "2026-01-01T00:00:00"}
        for _ in range(25)), chunk=10)
    assert n == 25 and store.console.quarantine_page(QuarantineFilter(feed="bulk")).total == 25
    store.console.bulk_audit([AuditEntry("seed", f"s:{i}", {}, "bench") for i in range(5)])
    assert store.verify_audit_chain().ok
    with pytest.raises(StoreError, match="unknown table 'audit_log'"):
        store.console.bulk_insert("audit_log", [])


def test_quarantine_show_masks_names_and_ibans_unless_asked_and_audits_the_asking(tmp_path, monkeypatch, capsys):
    import json

    from tests.fixtures.cli import run_cli

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LEDGERLINK_STORE_URL", url)
    store = Store(url)
    run_id = store.start_run("inv", "invoice")
    store.load(run_id, "inv", "invoice", [], [QuarantineEntry(
        row=3, location=None, raw={"IBAN": "NL91ABNA0417164300", "Naam": "Jansen Installatie BV", "Bedrag": "x",
                                   "Omschrijving": "paid from NL44RABO0123456789"},
        errors=[{"field": "amount", "rule": "type.money", "message": "not a number", "mapping_line": 9}])])
    (qid,) = [q["id"] for q in store.list_quarantine()]
    shown = run_cli(capsys, "quarantine", "show", str(qid))
    assert shown.returncode == 0
    raw = json.loads(shown.stdout)["raw"]
    assert raw == {"IBAN": "NL91****4300", "Naam": "J*** I*** B***", "Bedrag": "x",
                   "Omschrijving": "paid from NL44****6789"}
    assert store.audit_entries(1, actions=["quarantine.show_personal_data"]) == []
    full = run_cli(capsys, "quarantine", "show", str(qid), "--personal-data")
    assert json.loads(full.stdout)["raw"]["IBAN"] == "NL91ABNA0417164300"
    (audit,) = store.audit_entries(1, actions=["quarantine.show_personal_data"])
    assert audit["subject"] == f"quarantine:{qid}" and audit["actor"].startswith("cli")
    store.close()
