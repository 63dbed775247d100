"""Versioned canonical records.

Every distinct content of a natural key is kept as one row of ``records`` (version 1,
2, ...); a key's head, its current version, is its highest one. Heads are found through the
unique index on (entity, natural key, version), so a load writes each record once and keeps no
second table of heads in step. A batch is loaded in natural-key order, a slice of Arrow columns
at a time: each slice is compared with the heads of its keys and its new and changed records are
written in bulk (hundreds of rows per INSERT on SQLite, COPY on PostgreSQL), so a million rows cost
seconds, not a million round trips.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple, Protocol, TypeAlias

import polars as pl
import polars_hash
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    MetaData,
    String,
    Table,
    Text,
    exists,
    func,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from ledgerlink.errors import StoreError
from ledgerlink.store.db import (
    PG_LOCK_CLASS_ENTITY,
    copy_rows,
    dumps,
    entity_lock_key,
    insert_sharing,
    pg_lock,
    raw_cursor,
    utcnow,
)
from ledgerlink.store.tables import records, runs

STAGE_TABLE = "ll_load_stage"
_COPY_CHUNK = 100_000
_INSERT_CHUNK = 5_000


class StagedRecord(NamedTuple):
    """One mapped, validated record ready to load. (A tuple: a million of them are built per big file.)"""

    natural_key: str
    content_hash: str  # sha256 hex of payload_json
    payload_json: str
    lineage_json: str

    @classmethod
    def build(cls, natural_key: str, payload: dict[str, Any], lineage: dict[str, Any] | None = None):
        """Serialise ``payload`` and ``lineage`` canonically and hash the payload."""
        payload_json = dumps(payload)
        return cls(
            natural_key=natural_key,
            content_hash=hashlib.sha256(payload_json.encode("utf-8")).hexdigest(),
            payload_json=payload_json,
            lineage_json=dumps(lineage or {}),
        )


@dataclass(frozen=True)
class LoadResult:
    inserted: int  # new natural keys (version 1)
    updated: int  # changed content -> new version
    unchanged: int  # same content hash as the head: nothing written
    quarantined: int  # bad rows of the load: new quarantine entries plus the repeated ones
    # Records of other entities loaded in the same transaction: entity -> (inserted, updated, unchanged)
    related: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    quarantine_repeated: int = 0  # of ``quarantined``: rows still open from an earlier run, counted there


class Records(Protocol):
    """What a load takes: StagedRecords that can be counted and iterated (a list, or a RecordBatch)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[StagedRecord]: ...


# Staged records as columns: how a batch is built, handed from the map task to the load task
# (an Arrow IPC file) and written into the store, without a Python tuple per record.
STAGE_COLUMNS = ("natural_key", "content_hash", "payload", "lineage")
STAGED_SCHEMA = pa.schema([(name, pa.string()) for name in STAGE_COLUMNS])


TextColumn: TypeAlias = "Sequence[str] | pa.Array | pa.ChunkedArray"


def staged_table(natural_keys: TextColumn, payloads: TextColumn, lineages: TextColumn) -> pa.Table:
    """Staged records as an Arrow table; each content hash is the sha256 of its payload's UTF-8 bytes."""
    payload_array = _text_array(payloads)
    return pa.Table.from_arrays([_text_array(natural_keys), content_hashes(payload_array), payload_array,
                                 _text_array(lineages)], schema=STAGED_SCHEMA)


def _text_array(values: TextColumn) -> pa.StringArray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else values.cast(pa.string())
    return pa.array(values, pa.string())


def content_hashes(payloads: pa.StringArray) -> pa.StringArray:
    """The sha256 hex of each payload's UTF-8 bytes, computed by polars from the Arrow buffer (no Python
    string per payload or per hash, and without the GIL: a worker thread hashes the next slice of a load
    while SQLite writes this one)."""
    if payloads.null_count:
        raise ValueError("a staged payload is empty (null)")
    hashed = pl.DataFrame({"p": pl.Series(payloads)}).select(polars_hash.col("p").chash.sha2_256())
    return hashed.to_series().to_arrow().cast(pa.string())


