"""execute_many: the store's bulk statements write what conn.execute would, on SQLite straight to the driver."""

from __future__ import annotations

import datetime as dt

import pytest
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


# -- PostgreSQL: a plain INSERT's rows go in one COPY ---------------------------------------------

copied = sa.Table(
    "copied", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=True),
    sa.Column("n", sa.Integer, nullable=True),
    sa.Column("code", sa.String(5), nullable=True),
    sa.Column("made", sa.String(20), server_default="by-server"),
)
defaulted = sa.Table(
    "defaulted", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(10), default="fresh"),  # SQLAlchemy fills it in: not a COPY
)


@pytest.fixture
def pg_engine(pg_schema_url):
    from ledgerlink.store.db import resolve_url

    engine = sa.create_engine(resolve_url(pg_schema_url))
    metadata.create_all(engine, tables=[copied, defaulted])
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, params, context, many: statements.append(statement))
    yield engine, statements
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_copies_a_plain_insert_and_writes_what_an_insert_would(pg_engine):
    engine, statements = pg_engine
    tricky = ["", None, 'a "quoted", comma', "line\nbreak", "\\.", "back\\slash", "é€😀", " padded "]
    rows = [{"name": t, "n": i if i % 3 else None, "code": "x" * (i % 3)} for i, t in enumerate(tricky)]
    with engine.begin() as conn:
        execute_many(conn, sa.insert(copied), rows)
        conn.execute(sa.insert(copied), rows)   # the same rows the usual way, to compare with
        got = [tuple(r) for r in conn.execute(sa.select(copied.c.name, copied.c.n, copied.c.code, copied.c.made)
                                              .order_by(copied.c.id))]
    assert got[:len(rows)] == got[len(rows):] == [(r["name"], r["n"], r["code"], "by-server") for r in rows]
    assert [s.split(" (")[0] for s in statements if "copied" in s and not s.startswith("SELECT")] == [
        "COPY copied", "INSERT INTO copied"]   # only the comparison went as INSERT


@pytest.mark.postgres
def test_postgresql_inserts_as_usual_what_a_copy_would_get_wrong(pg_engine):
    engine, statements = pg_engine
    with engine.begin() as conn:
        execute_many(conn, sa.insert(defaulted), [{"id": 1}, {"id": 2}])   # a default SQLAlchemy fills in
        execute_many(conn, sa.insert(copied).values(made="mine"), [{"name": "a"}])   # a value of its own
        execute_many(conn, sa.insert(copied), [{"name": 2**70}])   # past what Arrow holds: PostgreSQL casts it
        assert [tuple(r) for r in conn.execute(sa.select(defaulted).order_by(defaulted.c.id))] == [
            (1, "fresh"), (2, "fresh")]
        assert conn.execute(sa.select(copied.c.made).where(copied.c.name == "a")).scalar() == "mine"
        assert conn.execute(sa.select(copied.c.name).where(copied.c.name == str(2**70))).scalar() == str(2**70)
    assert [s.split(" (")[0] for s in statements if s.startswith("INSERT")] == [
        "INSERT INTO defaulted", "INSERT INTO copied", "INSERT INTO copied"]


def test_a_failed_copy_is_described_without_the_row_it_was_at():
    from sqlalchemy.exc import DBAPIError

    from ledgerlink.store.db import describe_db_error

    row = '"r1","acme","NL91ABNA0417164300"'
    for message, kept in [
        (f'duplicate key\nDETAIL:  Key (id)=(7) already exists.\nCONTEXT:  COPY quarantine, line 5: {row}',
         "CONTEXT:  COPY quarantine, line 5"),
        (f"refused\nCONTEXT:  PL/pgSQL function refuse() line 1 at RAISE\nCOPY records, line 2, column payload: {row}",
         "COPY records, line 2, column payload"),
    ]:
        described = describe_db_error(DBAPIError.instance("COPY ...", None, ValueError(message), ValueError))
        assert kept in described and "acme" not in described and "NL91" not in described
        assert described.startswith("ValueError: ") and message.splitlines()[1] in described


@pytest.mark.parametrize("count", [0, 1, 499, 500, 1203])
def test_rows_sharing_values_are_written_as_one_insert_per_row_would_write_them(count):
    """insert_sharing: hundreds of rows a statement on SQLite, the shared values written into it once; the
    table holds what an INSERT per row would have left (nulls, the last short statement, column order)."""
    from ledgerlink.store.db import insert_sharing

    engine, _ = engine_with_items()
    rows = [(i, f"n{i}", None if i % 3 else f"note {i}") for i in range(1, count + 1)]
    columns = {"id": [r[0] for r in rows], "name": [r[1] for r in rows], "note": [r[2] for r in rows]}
    inserts: list[str] = []
    with engine.begin() as conn:
        # (the statements go straight to the driver: SQLite's own trace sees them)
        conn.connection.dbapi_connection.set_trace_callback(
            lambda sql: inserts.append(sql) if sql.startswith("INSERT") else None)
        assert insert_sharing(conn, items, {"status": "open"}, columns) == count
        stored = conn.execute(sa.select(items.c.id, items.c.name, items.c.status, items.c.note).order_by(items.c.id)).all()
    assert [tuple(r) for r in stored] == [(i, name, "open", note) for i, name, note in rows]
    assert len(inserts) == -(-count // 500)  # (whole statements of 500 rows, then the rest)


@pytest.mark.parametrize("shared", [
    "it's; DROP TABLE items; --",       # written into the statement: quoted, never run
    "Café ''ünïcode'' \u2028 \\ end",   # non-ASCII, doubled quotes, a line separator, a backslash
    "nul\x00inside",                      # cannot be in an SQL text: bound with each row
    b"bytes",                              # not text: bound with each row
    1.5,                                   # not a whole number: bound with each row
    None,
])
def test_shared_values_of_any_kind_are_stored_as_given(shared):
    from ledgerlink.store.db import insert_sharing

    stored = []
    for insert in ("shared", "one row at a time"):
        engine, _ = engine_with_items()
        with engine.begin() as conn:
            if insert == "shared":
                assert insert_sharing(conn, items, {"note": shared, "status": 7}, {"id": [1, 2, 3]}) == 3
            else:
                for i in (1, 2, 3):
                    conn.execute(sa.insert(items).values(id=i, note=shared, status=7))
            query = sa.select(items.c.id, items.c.status, items.c.note, sa.func.typeof(items.c.note))
            stored.append([tuple(r) for r in conn.execute(query.order_by(items.c.id))])
    assert stored[0] == stored[1]
    assert [r[2] for r in stored[0]] == [str(shared) if isinstance(shared, float) else shared] * 3  # (a text column)


def test_rows_sharing_values_in_a_column_that_converts_go_through_sqlalchemy():
    from ledgerlink.store.db import insert_sharing

    engine, _ = engine_with_items()
    seen = dt.datetime(2026, 3, 1, 12, 0)
    with engine.begin() as conn:
        insert_sharing(conn, items, {"seen_at": seen}, {"id": [1, 2], "name": ["a", "b"]})
        assert conn.execute(sa.select(items.c.seen_at).where(items.c.id == 2)).scalar() == seen


def test_a_failed_shared_insert_is_reported_as_sqlalchemy_reports_a_failed_statement():
    from ledgerlink.store.db import insert_sharing

    engine, _ = engine_with_items()
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        insert_sharing(conn, items, {"status": "open"}, {"id": [1, 1], "name": ["a", "b"]})
