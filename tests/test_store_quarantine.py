"""Quarantine entries: stored with the load, listed, resolved once, audited."""

from __future__ import annotations

import pytest

from ledgerlink.errors import StoreError
from ledgerlink.store import QuarantineEntry, StagedRecord

FEED = "acme-vendors"


def entry(row: int, rule: str = "required", **kwargs) -> QuarantineEntry:
    return QuarantineEntry(
        row=row,
        location=kwargs.pop("location", None),
        raw={"vendor_id": f"V{row:03d}", "iban": ""},
        errors=[
            {"field": "iban", "rule": rule, "message": "IBAN is required", "mapping_line": 14},
            {"field": "name", "rule": "max_length", "message": "too long", "mapping_line": 9},
        ],
        **kwargs,
    )


def load(store, feed=FEED, entries=(), **kwargs):
    run = store.start_run(feed, "vendor")
    store.load(run, feed, "vendor", [StagedRecord.build("vendor_id=V001", {"a": 1})], entries, **kwargs)
    return run


def test_entries_are_stored_with_their_source_and_errors(store):
    run = load(
        store,
        entries=[entry(3), entry(5, rule="iban", location="/Vendors/Vendor[5]", source_name="own.xml")],
        mapping="mappings/acme-vendors.yaml",
        processed_file={"name": "vendors.csv", "sha256": "a" * 64, "size": 100},
    )
    items = store.list_quarantine()
    assert [q["row"] for q in items] == [3, 5]
    first, second = items
    assert first["run_id"] == run
    assert (first["feed"], first["entity"], first["mapping"]) == (
        FEED,
        "vendor",
        "mappings/acme-vendors.yaml",
    )
    assert first["raw"] == {"vendor_id": "V003", "iban": ""}
    assert first["errors"][0] == {
        "field": "iban",
        "rule": "required",
        "message": "IBAN is required",
        "mapping_line": 14,
    }
    assert len(first["errors"]) == 2
    assert first["reason_code"] == "required"
    assert first["status"] == "open"
    # The file of the load is the default source; an entry's own source wins.
    assert (first["source_name"], first["source_sha256"]) == ("vendors.csv", "a" * 64)
    assert (second["source_name"], second["source_sha256"], second["location"]) == (
        "own.xml",
        "a" * 64,
        "/Vendors/Vendor[5]",
    )
    assert second["reason_code"] == "iban"
    assert store.get_quarantine(first["id"]) == first
    assert store.get_quarantine(999_999) is None


def test_entry_without_errors_gets_reason_unknown(store):
    load(store, entries=[QuarantineEntry(row=None, location=None, raw={}, errors=[])])
    assert store.list_quarantine()[0]["reason_code"] == "unknown"


def test_list_filters_by_feed_status_and_limit(store):
    load(store, entries=[entry(1), entry(2), entry(3)])
    load(store, feed="other", entries=[entry(4)])
    assert [q["row"] for q in store.list_quarantine(feed=FEED)] == [1, 2, 3]
    assert [q["row"] for q in store.list_quarantine(feed="other")] == [4]
    assert [q["row"] for q in store.list_quarantine(limit=2)] == [1, 2]
    ids = [q["id"] for q in store.list_quarantine(feed=FEED)]
    store.resolve_quarantine(ids[:1], "discarded", actor="bob")
    assert [q["row"] for q in store.list_quarantine(feed=FEED)] == [2, 3]
    assert [q["row"] for q in store.list_quarantine(status="discarded")] == [1]
    assert [q["row"] for q in store.list_quarantine(status=None)] == [1, 2, 3, 4]
    with pytest.raises(StoreError, match="unknown quarantine status"):
        store.list_quarantine(status="closed")


def test_resolve_marks_entries_and_is_audited(store):
    load(store, entries=[entry(1), entry(2), entry(3)])
    ids = [q["id"] for q in store.list_quarantine()]
    replay_run = store.start_run(FEED, "vendor")
    assert store.resolve_quarantine(ids[:2], "replayed", actor="alice", run_id=replay_run) == 2
    resolved = store.get_quarantine(ids[0])
    assert (resolved["status"], resolved["resolved_by"], resolved["resolution_run_id"]) == (
        "replayed",
        "alice",
        replay_run,
    )
    assert resolved["resolved_at"] >= resolved["created_at"]
    assert store.get_quarantine(ids[2])["status"] == "open"
    audit = store.audit_entries(limit=1)[0]
    assert (audit["action"], audit["actor"], audit["details"]) == (
        "quarantine.replayed",
        "alice",
        {"ids": sorted(ids[:2]), "run_id": replay_run},
    )


def test_resolving_twice_is_refused_and_changes_nothing(store):
    load(store, entries=[entry(1), entry(2)])
    a, b = (q["id"] for q in store.list_quarantine())
    store.resolve_quarantine([a], "discarded", actor="bob")
    audit_count = len(store.audit_entries())
    with pytest.raises(StoreError, match=rf"already resolved.*{a} \(discarded\)"):
        store.resolve_quarantine([b, a], "replayed", actor="bob")
    # All or nothing: the open entry in the same call stays open.
    assert store.get_quarantine(b)["status"] == "open"
    assert store.get_quarantine(a)["status"] == "discarded"
    assert len(store.audit_entries()) == audit_count


def test_resolve_refuses_unknown_ids_and_statuses(store):
    load(store, entries=[entry(1)])
    (qid,) = (q["id"] for q in store.list_quarantine())
    with pytest.raises(StoreError, match="no quarantine entry with id 424242"):
        store.resolve_quarantine([qid, 424242], "discarded", actor="bob")
    with pytest.raises(StoreError, match="'replayed' or 'discarded'"):
        store.resolve_quarantine([qid], "open", actor="bob")
    assert store.get_quarantine(qid)["status"] == "open"
    assert store.resolve_quarantine([], "discarded", actor="bob") == 0


def test_resolve_joins_the_callers_transaction(store):
    load(store, entries=[entry(1)])
    (qid,) = (q["id"] for q in store.list_quarantine())
    with pytest.raises(RuntimeError), store.begin() as conn:
        store.resolve_quarantine([qid], "replayed", actor="carol", conn=conn)
        raise RuntimeError("replay failed")
    assert store.get_quarantine(qid)["status"] == "open"
    assert store.audit_entries(limit=1)[0]["action"] == "load"

    with store.begin() as conn:
        store.resolve_quarantine([qid], "replayed", actor="carol", conn=conn)
        store.audit("replay.note", f"quarantine:{qid}", {"ok": True}, actor="carol", conn=conn)
    assert store.get_quarantine(qid)["status"] == "replayed"
    assert store.verify_audit_chain().ok


def test_fingerprint_is_the_sha256_of_the_raw_row_and_its_rules_as_stored_json():
    """Fingerprints stored by earlier loads must keep matching: the text hashed is dumps() of
    {"raw": ..., "rules": sorted (field, rule) pairs}, however it is put together."""
    import hashlib
    from decimal import Decimal

    from ledgerlink.store.db import dumps
    from ledgerlink.store.quarantine import fingerprint

    raw = {"b": "é\u2028x", "a": None, "z": [1, {"q": Decimal("1.50")}], '"k"': "v\\"}
    errors = [{"field": "a", "rule": "type.money"}, {"field": "a", "rule": "type.money"}, {"rule": 3}, "junk"]
    expected = hashlib.sha256(dumps({"raw": raw, "rules": [["None", "3"], ["a", "type.money"]]}).encode()).hexdigest()
    assert fingerprint(raw, errors) == expected
    assert fingerprint(raw, errors, dumps(raw)) == expected
