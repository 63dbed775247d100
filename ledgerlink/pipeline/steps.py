"""The feed pipeline as plain functions: map and validate a file, then load it.

    prepare_file(...)  -> PreparedBatch   the feed's mapper, then the one mapping stage (prepare): schema
                                          and key checks, staged records and quarantine entries
    load_batch(...)    -> RunSummary      one store transaction: records, quarantine, processed file, state

Airflow tasks, the CLI, tests and the benchmark all call these; nothing here imports Airflow.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from ledgerlink import progress
from ledgerlink.config import display_path
from ledgerlink.errors import StoreError
from ledgerlink.mapping import MapResult, load_mapping
from ledgerlink.model.money import exact_sum
from ledgerlink.pipeline.control import CONTROL_AMOUNT, ControlTotals, Totals
from ledgerlink.pipeline.feeds import Feed
from ledgerlink.pipeline.mappers import Mapper, StoreAware, mapper_for
from ledgerlink.pipeline.validate import text_column, validate_frame
from ledgerlink.prefetch import ahead
from ledgerlink.redact import error_text
from ledgerlink.store import (
    FeedState,
    QuarantineEntry,
    RecordBatch,
    Records,
    StagedRecord,
    Store,
    staged_table,
)
from ledgerlink.store.db import dumps

log = logging.getLogger("ledgerlink")


@dataclass(frozen=True)
class SourceFile:
    """A local file ready to process, with what lineage needs to know about it."""
    path: Path
    name: str
    sha256: str
    size: int
    uri: str = ""

    @classmethod
    def from_path(cls, path: Path, uri: str = "") -> SourceFile:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return cls(path, path.name, digest.hexdigest(), path.stat().st_size, uri or path.resolve().as_uri())

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "size": self.size, "uri": self.uri}


@dataclass
class PreparedBatch:
    feed: str
    entity: str
    mapping: str
    source: SourceFile | None
    records: Records   # a RecordBatch: produced when iterated
    quarantine: list[QuarantineEntry]
    totals: ControlTotals
    drift: list[dict[str, Any]] = field(default_factory=list)
    loaded_amounts: Totals = field(default_factory=Totals)
    # Records of other entities loaded with this batch (a bank file's statements), entity -> records
    related: dict[str, list[StagedRecord]] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)   # checks worth a person's look


@dataclass
class RunSummary:
    run_id: str
    feed: str
    status: str                      # succeeded | skipped | failed
    source: dict[str, Any] | None
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    quarantine_repeated: int = 0     # of quarantined: rows already open in the quarantine from an earlier run
    filtered: int = 0
    read: int = 0
    totals: dict[str, Any] = field(default_factory=dict)
    drift: list[dict[str, Any]] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)   # quarantine reason code -> rows
    message: str = ""
    related: dict[str, dict[str, int]] = field(default_factory=dict)   # entity -> inserted/updated/unchanged
    findings: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def describe(self) -> str:
        if self.status == "skipped":
            return f"{self.feed}: {self.message}"
        src = (self.source or {}).get("name", "(rows)")
        parts = [f"{self.feed}: {src}: read {self.read}, new {self.inserted}, changed {self.updated}, "
                 f"unchanged {self.unchanged}, quarantined {self.quarantined}"
                 + (f" ({self.quarantine_repeated} already open from an earlier run)" if self.quarantine_repeated
                    else "") + f", filtered {self.filtered}"]
        if self.reasons:
            parts.append("  quarantined because: " + ", ".join(f"{r} x{n}" for r, n in sorted(self.reasons.items())))
        for entity, counts in self.related.items():
            parts.append(f"  {entity}: new {counts['inserted']}, changed {counts['updated']}, "
                         f"unchanged {counts['unchanged']}")
        for d in self.drift:
            parts.append(f"  drift: {d.get('kind')} {d.get('column', '')} {d.get('detail', '')}".rstrip())
        for f in self.findings:
            parts.append(f"  {f['kind']}: {f['message']}")
        return "\n".join(parts)


# pandas builds JSON lines as one string and then splits it; slices keep those strings small
# (one 1M-row string costs several times ten 100k-row ones).
_JSON_SLICE = 50_000


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """One JSON object per row, as pandas writes it (the canonical form every stored hash was made of).
    Split on newlines only: a value may hold a line or paragraph separator that ``splitlines`` would cut."""
    lines: list[str] = []
    for start in range(0, len(frame), _JSON_SLICE):
        part = frame.iloc[start:start + _JSON_SLICE]
        lines.extend(part.to_json(orient="records", lines=True, force_ascii=False).rstrip("\n").split("\n"))
    return lines


def _json_column(frame: pd.DataFrame, names: list[str]) -> pl.Series:
    """``_json_lines(frame[names])`` as a text column, built column-wise by polars when every value is
    text or empty (what CSV mappings produce): the same bytes (compact, fields in order, non-ASCII as
    is, ``/`` escaped as ``\\/``), so the same content hashes, at a fraction of the cost. Other values
    (numbers, booleans, objects) keep the pandas form."""
    if frame.empty:
        return pl.Series([], dtype=pl.String)
    columns = [text_column(frame[n], n) for n in names]
    if any(c is None for c in columns):
        return pl.Series(_json_lines(frame[names]), dtype=pl.String)
    table = pl.DataFrame(columns)
    screen = table.select(pl.any_horizontal(pl.all().is_null().any(), pl.all().str.contains(_JSON_ESCAPED).any()),
                          *(pl.col(n).str.contains("/", literal=True).any().alias(f"/{i}") for i, n in enumerate(names)))
    needs_escapes, *has_slash = screen.row(0)
    if needs_escapes:
        encoded = pl.struct(names).struct.json_encode().str.replace_all("/", "\\/", literal=True)
        return table.select(encoded).to_series()
    # No value empty or holding a character JSON escapes (both encoders write every other one as it is):
    # each object is its pieces joined, in one pass and with no copy of a column without a "/".
    pieces: list[pl.Expr] = []
    for i, name in enumerate(names):
        value = pl.col(name).str.replace_all("/", "\\/", literal=True) if has_slash[i] else pl.col(name)
        member = json.dumps(name, ensure_ascii=False).replace("/", "\\/")
        pieces += [pl.lit(("{" if i == 0 else '",') + member + ':"'), value]
    return table.select(pl.concat_str([*pieces, pl.lit('"}')])).to_series()


# What JSON writes escaped in a string: the quote, the backslash and control characters.
_JSON_ESCAPED = r'["\\\x00-\x1f]'


def natural_key_series(frame: pd.DataFrame, key: list[str]) -> pl.Series:
    """Natural key text per record (by position): the key fields as a JSON object, in key order.
    (A polars column: a million keys are not a million Python strings kept for the whole batch.)"""
    return _json_column(frame, key)


def payload_column(frame: pd.DataFrame, fields: list[str], *, omit_empty: bool = False) -> pa.Array:
    """Canonical payload JSON per record, as an Arrow text column. Every path that stores records goes
    through here, so the same content always gives the same text and the same content hash.
    ``omit_empty`` (parsers' records): empty fields are left out instead of written as null."""
    if frame.empty:
        return pa.array([], pa.string())
    if omit_empty:
        return pa.array([dumps({k: v for k, v in rec.items() if v is not None})
                         for rec in frame[fields].to_dict(orient="records")], pa.string())
    return _json_column(frame, fields).to_arrow()


def _row_lineages(rows: pd.Series, extra: str = "") -> pa.Array | list[str]:
    """Each record's own lineage when it is its source row: ``{<extra>"row": N}`` (``extra``: members
    every record of the batch shares, as JSON text ending in ", "). Built by polars for a column of row
    numbers, by Python otherwise (the same text)."""
    if pd.api.types.is_integer_dtype(rows.dtype):
        text = pl.Series(rows.to_numpy()).cast(pl.String)
        return pl.select(pl.concat_str([pl.lit(f'{{{extra}"row": '), text, pl.lit("}")])).to_series().to_arrow()
    return [f'{{{extra}"row": {row}}}' for row in rows.tolist()]


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def prepare(mapper: Mapper, result: MapResult, *, feed: str, run_id: str, source: SourceFile | None,
            lineage_extra: dict[str, Any] | None = None) -> PreparedBatch:
    """The one mapping stage, after the mapper: validate the mapped records against their entity's
    schema, check their natural keys, and turn them into staged records plus quarantine entries.
    ``result`` lets go of its source table once the refused rows' source values are taken from it."""
    fields = [f for f in mapper.field_names if f in result.frame.columns]
    frame = result.frame
    if not frame.index.equals(pd.RangeIndex(len(frame))):  # (a copy of every column: only when needed)
        frame = frame.reset_index(drop=True)
    errors_by_row: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    locations: dict[Any, str | None] = {}
    raws: dict[Any, dict] = {}
    labels: dict[Any, str | None] = {}
    for err in result.errors:
        at = (err.row, err.location)
        errors_by_row[at].append({"field": err.field, "rule": err.rule, "message": err.message,
                                  "mapping_line": err.mapping_line})
        locations[at] = err.location
        raws.setdefault(at, err.raw)
        labels.setdefault(at, err.mapping_file)

    def where(idx: int) -> tuple[Any, str | None]:
        row = frame.at[idx, "_row"]
        return (None if pd.isna(row) else int(row)), frame.at[idx, "_location"]

    # Schema checks, then natural keys that repeat inside the file (ambiguous: which row wins?).
    rejected: set[int] = set()
    for v in validate_frame(mapper.entity, frame, fields):
        at = where(v.index)
        errors_by_row[at].append({"field": v.field, "rule": v.rule, "message": v.message,
                                  "mapping_line": mapper.field_line(v.field)})
        locations.setdefault(at, at[1])
        rejected.add(v.index)
    key = mapper.key
    keys = natural_key_series(frame, key)
    missing_key = frame[key].isna().any(axis=1) if len(frame) else pd.Series([], dtype=bool)
    for idx in frame.index[missing_key.to_numpy(dtype=bool)] if len(frame) else []:
        at = where(int(idx))
        empty = [k for k in key if frame.at[idx, k] is None]
        errors_by_row[at].append({"field": empty[0], "rule": "key.missing",
                                  "message": f"natural key field(s) {', '.join(empty)} empty",
                                  "mapping_line": mapper.field_line(empty[0])})
        rejected.add(int(idx))
    # Every row in natural-key order (how the store writes the good ones): a key's repeats are neighbours.
    key_order = keys.arg_sort().to_numpy() if len(frame) else np.zeros(0, dtype=np.int64)
    dup_mask = _repeated(keys, key_order)
    if len(frame) and dup_mask.any():
        rows_by_key: dict[str, list[Any]] = defaultdict(list)
        for idx in frame.index[dup_mask]:
            rows_by_key[keys[int(idx)]].append(where(int(idx))[0] or where(int(idx))[1])
        for idx in frame.index[dup_mask]:
            at = where(int(idx))
            others = [r for r in rows_by_key[keys[int(idx)]] if r != (at[0] or at[1])]
            errors_by_row[at].append({"field": key[-1], "rule": "key.duplicate",
                                      "message": f"natural key {keys[int(idx)]} also on row(s) {others}: "
                                                 "which one is right is ambiguous",
                                      "mapping_line": mapper.field_line(key[-1])})
            rejected.add(int(idx))

    # The source rows of the records the checks refused, looked up together (one pass over the table);
    # then the source table goes: the rest of the batch is built from the frame.
    from_table = result.table is not None
    wanted = [row for row, loc in errors_by_row if (row, loc) not in raws and row is not None]
    source_rows = result.raws_for(wanted) if from_table and wanted else {}
    if from_table:
        result.table = None
        release_freed_memory()

    amount_field = CONTROL_AMOUNT.get(mapper.entity)
    # Positions of the good rows; slices of the frame are taken from them when records are
    # produced, so no second copy of a big frame is made.
    keep = np.ones(len(frame), dtype=bool)
    keep[list(rejected)] = False
    # In natural-key order: the store writes a key-ordered batch as it comes, appending to its indexes.
    good_at = key_order[keep[key_order]]
    # Per record only what is its own: the source row (and a replay's origin), or what a parser says
    # of its position. The feed, mapping and source file are the run's, kept once with the run and
    # merged back when records are read.
    extra = json.dumps(lineage_extra, sort_keys=True, ensure_ascii=False)[1:-1] + ", " if lineage_extra else ""
    own_lineage = "_lineage" in frame.columns

    def staged_slice(start: int) -> pa.Table:
        at = good_at[start:start + _JSON_SLICE]
        part = frame.iloc[at]
        if own_lineage:
            lineages: Any = [dumps({**(lineage_extra or {}), **ln}) for ln in part["_lineage"].tolist()]
        else:
            lineages = _row_lineages(part["_row"], extra)
        return staged_table(keys.gather(at).to_arrow(), payload_column(part, fields, omit_empty=mapper.omit_empty),
                            lineages)

    def tables():
        # Built a slice at a time when the batch is written or loaded, never all at once. The next
        # slice (rows taken, payloads encoded and hashed by Arrow and polars, which let go of the GIL)
        # is made in a worker thread while this one is written or loaded.
        return ahead(iter(range(0, len(good_at), _JSON_SLICE)), staged_slice)

    records = RecordBatch(len(good_at), tables=tables, key_ordered=True)

    totals = ControlTotals()
    totals.loaded = _frame_totals(frame, amount_field, good_at)
    quarantine = []
    for at, errs in sorted(errors_by_row.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or 0, kv[0][1] or "")):
        row, location = at
        if at in raws:
            raw = raws[at]
        elif from_table and row is not None:
            if row not in source_rows:
                raise KeyError(f"no source row {row}")
            raw = source_rows[row]
        else:  # a parser's record is its own raw form: it is replayed as it was mapped
            raw = _frame_raw(frame, at)
        # A row read by another mapping than the batch's (a bank CSV layout) keeps that mapping for replay.
        label = labels.get(at)
        own = label is None or not label.endswith((".yaml", ".yml")) or label == str(getattr(mapper, "path", ""))
        quarantine.append(QuarantineEntry(row=row, location=locations.get(at, location), raw=raw, errors=errs,
                                          source_name=source.name if source else None,
                                          source_sha256=source.sha256 if source else None,
                                          mapping=None if own else display_path(Path(str(label)))))
        totals.quarantined.add(*_raw_amount(mapper, raw, amount_field))
    totals.filtered.count = totals.filtered.unparsed = result.filtered
    totals.filtered.add_many(result.dropped)
    totals.read = Totals(result.read)
    totals.read.unparsed = totals.quarantined.unparsed + totals.filtered.unparsed
    for part in (totals.loaded, totals.quarantined, totals.filtered):
        for cur, amt in part.amounts.items():
            totals.read.add_amount(cur, amt)
    related = {entity: [StagedRecord.build(k, payload, lineage) for k, payload, lineage in recs]
               for entity, recs in result.related.items()}
    return PreparedBatch(feed, mapper.entity, mapper.display_path, source, records, quarantine, totals,
                         [d.as_dict() for d in result.drift], related=related, findings=list(result.findings))


