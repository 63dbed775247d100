"""Run a compiled mapping over a SourceTable, with one of two engines.

``rows``: one record at a time, calling each field's scalar function.
``columnar``: the same scalar functions, called once per *distinct* input value
(``pd.factorize``, or Arrow's dictionary encoding) and taken back to all rows; money
amounts in their common shape are validated and made canonical a whole column at a time
(a regular expression, then string replacements) with exactly the scalar result (see
``_money_fast``), and the rest take the scalar path; sum and numeric compare checks on
amounts of one currency work on integer minor units, compare checks on text/dates on the
ranks of the distinct values, and only the rows those flag are checked by the scalar
``check_row``. A source column kept in Arrow (a CSV polars read) stays in Arrow for plain
text and amounts: only distinct values and rows that take the scalar path become Python
objects. Both engines produce the same frame (all-text fields as Arrow text columns),
errors and drift; the shared steps (drift, error records, frame) live here once.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ledgerlink.mapping.engines import ENGINES
from ledgerlink.mapping.errors import DriftError, DriftEvent, RecordError
from ledgerlink.mapping.sources import (
    blank_texts,
    distinct_codes,
    objects,
    take,
    text_array,
    whitespace_edges,
)
from ledgerlink.mapping.transforms import Failure, finish_money, shown
from ledgerlink.model.money import MAX_DIGITS, MoneyError, currency_exponent, exact_sum, format_amount
from ledgerlink.prefetch import two_at_a_time

if TYPE_CHECKING:
    from ledgerlink.mapping.plan import CheckPlan, FieldPlan, FilterPlan, MappingPlan
    from ledgerlink.mapping.sources import SourceTable

TYPED = ("date", "decimal", "money", "int", "bool")
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">=": operator.ge, ">": operator.gt,
}
_NO_CURRENCY = ""     # currency key: the currency field is empty
_BAD_CURRENCY = "\0"  # currency key: the currency field itself failed (that error is reported there)

# A failure found by an engine: (position in table, order, field, rule, message, mapping line)
Found = tuple[int, int, str, str, str, int | None]


@dataclass
class MapResult:
    frame: pd.DataFrame
    errors: list[RecordError]
    drift: list[DriftEvent]
    read: int
    filtered: int
    types: dict[str, str] = field(default_factory=dict, repr=False)
    table: SourceTable | None = field(default=None, repr=False)
    # What a parser's mapper adds (bank statements, e-invoices): records of other entities loaded with
    # the batch, entity -> [(natural key, payload, lineage)], findings worth a person's look, and the
    # (currency, amount) of records a domain check dropped as already loaded.
    related: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[tuple[str | None, Decimal | None]] = field(default_factory=list)

    def raw_for(self, row: int) -> dict[str, Any]:
        """The original source row (column -> text) with this row number."""
        found = self.raws_for([row])
        if row not in found:
            raise KeyError(f"no source row {row}")
        return found[row]

    def raws_for(self, rows: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The original source rows with these row numbers, row -> (column -> text), looked up together:
        the errors and the source table are each searched once, not once per row. Rows not found are
        left out."""
        wanted = set(rows)
        found: dict[int, dict[str, Any]] = {}
        for err in self.errors:
            if err.row in wanted and err.row not in found:
                found[err.row] = dict(err.raw)
        rest = wanted - found.keys()
        if rest and self.table is not None:
            for pos in np.flatnonzero(np.isin(self.table.rows, list(rest))).tolist():
                found.setdefault(int(self.table.rows[pos]), self.table.raw(pos))
        return found

    def records(self) -> Iterator[dict[str, Any]]:
        """Mapped records with Python values (Decimal, date, bool, int, str)."""
        names = [c for c in self.frame.columns if not c.startswith("_")]
        convert = {n: _python_value(self.types.get(n, "string")) for n in names}
        for values in zip(*(self.frame[n].tolist() for n in names), strict=True):
            yield {n: (None if v is None else convert[n](v)) for n, v in zip(names, values, strict=True)}


def _python_value(type_name: str) -> Callable[[Any], Any]:
    if type_name in ("money", "decimal"):
        return Decimal
    if type_name == "date":
        return dt.date.fromisoformat
    return lambda v: v


def run(mapping: MappingPlan, table: SourceTable, *, source_name: str | None, engine: str) -> MapResult:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (expected one of {', '.join(ENGINES)})")
    drift = column_drift(mapping, table)
    if drift and mapping.on_drift == "fail":
        raise DriftError(str(mapping.path), drift)
    mapper = _map_columnar if engine == "columnar" else _map_rows
    keep, values, found = mapper(mapping, table)
    drift += type_drift(mapping, table, keep, found)
    if drift and mapping.on_drift == "fail":
        raise DriftError(str(mapping.path), drift)
    if drift and mapping.on_drift == "quarantine":
        keep = np.arange(len(table))
        found = [(pos, i, ev.column, f"drift.{ev.kind}", ev.detail, _drift_line(mapping, ev))
                 for pos in range(len(table)) for i, ev in enumerate(drift)]
        ok = np.zeros(len(keep), dtype=bool)
    else:
        bad = np.zeros(len(table), dtype=bool)
        bad[[f[0] for f in found]] = True
        ok = ~bad[keep]
    keep_ok = keep[ok]
    frame = _frame(values, ok)
    frame["_row"] = pd.Series(table.rows[keep_ok], dtype="int64")
    frame["_location"] = pd.Series([table.location(int(p)) for p in keep_ok] if table.locations is not None
                                   else [None] * len(keep_ok), dtype=object)
    errors = _record_errors(mapping, table, found, source_name)
    errors += [RecordError(p.row, None, p.field or "(row)", p.rule, p.message, str(mapping.path), None, source_name,
                           p.raw) for p in table.problems]
    errors.sort(key=lambda e: (e.row if e.row is not None else -1))
    filtered = len(table) - len(keep)
    return MapResult(frame=frame, errors=errors, drift=drift, read=len(table) + len(table.problems),
                     filtered=filtered, types={f.name: f.type for f in mapping.fields}, table=table)