class RecordBatch:
    """A sized batch of StagedRecords produced on demand, each time it is iterated (read back
    from a staged file, built from a frame slice by slice), so a million-row load never holds
    every record in memory. Given as ``produce`` (records) or ``tables`` (Arrow tables of
    STAGED_SCHEMA, what the store loads fastest). ``Store.load`` takes a list as well.
    ``key_ordered``: the tables come in natural-key order (what a prepared batch does), so the
    store can write them as they come instead of sorting the whole batch first."""

    def __init__(self, count: int, produce: Callable[[], Iterator[StagedRecord]] | None = None, *,
                 tables: Callable[[], Iterator[pa.Table]] | None = None, key_ordered: bool = False) -> None:
        if (produce is None) == (tables is None):
            raise ValueError("a RecordBatch takes either records or tables")
        if key_ordered and tables is None:
            raise ValueError("only a RecordBatch of tables can be key-ordered")
        self.count, self._produce, self._tables, self.key_ordered = count, produce, tables, key_ordered

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[StagedRecord]:
        if self._produce is not None:
            return self._produce()
        return (StagedRecord(*row) for table in self.tables() for row in _rows(table))

    def tables(self) -> Iterator[pa.Table]:
        if self._tables is not None:
            return self._tables()
        return staged_tables(iter(self))


def staged_tables(records: Iterable[StagedRecord]) -> Iterator[pa.Table]:
    """Records as Arrow tables of STAGED_SCHEMA, a slice at a time."""
    for chunk in _chunks(iter(records), _COPY_CHUNK):
        yield pa.Table.from_arrays([pa.array(list(c), pa.string()) for c in zip(*chunk, strict=True)],
                                   schema=STAGED_SCHEMA)


def _rows(table: pa.Table) -> Iterator[tuple[str, ...]]:
    return zip(*(column.to_pylist() for column in table.columns), strict=True)


def _stage_table(dialect: str) -> Table:
    kwargs: dict[str, Any] = {"postgresql_on_commit": "DROP"} if dialect == "postgresql" else {}
    return Table(
        STAGE_TABLE,
        MetaData(),
        Column("natural_key", Text, nullable=False),
        Column("content_hash", String(64), nullable=False),
        Column("payload", Text, nullable=False),
        Column("lineage", Text, nullable=False),
        prefixes=["TEMPORARY"],
        **kwargs,
    )


def _fill_stage(conn: Connection, stage: Table, tables: Iterator[pa.Table]) -> int:
    """Copy the batch's tables into the staging table; returns how many records there were."""
    count = 0
    for table in tables:
        for rows in _chunks(_rows(table), _INSERT_CHUNK):
            conn.execute(stage.insert(), [dict(zip(STAGE_COLUMNS, row, strict=True)) for row in rows])
        count += table.num_rows
    return count


_REPEATED_KEY = f"""
SELECT natural_key, COUNT(*) AS n FROM {STAGE_TABLE} GROUP BY natural_key HAVING COUNT(*) > 1
ORDER BY natural_key LIMIT 1
"""


def _chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(rows, size)):
        yield chunk


# A row of ``records`` (aliased ``{alias}``) is its key's head when no higher version of the key
# exists: an index lookup past its own entry in the unique (entity, natural key, version) index.
def _head_sql(alias: str) -> str:
    return (f"NOT EXISTS (SELECT 1 FROM records newer WHERE newer.entity = {alias}.entity "
            f"AND newer.natural_key = {alias}.natural_key AND newer.version > {alias}.version)")


def is_head() -> ColumnElement[bool]:
    """``_head_sql`` for SQLAlchemy queries of ``records``: true for a row that is its key's current version."""
    newer = records.alias("newer")
    return ~exists().where(newer.c.entity == records.c.entity, newer.c.natural_key == records.c.natural_key,
                           newer.c.version > records.c.version)


# The statements below join the staging table ``s`` (scanned in natural-key order) to the heads ``h``.
_STAGE_HEADS = f"""
FROM {STAGE_TABLE} s
LEFT JOIN records h ON h.entity = :entity AND h.natural_key = s.natural_key AND {_head_sql("h")}
"""

_COUNT = f"""
SELECT
  SUM(CASE WHEN h.natural_key IS NULL THEN 1 ELSE 0 END) AS new_keys,
  SUM(CASE WHEN h.natural_key IS NOT NULL AND h.content_hash <> s.content_hash THEN 1 ELSE 0 END) AS changed
{_STAGE_HEADS}
"""

