"""The audit log is a verifiable hash chain that cannot be edited in place."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ledgerlink.store import AuditCheck, Store
from ledgerlink.store.audit import GENESIS, AuditEntry, append_many, entry_hash


def fill(store, n: int = 5) -> None:
    for i in range(n):
        store.audit("test.event", f"item:{i}", {"i": i, "note": "café"}, actor="tester")


def test_chain_links_entries_and_verifies(store):
    assert store.verify_audit_chain() == AuditCheck(ok=True, checked=0)
    fill(store)
    entries = list(reversed(store.audit_entries()))
    assert [e["subject"] for e in entries] == [f"item:{i}" for i in range(5)]
    assert entries[0]["prev_hash"] == GENESIS
    for before, after in zip(entries, entries[1:], strict=False):
        assert after["prev_hash"] == before["hash"]
    # The documented formula, recomputed independently.
    first = entries[0]
    body = {k: first[k] for k in ("at", "actor", "action", "subject", "details")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first["hash"] == hashlib.sha256((GENESIS + canonical).encode()).hexdigest()
    assert store.verify_audit_chain() == AuditCheck(ok=True, checked=5)
    assert [e["subject"] for e in store.audit_entries(limit=2)] == ["item:4", "item:3"]


def _bypass_triggers(conn) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
    else:
        conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")


def _ids(store) -> list[int]:
    return sorted(e["id"] for e in store.audit_entries())


def test_altered_details_are_detected_at_that_entry(store):
    fill(store)
    third = _ids(store)[2]
    with store.engine.begin() as conn:
        _bypass_triggers(conn)
        conn.execute(
            sa.text("UPDATE audit_log SET details = :d WHERE id = :id"),
            {"d": '{"i":2,"note":"cafe"}', "id": third},
        )
    check = store.verify_audit_chain()
    assert (check.ok, check.first_bad_id, check.checked) == (False, third, 2)
    assert "altered" in check.reason


def test_altered_actor_with_recomputed_hash_breaks_the_next_link(store):
    fill(store)
    ids = _ids(store)
    with store.engine.begin() as conn:
        _bypass_triggers(conn)
        row = conn.execute(sa.text("SELECT * FROM audit_log WHERE id = :id"), {"id": ids[1]}).mappings().one()
        forged = entry_hash(
            row["prev_hash"], row["at"], "mallory", row["action"], row["subject"], row["details"]
        )
        conn.execute(
            sa.text("UPDATE audit_log SET actor = 'mallory', hash = :h WHERE id = :id"),
            {"h": forged, "id": ids[1]},
        )
    check = store.verify_audit_chain()
    assert (check.ok, check.first_bad_id) == (False, ids[2])
    assert "does not link" in check.reason


def test_deleted_entry_is_detected(store):
    fill(store)
    ids = _ids(store)
    with store.engine.begin() as conn:
        _bypass_triggers(conn)
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[1]})
    check = store.verify_audit_chain()
    assert (check.ok, check.first_bad_id) == (False, ids[2])


def test_audit_joins_the_callers_transaction(store):
    with pytest.raises(RuntimeError), store.begin() as conn:
        store.audit("a", "s", {}, conn=conn)
        raise RuntimeError("rolled back")
    assert store.audit_entries() == []
    with store.begin() as conn:
        store.audit("a", "s", {"n": 1}, conn=conn)
        store.audit("b", "s", {"n": 2}, conn=conn)
    assert [e["action"] for e in store.audit_entries()] == ["b", "a"]
    assert store.verify_audit_chain().ok


def test_details_with_non_json_values_still_verify(store):
    import datetime
    import decimal

    store.audit("odd", "s", {"amount": decimal.Decimal("1.10"), "day": datetime.date(2024, 5, 1), "x": 1.5})
    assert store.audit_entries()[0]["details"] == {"amount": "1.10", "day": "2024-05-01", "x": 1.5}
    assert store.verify_audit_chain().ok


@pytest.mark.parametrize("details", [
    {"kind": "financing.submit", "key": "k" * 64, "worker": None, "attempts": 3},
    {"note": "café \u2028 \"quoted\" \\ tab\t", "nested": {"b": [1, 2.5, True], "a": {"z": 1, "ä": 2}}},
    {"amount": Decimal("12.30"), "day": dt.date(2026, 1, 2), "big": 10**30, "tuple": (1, "x")},
    {"by_rule": {10: 1, 2: 3}, "mixed": [{"1": 1}, {None: 2}]},  # non-text keys sort differently once parsed
    {},
])
def test_an_appended_entry_is_hashed_as_verification_recomputes_it(store, details):
    with store.begin() as conn:
        append_many(conn, [AuditEntry("test.hash", "subject \u00e9", details, "tester \U0001f600"),
                           AuditEntry("test.hash", "second", details, "tester")])
    with store.engine.connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT id, details FROM audit_log")).all())
    for entry in store.audit_entries(oldest_first=True):
        details_json = stored[entry["id"]]
        assert entry["hash"] == entry_hash(entry["prev_hash"], entry["at"], entry["actor"], entry["action"],
                                           entry["subject"], details_json)
    assert store.verify_audit_chain() == AuditCheck(ok=True, checked=2)


def test_concurrent_appends_never_fork_the_chain(store_url, store):
    workers, per_worker = 6, 15
    errors: list[BaseException] = []

    def work(n: int) -> None:
        own = Store(store_url, migrate=False)
        try:
            for i in range(per_worker):
                own.audit("concurrent", f"w{n}", {"i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.verify_audit_chain() == AuditCheck(ok=True, checked=workers * per_worker)


# -- batches ----------------------------------------------------------------------------------------


def fill_batch(store, n: int = 5) -> list[int]:
    """One entry, a batch of ``n`` appended together, one entry after; returns the batch's ids."""
    store.audit("test.before", "item:before", {})
    with store.begin() as conn:
        append_many(conn, [AuditEntry("test.batch", f"item:{i}", {"i": i, "note": "café"}, "tester")
                           for i in range(n)])
    store.audit("test.after", "item:after", {})
    return [e["id"] for e in store.audit_entries(oldest_first=True) if e["action"] == "test.batch"]