def _frame(values: dict[str, Any], ok: np.ndarray) -> pd.DataFrame:
    """The mapped values of the rows in ``ok``, one column per field: an Arrow text column when every
    value is text (the load step works on those without a Python object per value), else an object
    column (None where empty; numbers, booleans, objects as they are). Both engines make the same frame.
    Takes the columns out of ``values``: each goes once its rows are taken, not after the whole frame."""
    names = list(values)
    # Two columns at a time: a column's filter or take is Arrow's, which lets go of the GIL.
    columns = two_at_a_time(lambda name: _frame_column(values.pop(name), ok), names)
    return pd.DataFrame(dict(zip(names, columns, strict=True)), index=pd.RangeIndex(int(ok.sum())), copy=False)


def _frame_column(col: np.ndarray | _Column, ok: np.ndarray) -> pd.Series:
    values = col.values if isinstance(col, _Column) else col
    if len(values) != len(ok):  # no rows were mapped (drift quarantined every row)
        return pd.Series(np.empty(0, dtype=object), dtype=object)
    text: pa.Array | None = None
    if isinstance(values, pa.Array):
        text = values.filter(pa.array(ok))
        if text.null_count:
            return pd.Series(objects(text), dtype=object)
    elif isinstance(col, _Column) and col.codes is not None and col.distinct is not None:
        # distinct results taken back to the rows: only those of kept rows are converted
        codes = col.codes[ok]
        used = np.zeros(len(col.distinct), dtype=bool)
        used[codes] = True
        distinct = np.empty(len(col.distinct), dtype=object)
        distinct[used] = col.distinct[used]
        text = _arrow_text(distinct)
        text = None if text is None else text.take(pa.array(codes))
    else:
        text = _arrow_text(values[ok])
    if text is not None and not text.null_count:
        return pd.Series(pd.arrays.ArrowExtensionArray(text), copy=False)
    return pd.Series(values[ok], dtype=object)


def _arrow_text(values: np.ndarray) -> pa.Array | None:
    """``values`` as an Arrow text array, or None when one of them is neither text nor None."""
    try:
        text = pa.array(values, pa.string(), from_pandas=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError):
        return None
    # (more than 2 GiB of text comes in chunks)
    return text_array(text.chunks) if isinstance(text, pa.ChunkedArray) else text


def _record_errors(mapping: MappingPlan, table: SourceTable, found: list[Found], source_name: str | None) -> list[RecordError]:
    found = sorted(found, key=lambda f: (f[0], f[1]))
    positions = sorted({f[0] for f in found})
    raws = dict(zip(positions, _raws(table, positions), strict=True))
    rows = dict(zip(positions, table.rows[positions].tolist(), strict=True))
    path = str(mapping.path)
    return [RecordError(rows[pos], table.location(pos), name, rule, message, path, line, source_name, raws[pos])
            for pos, _order, name, rule, message, line in found]


def _raws(table: SourceTable, positions: list[int]) -> list[dict[str, Any]]:
    """``table.raw(pos)`` for each position, a column at a time."""
    if table.raws is not None or not positions:
        return [table.raw(pos) for pos in positions]
    values = [table.values_at(c, positions) for c in table.columns]
    return [dict(zip(table.columns, row, strict=True)) for row in zip(*values, strict=True)]


# --- drift ----------------------------------------------------------------------------------

def column_drift(mapping: MappingPlan, table: SourceTable) -> list[DriftEvent]:
    """Columns added (CSV) or missing compared with what the mapping reads."""
    if mapping.source.format != "csv" and len(table) == 0:
        return []  # no record (an API sync with nothing new): nothing tells which paths the source has
    used = mapping.used_columns
    present = set(table.columns)
    kind = "column" if mapping.source.format == "csv" else "path"
    events = [DriftEvent("column_missing", c, f"{kind} {c!r} is not in the source") for c in used if c not in present]
    if mapping.source.format == "csv":
        known = set(used) | set(mapping.ignore_columns)
        events += [DriftEvent("column_added", c, f"column {c!r} is in the source but not in the mapping "
                                                 "(map it or list it in ignore_columns)")
                   for c in table.columns if c not in known]
    return events


def type_drift(mapping: MappingPlan, table: SourceTable, keep: np.ndarray, found: list[Found]) -> list[DriftEvent]:
    """A typed column where every non-empty value failed to convert."""
    type_failures: dict[str, int] = {}
    for _pos, _order, name, rule, _msg, _line in found:
        if rule.startswith("type."):
            type_failures[name] = type_failures.get(name, 0) + 1
    events = []
    for plan in mapping.fields:
        if plan.type not in TYPED or len(plan.inputs) != 1 or not type_failures.get(plan.name):
            continue
        column = plan.inputs[0]
        arrow = table.arrow(column)
        if arrow is not None:
            non_empty = int((~blank_texts(arrow if len(keep) == len(arrow) else take(arrow, keep))).sum())
        else:
            non_empty = _count_non_empty(table.column(column)[keep], type_failures[plan.name])
        if non_empty and type_failures[plan.name] == non_empty:
            events.append(DriftEvent("type_changed", column, f"every non-empty value of {column!r} "
                                     f"fails to convert to {plan.type} ({non_empty} value(s))"))
    return events


