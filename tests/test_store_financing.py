"""The financing repository on SQLite and PostgreSQL: decisions with their submissions, the invoice
version a submission was decided on, platform batches and the processing-time pairs."""

from __future__ import annotations

import pytest

from ledgerlink.errors import StoreError
from ledgerlink.store import NewDecision, OutboxRequest, StagedRecord

KIND = "financing.submit"
KEY = '{"vendor_id":"C1001","invoice_number":"F-1"}'


def load_invoice(store, amount: str) -> str:
    """A version of invoice F-1; returns its content hash."""
    run = store.start_run("test-invoice", "invoice")
    record = StagedRecord.build(KEY, {"invoice_number": "F-1", "vendor_id": "C1001", "amount_incl_tax": amount})
    store.load(run, "test-invoice", "invoice", [record])
    store.finish_run(run, "succeeded")
    return record.content_hash


def decision(invoice_hash: str, run_id: str, *, key: str | None = None, invoice_key: str = KEY) -> NewDecision:
    return NewDecision(
        invoice_key=invoice_key, invoice_hash=invoice_hash, decision="eligible" if key else "ineligible",
        rule="all_rules_passed" if key else "amount_range", reason="ok" if key else "too much",
        checks=[{"rule": "amount_range", "passed": bool(key)}], rules_version="1", rules_hash="r" * 64,
        run_id=run_id, submission=OutboxRequest(KIND, key, {"request_id": key}) if key else None,
    )


def test_decisions_are_recorded_with_their_submissions_in_one_unit_of_work(store):
    first_hash = load_invoice(store, "100.00")
    with store.unit_of_work() as work:
        work.financing.lock_decisions()
        assert work.financing.submissions([KEY]) == {}
        recorded = work.financing.record_decisions([
            decision(first_hash, "run-1", key="req-1"),
            decision("h" * 64, "run-1", invoice_key='{"vendor_id":"C1001","invoice_number":"F-2"}'),
        ])
        work.audit("financing.decide", "run:run-1", {"decided": 2})
    assert recorded.enqueued == 1
    entry = store.outbox.get_by_key("req-1")
    assert [r["outbox_id"] for r in recorded.rows] == [entry.id, None]
    assert [e["action"] for e in store.audit_entries(oldest_first=True)][-2:] == ["outbox.enqueue",
                                                                                  "financing.decide"]

    again = store.financing.record_decisions([decision(first_hash, "run-2", key="req-1")])
    assert (again.enqueued, again.rows[0]["outbox_id"]) == (0, entry.id)
    [submission] = store.financing.submissions([KEY, "unknown"]).values()
    assert (submission.outbox_id, submission.outbox_status, submission.run_id) == (entry.id, "pending", "run-1")
    decided = store.financing.decisions_of(KEY)
    assert [(d["run_id"], d["details"]) for d in decided] == [
        ("run-2", [{"rule": "amount_range", "passed": True}]), ("run-1", [{"rule": "amount_range", "passed": True}])]
    assert store.verify_audit_chain().ok


def test_checks_given_as_text_are_stored_as_the_list_would_be(store):
    from dataclasses import replace

    from ledgerlink.store import encode_checks

    checks = [{"rule": "amount_range", "passed": True, "detail": "100.00 EUR is within 1.00..café"}]
    as_list = replace(decision("h" * 64, "run-1"), checks=checks)
    as_text = replace(decision("h" * 64, "run-2"), checks=encode_checks(checks))
    recorded = store.financing.record_decisions([as_list, as_text])
    assert isinstance(as_text.checks, str)
    assert recorded.rows[0]["details"] == recorded.rows[1]["details"] == as_text.checks
    assert [d["details"] for d in store.financing.decisions_of(KEY)] == [checks, checks]


def test_a_unit_of_work_that_fails_records_no_decision_and_no_submission(store):
    invoice_hash = load_invoice(store, "100.00")
    with pytest.raises(RuntimeError), store.unit_of_work() as work:
        work.financing.record_decisions([decision(invoice_hash, "run-1", key="req-1")])
        raise RuntimeError("decide failed")
    assert store.financing.decisions_of(KEY) == []
    assert store.outbox.entries() == []
    with pytest.raises(StoreError, match="within a unit of work"):
        store.financing.lock_decisions()


def test_a_submission_is_sent_with_the_invoice_version_it_was_decided_on(store):
    decided_hash = load_invoice(store, "100.00")
    recorded = store.financing.record_decisions([decision(decided_hash, "run-1", key="req-1")])
    load_invoice(store, "250.00")  # a later version changes nothing already decided
    entry_id = recorded.rows[0]["outbox_id"]
    assert store.financing.decided_invoices([entry_id, 999]) == {
        entry_id: {"invoice_number": "F-1", "vendor_id": "C1001", "amount_incl_tax": "100.00"}}


def test_a_platform_batch_is_written_into_its_entries_and_timed_from_decision_to_send(store):
    invoice_hash = load_invoice(store, "100.00")
    recorded = store.financing.record_decisions([decision(invoice_hash, "run-1", key="req-1")])
    entry_id = recorded.rows[0]["outbox_id"]
    store.financing.record_batch("batch-key", [entry_id], worker="w1")
    assert store.outbox.get(entry_id).response == {"batch": {"key": "batch-key", "entries": [entry_id]}}
    batch_audit = store.audit_entries(limit=1)[0]
    assert (batch_audit["action"], batch_audit["subject"]) == ("financing.batch", "batch:batch-key")
    assert store.financing.decided_and_sent_times(KIND) == []
    store.outbox.claim("w1")
    sent = store.outbox.mark_sent(entry_id, {"platform_id": "P-1"})
    assert store.financing.decided_and_sent_times(KIND) == [(recorded.rows[0]["decided_at"], sent.sent_at)]
    assert store.financing.decided_and_sent_times("other.kind") == []