_INSERT_VERSIONS = f"""
INSERT INTO records (entity, natural_key, version, content_hash, payload, lineage, run_id, created_at)
SELECT :entity, s.natural_key, COALESCE(h.version, 0) + 1, s.content_hash, s.payload, s.lineage,
       :run_id, :now
{_STAGE_HEADS}
WHERE h.natural_key IS NULL OR h.content_hash <> s.content_hash
ORDER BY s.natural_key
"""


def upsert(conn: Connection, run_id: str, entity: str, batch: Records) -> tuple[int, int, int]:
    """Write new versions for new or changed keys inside ``conn``'s transaction.

    Returns ``(inserted, updated, unchanged)``.
    """
    if not batch:
        return 0, 0, 0
    # Loads of one entity are serialised so that two of them never compute the same version.
    pg_lock(conn, entity_lock_key(entity), lock_class=PG_LOCK_CLASS_ENTITY)
    dialect = conn.dialect.name
    if dialect == "sqlite" or (dialect == "postgresql" and conn.dialect.driver == "psycopg2"):
        return _upsert_in_key_order(conn, run_id, entity, batch)
    return _upsert_staged(conn, run_id, entity, batch)


def _upsert_staged(conn: Connection, run_id: str, entity: str, batch: Records) -> tuple[int, int, int]:
    """Other drivers: the batch goes into a staging table, compared set-based with the heads."""
    dialect = conn.dialect.name
    stage = _stage_table(dialect)
    # The staging table of an earlier upsert in this transaction (records of a related entity, a
    # second round of versions) is still there: PostgreSQL drops it only at commit.
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {'pg_temp.' if dialect == 'postgresql' else ''}{STAGE_TABLE}")
    # On failure the transaction's rollback removes the staging table again.
    stage.create(conn)
    staged = _fill_stage(conn, stage, batch.tables() if isinstance(batch, RecordBatch) else staged_tables(batch))
    # Built by sorting once filled (far cheaper than keeping a big table sorted while filling);
    # the statements below read the stage through it, so they walk the other indexes in key order.
    conn.exec_driver_sql(f"CREATE INDEX {STAGE_TABLE}_key ON {STAGE_TABLE} (natural_key)")
    repeated = conn.execute(text(_REPEATED_KEY)).first()
    if repeated is not None:
        raise StoreError(f"natural key {repeated.natural_key!r} appears more than once in one load "
                         f"({repeated.n} times); each key may be loaded once per call")
    params = {"entity": entity}
    counts = conn.execute(text(_COUNT), params).one()
    inserted, updated = int(counts.new_keys or 0), int(counts.changed or 0)
    if inserted or updated:
        written = conn.execute(text(_INSERT_VERSIONS), {**params, "run_id": run_id, "now": utcnow()}).rowcount
        if written != inserted + updated:
            raise StoreError(f"inconsistent load of {entity}: {inserted} new and {updated} changed keys, but "
                             f"{written} versions written")
    if dialect not in ("postgresql", "sqlite"):
        # PostgreSQL drops it at commit (ON COMMIT DROP); SQLite with its connection, which the
        # store closes after each transaction (db.make_engine).
        stage.drop(conn)
    return inserted, updated, staged - inserted - updated


# SQLite and PostgreSQL (psycopg2): no staging table (a second copy of the batch, written and indexed
# only to be read once). The batch comes, or is put, in natural-key order and is written a slice at a
# time: each slice is compared with the heads of its keys, and its new and changed records are written
# in key order (many rows per INSERT on SQLite, COPY on PostgreSQL), so the unique index is appended to instead
# of written at random places.
# Every key has a version 1, so counting those counts the keys (one index range, no head test).
_KEYS_IN_RANGE = "SELECT COUNT(*) FROM records WHERE entity = ? AND natural_key BETWEEN ? AND ? AND version = 1"
_HEADS_BETWEEN = ("SELECT r.natural_key, r.version, r.content_hash FROM records r "
                  f"WHERE r.entity = ? AND r.natural_key BETWEEN ? AND ? AND {_head_sql('r')}")
