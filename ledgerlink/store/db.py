"""Engine set-up, migrations and small helpers shared by the store modules."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Table,
    Update,
    bindparam,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeEngine

from ledgerlink.errors import StoreError
from ledgerlink.redact import mask_accounts_in_text

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SQLITE_BUSY_TIMEOUT_MS = 30_000

# PostgreSQL advisory transaction locks the store takes: pg_advisory_xact_lock(class, key).
PG_LOCK_CLASS = 0x11ED
PG_LOCK_CLASS_ENTITY = 0x11EE  # key: entity_lock_key(entity)
PG_LOCK_MIGRATE = 1
PG_LOCK_AUDIT = 2

WRITE_OPTION = "ledgerlink_write"


def utcnow() -> str:
    """Current time as ISO-8601 UTC text with microseconds (sortable as a string)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


# One encoder for every dumps(): json.dumps with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def dumps(value: Any) -> str:
    """JSON text for storage: compact, keys sorted, non-JSON values (dates, Decimals) as strings."""
    return _ENCODER.encode(value)


def loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (safe for logs, reprs and errors)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable store URL>"


class Scrubber:
    """Removes a URL's password (and anything that looks like an account number) from text."""

    def __init__(self, url: str) -> None:
        try:
            password = make_url(url).password
        except ArgumentError:
            password = None
        self._secret = str(password) if password else None
        self._raw_url = url
        self._masked_url = mask_url(url)

    def __call__(self, message: str) -> str:
        message = message.replace(self._raw_url, self._masked_url)
        if self._secret:
            message = message.replace(self._secret, "***")
        return mask_accounts_in_text(message)


# PostgreSQL's context of a failed COPY quotes the row it was at: "CONTEXT:  COPY records, line 3: "...""
_COPY_ROW = re.compile(r"^((?:CONTEXT:\s+)?COPY \w+, line \d+(?:, column \w+)?): .*$", re.MULTILINE)


