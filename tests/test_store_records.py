"""Loading records: versioning, one-transaction atomicity, processed files, feed state, runs."""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa

from ledgerlink.errors import StoreError
from ledgerlink.store import FeedState, LoadResult, QuarantineEntry, StagedRecord
from ledgerlink.store import audit as audit_mod
from ledgerlink.store import feedstate as feedstate_mod
from ledgerlink.store import quarantine as quarantine_mod
from ledgerlink.store import records as records_mod

FEED = "acme-invoices"
ENTITY = "invoice"


def rec(key: str, amount: str, row: int = 1) -> StagedRecord:
    return StagedRecord.build(
        f"vendor_id=V001|invoice_number={key}",
        {"invoice_number": key, "amount": amount},
        {"file": "inv.csv", "row": row},
    )


def bad_row(row: int = 7) -> QuarantineEntry:
    return QuarantineEntry(
        row=row,
        location=None,
        raw={"invoice_number": "F-9", "amount": "abc"},
        errors=[{"field": "amount", "rule": "decimal", "message": "not a number", "mapping_line": 12}],
    )


def test_staged_record_build_hashes_the_canonical_payload():
    r = StagedRecord.build("k=1", {"b": 2, "a": 1}, {"row": 3})
    assert r.payload_json == '{"a":1,"b":2}'
    assert r.content_hash == hashlib.sha256(b'{"a":1,"b":2}').hexdigest()
    assert json.loads(r.lineage_json) == {"row": 3}


@pytest.fixture(params=["key-order", "staged"])
def upsert_path(request, monkeypatch) -> str:
    """SQLite and psycopg2 load in key order; other drivers (psycopg 3, pg8000, ...) through a staging
    table: both ways, on both databases."""
    if request.param == "staged":
        monkeypatch.setattr(records_mod, "_upsert_in_key_order", records_mod._upsert_staged)
    return request.param


def test_new_unchanged_and_changed_records(store, upsert_path):
    run1 = store.start_run(FEED, ENTITY)
    assert store.load(run1, FEED, ENTITY, [rec("F-1", "10.00", 1), rec("F-2", "20.00", 2)]) == LoadResult(
        inserted=2, updated=0, unchanged=0, quarantined=0
    )
    heads = store.current_records(ENTITY)
    assert [(h["natural_key"], h["version"]) for h in heads] == [
        ("vendor_id=V001|invoice_number=F-1", 1),
        ("vendor_id=V001|invoice_number=F-2", 1),
    ]
    assert heads[0]["payload"] == {"invoice_number": "F-1", "amount": "10.00"}
    # The record's own lineage, merged with its run's (feed, run id; source and mapping when set).
    assert heads[0]["lineage"] == {"file": "inv.csv", "row": 1, "feed": FEED, "run_id": run1}
    assert heads[0]["run_id"] == run1

    run2 = store.start_run(FEED, ENTITY)
    result = store.load(
        run2, FEED, ENTITY, [rec("F-1", "10.00", 5), rec("F-2", "25.00", 6), rec("F-3", "30.00", 7)]
    )
    assert result == LoadResult(inserted=1, updated=1, unchanged=1, quarantined=0)
    assert store.count_records(ENTITY) == 3
    assert store.count_records() == 3
    assert store.count_records("other") == 0

    # Unchanged: nothing written, the head still points at run 1 and keeps its lineage.
    f1 = store.record_versions(ENTITY, "vendor_id=V001|invoice_number=F-1")
    assert [(v["version"], v["run_id"], v["lineage"]["row"]) for v in f1] == [(1, run1, 1)]
    # Changed: a second version, the head moved, each version keeps its own lineage.
    f2 = store.record_versions(ENTITY, "vendor_id=V001|invoice_number=F-2")
    assert [(v["version"], v["payload"]["amount"], v["lineage"]["row"], v["run_id"]) for v in f2] == [
        (1, "20.00", 2, run1),
        (2, "25.00", 6, run2),
    ]
    head = {h["natural_key"]: h for h in store.current_records(ENTITY)}["vendor_id=V001|invoice_number=F-2"]
    assert (head["version"], head["payload"]["amount"], head["content_hash"]) == (
        2,
        "25.00",
        f2[1]["content_hash"],
    )

    # Changing back is a new version too (history is never rewritten).
    run3 = store.start_run(FEED, ENTITY)
    assert store.load(run3, FEED, ENTITY, [rec("F-2", "20.00")]).updated == 1
    assert [v["version"] for v in store.record_versions(ENTITY, "vendor_id=V001|invoice_number=F-2")] == [
        1,
        2,
        3,
    ]
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM records").scalar() == 5