_HEADS_OF_KEYS = ("SELECT r.natural_key, r.version, r.content_hash FROM json_each(?) AS k "
                  f"JOIN records r ON r.entity = ? AND r.natural_key = k.value WHERE {_head_sql('r')}")
# PostgreSQL compares text by the database's collation, not by bytes: heads are looked up by key.
_PG_ANY_RECORD = "SELECT EXISTS (SELECT 1 FROM records WHERE entity = %s)"
_PG_HEADS_OF_KEYS = ("SELECT r.natural_key, r.version, r.content_hash FROM records r "
                     f"WHERE r.entity = %s AND r.natural_key = ANY(%s) AND {_head_sql('r')}")
_RECORD_COLUMNS = ("entity", "natural_key", "version", "content_hash", "payload", "lineage", "run_id", "created_at")


# A column of a slice: Python values (SQLite's INSERTs, a slice decided record by record) or the
# staged Arrow column itself (COPY of a slice that is all new).
_Column: TypeAlias = "list[Any] | pa.ChunkedArray"


@dataclass
class _Slice:
    """What one slice of a load writes: its new and changed records (``versions`` None: all 1)."""

    keys: _Column
    versions: list[int] | None
    hashes: _Column
    payloads: _Column
    lineages: _Column
    new: int      # of them, new keys (version 1)
    changed: int  # and keys with a new version


def _upsert_in_key_order(conn: Connection, run_id: str, entity: str, batch: Records) -> tuple[int, int, int]:
    cursor = raw_cursor(conn)
    sqlite = conn.dialect.name == "sqlite"
    now = utcnow()
    inserted = updated = unchanged = 0
    last: str | None = None
    try:
        # A first load of the entity (nothing to compare with) needs no lookups at all.
        any_record = sqlite or _pg_any_record(cursor, entity)
        for table, values in _with_python_values(_key_ordered_tables(batch), STAGE_COLUMNS if sqlite else ("natural_key",)):
            if not table.num_rows:
                continue
            keys = values[0]
            _check_key_order(keys, last)
            last = keys[-1]
            heads = ({} if not any_record else _heads_of(cursor, entity, keys) if sqlite
                     else _pg_heads_of(cursor, entity, keys))
            if heads:
                hashes, payloads, lineages = values[1:] if sqlite else (table.column(c).to_pylist()
                                                                        for c in STAGE_COLUMNS[1:])
                part = _decide(keys, hashes, payloads, lineages, heads)
            else:  # all new (a first load): no per-record decision; COPY takes the staged columns as they are
                staged: list[_Column] = values if sqlite else [table.column(c) for c in STAGE_COLUMNS]
                part = _Slice(staged[0], None, staged[1], staged[2], staged[3], new=len(keys), changed=0)
            written = (_write_sqlite(conn, entity, run_id, now, part) if sqlite
                       else _write_pg(conn, entity, run_id, now, part))
            if written != len(part.keys):
                raise StoreError(f"inconsistent load of {entity}: {part.new} new and {part.changed} changed keys, "
                                 f"but {written} versions written")
            inserted, updated = inserted + part.new, updated + part.changed
            unchanged += len(keys) - len(part.keys)
    except conn.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy reports a failed statement
        raise DBAPIError.instance(None, None, exc, conn.dialect.loaded_dbapi.Error) from None
    finally:
        cursor.close()
    return inserted, updated, unchanged


def _with_python_values(tables: Iterator[pa.Table], columns: Sequence[str]) -> Iterator[tuple[pa.Table, list[list]]]:
    """Each table with the named columns as Python lists. Not prepared ahead in a thread: SQLite lets go
    of the GIL for every statement it steps, and takes it back only once the thread building the next
    slice (hashes and lists, in Python) lets go of it, so each waits for the other (measured slower,
    with a statement per record and with hundreds)."""
    return ((table, [table.column(c).to_pylist() for c in columns]) for table in tables)