def describe_db_error(exc: BaseException) -> str:
    """A short message for a database error, without the SQL statement, its parameters or a COPY's row."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        message = _COPY_ROW.sub(lambda m: m.group(1), str(exc.orig).strip())
        return f"{type(exc.orig).__name__}: {message}"
    if isinstance(exc, SQLAlchemyError):
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return f"{type(exc).__name__}: {exc}"


SQLITE_PAGE_SIZE = 16384


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite would defer it and skip it
    # for DDL and SELECT), so every transaction, including temp-table DDL, is real.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        # Big loads: with the default 2 MB page cache every B-tree insert is a disk read.
        cur.execute("PRAGMA cache_size = -65536")
        cur.execute("PRAGMA temp.cache_size = -32768")
        # Takes effect only when the database file is created (before WAL mode fixes it): a new store
        # gets pages four times SQLite's default, so a big load makes a quarter of the page writes
        # (each written twice in WAL mode: to the log, then to the file at the checkpoint).
        cur.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
        mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode and str(mode[0]).lower() not in ("wal", "memory"):
            raise StoreError(f"SQLite refused WAL journal mode (got {mode[0]!r})")
    finally:
        cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Writers take the write lock up front: a deferred transaction that reads and then
    # writes can fail with SQLITE_BUSY instead of waiting for busy_timeout.
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def resolve_url(url: str) -> URL:
    """Parse ``url``; a bare ``postgresql://`` URL uses psycopg2 when it is installed.

    (SQLAlchemy 2.1 picks psycopg 3 for a bare URL; ledgerlink ships psycopg2-binary.)
    """
    parsed = make_url(url)
    if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg2") is not None:
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def make_engine(url: str) -> Engine:
    parsed = resolve_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        on_disk = database not in ("", ":memory:") and not database.startswith("file:")
        if on_disk:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # A file database gets a fresh connection per transaction (opening one costs well under a
        # millisecond): whatever temporary table a transaction made goes with its connection's
        # temp file, instead of a DROP that frees every page of it one by one.
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                               **({"poolclass": NullPool} if on_disk else {}))
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


ID_CHUNK = 500  # ids per IN (...) list


def execute_many(conn: Connection, statement: Insert | Update, rows: Sequence[Mapping[str, Any]]) -> None:
    """``conn.execute(statement, rows)`` for parameter sets that all have the keys of the first one.

    On SQLite the sets go to the driver's executemany as plain tuples (through ``exec_driver_sql``, so
    the statement still shows in the engine's events): SQLAlchemy's handling of each set costs more than
    SQLite's insert or update of its row. On PostgreSQL (psycopg2) the rows of a plain INSERT go in one
    COPY: a multi-row INSERT of thousands of literals costs the server more to parse and plan than to
    write. Neither where a column type converts its values on the way in."""
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name == "sqlite":
        compiled = statement.compile(dialect=dialect, column_keys=list(rows[0]))
        binds = [(name, compiled.binds[name]) for name in compiled.positiontup or ()]
        if not any(_converts(bind.type, dialect) for _, bind in binds):
            given = rows[0].keys()
            # A name not in the rows is a value of the statement itself (``.values(status="sent")``).
            fixed = {name: bind.value for name, bind in binds if name not in given}
            names = [name for name, _ in binds]
            conn.exec_driver_sql(compiled.string,
                                 [tuple(row[n] if n not in fixed else fixed[n] for n in names) for row in rows])
            return
    elif dialect.name == "postgresql" and dialect.driver == "psycopg2" and _copy_insert(conn, statement, rows):
        return
    conn.execute(statement, list(rows))


# SQLite: rows per INSERT in insert_sharing.
_SHARING_ROWS = 500


def insert_sharing(conn: Connection, table: Table, shared: Mapping[str, Any],
                   columns: Mapping[str, Sequence[Any]]) -> int:
    """INSERT the rows ``columns`` holds (column name -> its values, row by row) into ``table``, every
    row with the ``shared`` values as well; returns the rows written. On SQLite hundreds of rows go in
    each statement, straight to the driver, the shared values written into it once: against a
    statement per row this binds a fraction of the values (a load's records share four of their eight,
    its quarantine entries eight of seventeen) and runs a 500th as many statements. Elsewhere, or where
    a column type converts its values, ``execute_many``."""
    names, values = list(columns), list(columns.values())
    count = len(values[0]) if values else 0
    if not count:
        return 0
    if conn.dialect.name != "sqlite" or any(_converts(table.c[n].type, conn.dialect) for n in [*shared, *names]):
        execute_many(conn, table.insert(), [{**shared, **dict(zip(names, row, strict=True))}
                                            for row in zip(*values, strict=True)])
        return count
    # Shared values go into the statement as SQL literals where they can (text, whole numbers, NULL): a
    # constant is evaluated once for all the statement's rows, where a bound value referenced by every
    # row is copied into each (a million records went in about three quarters of the time in a bare
    # sqlite3 test, a tenth less in the pipeline's load). Any other is bound with each row.
    literals = {name: literal for name, value in shared.items() if (literal := _sql_literal(value)) is not None}
    for name, value in shared.items():
        if name not in literals:
            names.append(name)
            values.append([value] * count)
    cursor = raw_cursor(conn)
    try:
        # SQLite before 3.32 takes at most 999 values per statement (its build may lower the limit too).
        limit = cursor.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        per = max(1, min(_SHARING_ROWS, limit // len(names)))
        written = 0
        for start in range(0, count, per):
            group = [column[start:start + per] for column in values]
            sql = _sharing_sql(table.name, tuple(literals.items()), tuple(names), len(group[0]))
            cursor.execute(sql, tuple(chain.from_iterable(zip(*group, strict=True))))
            written += max(cursor.rowcount, 0)
    except conn.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy reports a failed statement
        raise DBAPIError.instance(None, None, exc, conn.dialect.loaded_dbapi.Error) from None
    finally:
        cursor.close()
    return written


def _sql_literal(value: Any) -> str | None:
    """``value`` as an SQLite literal: text (quotes doubled, the whole of SQL's quoting), a whole number
    or NULL; None for any other value, which is bound instead."""
    if value is None:
        return "NULL"
    if type(value) is int:  # (not a bool, which SQLite stores as 1 or 0)
        return str(value)
    if type(value) is str and "\x00" not in value:  # (a NUL cannot be in the statement's text)
        return "'" + value.replace("'", "''") + "'"
    return None


@functools.lru_cache(maxsize=32)
def _sharing_sql(table: str, literals: tuple[tuple[str, str], ...], columns: tuple[str, ...], rows: int) -> str:
    """INSERT of ``rows`` rows into ``table``: the same literals in each, then a parameter per column."""
    group = "(" + ", ".join([*(literal for _, literal in literals), *(["?"] * len(columns))]) + ")"
    names = ", ".join(f'"{name}"' for name in (*(name for name, _ in literals), *columns))
    return f'INSERT INTO "{table}" ({names}) VALUES ' + ", ".join([group] * rows)


def _copy_insert(conn: Connection, statement: Insert | Update, rows: Sequence[Mapping[str, Any]]) -> bool:
    """COPY ``rows`` into the table of a plain INSERT; False (nothing written) for any other statement:
    values of its own, RETURNING, a column the rows leave out that has a default SQLAlchemy fills in,
    a column type that converts values, or values Arrow does not turn into CSV as psycopg2 would bind them."""
    if not isinstance(statement, Insert) or statement._values or statement._returning:
        return False
    table = statement.table
    if not isinstance(table, Table):
        return False
    names = list(rows[0])
    if any(name not in table.c or _converts(table.c[name].type, conn.dialect) for name in names):
        return False
    if any((c.default is not None or c.onupdate is not None) and c.key not in rows[0] for c in table.c):
        return False
    try:
        values = [pa.array([row[name] for row in rows]) for name in names]
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError, OverflowError):
        return False
    if not all(_copyable(v.type) for v in values):
        return False
    copy_rows(conn, table.name, [table.c[name].name for name in names], values)
    return True


def _converts(kind: TypeEngine[Any], dialect: Dialect) -> bool:
    """Whether a column type converts its values on the way in (then SQLAlchemy must bind them)."""
    return kind.dialect_impl(dialect).bind_processor(dialect) is not None


def _copyable(kind: pa.DataType) -> bool:
    return (pa.types.is_string(kind) or pa.types.is_integer(kind) or pa.types.is_boolean(kind)
            or pa.types.is_null(kind) or pa.types.is_decimal(kind))


def raw_cursor(conn: Connection) -> Any:
    """A cursor of the DB-API connection under ``conn`` (inside its transaction), for COPY and executemany."""
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:  # pragma: no cover - a connection in a transaction always has one
        raise StoreError("the store's database connection is closed")
    return dbapi.cursor()


_COPY_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")


def copy_rows(conn: Connection, table: str, columns: Sequence[str], values: Sequence[Any]) -> int:
    """PostgreSQL: COPY the rows given as columns (lists or Arrow columns) into ``table`` inside ``conn``'s
    transaction, as CSV (a null is an unquoted empty field, an empty text a quoted one); returns how many
    rows it took. The engine's before_cursor_execute listeners see the COPY as they see a statement."""
    if not len(values[0]):
        return 0
    buffer = io.BytesIO()
    pa_csv.write_csv(pa.table(dict(zip(columns, values, strict=True))), buffer, _COPY_OPTIONS)
    buffer.seek(0)
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
    cursor = raw_cursor(conn)
    try:
        if conn.dispatch.before_cursor_execute:
            conn.dispatch.before_cursor_execute(conn, cursor, sql, {}, None, False)
        cursor.copy_expert(sql, buffer)
        return cursor.rowcount
    except conn.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy reports a failed statement
        raise DBAPIError.instance(sql, None, exc, conn.dialect.loaded_dbapi.Error) from None
    finally:
        cursor.close()


def statuses_by_id(conn: Connection, table: Table, ids: list[int], *, what: str,
                   lock: bool = False) -> dict[int, str]:
    """id -> status of ``table``'s rows with these ids (row-locked with ``lock``); a StoreError
    names the ids that do not exist (``what``: "outbox entry", "quarantine entry")."""
    lookup = select(table.c.id, table.c.status).where(table.c.id.in_(bindparam("ids", expanding=True)))
    if lock:
        lookup = lookup.with_for_update()
    found: dict[int, str] = {}
    for start in range(0, len(ids), ID_CHUNK):
        for row_id, status in conn.execute(lookup, {"ids": ids[start : start + ID_CHUNK]}):
            found[row_id] = status
    missing = [i for i in ids if i not in found]
    if missing:
        raise StoreError(f"no {what} with id {', '.join(map(str, missing[:20]))}")
    return found


def entity_lock_key(entity: str) -> int:
    """A stable signed 32-bit lock key for an entity name."""
    return int.from_bytes(hashlib.sha256(entity.encode("utf-8")).digest()[:4], "big", signed=True)


def pg_lock(conn: Connection, key: int, *, lock_class: int = PG_LOCK_CLASS) -> None:
    """Serialise with other transactions taking the same lock (PostgreSQL only; no-op elsewhere).

    The lock is released when the transaction ends (SQLite needs none: BEGIN IMMEDIATE
    already admits a single writer).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": lock_class, "k": key})


def alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(write_engine: Engine, revision: str = "head") -> None:
    """Run ``alembic upgrade <revision>`` on the store, serialised against other processes."""
    from alembic import command

    with write_engine.begin() as conn:
        pg_lock(conn, PG_LOCK_MIGRATE)
        command.upgrade(alembic_config(conn), revision)
