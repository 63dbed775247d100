"""Cash application's worklist in the store: matches with their postings, resolutions that teach, unapplied cash."""

from __future__ import annotations

import pytest

from ledgerlink.errors import StoreError
from ledgerlink.store import LearnedRule, NewMatch, OutboxRequest


def new_match(key: str, decision: str, *, party: str | None = "C1", postings: int = 0, unapplied: str = "0") -> NewMatch:
    allocations = [{"invoice_number": f"INV-{key}", "amount": "100.00"}] if decision != "exception" else []
    return NewMatch(
        entry_key=key, account="NL91ABNA0417164300", bank_reference=f"B-{key}", value_date="2026-03-02",
        amount="100.00", currency="EUR", counterparty={"name": "Klant BV", "iban": "NL02ABNA0123456789"},
        party_id=party, decision=decision, confidence={"auto": "0.98", "suggest": "0.70"}.get(decision, "0.10"),
        allocations=allocations, evidence={"rules": ["structured_reference"]}, unapplied=unapplied,
        applications=tuple(OutboxRequest("cashapp.apply", f"cashapp:{key}:{i}", {"amount": "100.00"})
                           for i in range(postings)))


def test_automatic_matches_enqueue_their_postings_with_them(store):
    store.cashapp.record_matches("run-1", [new_match("e1", "auto", postings=1), new_match("e2", "suggest"),
                                           new_match("e3", "exception", party=None, unapplied="100.00")])
    assert store.cashapp.unmatched(["e1", "e2", "e4"]) == ["e4"]
    (entry,) = store.outbox.entries("pending", kind="cashapp.apply")
    assert entry.idempotency_key == "cashapp:e1:0"
    assert [m.entry_key for m in store.cashapp.worklist()] == ["e2", "e3"]  # the automatic one is not there
    assert [m.entry_key for m in store.cashapp.unapplied()] == ["e3"]
    assert store.cashapp.counts()["status"] == {"applying": 1, "open": 2}
    audited = store.audit_entries(action_prefix="cashapp.match")
    assert {e["subject"] for e in audited} == {"bank_transaction:e1", "bank_transaction:e2", "bank_transaction:e3"}
    with pytest.raises(StoreError):
        store.cashapp.record_matches("run-2", [new_match("e1", "auto")])  # an entry is matched once


def test_a_resolution_posts_and_teaches_and_cannot_happen_twice(store):
    store.cashapp.record_matches("run-1", [new_match("e2", "suggest")])
    (open_match,) = store.cashapp.worklist()
    resolved = store.cashapp.resolve(
        open_match.id, party_id="C7", allocations=[{"invoice_number": "INV-9", "amount": "100.00"}],
        applications=[OutboxRequest("cashapp.apply", "cashapp:e2:manual", {"amount": "100.00"})], unapplied="0",
        teach=[LearnedRule("iban", "NL02ABNA0123456789", "C7")], actor="cli:maria")
    assert (resolved.status, resolved.party_id, resolved.resolved_by) == ("applying", "C7", "cli:maria")
    assert [(r.kind, r.value, r.party_id, r.match_id) for r in store.cashapp.learned_rules()] == [
        ("iban", "NL02ABNA0123456789", "C7", open_match.id)]
    assert store.outbox.get_by_key("cashapp:e2:manual") is not None
    with pytest.raises(StoreError, match="not open"):
        store.cashapp.reject(open_match.id, actor="cli:maria", reason="twice")
    assert store.cashapp.mark_applied(["e2"]) == 1 and store.cashapp.get(open_match.id).status == "applied"
    assert store.verify_audit_chain().ok


def test_a_taught_iban_cannot_be_taught_to_another_party(store):
    store.cashapp.record_matches("run-1", [new_match("a", "suggest"), new_match("b", "suggest")])
    first, second = store.cashapp.worklist()
    store.cashapp.resolve(first.id, party_id="C7", allocations=[], applications=[], unapplied="0",
                          teach=[LearnedRule("iban", "NL02ABNA0123456789", "C7")], actor="u1")
    with pytest.raises(StoreError, match="already belongs to party C7"):
        store.cashapp.resolve(second.id, party_id="C8", allocations=[], applications=[], unapplied="0",
                              teach=[LearnedRule("iban", "NL02ABNA0123456789", "C8")], actor="u2")
    assert store.cashapp.get(second.id).status == "open"  # nothing of the refused resolution stayed


def test_rejected_matches_and_settled_unapplied_cash_leave_their_lists(store):
    store.cashapp.record_matches("run-1", [new_match("r", "exception", party=None, unapplied="100.00"),
                                           new_match("o", "auto", postings=1, unapplied="15.00")])
    rejected = store.cashapp.reject(store.cashapp.worklist()[0].id, actor="u", reason="refund of a supplier")
    assert (rejected.status, rejected.unapplied_status, rejected.note) == ("rejected", None, "refund of a supplier")
    (over,) = store.cashapp.unapplied()
    settled = store.cashapp.settle_unapplied(over.id, actor="u", note="refunded to the customer")
    assert settled.unapplied_status == "resolved" and store.cashapp.unapplied() == []
    with pytest.raises(StoreError, match="no unapplied cash"):
        store.cashapp.settle_unapplied(over.id, actor="u", note="again")