def _repeated(keys: pl.Series, order: np.ndarray) -> np.ndarray:
    """Per row: does another row have the same key? (``order``: the rows in key order.)"""
    repeated = np.zeros(len(keys), dtype=bool)
    if len(keys) > 1:
        ordered = keys.gather(order)
        same = ordered.slice(1).eq_missing(ordered.slice(0, len(keys) - 1)).to_numpy()
        repeated[order[1:][same]] = True
        repeated[order[:-1][same]] = True
    return repeated


def _frame_raw(frame: pd.DataFrame, at: tuple[Any, str | None]) -> dict[str, Any]:
    """A mapped record as the raw values of its quarantine entry (a parser's rows are their own raw form)."""
    row, location = at
    hit = frame[(frame["_location"] == location)] if location is not None else frame[frame["_row"] == row]
    if hit.empty:
        return {}
    return {k: v for k, v in hit.iloc[0].items() if not str(k).startswith("_") and v is not None}


def _frame_totals(frame: pd.DataFrame, amount_field: str | None, rows: np.ndarray) -> Totals:
    """Count and amount per currency of the records at positions ``rows`` of ``frame``."""
    totals = Totals(count=len(rows))
    if not amount_field or not len(rows) or amount_field not in frame or "currency" not in frame:
        totals.unparsed = len(rows) if amount_field else 0
        return totals
    currencies, amounts = frame["currency"].iloc[rows], frame[amount_field].iloc[rows]
    # Amounts are exact decimal strings; sum them per currency as Decimals, never floats.
    for cur, known, unparsed in _amount_sums(currencies, amounts) or _decimal_sums(currencies, amounts):
        if cur is not None:
            totals.add_amount(cur, known)
        totals.unparsed += unparsed
    return totals