def test_current_payloads_are_the_heads_without_lineage(store):
    run1 = store.start_run(FEED, ENTITY)
    store.load(run1, FEED, ENTITY, [rec("F-2", "20.00", 2), rec("F-1", "10.00", 1)])
    run2 = store.start_run(FEED, ENTITY)
    store.load(run2, FEED, ENTITY, [rec("F-2", "25.00", 6)])
    heads = store.current_records(ENTITY)
    assert store.current_payloads(ENTITY) == [
        {k: h[k] for k in ("natural_key", "content_hash", "payload")} for h in heads]
    assert [p["payload"]["amount"] for p in store.current_payloads(ENTITY)] == ["10.00", "25.00"]
    assert store.current_payloads("other") == []


def test_entities_are_versioned_separately(store):
    run = store.start_run(FEED, ENTITY)
    store.load(run, FEED, ENTITY, [rec("F-1", "1")])
    assert store.load(run, FEED, "vendor", [rec("F-1", "2")]).inserted == 1
    assert store.current_records("vendor")[0]["payload"]["amount"] == "2"
    assert store.current_records(ENTITY)[0]["payload"]["amount"] == "1"


def test_empty_load_writes_only_its_audit_entry(store):
    run = store.start_run(FEED, ENTITY)
    assert store.load(run, FEED, ENTITY, []) == LoadResult(0, 0, 0, 0)
    assert store.count_records() == 0
    assert store.audit_entries(limit=1)[0]["action"] == "load"


def test_duplicate_natural_key_in_one_call_is_refused_by_name(store, upsert_path):
    run = store.start_run(FEED, ENTITY)
    with pytest.raises(
        StoreError, match=r"natural key 'vendor_id=V001\|invoice_number=F-1' appears more than once"
    ):
        store.load(run, FEED, ENTITY, [rec("F-1", "1"), rec("F-2", "2"), rec("F-1", "3")])
    assert store.count_records() == 0


def test_load_needs_a_running_run(store):
    with pytest.raises(StoreError, match="no run with id nope"):
        store.load("nope", FEED, ENTITY, [rec("F-1", "1")])
    run = store.start_run(FEED, ENTITY)
    store.finish_run(run, "succeeded")
    with pytest.raises(StoreError, match="is 'succeeded'"):
        store.load(run, FEED, ENTITY, [rec("F-1", "1")])


def _snapshot(store) -> dict:
    with store.engine.connect() as conn:
        return {
            table: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar()
            for table in (
                "records",
                "quarantine",
                "processed_files",
                "feed_state",
                "audit_log",
            )
        }


def _boom(*args, **kwargs):
    raise RuntimeError("injected failure")