def _count_non_empty(values: np.ndarray, enough: int, block: int = 1 << 16) -> int:
    """Values that are not empty after stripping; counting stops once past ``enough`` (the exact
    count only matters when it equals ``enough``)."""
    count = 0
    for start in range(0, len(values), block):
        chunk = values[start:start + block]
        filled = chunk[chunk != ""]
        count += len(filled) - sum(map(str.isspace, filled))
        if count > enough:
            break
    return count


def _drift_line(mapping: MappingPlan, event: DriftEvent) -> int | None:
    for plan in mapping.fields:
        for sub in plan.subfields or [plan]:
            if event.column in sub.inputs:
                return sub.line
    return mapping.lines.get("on_drift") or mapping.lines.get("source")


# --- shared scalar pieces --------------------------------------------------------------------

def _call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Failure as exc:
        # Kept as a value, without its traceback and the exception it was raised from: their frames
        # would keep the mapping's columns alive for as long as the failure is.
        exc.__traceback__ = exc.__context__ = exc.__cause__ = None
        return exc


def money_value(amount: Any, currency_key: str) -> Any:
    """Second stage of a money field: the parsed amount (Decimal, None or Failure) with its currency."""
    if amount is None or isinstance(amount, Failure) or currency_key == _BAD_CURRENCY:
        return None if currency_key == _BAD_CURRENCY and not isinstance(amount, Failure) else amount
    if currency_key == _NO_CURRENCY:
        return Failure("type.money.currency", f"amount {format_amount(amount)} has no currency (the currency is empty)")
    return _call(finish_money, amount, currency_key)


def currency_key(plan: FieldPlan, values: dict[str, Any]) -> str:
    if plan.currency_code:
        return plan.currency_code
    cur = values.get(plan.currency_field or "")
    if isinstance(cur, Failure):
        return _BAD_CURRENCY
    return cur or _NO_CURRENCY


def assemble_object(plan: FieldPlan, sub_values: list[Any]) -> Any:
    obj = {sub.name.split(".", 1)[1]: v for sub, v in zip(plan.subfields or [], sub_values, strict=True)
           if v is not None}
    if not obj:
        if plan.required:
            return Failure("required", f"{plan.name} is required but all of its sub-fields are empty")
        return None
    for sub in plan.subfields or []:
        short = sub.name.split(".", 1)[1]
        if sub.required and short not in obj:
            return Failure("required", f"{sub.name} is required when {plan.name} is given")
    return [obj] if plan.as_list else obj


def _number(v: Any) -> Decimal:
    return Decimal(v) if not isinstance(v, bool) else Decimal(int(v))


def check_row(check: CheckPlan, values: dict[str, Any]) -> Failure | None:
    """Run one check on one record's JSON values; None when it holds or cannot be applied."""
    if check.kind == "sum":
        parts = [values.get(n) for n in check.fields]
        target = values.get(check.target)
        if target is None or any(p is None for p in parts):
            return None
        try:
            total = exact_sum(_number(p) for p in parts)
        except MoneyError as exc:
            return Failure("check.sum", f"{' + '.join(check.fields)}: {exc}")
        if total == _number(target):
            return None
        terms = " + ".join(f"{n} {p}" for n, p in zip(check.fields, parts, strict=True))
        return Failure("check.sum", f"{terms} = {format_amount(total)}, but {check.target} is {target}")
    left, right = check.fields
    lv, rv = values.get(left), values.get(right)
    if lv is None or rv is None:
        return None
    holds = OPS[check.op](_number(lv), _number(rv)) if check.numeric else OPS[check.op](lv, rv)
    if holds:
        return None
    return Failure("check.compare", f"{left} {lv} is not {check.op} {right} {rv}")


def same_failure(check: CheckPlan, value: Any, first: Any, first_row: int) -> Failure:
    return Failure("check.same", f"{check.target} {shown(str(value))} differs from {shown(str(first))} "
                                 f"of row {first_row}; the file must hold one {check.target}")


def numbered(value: str, occurrence: int) -> str:
    """The ``occurrence``-th (from 1) record of a file with this `hash` value: -2, -3, ... appended."""
    return value if occurrence == 1 else f"{value}-{occurrence}"


# --- row engine ------------------------------------------------------------------------------