def _decimal_sums(currencies: np.ndarray | pd.Series, amounts: np.ndarray | pd.Series) -> list[tuple[str | None, Decimal, int]]:
    """(currency or None, exact sum of the amounts that parse, how many did not count), per currency."""
    groups: dict[str | None, list[Any]] = defaultdict(list)
    for cur, amount in zip(currencies.tolist(), amounts.tolist(), strict=True):
        groups[cur if isinstance(cur, str) else None].append(amount)
    out = []
    for cur in sorted(groups, key=lambda c: (c is None, c or "")):
        values = [_decimal(v) for v in groups[cur]]
        known = [v for v in values if v is not None]
        out.append((cur, exact_sum(known), len(values) - (len(known) if cur is not None else 0)))
    return out


# Plain amounts whose sums fit polars' 38-digit decimals exactly (a billion of them at most)
_WIDE = Context(prec=40)
_PLAIN_AMOUNT = r"^-?[0-9]{1,18}(\.[0-9]{1,10})?$"


def _amount_sums(currencies: np.ndarray | pd.Series, amounts: np.ndarray | pd.Series) -> list[tuple[str | None, Decimal, int]] | None:
    """``_decimal_sums`` column-wise, when every value is text and every amount plain: each currency's
    sum in 38-digit decimals (exact), given the scale of its own amounts, as the Decimal sum has."""
    columns = [text_column(currencies, "currency"), text_column(amounts, "amount")]
    if any(c is None for c in columns):
        return None
    table = pl.DataFrame(columns)
    if len(table) >= 10**9 or not table["amount"].str.contains(_PLAIN_AMOUNT).fill_null(True).all():
        return None
    table = table.with_columns(pl.col("amount").str.extract(r"\.([0-9]+)$").str.len_chars().fill_null(0).alias("s"))
    scale = int(table["s"].max() or 0)  # type: ignore[arg-type]  # (an integer column's maximum)
    sums = (table.with_columns(pl.col("amount").cast(pl.Decimal(38, scale)))
            .group_by("currency")
            .agg(pl.col("amount").sum().alias("sum"), pl.col("amount").null_count().alias("nulls"),
                 pl.len().alias("n"), pl.col("s").filter(pl.col("amount").is_not_null()).max().alias("scale"))
            .sort("currency", nulls_last=True))
    out: list[tuple[str | None, Decimal, int]] = []
    for cur, total, nulls, n, own_scale in sums.iter_rows():
        if cur is None:
            out.append((None, Decimal(0), n))
        else:
            exact = Decimal(0) if n == nulls else Decimal(total).quantize(Decimal(1).scaleb(-(own_scale or 0)),
                                                                          context=_WIDE)
            out.append((cur, exact, nulls))
    return out