@pytest.mark.parametrize(
    ("module", "name"),
    [
        (quarantine_mod, "insert_entries"),  # after the records were written
        (feedstate_mod, "put"),  # after records, quarantine and processed file
        (audit_mod, "append"),  # the very last step
    ],
    ids=["fail-at-quarantine", "fail-at-feed-state", "fail-at-audit"],
)
def test_load_is_one_transaction(store, monkeypatch, module, name):
    run0 = store.start_run(FEED, ENTITY)
    store.load(run0, FEED, ENTITY, [rec("F-1", "10.00")])
    heads_before = store.current_records(ENTITY)

    run = store.start_run(FEED, ENTITY)
    before = _snapshot(store)
    monkeypatch.setattr(module, name, _boom)
    with pytest.raises(RuntimeError, match="injected failure"):
        store.load(
            run,
            FEED,
            ENTITY,
            [rec("F-1", "11.00"), rec("F-2", "20.00")],
            [bad_row()],
            processed_file={"name": "inv-2.csv", "sha256": "b" * 64, "size": 10},
            feed_state=FeedState("2024-05-02T00:00:00Z", ("F-2",)),
        )
    monkeypatch.undo()
    assert _snapshot(store) == before
    assert store.current_records(ENTITY) == heads_before
    assert store.find_processed_file(FEED, "b" * 64) is None
    assert store.get_feed_state(FEED) == FeedState()
    assert store.list_quarantine(status=None) == []
    assert store.verify_audit_chain().ok

    # The same load succeeds afterwards: nothing half-written is in its way.
    result = store.load(
        run,
        FEED,
        ENTITY,
        [rec("F-1", "11.00"), rec("F-2", "20.00")],
        [bad_row()],
        processed_file={"name": "inv-2.csv", "sha256": "b" * 64, "size": 10},
        feed_state=FeedState("2024-05-02T00:00:00Z", ("F-2",)),
    )
    assert result == LoadResult(inserted=1, updated=1, unchanged=0, quarantined=1)