def test_a_batch_verifies_and_each_entry_is_hashed_on_the_one_before(store):
    batch = fill_batch(store)
    entries = store.audit_entries(oldest_first=True)
    assert [e["subject"] for e in entries] == ["item:before", *[f"item:{i}" for i in range(5)], "item:after"]
    assert [e["id"] for e in entries[1:6]] == batch
    for before, after in zip(entries, entries[1:], strict=False):
        assert after["prev_hash"] == before["hash"]
        details = json.dumps(after["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert after["hash"] == entry_hash(before["hash"], after["at"], after["actor"], after["action"],
                                           after["subject"], details)
    assert store.verify_audit_chain() == AuditCheck(ok=True, checked=7)
    assert [e["subject"] for e in store.audit_entries(None, action_prefix="test.b")] == [
        "item:4", "item:3", "item:2", "item:1", "item:0", "item:before"]
    assert [e["id"] for e in store.audit_entries(None, actions=["test.after"], subject="item:after")] == [
        entries[-1]["id"]]


def test_a_unit_of_work_appends_its_entries_with_one_read_and_one_insert(store):
    store.audit("test.before", "item:before", {})
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        if "audit_log" in statement:
            statements.append(statement.split()[0].upper())

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        with store.unit_of_work() as work:
            for i in range(50):
                work.audit("test.batch", f"item:{i}", {"i": i}, actor="tester")
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    # (PostgreSQL writes the rows of an INSERT with COPY)
    assert statements == ["SELECT", "INSERT" if store.engine.dialect.name == "sqlite" else "COPY"]
    entries = store.audit_entries(None, oldest_first=True)
    assert [e["subject"] for e in entries] == ["item:before"] + [f"item:{i}" for i in range(50)]
    for before, after in zip(entries, entries[1:], strict=False):
        assert after["prev_hash"] == before["hash"]
    assert store.verify_audit_chain() == AuditCheck(ok=True, checked=51)


def test_a_batch_that_rolls_back_appends_nothing(store):
    with pytest.raises(RuntimeError), store.unit_of_work() as work:
        work.audit("test.batch", "item:0", {})
        raise RuntimeError("rolled back")
    assert store.audit_entries() == []


def test_altered_entry_inside_a_batch_is_detected_at_that_entry(store):
    batch = fill_batch(store)
    with store.engine.begin() as conn:
        _bypass_triggers(conn)
        conn.execute(sa.text("UPDATE audit_log SET subject = 'item:x' WHERE id = :id"), {"id": batch[2]})
    check = store.verify_audit_chain()
    assert (check.ok, check.first_bad_id) == (False, batch[2])
    assert "altered" in check.reason


def test_removed_entry_inside_a_batch_is_detected(store):
    batch = fill_batch(store)
    with store.engine.begin() as conn:
        _bypass_triggers(conn)
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": batch[1]})
    check = store.verify_audit_chain()
    assert (check.ok, check.first_bad_id) == (False, batch[2])
    assert "does not link" in check.reason


def test_reordered_entries_inside_a_batch_are_detected(store):
    batch = fill_batch(store)
    first, second = batch[1], batch[2]
    columns = ("at", "actor", "action", "subject", "details", "prev_hash", "hash")
    with store.engine.begin() as conn:
        _bypass_triggers(conn)
        rows = {row["id"]: row for row in conn.execute(
            sa.text("SELECT * FROM audit_log WHERE id IN (:a, :b)"), {"a": first, "b": second}).mappings()}
        # Swapped in two steps: prev_hash is unique, so a row is parked on a placeholder first.
        conn.execute(sa.text("UPDATE audit_log SET prev_hash = 'parked' WHERE id = :id"), {"id": second})
        for target, source in ((first, second), (second, first)):
            conn.execute(
                sa.text(f"UPDATE audit_log SET {', '.join(f'{c} = :{c}' for c in columns)} WHERE id = :id"),
                {**{c: rows[source][c] for c in columns}, "id": target},
            )
    check = store.verify_audit_chain()
    assert (check.ok, check.first_bad_id) == (False, first)
    assert "does not link" in check.reason