def _map_rows(mapping: MappingPlan, table: SourceTable) -> tuple[np.ndarray, dict[str, np.ndarray], list[Found]]:
    used = mapping.used_columns
    columns = {c: table.column(c) for c in used}
    keep: list[int] = []
    out: dict[str, list[Any]] = {f.name: [] for f in mapping.fields}
    found: list[Found] = []
    plans = _evaluation_order(mapping)
    order = {f.name: i for i, f in enumerate(mapping.fields)}
    n_fields = len(mapping.fields)
    seen: dict[str, dict[str, int]] = {f.name: {} for f in mapping.fields if f.numbered}
    first: dict[int, tuple[Any, int]] = {}   # same check -> (first value, its row)
    for pos in range(len(table)):
        src = {c: columns[c][pos].strip() for c in used}
        if _filtered_out(mapping, src):
            continue
        keep.append(pos)
        values: dict[str, Any] = {}
        row_found: list[Found] = []
        for plan in plans:
            if plan.subfields is not None:
                subs = []
                for sub in plan.subfields:
                    v = _call(sub.convert, tuple(src[c] for c in sub.inputs))
                    if isinstance(v, Failure):
                        row_found.append((pos, order[plan.name], sub.name, v.rule, v.message, sub.line))
                    subs.append(v)
                v = None if any(isinstance(s, Failure) for s in subs) else assemble_object(plan, subs)
            else:
                v = _call(plan.convert, tuple(src[c] for c in plan.inputs))
                if plan.type == "money":
                    v = money_value(v, currency_key(plan, values))
                if plan.numbered and v is not None and not isinstance(v, Failure):
                    counts = seen[plan.name]
                    counts[v] = counts.get(v, 0) + 1
                    v = numbered(v, counts[v])
            if isinstance(v, Failure):
                row_found.append((pos, order[plan.name], plan.name, v.rule, v.message, plan.line))
            values[plan.name] = v
        failed = {f[2].split(".")[0] for f in row_found}
        found += row_found
        for i, check in enumerate(mapping.checks):
            if failed & {check.target, *check.fields}:
                continue
            if check.kind == "same":
                v = values.get(check.target)
                if v is None:
                    continue
                if i not in first:
                    first[i] = (v, int(table.rows[pos]))
                elif v != first[i][0]:
                    err = same_failure(check, v, *first[i])
                    found.append((pos, n_fields + i, check.target, err.rule, err.message, check.line))
                continue
            failure = check_row(check, values)
            if failure:
                found.append((pos, n_fields + i, check.target, failure.rule, failure.message, check.line))
        for name in out:
            v = values[name]
            out[name].append(None if isinstance(v, Failure) else v)
    arrays = {}
    for name, vals in out.items():
        arr = np.empty(len(vals), dtype=object)
        arr[:] = vals
        arrays[name] = arr
    return np.array(keep, dtype=np.int64), arrays, found


def _filtered_out(mapping: MappingPlan, src: dict[str, str]) -> bool:
    for flt in mapping.filters:
        v = src[flt.column]
        if flt.test(v, (v,)) != flt.keep:
            return True
    return False


def _evaluation_order(mapping: MappingPlan) -> list[FieldPlan]:
    """Money fields after the others, so their currency is known."""
    return [f for f in mapping.fields if f.type != "money"] + [f for f in mapping.fields if f.type == "money"]


# --- columnar engine -------------------------------------------------------------------------
# Every source value is stripped before use, exactly as the row engine does; here that happens
# per distinct value (factorised columns), per value only for plain text fields, and not at all
# for amounts in their common shape (which has no whitespace; anything else takes the scalar path).

_SEP = "\x00"         # joins the values of a column into one text for the regex and string passes
_MINOR_LIMIT = 2**58  # integer minor units up to this size can be added without overflowing int64


def _strip_column(arr: np.ndarray) -> np.ndarray:
    return np.fromiter(map(str.strip, arr), dtype=object, count=len(arr))