def _refuse_quarantine_entries(store) -> None:
    """A trigger that makes the database refuse quarantine entries, which a load writes after its records."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("CREATE TRIGGER refuse_quarantine BEFORE INSERT ON quarantine "
                                 "BEGIN SELECT RAISE(ABORT, 'quarantine refused by a trigger'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION refuse_quarantine() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'quarantine refused by a trigger'; END $$")
            conn.exec_driver_sql("CREATE TRIGGER refuse_quarantine BEFORE INSERT ON quarantine "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse_quarantine()")


def test_failure_inside_the_database_rolls_back_everything(store, upsert_path):
    """A statement that fails in the database half-way through (after the new versions were
    inserted) leaves nothing behind either."""
    run = store.start_run(FEED, ENTITY)
    _refuse_quarantine_entries(store)
    with pytest.raises(StoreError, match="quarantine refused by a trigger") as refused:
        store.load(
            run,
            FEED,
            ENTITY,
            [rec("F-1", "1")],
            [bad_row()],
            processed_file={"name": "inv.csv", "sha256": "c" * 64},
            feed_state=FeedState("2024-05-01T00:00:00Z", ("F-1",)),
        )
    # The row being written stays out of the message (PostgreSQL quotes it in a failed COPY's context).
    assert run not in str(refused.value) and "acme-invoices" not in str(refused.value)
    assert _snapshot(store) == {
        "records": 0,
        "quarantine": 0,
        "processed_files": 0,
        "feed_state": 0,
        "audit_log": 1,  # run.start only
    }


def test_processed_file_is_recorded_once_per_feed(store):
    sha = hashlib.sha256(b"file one").hexdigest()
    run1 = store.start_run(FEED, ENTITY, source={"name": "inv-1.csv", "sha256": sha, "size": 8})
    store.load(
        run1, FEED, ENTITY, [rec("F-1", "1")], processed_file={"name": "inv-1.csv", "sha256": sha, "size": 8}
    )
    found = store.find_processed_file(FEED, sha)
    assert found is not None
    assert (found["name"], found["size"], found["run_id"], found["status"]) == (
        "inv-1.csv",
        8,
        run1,
        "loaded",
    )
    assert found["processed_at"]
    assert store.find_processed_file(FEED, "0" * 64) is None
    assert store.find_processed_file("other-feed", sha) is None

    # The same content under another name is the same file: refused, naming the earlier run.
    run2 = store.start_run(FEED, ENTITY)
    with pytest.raises(StoreError, match=f"already processed by run {run1}"):
        store.load(run2, FEED, ENTITY, [rec("F-2", "2")], processed_file={"name": "copy.csv", "sha256": sha})
    assert store.count_records(ENTITY) == 1
    # Another feed may process the same file.
    store.load(
        run2, "other-feed", ENTITY, [rec("F-2", "2")], processed_file={"name": "copy.csv", "sha256": sha}
    )
    assert store.find_processed_file("other-feed", sha)["run_id"] == run2


def test_processed_files_are_unique_in_the_database(store):
    import sqlalchemy as sa

    from ledgerlink.store.tables import processed_files

    run = store.start_run(FEED, ENTITY)
    row = {
        "feed": FEED,
        "name": "a",
        "sha256": "d" * 64,
        "run_id": run,
        "status": "loaded",
        "processed_at": "x",
    }
    with store.engine.begin() as conn:
        conn.execute(processed_files.insert().values(**row))
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(processed_files.insert().values(**{**row, "name": "b"}))


def test_feed_state_is_saved_with_the_load(store):
    assert store.get_feed_state(FEED) == FeedState()
    run = store.start_run(FEED, ENTITY)
    store.load(run, FEED, ENTITY, [rec("F-1", "1")], feed_state=FeedState("2024-05-01T10:00:00Z", ("a", "b")))
    assert store.get_feed_state(FEED) == FeedState("2024-05-01T10:00:00Z", ("a", "b"))
    store.load(run, FEED, ENTITY, [], feed_state=FeedState("2024-05-02T00:00:00Z", ("c",)))
    assert store.get_feed_state(FEED) == FeedState("2024-05-02T00:00:00Z", ("c",))
    assert store.get_feed_state("other") == FeedState()


def test_load_is_audited(store):
    run = store.start_run(FEED, ENTITY, actor="alice")
    store.load(
        run,
        FEED,
        ENTITY,
        [rec("F-1", "1")],
        [bad_row()],
        mapping="mappings/acme.yaml",
        processed_file={"name": "inv.csv", "sha256": "e" * 64, "size": 3},
        actor="alice",
    )
    entry = store.audit_entries(limit=1)[0]
    assert (entry["action"], entry["subject"], entry["actor"]) == ("load", f"run:{run}", "alice")
    assert entry["details"]["inserted"] == 1
    assert entry["details"]["quarantined"] == 1
    assert entry["details"]["file"] == {"name": "inv.csv", "sha256": "e" * 64, "size": 3}


def test_runs_lifecycle(store):
    source = {"name": "inv.csv", "sha256": "f" * 64, "size": 12, "path": "/in/inv.csv"}
    run = store.start_run(FEED, ENTITY, source=source, mapping="mappings/acme.yaml")
    got = store.get_run(run)
    assert (got["status"], got["feed"], got["entity"], got["source"], got["finished_at"]) == (
        "running",
        FEED,
        ENTITY,
        source,
        None,
    )
    store.finish_run(
        run,
        "failed",
        totals={"read": 3, "loaded": 2, "quarantined": 1},
        drift=["new column X"],
        error="IBAN NL91ABNA0417164300 rejected",
    )
    got = store.get_run(run)
    assert got["status"] == "failed"
    assert got["totals"] == {"read": 3, "loaded": 2, "quarantined": 1}
    assert got["drift"] == ["new column X"]
    assert "NL91ABNA0417164300" not in got["error"] and "NL91****4300" in got["error"]
    assert got["finished_at"] >= got["started_at"]
    with pytest.raises(StoreError, match="already finished"):
        store.finish_run(run, "succeeded")
    second = store.start_run(FEED, ENTITY)
    with pytest.raises(StoreError, match="expected one of"):
        store.finish_run(second, "done")
    assert store.get_run(second)["status"] == "running"
    assert store.get_run("missing") is None

    other = store.start_run("other-feed", ENTITY)
    assert store.list_runs(limit=10)[0]["id"] == other
    assert {r["id"] for r in store.list_runs(FEED)} == {run, second}
    assert len(store.list_runs(limit=1)) == 1
    assert [e["action"] for e in reversed(store.audit_entries())][:2] == ["run.start", "run.finish"]


def test_versions_written_after_a_position_are_read_once_each(store):
    """A step that looks at each new version once keeps the last position it read as its feed state."""
    run1 = store.start_run(FEED, ENTITY)
    store.load(run1, FEED, ENTITY, [rec("F-1", "10.00"), rec("F-2", "20.00")])
    store.load(store.start_run(FEED, "vendor"), FEED, "vendor", [rec("V-1", "0")])
    with store.unit_of_work() as work:
        work.lock_entity(ENTITY)
        assert work.get_feed_state("looker") == FeedState()
        first = work.versions_after(ENTITY, 0, limit=1)
        rest = work.versions_after(ENTITY, first[-1][0])
        assert [r["payload"]["invoice_number"] for _, r in first + rest] == ["F-1", "F-2"]
        assert rest[0][1]["lineage"]["run_id"] == run1
        run = work.start_run("looker", ENTITY)
        work.put_feed_state("looker", FeedState(cursor=str(rest[-1][0])), run)
        work.finish_run(run, "succeeded", findings=[{"kind": "unmatched", "message": "F-2 has no owner"}])
    position = int(store.get_feed_state("looker").cursor)
    assert store.get_run(run)["drift"] == [{"kind": "unmatched", "message": "F-2 has no owner"}]
    # a changed record is a new version, after the position; nothing before it comes again
    store.load(store.start_run(FEED, ENTITY), FEED, ENTITY, [rec("F-1", "11.00"), rec("F-3", "30.00")])
    with store.unit_of_work() as work:
        later = work.versions_after(ENTITY, position)
    assert [(r["payload"]["invoice_number"], r["version"]) for _, r in later] == [("F-1", 2), ("F-3", 1)]
    assert all(p > position for p, _ in later)


def test_several_loads_in_one_transaction(store):
    """A statement with its entries, or a status's successive versions, load in one unit of work."""
    run = store.start_run(FEED, ENTITY)
    with store.unit_of_work() as work:
        assert work.write_versions(run, ENTITY, [rec("F-1", "1.00")]) == (1, 0, 0)
        assert work.write_versions(run, "vendor", [rec("V-1", "0")]) == (1, 0, 0)
        assert work.write_versions(run, ENTITY, [rec("F-1", "2.00"), rec("F-2", "3.00")]) == (1, 1, 0)
    assert [v["payload"]["amount"] for v in store.record_versions(ENTITY, rec("F-1", "").natural_key)] == ["1.00", "2.00"]