def _decide(keys: list[str], hashes: list[str], payloads: list[str], lineages: list[str],
            heads: dict[str, tuple[int, str]]) -> _Slice:
    """New keys get version 1, changed ones the next version, unchanged ones nothing."""
    rows: list[tuple[str, int, str, str, str]] = []
    new = changed = 0
    for key, digest, payload, lineage in zip(keys, hashes, payloads, lineages, strict=True):
        head = heads.get(key)
        if head is None:
            version = 1
            new += 1
        elif head[1] == digest:
            continue
        else:
            version = head[0] + 1
            changed += 1
        rows.append((key, version, digest, payload, lineage))
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[], [], [], [], []]
    return _Slice(columns[0], columns[1], columns[2], columns[3], columns[4], new=new, changed=changed)


def _write_sqlite(conn: Connection, entity: str, run_id: str, now: str, part: _Slice) -> int:
    shared: dict[str, Any] = {"entity": entity, "run_id": run_id, "created_at": now}
    columns: dict[str, _Column] = {"natural_key": part.keys}
    if part.versions is None:  # (all new: version 1, shared)
        shared["version"] = 1
    else:
        columns["version"] = part.versions
    columns.update(content_hash=part.hashes, payload=part.payloads, lineage=part.lineages)
    return insert_sharing(conn, records, shared, columns)


def _write_pg(conn: Connection, entity: str, run_id: str, now: str, part: _Slice) -> int:
    n = len(part.keys)
    versions = [1] * n if part.versions is None else part.versions
    return copy_rows(conn, "records", _RECORD_COLUMNS, [[entity] * n, part.keys, versions, part.hashes,
                                                      part.payloads, part.lineages, [run_id] * n, [now] * n])


def _key_ordered_tables(batch: Records) -> Iterator[pa.Table]:
    """The batch's tables in natural-key order: as they come when the batch says it is in that order,
    else sorted here (a small batch: a big one is a prepared batch, written in key order)."""
    if isinstance(batch, RecordBatch) and batch.key_ordered:
        return batch.tables()
    tables = list(batch.tables() if isinstance(batch, RecordBatch) else staged_tables(batch))
    if not tables:
        return iter(())
    whole = pa.concat_tables(tables)
    # Arrow compares strings by their UTF-8 bytes, as SQLite's BINARY collation and Python's str do.
    whole = whole.take(pc.sort_indices(whole, [("natural_key", "ascending")]))
    return (whole.slice(start, _COPY_CHUNK) for start in range(0, whole.num_rows, _COPY_CHUNK))


def _check_key_order(keys: list[str], last: str | None) -> None:
    """Refuse a key given twice in one load; in key order, its repeats are next to each other."""
    previous = last
    for key in keys:
        if previous is not None and key <= previous:
            if key == previous:
                times = keys.count(key) + (1 if last == key else 0)
                raise StoreError(f"natural key {key!r} appears more than once in one load "
                                 f"({times} times); each key may be loaded once per call")
            raise StoreError(f"the batch is not in natural-key order: {key!r} comes after {previous!r}")
        previous = key


def _heads_of(cursor: Any, entity: str, keys: list[str]) -> dict[str, tuple[int, str]]:
    """The heads of ``keys`` (sorted): natural key -> (version, content hash). One scan of the key range
    when the keys are most of what it holds (a reload), else a lookup per key (a few changes among many)."""
    in_range = cursor.execute(_KEYS_IN_RANGE, (entity, keys[0], keys[-1])).fetchone()[0]
    if not in_range:
        return {}
    if in_range <= 2 * len(keys):
        rows = cursor.execute(_HEADS_BETWEEN, (entity, keys[0], keys[-1]))
    else:
        rows = cursor.execute(_HEADS_OF_KEYS, (json.dumps(keys), entity))
    return {key: (version, digest) for key, version, digest in rows}


def _pg_any_record(cursor: Any, entity: str) -> bool:
    cursor.execute(_PG_ANY_RECORD, (entity,))
    return bool(cursor.fetchone()[0])


def _pg_heads_of(cursor: Any, entity: str, keys: list[str]) -> dict[str, tuple[int, str]]:
    cursor.execute(_PG_HEADS_OF_KEYS, (entity, keys))
    return {key: (version, digest) for key, version, digest in cursor.fetchall()}


def _run_lineage(row) -> dict[str, Any]:
    run_lineage = {"feed": row.feed, "run_id": row.run_id, "mapping": row.mapping,
                   **(json.loads(row.source) if row.source else {})}
    return {k: v for k, v in run_lineage.items() if v is not None}