def _raw_amount(mapper: Mapper, raw: dict | None, amount_field: str | None) -> tuple[str | None, Decimal | None]:
    if not amount_field or not raw:
        return None, None
    return mapper.control_amount(raw, amount_field)


def check_against_store(mapper: Mapper, store: Store | None, result: MapResult) -> None:
    """The mapper's domain checks that need what is already loaded (bank statements seen before)."""
    if store is not None and isinstance(mapper, StoreAware):
        mapper.check_against_store(store, result)


def prepare_file(mapper: Mapper, source: SourceFile, *, feed: str, run_id: str,
                 store: Store | None = None) -> PreparedBatch:
    """Map one file with the feed's mapper, then the mapping stage: checks, keys, quarantine, staging."""
    with collector_paused():
        result = mapper.map_file(source.path, source_name=source.name)
        release_freed_memory()  # what the mapping engine worked with
        check_against_store(mapper, store, result)
        batch = prepare(mapper, result, feed=feed, run_id=run_id, source=source)
        del result  # the source table goes with it
    release_freed_memory()
    return batch


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the bulk work of a batch. A million-row batch makes
    millions of short-lived objects, which reference counting frees; they only set the collector off,
    again and again, and each full collection walks every container still alive, the batch's among
    them (a third of a second of a million-row run, for a few hundred objects found). What cycles
    the work leaves are collected once the collector runs again. (Left alone when it is off already:
    another batch in another thread, or the caller's choice.)"""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def release_freed_memory() -> None:
    """Give memory just freed back to the system (glibc and Arrow's allocator keep it for the process
    otherwise): after the source table is dropped, the batch is written from what it needs; after the
    batch is written and dropped, the load task that runs next in the same process (``dag.test``, a
    LocalExecutor worker) starts from what it needs, not from the mapping step's peak."""
    pa.default_memory_pool().release_unused()  # Arrow's own allocator keeps freed memory too
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to ask for
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def load_batch(store: Store, run_id: str, batch: PreparedBatch, *, resolve_quarantine: list[int] | None = None,
               feed_state: FeedState | None = None, actor: str = "ledgerlink") -> RunSummary:
    """Load a prepared batch in one transaction, check control totals, finish the run.
    ``feed_state`` (an incremental source's new cursor) commits in that same transaction."""
    progress.note(f"loading {len(batch.records)} records, {len(batch.quarantine)} to quarantine")
    where = f"feed {batch.feed}" + (f", file {batch.source.name}" if batch.source else "")
    processed = ({"name": batch.source.name, "size": batch.source.size, "sha256": batch.source.sha256}
                 if batch.source else None)
    with collector_paused():
        result = store.load(run_id, batch.feed, batch.entity, batch.records, batch.quarantine,
                            mapping=batch.mapping, processed_file=processed, resolve_quarantine=resolve_quarantine,
                            related=batch.related, feed_state=feed_state, actor=actor)
    stored = result.inserted + result.updated + result.unchanged
    if stored != len(batch.records) or result.quarantined != len(batch.quarantine):
        raise StoreError(f"{where}: the store accepted {stored} records and {result.quarantined} quarantined rows, "
                         f"expected {len(batch.records)} and {len(batch.quarantine)}")
    batch.totals.check(where)
    reasons: dict[str, int] = defaultdict(int)
    for entry in batch.quarantine:
        reasons[entry.errors[0]["rule"]] += 1
    summary = RunSummary(
        run_id=run_id, feed=batch.feed, status="succeeded", source=batch.source.as_dict() if batch.source else None,
        inserted=result.inserted, updated=result.updated, unchanged=result.unchanged,
        quarantined=len(batch.quarantine), quarantine_repeated=result.quarantine_repeated,
        filtered=batch.totals.filtered.count, read=batch.totals.read.count,
        totals=batch.totals.as_dict(), drift=batch.drift, reasons=dict(reasons), findings=batch.findings,
        related={e: dict(zip(("inserted", "updated", "unchanged"), c, strict=True)) for e, c in result.related.items()},
    )
    # Findings (unbalanced statements, sequence gaps, duplicates) are kept with the run's drift list.
    store.finish_run(run_id, "succeeded", totals=summary.totals, drift=batch.drift + batch.findings)
    return summary


def run_file(store: Store, feed: str, mapping_path: Path | str, path: Path, *, uri: str = "",
             actor: str = "ledgerlink") -> RunSummary:
    """Process one local file through a mapping, end to end (skipped when already processed)."""
    mapping = load_mapping(Path(mapping_path))
    return run_prepared(store, feed, mapping.entity, mapping.display_path, SourceFile.from_path(Path(path), uri),
                        lambda source, run_id: prepare_file(mapping, source, feed=feed, run_id=run_id, store=store),
                        actor=actor)


def run_feed_file(store: Store, feed: Feed, path: Path, *, uri: str = "", actor: str = "ledgerlink") -> RunSummary:
    """Process one local file the way ``feed`` processes its files (its mapping or its parser)."""
    label, prepare_fn = preparer(store, feed)
    return run_prepared(store, feed.name, feed.entity, label, SourceFile.from_path(Path(path), uri), prepare_fn,
                        actor=actor)


Preparer = Callable[[SourceFile, str], PreparedBatch]   # (source file, run id) -> batch


def preparer(store: Store, feed: Feed) -> tuple[str, Preparer]:
    """How ``feed`` turns a file into a batch: (label kept with the run, function)."""
    mapper = mapper_for(feed)
    return mapper.display_path, lambda source, run_id: prepare_file(mapper, source, feed=feed.name, run_id=run_id,
                                                                   store=store)


def run_prepared(store: Store, feed: str, entity: str, label: str, source: SourceFile, prepare_fn: Preparer, *,
                 actor: str = "ledgerlink") -> RunSummary:
    earlier = store.find_processed_file(feed, source.sha256)
    if earlier:
        return skipped_summary(feed, source, earlier)
    for abandoned in store.fail_abandoned_runs(feed, dead_only=True, actor=actor):
        log.warning("%s: run %s was still 'running' but its process is gone: marked failed (abandoned)",
                    feed, abandoned)
    run_id = store.start_run(feed, entity, source=source.as_dict(), mapping=label, actor=actor, this_process=True)
    try:
        return load_batch(store, run_id, prepare_fn(source, run_id), actor=actor)
    except Exception as exc:
        store.finish_run(run_id, "failed", error=error_text(exc))
        raise


def skipped_summary(feed: str, source: SourceFile, earlier: dict[str, Any]) -> RunSummary:
    return RunSummary(
        run_id=str(earlier.get("run_id")), feed=feed, status="skipped", source=source.as_dict(),
        message=(f"{source.name} (sha256 {source.sha256[:12]}) has the same content as "
                 f"{earlier.get('name')} already processed by run {earlier.get('run_id')} "
                 f"at {earlier.get('processed_at')}: nothing to do"),
    )