# -- key-ordered batches (what a prepared batch is) ----------------------------------------------


def _ordered_batch(records: list[StagedRecord], slice_size: int) -> records_mod.RecordBatch:
    """``records`` as a RecordBatch of tables of ``slice_size`` records that says it is in key order."""
    def tables():
        for start in range(0, len(records), slice_size):
            part = records[start:start + slice_size]
            yield records_mod.staged_table([r.natural_key for r in part], [r.payload_json for r in part],
                                           [r.lineage_json for r in part])
    return records_mod.RecordBatch(len(records), tables=tables, key_ordered=True)


def test_content_hashes_match_the_payloads_utf8_sha256():
    import pyarrow as pa

    texts = ["", "a", "é€😀", '{"x":1}' * 300]
    # A slice: the hashes must start at the slice's own offset into the shared buffer.
    payloads = pa.array(["ignored"] + texts, pa.string()).slice(1)
    assert records_mod.content_hashes(payloads).to_pylist() == [hashlib.sha256(t.encode()).hexdigest() for t in texts]


def test_key_ordered_batch_in_slices_versions_like_a_list(store):
    """New, changed and unchanged keys, across slice boundaries, in a batch written as it comes."""
    keys = [f"F-{i:03d}" for i in range(40)]
    run1 = store.start_run(FEED, ENTITY)
    assert store.load(run1, FEED, ENTITY, _ordered_batch([rec(k, "1") for k in keys[:30]], 7)) == LoadResult(
        inserted=30, updated=0, unchanged=0, quarantined=0)
    second = [rec(k, "2" if i % 3 == 0 else "1") for i, k in enumerate(keys)]
    run2 = store.start_run(FEED, ENTITY)
    assert store.load(run2, FEED, ENTITY, _ordered_batch(second, 7)) == LoadResult(
        inserted=10, updated=10, unchanged=20, quarantined=0)
    versions = {h["natural_key"].rsplit("=", 1)[1]: h["version"] for h in store.current_records(ENTITY)}
    assert versions == {k: (2 if i % 3 == 0 and i < 30 else 1) for i, k in enumerate(keys)}


