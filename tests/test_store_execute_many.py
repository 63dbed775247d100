"""execute_many: the store's bulk statements write what conn.execute would, on SQLite straight to the driver."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ledgerlink.store.db import execute_many

metadata = sa.MetaData()
items = sa.Table(
    "items", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(20)),
    sa.Column("status", sa.String(10)),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("seen_at", sa.DateTime, nullable=True),  # converted on the way in by SQLite's dialect
)


def engine_with_items() -> tuple[sa.Engine, list[tuple[str, bool]]]:
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    statements: list[tuple[str, bool]] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, params, context, many: statements.append((statement, many)))
    return engine, statements


def test_inserts_and_updates_with_values_of_the_statement_itself():
    engine, statements = engine_with_items()
    with engine.begin() as conn:
        execute_many(conn, sa.insert(items), [{"id": i, "name": f"n{i}", "status": "new", "note": None}
                                              for i in range(1, 4)])
        execute_many(conn, sa.update(items).where(items.c.id == sa.bindparam("item_id"))
                     .values(status="done", name=sa.bindparam("new_name"), note=None),
                     [{"item_id": 1, "new_name": "first"}, {"item_id": 3, "new_name": "third"}])
        execute_many(conn, sa.insert(items), [])
        rows = conn.execute(sa.select(items.c.id, items.c.name, items.c.status, items.c.note)
                            .order_by(items.c.id)).all()
    assert [tuple(r) for r in rows] == [(1, "first", "done", None), (2, "n2", "new", None), (3, "third", "done", None)]
    # One executemany per call, seen by the engine's events.
    assert [(s.split()[0], many) for s, many in statements if s.split()[0] in ("INSERT", "UPDATE")] == [
        ("INSERT", True), ("UPDATE", True)]


def test_a_column_that_converts_its_values_goes_through_sqlalchemy():
    engine, _ = engine_with_items()
    when = dt.datetime(2026, 5, 1, 12, 30)
    with engine.begin() as conn:
        execute_many(conn, sa.insert(items), [{"id": 1, "name": "a", "status": "new", "seen_at": when}])
        assert conn.execute(sa.select(items.c.seen_at)).scalar() == when