def _record_dict(row, runs_seen: dict[tuple, dict[str, Any]] | None = None) -> dict[str, Any]:
    # A record stores only its own lineage (source row, replay origin); what it shares with
    # every record of its run (feed, mapping, source file name, sha256, uri) is kept once, on
    # the run, and merged back here. Keeps a million-row load from writing the same text 1M times.
    # ``runs_seen``: the run lineages already built while reading many records, by run.
    run_key = (row.run_id, row.feed, row.mapping, row.source)
    run_lineage = None if runs_seen is None else runs_seen.get(run_key)
    if run_lineage is None:
        run_lineage = _run_lineage(row)
        if runs_seen is not None:
            runs_seen[run_key] = run_lineage
    return {
        "natural_key": row.natural_key,
        "version": row.version,
        "content_hash": row.content_hash,
        "payload": json.loads(row.payload),
        "lineage": {**run_lineage, **json.loads(row.lineage)},
        "run_id": row.run_id,
        "created_at": row.created_at,
    }


def _heads(entity: str):
    """Head versions of ``entity`` with their run's columns (for the merged lineage)."""
    return (
        select(records, runs.c.feed, runs.c.mapping, runs.c.source)
        .outerjoin(runs, runs.c.id == records.c.run_id)
        .where(records.c.entity == entity, is_head())
    )


def current(conn: Connection, entity: str) -> list[dict[str, Any]]:
    query = _heads(entity).order_by(records.c.natural_key)
    runs_seen: dict[tuple, dict[str, Any]] = {}
    return [_record_dict(row, runs_seen) for row in conn.execute(query)]


def current_payloads(conn: Connection, entity: str) -> list[dict[str, Any]]:
    """Head versions ordered by natural key, each as natural_key, content_hash and payload only (for a
    step that reads every record of an entity and needs neither lineage nor run)."""
    query = (
        select(records.c.natural_key, records.c.content_hash, records.c.payload)
        .where(records.c.entity == entity, is_head())
        .order_by(records.c.natural_key)
    )
    return [{"natural_key": key, "content_hash": content_hash, "payload": json.loads(payload)}
            for key, content_hash, payload in conn.execute(query)]


def find(conn: Connection, entity: str, natural_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Head versions of the given keys that exist: natural_key -> record."""
    keys = sorted(set(natural_keys))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), 500):
        query = _heads(entity).where(records.c.natural_key.in_(keys[start:start + 500]))
        found.update((row.natural_key, _record_dict(row)) for row in conn.execute(query))
    return found


def written_after(conn: Connection, entity: str, position: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """Versions of ``entity`` written after ``position`` (the order the store wrote them in), oldest first,
    at most ``limit``, each with its own position. Loads of one entity are serialised by the entity lock,
    so a reader holding that lock sees every version up to the last one written, none missing."""
    query = (
        select(records, runs.c.feed, runs.c.mapping, runs.c.source)
        .outerjoin(runs, runs.c.id == records.c.run_id)
        .where(records.c.entity == entity, records.c.id > position)
        .order_by(records.c.id)
        .limit(limit)
    )
    return [(int(row.id), _record_dict(row)) for row in conn.execute(query)]


def versions(conn: Connection, entity: str, natural_key: str) -> list[dict[str, Any]]:
    query = (
        select(records, runs.c.feed, runs.c.mapping, runs.c.source)
        .outerjoin(runs, runs.c.id == records.c.run_id)
        .where(records.c.entity == entity, records.c.natural_key == natural_key)
        .order_by(records.c.version)
    )
    return [_record_dict(row) for row in conn.execute(query)]


def has_key(conn: Connection, entity: str, natural_key: str) -> bool:
    query = select(records.c.version).where(records.c.entity == entity, records.c.natural_key == natural_key)
    return conn.execute(query.limit(1)).first() is not None


def count(conn: Connection, entity: str | None = None) -> int:
    """How many keys (current records) ``entity`` has, or every entity: each key has one version 1."""
    query = select(func.count()).select_from(records).where(records.c.version == 1)
    if entity is not None:
        query = query.where(records.c.entity == entity)
    return int(conn.execute(query).scalar_one())