def test_a_few_changes_among_many_heads_are_looked_up_by_key(store):
    """Two keys spanning a range of 300 heads: only those two are compared and versioned."""
    keys = [f"F-{i:03d}" for i in range(300)]
    run1 = store.start_run(FEED, ENTITY)
    store.load(run1, FEED, ENTITY, [rec(k, "1") for k in keys])
    run2 = store.start_run(FEED, ENTITY)
    assert store.load(run2, FEED, ENTITY, [rec(keys[0], "1"), rec(keys[-1], "9")]) == LoadResult(
        inserted=0, updated=1, unchanged=1, quarantined=0)
    changed = store.record_versions(ENTITY, f"vendor_id=V001|invoice_number={keys[-1]}")
    assert [(v["version"], v["payload"]["amount"]) for v in changed] == [(1, "1"), (2, "9")]


def test_key_ordered_batch_refuses_a_repeat_across_slices_and_an_order_it_does_not_have(store):
    run = store.start_run(FEED, ENTITY)
    repeated = [rec("F-1", "1"), rec("F-2", "1"), rec("F-2", "2"), rec("F-3", "1")]
    with pytest.raises(StoreError, match=r"natural key 'vendor_id=V001\|invoice_number=F-2' appears more than once"):
        store.load(run, FEED, ENTITY, _ordered_batch(repeated, 2))   # F-2 ends one slice and starts the next
    if store.engine.dialect.name == "sqlite":   # the one that writes a key-ordered batch as it comes
        with pytest.raises(StoreError, match="not in natural-key order"):
            store.load(run, FEED, ENTITY, _ordered_batch([rec("F-2", "1"), rec("F-1", "1")], 5))
    assert store.count_records() == 0


def test_every_record_of_a_multi_row_insert_lands_in_its_own_row(store, monkeypatch):
    """SQLite writes many records per INSERT: every stored value belongs to its own record, in statements
    of whole groups and a shorter last one, for a first load (all version 1) and a reload (versions)."""
    import ledgerlink.store.db as db_mod

    monkeypatch.setattr(db_mod, "_SHARING_ROWS", 7)
    keys = [f"F-{i:03d}" for i in range(40)]
    first = [rec(k, f"{i}.00", i) for i, k in enumerate(keys[:31])]
    store.load(store.start_run(FEED, ENTITY), FEED, ENTITY, _ordered_batch(first, 16))
    second = [rec(k, f"{i}.50" if i % 3 == 0 else f"{i}.00", 100 + i) for i, k in enumerate(keys)]
    assert store.load(store.start_run(FEED, ENTITY), FEED, ENTITY, _ordered_batch(second, 16)) == LoadResult(
        inserted=9, updated=11, unchanged=20, quarantined=0)
    expected = {r.natural_key: (r, 1) for r in first}
    expected.update((r.natural_key, (r, 2 if i < 31 else 1)) for i, r in enumerate(second) if i % 3 == 0 or i >= 31)
    heads = store.current_records(ENTITY)
    assert len(heads) == len(keys)
    for head in heads:
        want, version = expected[head["natural_key"]]
        assert head["version"] == version
        assert head["content_hash"] == want.content_hash
        assert head["payload"] == json.loads(want.payload_json)
        assert head["lineage"]["row"] == json.loads(want.lineage_json)["row"]


def test_a_sqlite_that_takes_few_values_per_statement_gets_fewer_rows_per_insert(tmp_path):
    """SQLite before 3.32 (or built so) binds at most 999 values per statement: the load keeps under it."""
    import sqlite3

    from ledgerlink.store import Store

    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        @sa.event.listens_for(store.engine, "connect")
        def few_values(dbapi_conn, _record):
            dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)

        store.engine.dispose()
        records = [rec(f"F-{i:04d}", "1", i) for i in range(1200)]
        assert store.load(store.start_run(FEED, ENTITY), FEED, ENTITY, _ordered_batch(records, 1200)) == LoadResult(
            inserted=1200, updated=0, unchanged=0, quarantined=0)
        assert store.count_records(ENTITY) == 1200
    finally:
        store.close()
