"""The store schema comes from the alembic migrations and matches ledgerlink.store.tables."""

from __future__ import annotations

import sqlite3
import traceback

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledgerlink.errors import StoreError
from ledgerlink.store import Store
from ledgerlink.store.db import SQLITE_PAGE_SIZE, mask_url
from ledgerlink.store.tables import metadata


def test_migrations_create_exactly_the_tables_in_tables_py(store):
    with store.engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        assert names == set(metadata.tables) | {"alembic_version"}
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_migrations_run_at_head_and_reopening_is_a_no_op(store, store_url):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0008"
    run_id = store.start_run("feed", "vendor")
    again = Store(store_url)
    try:
        assert again.get_run(run_id)["status"] == "running"
    finally:
        again.close()


def test_without_migrate_nothing_is_created(store_url):
    bare = Store(store_url, migrate=False)
    try:
        with bare.engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
    finally:
        bare.close()


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'sub' / 'store.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == SQLITE_PAGE_SIZE
    finally:
        store.close()


def test_an_existing_sqlite_store_keeps_its_page_size(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # a store file made with SQLite's default page size
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE kept (x)")
    store = Store(f"sqlite:///{path}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM kept").scalar() == 0
        store.start_run("feed", "vendor")  # and works as any store
    finally:
        store.close()


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"])
def test_database_refuses_update_and_delete_of_audit_log(store, statement):
    store.audit("test", "subject", {"n": 1})
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert len(store.audit_entries()) == 1
    assert store.verify_audit_chain().ok


@pytest.mark.postgres
def test_postgres_refuses_truncate_of_audit_log(pg_schema_url):
    store = Store(pg_schema_url)
    try:
        store.audit("test", "subject", {})
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE audit_log")
        assert len(store.audit_entries()) == 1
    finally:
        store.close()


def test_mask_url_hides_the_password():
    masked = mask_url("postgresql://ledger:s3cr3t-pw@db.example:5432/ledger")
    assert "s3cr3t-pw" not in masked
    assert masked == "postgresql://ledger:***@db.example:5432/ledger"
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_store_repr_masks_the_password(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    assert repr(store) == f"Store('sqlite:///{tmp_path / 'store.db'}')"
    store.close()
    unopened = Store("postgresql://ledger:s3cr3t-pw@127.0.0.1:9/ledger", migrate=False)
    try:
        assert "s3cr3t-pw" not in repr(unopened)
        assert "ledger:***@127.0.0.1:9" in repr(unopened)
    finally:
        unopened.close()


def _shown(exc: BaseException) -> str:
    """What a traceback would print about ``exc`` and the exceptions chained to it."""
    return "".join(traceback.TracebackException.from_exception(exc).format_exception_only()) + "".join(
        line
        for frame_exc in (exc.__cause__, None if exc.__suppress_context__ else exc.__context__)
        if frame_exc is not None
        for line in traceback.format_exception_only(frame_exc)
    )


def test_open_error_names_the_store_without_its_password():
    # Port 9 (discard) has nothing listening: the connection is refused.
    with pytest.raises(StoreError) as info:
        Store("postgresql://ledger:s3cr3t-pw@127.0.0.1:9/ledger?connect_timeout=2")
    assert "cannot open the store at postgresql://ledger:***@127.0.0.1:9/ledger" in str(info.value)
    assert "s3cr3t-pw" not in _shown(info.value)


def test_unparseable_url_error_does_not_echo_the_password():
    with pytest.raises(StoreError) as info:
        Store("postgresql//ledger:s3cr3t-pw@nowhere/ledger")
    assert "s3cr3t-pw" not in _shown(info.value)


def test_sqlite_heads_are_kept_without_rowid_and_the_migration_keeps_them(tmp_path):
    """0007 rebuilds SQLite's record_heads WITHOUT ROWID, with the heads it held."""
    from ledgerlink.store.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    try:
        migrate(engine, "0006")
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO record_heads (entity, natural_key, version, content_hash) "
                                 "VALUES ('invoice', 'k1', 3, 'h3')")
        migrate(engine, "0007")
        with engine.connect() as conn:
            ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'record_heads'").scalar()
            heads = conn.exec_driver_sql("SELECT entity, natural_key, version, content_hash FROM record_heads").all()
    finally:
        engine.dispose()
    assert "WITHOUT ROWID" in ddl
    assert [tuple(h) for h in heads] == [("invoice", "k1", 3, "h3")]


def test_heads_come_from_the_versions_after_0008_and_a_downgrade_rebuilds_the_table(store_url):
    """0008 drops record_heads: a key's head is its highest version. Downgrading fills the table again."""
    from alembic import command

    from ledgerlink.store.db import alembic_config, make_engine, migrate

    engine = make_engine(store_url)
    versions = [("invoice", "k1", 1, "a"), ("invoice", "k1", 2, "b"), ("invoice", "k2", 1, "c"),
                ("vendor", "k1", 1, "d")]
    try:
        migrate(engine, "0007")
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO runs (id, feed, entity, status, started_at) "
                                 "VALUES ('r1', 'f', 'invoice', 'succeeded', '2024-01-01T00:00:00Z')")
            for entity, key, version, digest in versions:
                conn.execute(sa.text(
                    "INSERT INTO records (entity, natural_key, version, content_hash, payload, lineage, run_id, "
                    "created_at) VALUES (:e, :k, :v, :h, '{}', '{}', 'r1', '2024-01-01T00:00:00Z')"),
                    {"e": entity, "k": key, "v": version, "h": digest})
        migrate(engine)
        with engine.connect() as conn:
            assert "record_heads" not in sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()
    store = Store(store_url)
    try:
        assert [(r["natural_key"], r["version"], r["content_hash"]) for r in store.current_records("invoice")] == [
            ("k1", 2, "b"), ("k2", 1, "c")]
        assert store.count_records("invoice") == 2
        assert store.count_records() == 3
    finally:
        store.close()
    engine = make_engine(store_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0007")
        with engine.connect() as conn:
            heads = conn.exec_driver_sql("SELECT entity, natural_key, version, content_hash FROM record_heads "
                                         "ORDER BY entity, natural_key").all()
    finally:
        engine.dispose()
    assert [tuple(h) for h in heads] == [("invoice", "k1", 2, "b"), ("invoice", "k2", 1, "c"),
                                         ("vendor", "k1", 1, "d")]