def _factorize(arr: np.ndarray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(arr, pa.Array):
        return distinct_codes(arr)
    codes, uniques = pd.factorize(arr)
    if len(codes) and codes.min() < 0:  # None among the values (source texts never are)
        codes, uniques = pd.factorize(arr, use_na_sentinel=False)
    return codes, np.asarray(uniques, dtype=object)


def _factorize_stripped(arr: np.ndarray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row and the distinct *stripped* values (raw values differing only in whitespace merge)."""
    codes, uniques = _factorize(arr)
    stripped = _strip_column(uniques)
    if all(s is u for s, u in zip(stripped, uniques, strict=True)):
        return codes, uniques
    merged, stripped_uniques = _factorize(stripped)
    return merged[codes], stripped_uniques


def _strip_arrow(arr: pa.Array) -> pa.Array:
    """An Arrow text column stripped as str.strip() does: only the values with whitespace at an end
    become Python strings."""
    edges = whitespace_edges(arr)
    if not edges.any():
        return arr
    mask = pa.array(edges)
    stripped = [v.strip() for v in arr.filter(mask).to_pylist()]
    return pc.replace_with_mask(arr, mask, pa.array(stripped, arr.type))


class _Columns:
    """The source columns of the rows being mapped: raw, stripped and factorised, each made once.
    A column the source keeps in Arrow stays in Arrow (raw and stripped)."""

    def __init__(self, table: SourceTable, keep: np.ndarray | None):
        self.table, self.keep = table, keep
        self._raw: dict[str, np.ndarray | pa.Array] = {}
        self._stripped: dict[str, np.ndarray | pa.Array] = {}
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def raw(self, c: str) -> np.ndarray | pa.Array:
        arr = self._raw.get(c)
        if arr is None:
            arr = self.table.arrow(c)
            if arr is None:
                arr = self.table.column(c)
            arr = self._raw[c] = arr if self.keep is None else take(arr, self.keep)
        return arr

    def raw_at(self, c: str, idx: np.ndarray) -> np.ndarray:
        """The raw values of the rows at ``idx``, as Python strings."""
        return objects(take(self.raw(c), idx))

    def stripped(self, c: str) -> np.ndarray | pa.Array:
        arr = self._stripped.get(c)
        if arr is None:
            raw = self.raw(c)
            arr = self._stripped[c] = _strip_arrow(raw) if isinstance(raw, pa.Array) else _strip_column(raw)
        return arr

    def codes(self, c: str) -> tuple[np.ndarray, np.ndarray]:
        found = self._codes.get(c)
        if found is None:
            found = self._codes[c] = _factorize_stripped(self.raw(c))
        return found


def _combine(parts: list[tuple[np.ndarray, np.ndarray]], n: int) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Codes per row and the distinct tuples of values, from per-column (codes, distinct values)."""
    if not parts:
        return np.zeros(n, dtype=np.intp), [()]
    if len(parts) == 1:
        codes, uniques = parts[0]
        return codes, [(u,) for u in uniques]
    codes = np.zeros(n, dtype=np.int64)
    for c, u in parts:
        codes, _ = pd.factorize(codes * max(len(u), 1) + c)
    first = np.empty(int(codes.max()) + 1 if n else 0, dtype=np.int64)
    first[codes] = np.arange(n)  # a row with each combination (which one does not matter)
    columns = [u[c[first]] for c, u in parts]
    return codes, list(zip(*columns, strict=True))


@dataclass
class _Column:
    """One mapped field: values per row, failed and None masks, and (when known) distinct results.
    ``values`` is an object array (a failed row holds its Failure), or an Arrow text column (null
    where None or failed; ``failures`` holds the Failure of each failed row)."""

    values: np.ndarray | pa.Array
    failed: np.ndarray
    null: np.ndarray
    codes: np.ndarray | None = None     # row -> index into ``distinct``
    distinct: np.ndarray | None = None
    failures: dict[int, Failure] | None = None

    def failure(self, i: int) -> Failure:
        return self.failures[i] if self.failures is not None else self.values[i]

    def objects(self, idx: np.ndarray | None = None) -> np.ndarray:
        """The values (of the rows at ``idx``) as an object array (None where failed, for Arrow)."""
        return objects(self.values if idx is None else take(self.values, idx))

    def value(self, i: int) -> Any:
        return self.values[i].as_py() if isinstance(self.values, pa.Array) else self.values[i]


def _passes(flt: FilterPlan, values: tuple[str, ...]) -> bool:
    return flt.test(values[0], values)


def _apply(fn: Callable[[tuple[Any, ...]], Any], parts: list[tuple[np.ndarray, np.ndarray]], n: int) -> _Column:
    """fn over each distinct input tuple, taken back to every row."""
    codes, distinct = _combine(parts, n)
    results = np.empty(len(distinct), dtype=object)
    results[:] = [_call(fn, t) for t in distinct]
    failed = np.fromiter((isinstance(r, Failure) for r in results), dtype=bool, count=len(results))
    null = np.fromiter((r is None for r in results), dtype=bool, count=len(results))
    return _Column(results[codes], failed[codes], null[codes], codes, results)


def _string_column(plan: FieldPlan, texts: np.ndarray | pa.Array) -> _Column:
    """A plain text field: the scalar function returns non-empty text unchanged; only empties need it."""
    empty = pc.equal(texts, "").to_numpy(zero_copy_only=False) if isinstance(texts, pa.Array) else texts == ""
    if not empty.any():
        return _Column(texts, empty, empty)
    result = _call(plan.convert, ("",))
    if isinstance(texts, pa.Array):
        if isinstance(result, Failure):
            return _Column(texts, empty, np.zeros(len(empty), dtype=bool),
                           failures={int(i): result for i in np.flatnonzero(empty)})
        if result is None or isinstance(result, str):
            return _Column(pc.if_else(pa.array(empty), pa.scalar(result, texts.type), texts),
                           np.zeros(len(empty), dtype=bool), empty & (result is None))
    arr = objects(texts).copy()
    arr[empty] = result
    return _Column(arr, empty & isinstance(result, Failure), empty & (result is None))


def _numbered_column(col: _Column) -> _Column:
    """A `hash` field's values with repeats numbered in row order (see ``numbered``)."""
    idx = np.flatnonzero(~(col.failed | col.null))
    if not len(idx):
        return col
    values = col.objects(idx)
    occurrence = pd.Series(values).groupby(values, sort=False).cumcount().to_numpy() + 1
    repeats = occurrence > 1
    if not repeats.any():
        return col
    values = col.objects().copy()
    values[idx[repeats]] = [numbered(v, k) for v, k in zip(values[idx[repeats]], occurrence[repeats], strict=True)]
    return _Column(values, col.failed, col.null, failures=col.failures)


def _map_columnar(mapping: MappingPlan, table: SourceTable) -> tuple[np.ndarray, dict[str, _Column], list[Found]]:
    n_all = len(table)
    keep_mask = np.ones(n_all, dtype=bool)
    if mapping.filters:
        everything = _Columns(table, None)
        for flt in mapping.filters:
            res = _apply(functools.partial(_passes, flt), [everything.codes(flt.column)], n_all)
            hit = res.values.astype(bool)
            keep_mask &= hit if flt.keep else ~hit
    keep = np.flatnonzero(keep_mask)
    cols = _Columns(table, None if len(keep) == n_all else keep)
    n = len(keep)
    order = {f.name: i for i, f in enumerate(mapping.fields)}
    done: dict[str, _Column] = {}
    found: list[Found] = []
    # The text columns read as they are, stripped two at a time up front (Arrow's regex lets go of the GIL).
    two_at_a_time(cols.stripped, dict.fromkeys(p.inputs[0] for p in mapping.fields
                                               if p.subfields is None and p.type == "string" and p.simple))

    def collect(col: _Column, plan: FieldPlan, order_no: int) -> None:
        for i in np.flatnonzero(col.failed):
            err = col.failure(int(i))
            found.append((int(keep[i]), order_no, plan.name, err.rule, err.message, plan.line))

    money: dict[str, _Column] | None = None
    for plan in _evaluation_order(mapping):
        if plan.subfields is not None:
            subs, sub_failed = [], np.zeros(n, dtype=bool)
            for sub in plan.subfields:
                res = _apply(sub.convert, [cols.codes(c) for c in sub.inputs], n)
                collect(res, sub, order[plan.name])
                subs.append(res.values)
                sub_failed |= res.failed
            arr = np.empty(n, dtype=object)
            arr[:] = [None if bad else assemble_object(plan, list(parts))
                      for bad, parts in zip(sub_failed, zip(*subs, strict=True), strict=True)]
            mask = np.fromiter((isinstance(v, Failure) for v in arr), dtype=bool, count=n)
            collect(_Column(arr, mask, mask), plan, order[plan.name])
            null = np.fromiter((v is None for v in arr), dtype=bool, count=n)
            res = _Column(arr, mask | sub_failed, null)
        else:
            if plan.type == "money":
                if money is None:  # (money fields come last: every currency is known) two at a time
                    amounts = [p for p in mapping.fields if p.type == "money" and p.subfields is None]
                    money = dict(zip((p.name for p in amounts),
                                     two_at_a_time(lambda p: _money_column(p, cols, done, n), amounts), strict=True))
                res = money[plan.name]
            elif plan.type == "string" and plan.simple:
                res = _string_column(plan, cols.stripped(plan.inputs[0]))
            else:
                res = _apply(plan.convert, [cols.codes(c) for c in plan.inputs], n)
            if plan.numbered:
                res = _numbered_column(res)
            collect(res, plan, order[plan.name])
        done[plan.name] = res
    plans = {f.name: f for f in mapping.fields}
    for i, check in enumerate(mapping.checks):
        involved = [check.target, *check.fields]
        eligible = ~np.logical_or.reduce([done[nm].failed for nm in involved])
        if check.kind == "same":
            col = done[check.target]
            idx = np.flatnonzero(eligible & ~col.null)
            if len(idx):
                values = col.objects(idx)
                first_value = values[0]
                first_row = int(table.rows[keep[idx[0]]])
                differs = np.fromiter((v != first_value for v in values), dtype=bool, count=len(idx))
                for j, value in zip(idx[differs], values[differs], strict=True):
                    err = same_failure(check, value, first_value, first_row)
                    found.append((int(keep[j]), len(mapping.fields) + i, check.target, err.rule, err.message,
                                  check.line))
            continue
        for j in _check_column(plans, check, done, eligible):
            failure = check_row(check, {nm: done[nm].value(j) for nm in involved})
            if failure is not None:
                found.append((int(keep[j]), len(mapping.fields) + i, check.target, failure.rule, failure.message,
                              check.line))
    # Failed values stay in place: every failure is in ``found``, so run() drops those rows.
    return keep, {f.name: done[f.name] for f in mapping.fields}, found


# --- columnar: money -------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _money_run(exponent: int, decimal: str, thousands: str | None) -> re.Pattern[str]:
    """A run of source amounts in their common shape, each followed by ``_SEP``: e.g. ``-1.234,56`` /
    ``1234,56`` / ``-0,05`` for EUR with ``,`` and ``.``.

    Dropping the thousands separators and making the decimal separator '.' turns such an amount
    into the canonical quantised text (no leading zeros, no "-0", exactly ``exponent`` decimals),
    which is exactly what the scalar path returns for it. The match of the run ends where the
    first amount of another shape starts.
    """
    grouped = rf"[0-9]{{0,2}}+(?:{re.escape(thousands)}[0-9]{{3}})++|" if thousands else ""
    whole = rf"-?[1-9](?:{grouped}[0-9]*+)"
    if exponent:
        d = re.escape(decimal)
        amount = rf"(?:0|{whole}|-0(?={d}[0-9]*[1-9])){d}[0-9]{{{exponent}}}"
    else:
        amount = rf"0|{whole}"
    return re.compile(rf"(?:(?:{amount}){_SEP})*+")


def _exponent(key: str) -> int:
    if key in (_NO_CURRENCY, _BAD_CURRENCY):
        return -1
    try:
        return currency_exponent(key)
    except MoneyError:
        return -1


def _currency_key(result: Any) -> str:
    """The currency key of a currency field's value, as ``currency_key`` gives it."""
    if isinstance(result, Failure):
        return _BAD_CURRENCY
    return result or _NO_CURRENCY


def _distinct_of(col: _Column, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row (of the rows at ``idx``) and the distinct values they point at."""
    if col.codes is not None and col.distinct is not None:
        return (col.codes, col.distinct) if idx is None else (col.codes[idx], col.distinct)
    if isinstance(col.values, pa.Array):
        return _factorize(col.values if idx is None else take(col.values, idx))
    return _factorize(col.values if idx is None else col.values[idx])


def _money_column(plan: FieldPlan, cols: _Columns, done: dict[str, _Column], n: int) -> _Column:
    if plan.currency_code:
        key_codes, keys = np.zeros(n, dtype=np.intp), np.array([plan.currency_code], dtype=object)
    else:
        codes, results = _distinct_of(done[plan.currency_field or ""])
        key_codes = codes
        keys = np.empty(len(results), dtype=object)
        keys[:] = [_currency_key(r) for r in results]
    key_exps = np.array([_exponent(k) for k in keys], dtype=np.int64)
    out: np.ndarray | pa.Array | None = None
    ok = np.zeros(n, dtype=bool)
    if plan.simple and n and plan.decimal and _SEP not in plan.decimal + (plan.thousands or ""):
        texts = cols.raw(plan.inputs[0])
        fast = _money_fast_arrow if isinstance(texts, pa.Array) else _money_fast
        out, ok = fast(plan, texts, key_exps, key_codes)
    if out is None:
        out = np.empty(n, dtype=object)
    failed, null = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    idx = np.flatnonzero(~ok)
    if not len(idx):
        return _Column(out, failed, null)
    k = len(plan.inputs)
    parts = [_factorize(_strip_column(cols.raw_at(c, idx))) for c in plan.inputs]
    parts.append((key_codes[idx], keys))
    slow = _apply(lambda t: money_value(_call(plan.convert, t[:k]), t[k]), parts, len(idx))
    failed[idx], null[idx] = slow.failed, slow.null
    if isinstance(out, np.ndarray):
        out[idx] = slow.values
        return _Column(out, failed, null)
    # Arrow: the slow rows' texts put in place (None where empty or failed), their failures kept aside
    texts_at = [v if isinstance(v, str) else None for v in slow.values]
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    out = pc.replace_with_mask(out, pa.array(mask), pa.array(texts_at, out.type))
    failures = {int(idx[j]): slow.values[j] for j in np.flatnonzero(slow.failed)}
    return _Column(out, failed, null, failures=failures)


def _money_fast(plan: FieldPlan, texts: np.ndarray, key_exps: np.ndarray,
                key_codes: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Rows whose amount has the common shape for its currency (see ``_money_run``) and an array
    holding their canonical texts (the other rows' entries are to be overwritten): every other row
    takes the scalar path."""
    n = len(texts)
    ok = np.zeros(n, dtype=bool)
    out = None
    exps = None
    for e in np.unique(key_exps[np.unique(key_codes)] if len(key_exps) > 1 else key_exps):
        if e < 0:
            continue
        if len(key_exps) == 1:
            rows = None  # one currency for all rows
        else:
            exps = key_exps[key_codes] if exps is None else exps
            rows = np.flatnonzero(exps == e)
            rows = None if len(rows) == n else rows
        sub = texts if rows is None else texts[rows]
        joined = _join(sub)
        if joined is None:
            continue
        good = np.ones(len(sub), dtype=bool)
        good[_mismatches(joined + _SEP, _money_run(int(e), plan.decimal, plan.thousands))] = False
        if plan.thousands:
            joined = joined.replace(plan.thousands, "")
        if plan.decimal != ".":
            joined = joined.replace(plan.decimal, ".")
        canonical = np.fromiter(joined.split(_SEP), dtype=object, count=len(sub))
        _flag_long(canonical, int(e), good)
        if rows is None:
            return canonical, good
        if out is None:
            out = np.empty(n, dtype=object)
        out[rows] = canonical
        ok[rows] = good
    return out, ok


def _regex_literal(text: str) -> str:
    return "".join(ch if ch.isascii() and ch.isalnum() else f"\\x{{{ord(ch):x}}}" for ch in text)


@lru_cache(maxsize=64)
def _money_shape(exponent: int, decimal: str, thousands: str | None) -> str:
    """``_money_run``'s common shape of one amount, as a whole-value pattern for Arrow (RE2: no
    lookahead, so a negative zero whole part lists its non-zero decimals)."""
    d = _regex_literal(decimal)
    grouped = rf"[0-9]{{0,2}}(?:{_regex_literal(thousands)}[0-9]{{3}})+|" if thousands else ""
    whole = rf"-?[1-9](?:{grouped}[0-9]*)"
    if exponent:
        nonzero = "|".join(f"0{{{k}}}[1-9][0-9]{{{exponent - k - 1}}}" for k in range(exponent))
        amount = rf"(?:0|{whole}){d}[0-9]{{{exponent}}}|-0{d}(?:{nonzero})"
    else:
        amount = rf"0|{whole}"
    return rf"^(?:{amount})$"


def _money_fast_arrow(plan: FieldPlan, texts: pa.Array, key_exps: np.ndarray,
                      key_codes: np.ndarray) -> tuple[pa.Array | None, np.ndarray]:
    """``_money_fast`` on an Arrow column: the rows whose amount has the common shape for its
    currency's exponent, and the canonical texts of all rows (the others' to be overwritten)."""
    n = len(texts)
    ok = np.zeros(n, dtype=bool)
    exps = key_exps[key_codes] if len(key_exps) > 1 else None
    for e in np.unique(key_exps[np.unique(key_codes)] if exps is not None else key_exps):
        if e < 0:
            continue
        rows = None if exps is None else np.flatnonzero(exps == e)
        sub = texts if rows is None else take(texts, rows)
        good = pc.match_substring_regex(sub, _money_shape(int(e), plan.decimal, plan.thousands))
        if rows is None:
            ok = good.to_numpy(zero_copy_only=False)
        else:
            ok[rows] = good.to_numpy(zero_copy_only=False)
    if not ok.any():
        return None, ok
    canonical = texts
    if plan.thousands:
        canonical = pc.replace_substring(canonical, plan.thousands, "")
    if plan.decimal != ".":
        canonical = pc.replace_substring(canonical, plan.decimal, ".")
    # An amount longer than MAX_DIGITS characters may have too many digits: the scalar path decides.
    ok &= pc.less_equal(pc.utf8_length(canonical), MAX_DIGITS).to_numpy(zero_copy_only=False)
    return canonical, ok


def _flag_long(canonical: np.ndarray, exponent: int, good: np.ndarray) -> None:
    """Send amounts with more than MAX_DIGITS digits to the scalar path, which refuses them
    (type.money.digits). The texts are canonical: an optional '-', digits and one '.' when
    ``exponent`` > 0, so a text of at most MAX_DIGITS characters (+ 1 with a '.') surely fits."""
    point = 1 if exponent else 0
    if not len(canonical) or max(map(len, canonical)) <= MAX_DIGITS + point:
        return
    digits = np.fromiter((len(t) - point - (t[:1] == "-") for t in canonical), dtype=np.int64,
                         count=len(canonical))
    good[digits > MAX_DIGITS] = False


def _join(texts: np.ndarray) -> str | None:
    """The texts joined by ``_SEP``; None when one of them holds ``_SEP`` itself (or is not text)."""
    try:
        joined = _SEP.join(texts)
    except TypeError:
        return None
    return joined if joined.count(_SEP) == len(texts) - 1 else None


def _mismatches(joined: str, run: re.Pattern[str]) -> list[int]:
    """Positions of the values (each followed by ``_SEP`` in ``joined``) that ``run`` stops at."""
    bad: list[int] = []
    pos = index = 0
    end = len(joined)
    while True:
        stop = run.match(joined, pos).end()  # type: ignore[union-attr]  # a run may be empty
        if stop == end:
            return bad
        index += joined.count(_SEP, pos, stop)
        bad.append(index)
        pos = joined.index(_SEP, stop) + 1
        index += 1


# --- columnar: checks ------------------------------------------------------------------------

def _minor_units_arrow(texts: pa.Array) -> np.ndarray | None:
    """``_minor_units`` of an Arrow column: values of more than 18 digits come out beyond the limit."""
    digits = pc.replace_substring(texts, ".", "")
    long = pc.greater(pc.utf8_length(digits), 18)
    try:
        minor = pc.cast(pc.if_else(long, pa.scalar("0", digits.type), digits), pa.int64()).to_numpy(zero_copy_only=False).copy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    minor[long.to_numpy(zero_copy_only=False)] = _MINOR_LIMIT + 1
    return minor


def _minor_units(texts: np.ndarray | pa.Array) -> np.ndarray | None:
    """Canonical amounts of one exponent per row ('-12.50') as integer minor units (-1250);
    None when they cannot be read that way. Values too large for exact int64 sums come out
    beyond +-_MINOR_LIMIT (the parser saturates), so callers leave those rows to the scalar check."""
    if isinstance(texts, pa.Array):
        return _minor_units_arrow(texts)
    try:
        text = " ".join(texts)
    except TypeError:
        return None
    if "." in text:
        text = text.replace(".", "")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            minor = np.fromstring(text, dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning, AttributeError):
        return None
    return minor if len(minor) == len(texts) else None


def _ranks(cols: list[_Column], idx: np.ndarray) -> list[np.ndarray] | None:
    """The values of ``cols`` at rows ``idx`` as ranks in the sort order of all of them (text only)."""
    parts = [_distinct_of(col, idx) for col in cols]
    values = {v for _c, d in parts for v in d if v is not None and not isinstance(v, Failure)}
    if not all(type(v) is str for v in values):
        return None
    rank = {v: i for i, v in enumerate(sorted(values))}
    out = []
    for codes, distinct in parts:
        table = np.fromiter((rank.get(v, -1) for v in distinct), dtype=np.int64, count=len(distinct))
        out.append(table[codes])
    return out


def _check_column(plans: dict[str, FieldPlan], check: CheckPlan, done: dict[str, _Column],
                  eligible: np.ndarray) -> np.ndarray:
    """Positions where ``check`` may fail (the scalar check_row confirms each and words the message)."""
    names = [*check.fields, check.target] if check.kind == "sum" else list(check.fields)
    present = eligible.copy()
    for nm in names:
        present &= ~done[nm].null
    idx = np.flatnonzero(present)
    if not len(idx):
        return idx
    if _same_money(plans, names) and (check.kind == "sum" and len(names) <= 32 or check.numeric):
        # same currency, so canonical texts share the exponent: compare integer minor units
        # (Arrow's string work lets go of the GIL: the columns two at a time)
        whole = len(idx) == len(eligible)
        found_units = two_at_a_time(lambda nm: _minor_units(done[nm].values if whole else take(done[nm].values, idx)),
                                    names)
        minor = [m for m in found_units if m is not None]
        if len(minor) < len(found_units):
            return idx
        big = np.logical_or.reduce([(m > _MINOR_LIMIT) | (m < -_MINOR_LIMIT) for m in minor])
        if check.kind == "sum":
            holds = np.sum(minor[:-1], axis=0) == minor[-1]
        else:
            holds = OPS[check.op](minor[0], minor[1])
        return idx[big | ~holds]
    if check.kind == "compare" and not check.numeric:
        ranks = _ranks([done[nm] for nm in names], idx)
        if ranks is not None:
            return idx[~OPS[check.op](ranks[0], ranks[1])]
        left, right = (done[nm].objects(idx) for nm in names)
        holds = np.fromiter((OPS[check.op](a, b) for a, b in zip(left, right, strict=True)), dtype=bool, count=len(idx))
        return idx[~holds]
    return idx


def _same_money(plans: dict[str, FieldPlan], names: list[str]) -> bool:
    ps = [plans[nm] for nm in names]
    return all(p.type == "money" for p in ps) and len({(p.currency_field, p.currency_code) for p in ps}) == 1
