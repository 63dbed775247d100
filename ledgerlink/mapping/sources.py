"""Read source files (CSV, XML, JSON) into a ``SourceTable`` of raw text values.

Values are kept exactly as in the file (the engines strip them), with each record's
row number (CSV: line in the file, header = line 1; blank lines and line breaks inside
quoted fields count) and, for XML/JSON, its location (XPath / JSON path).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from lxml import etree

from ledgerlink.mapping import csvtext
from ledgerlink.mapping.errors import SourceError

BOM = codecs.BOM_UTF8
_UTF8 = ("utf-8", "utf-8-sig")
_DTD_RE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
_NON_ASCII = re.compile(rb"[\x80-\xff]")
# The characters Python's str.strip() and str.isspace() take for whitespace, as a class for Arrow's
# regular expressions (RE2), so text kept in Arrow is stripped and found blank exactly as a str is.
PY_WHITESPACE = (r"[\t-\r\x1c-\x20\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}"
                 r"\x{3000}]")
_BLANK = f"^{PY_WHITESPACE}*$"


@dataclass
class SourceOptions:
    format: str
    encodings: list[str] = field(default_factory=lambda: ["utf-8-sig"])
    delimiter: str = ","
    header_row: int = 1                   # 0: no header line (with ``columns``)
    columns: list[str] | None = None      # CSV: names to use instead of the header line's
    quote: str = '"'
    decimal: str = "."
    thousands: str | None = None
    dates: list[str] = field(default_factory=lambda: ["%Y-%m-%d"])
    record_path: str | None = None
    namespaces: dict[str, str] = field(default_factory=dict)
    max_row_bytes: int = csvtext.DEFAULT_MAX_ROW_BYTES      # CSV: a longer record is not read
    max_field_chars: int = csvtext.DEFAULT_MAX_FIELD_CHARS  # CSV: a longer field quarantines its row


class Problem(NamedTuple):
    """A source row that is read (counted) but cannot be mapped: it goes to quarantine as is."""

    row: int
    rule: str
    message: str
    raw: dict[str, Any]
    field: str | None = None   # the source column at fault, when one is


# A source column: an object array of str, or (from the fast CSV reader) an Arrow text array without nulls,
# which holds a million values in a few buffers instead of a million Python objects.
SourceColumn: TypeAlias = "np.ndarray | pa.Array"


@dataclass
class SourceTable:
    """Records of one source: column -> array of original strings ("" where absent)."""

    columns: list[str]                    # columns the source has (CSV header; XML/JSON: used paths found)
    data: dict[str, SourceColumn]
    rows: np.ndarray                      # int64 row number of each record
    locations: list[str | None] | None = None
    raws: list[dict[str, Any]] | None = None   # raw dicts when they are not simply the columns
    problems: list[Problem] = field(default_factory=list)
    # rows that could not be read (too many fields, too long, undecodable, control characters); counted as read

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        """The column as an object array of str (made from an Arrow column each time it is asked for)."""
        arr = self.data.get(name)
        if arr is None:
            return np.full(len(self.rows), "", dtype=object)
        return text_objects(arr) if isinstance(arr, pa.Array) else arr

    def arrow(self, name: str) -> pa.Array | None:
        """The column when it is kept in Arrow, else None."""
        arr = self.data.get(name)
        return arr if isinstance(arr, pa.Array) else None

    def values_at(self, name: str, positions: list[int]) -> list[str]:
        arr = self.data[name]
        if isinstance(arr, pa.Array):
            return arr.take(pa.array(positions, pa.int64())).to_pylist()
        return arr[positions].tolist()

    def raw(self, pos: int) -> dict[str, Any]:
        if self.raws is not None:
            return dict(self.raws[pos])
        return {c: (arr[pos].as_py() if isinstance(arr, pa.Array) else arr[pos])
                for c, arr in ((c, self.data[c]) for c in self.columns)}

    def location(self, pos: int) -> str | None:
        return self.locations[pos] if self.locations is not None else None

    def take(self, keep: np.ndarray) -> SourceTable:
        """The records at positions ``keep`` (an index array)."""
        return SourceTable(
            columns=self.columns, data={c: take(a, keep) for c, a in self.data.items()}, rows=self.rows[keep],
            locations=[self.locations[i] for i in keep] if self.locations is not None else None,
            raws=[self.raws[i] for i in keep] if self.raws is not None else None, problems=self.problems,
        )


def read_source(path: Path, options: SourceOptions, used: list[str]) -> SourceTable:
    """Read ``path`` according to ``options``; ``used`` lists the paths an XML/JSON mapping reads."""
    try:
        if options.format == "csv":
            return drop_blank(read_csv_file(path, options))
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    if options.format == "xml":
        table = read_xml_bytes(raw, options, used, str(path))
    else:
        table = read_json_bytes(raw, options, used, str(path))
    return drop_blank(table)


def drop_blank(table: SourceTable) -> SourceTable:
    """Remove records whose values are all empty or whitespace (blank lines); they are not counted."""
    blank = np.ones(len(table), dtype=bool)
    for arr in table.data.values():
        idx = np.flatnonzero(blank)
        if len(idx) == 0:
            break
        if isinstance(arr, pa.Array):
            blank[idx] = blank_texts(take(arr, idx) if len(idx) < len(arr) else arr)
            continue
        values = arr[idx] if len(idx) < len(arr) else arr
        filled = values != ""
        some = np.flatnonzero(filled)
        if len(some):  # a non-empty value is still blank when it is all whitespace
            filled[some] = ~np.fromiter(map(str.isspace, values[some]), dtype=bool, count=len(some))
        blank[idx[filled]] = False
    if not blank.any():
        return table
    return table.take(np.flatnonzero(~blank))


# --- CSV ----------------------------------------------------------------------------------

def read_csv_file(path: Path, options: SourceOptions) -> SourceTable:
    """A CSV file, streamed past records longer than ``options.max_row_bytes`` (see csvtext)."""
    skipped: list[csvtext.Skipped] = []
    cappable = (path.stat().st_size > options.max_row_bytes and csvtext.ascii_compatible(options.encodings)
                and (options.quote + options.delimiter).isascii())
    if cappable:
        raw, skipped = csvtext.read_capped(path, options.quote, options.delimiter, options.max_row_bytes)
    else:
        raw = csvtext.read_without_bom(path)
    return read_csv_bytes(raw, options, str(path), skipped)


def _utf8_candidates(raw: bytes, encodings: list[str], name: str):
    """Yield (encoding, UTF-8 bytes) for each encoding that could decode ``raw``."""
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    not_utf8 = _surely_not_utf8(raw)
    for enc in encodings:
        try:
            codec = codecs.lookup(enc).name
        except LookupError:
            raise SourceError(f"{name}: unknown encoding {enc!r}") from None
        if codec in _UTF8:
            if not not_utf8:
                yield enc, raw  # validated while parsing
            continue
        if csvtext.ascii_compatible([enc]) and csvtext.has_utf8_text(raw):
            continue  # UTF-8 text in it would be garbled ("CafÃ©"): decoded line by line instead
        try:
            yield enc, raw.decode(codec).encode("utf-8")
        except UnicodeDecodeError:
            continue


def _surely_not_utf8(raw: bytes, block: int = 1 << 20) -> bool:
    """True when the first non-ASCII character of ``raw`` is not valid UTF-8, so the whole file
    cannot be (a cp1252 export, say). Cheap: the ASCII part is skipped a block at a time.
    False does not prove the file is UTF-8; the parser still validates all of it."""
    for start in range(0, len(raw), block):
        chunk = raw[start:start + block + 4]
        if chunk[:block].isascii():
            continue
        found = _NON_ASCII.search(chunk)
        if found is None:  # the non-ASCII byte lies in the 4 bytes beyond the block: the next chunk has it
            continue
        first = found.start()
        try:
            codecs.getincrementaldecoder("utf-8")().decode(chunk[first:first + 8], final=False)
        except UnicodeDecodeError:
            return True
        return False
    return False


def read_csv_bytes(raw: bytes, options: SourceOptions, name: str = "<csv>",
                   skipped: Sequence[csvtext.Skipped] = ()) -> SourceTable:
    """Rows of a CSV file's bytes (``skipped``: records read_capped left out)."""
    table = None
    for _enc, data in _utf8_candidates(raw, options.encodings, name):
        try:
            table = _parse_csv(data, options, name)
            break
        except UnicodeDecodeError:
            continue
    bad: dict[int, str] = {}
    if table is None:
        data, bad = _decode_by_line(raw, options, name)
        table = _parse_csv(data, options, name)
    return _screen(table, data, options, bad, skipped, name)


def _decode_by_line(raw: bytes, options: SourceOptions, name: str) -> tuple[bytes, dict[int, str]]:
    """A file no listed encoding decodes whole, decoded line by line when some of its lines are
    UTF-8 (a mix of UTF-8 and cp1252 rows); refused when none is."""
    listed = " or ".join(options.encodings)
    body = raw[len(BOM):] if raw.startswith(BOM) else raw
    if not (csvtext.ascii_compatible(options.encodings) and csvtext.has_utf8_text(body)):
        raise SourceError(f"{name}: cannot be decoded as {listed}")
    data, bad, lines = csvtext.decode_lines(body, options.encodings)
    if len(bad) == lines:  # not one line in a listed encoding: the file is in another one
        line, reason = next(iter(bad.items()))
        raise SourceError(f"{name}: cannot be decoded as {listed} (line {line}: {reason})")
    return data, bad


def _screen(table: SourceTable, data: bytes, options: SourceOptions, bad: dict[int, str],
            skipped: Sequence[csvtext.Skipped], name: str) -> SourceTable:
    """Move to ``problems`` the rows that are not acceptable text: left out for their size,
    undecodable lines, fields with control characters or longer than the field cap."""
    first_row = options.header_row + 1 if options.header_row else 1
    problems = list(table.problems)
    for s in skipped:
        if s.line < first_row:
            raise SourceError(f"{name}: line {s.line}: the header {s.message.removeprefix('row ')}")
        problems.append(Problem(s.line, s.rule, s.message, {"_start": s.preview}))
    rows = table.rows
    odd_rows = np.array(sorted(p.row for p in table.problems), dtype=np.int64)
    found: dict[int, Problem] = {}
    for line, reason in bad.items():
        if line < first_row:
            raise SourceError(f"{name}: line {line}: the header line: {reason}")
        pos = _record_at(rows, odd_rows, line)
        if pos is not None and pos not in found:
            raw = table.raw(pos)
            column = next((c for c, v in raw.items() if isinstance(v, str) and not v.isascii()), None)
            where = "" if line == rows[pos] else f"line {line}: "
            found[pos] = Problem(int(rows[pos]), "source.encoding", where + reason, raw, column)
    for line in csvtext.suspect_lines(data, options.max_field_chars).tolist():
        pos = _record_at(rows, odd_rows, line)
        if pos is None or pos in found:
            continue
        raw = table.raw(pos)
        if hit := csvtext.row_problem(raw, options.max_field_chars):
            column, rule, message = hit
            found[pos] = Problem(int(rows[pos]), rule, message, raw, column)
    if not found and len(problems) == len(table.problems):
        return table
    keep = np.setdiff1d(np.arange(len(table)), np.fromiter(found, dtype=np.int64, count=len(found)))
    out = table.take(keep)
    out.problems = sorted(problems + list(found.values()), key=lambda p: p.row)
    return out


def _record_at(rows: np.ndarray, odd_rows: np.ndarray, line: int) -> int | None:
    """Position of the record that holds file line ``line`` (None: a row of ``problems`` does)."""
    pos = int(np.searchsorted(rows, line, side="right")) - 1
    if pos < 0:
        return None
    later = odd_rows[np.searchsorted(odd_rows, rows[pos], side="right"):]
    return None if len(later) and later[0] <= line else pos


def _parse_csv(data: bytes, options: SourceOptions, name: str) -> SourceTable:
    skipped = options.header_row - 1
    # with ``columns`` the file's own header line (if any) is skipped too and replaced by theirs
    start = 0
    for _ in range(options.header_row if options.columns else skipped):
        start = data.find(b"\n", start) + 1
        if start == 0:
            raise SourceError(f"{name}: has fewer than {options.header_row} lines; no header at line {options.header_row}")
    data = data[start:]
    if options.columns:
        data = _header_line(options) + data
    elif not data or data.isspace():  # (no copy of the data, unlike strip())
        raise SourceError(f"{name}: is empty (no header line)")
    table = _parse_csv_fast(data, options)
    if table is None:
        table = _parse_csv_exact(data, options)
    table.rows += skipped
    table.problems = [p._replace(row=p.row + skipped) for p in table.problems]
    return table


def _header_line(options: SourceOptions) -> bytes:
    q = options.quote
    names = (q + c.replace(q, q + q) + q for c in options.columns or [])
    return (options.delimiter.join(names) + "\n").encode("utf-8")


def _parse_csv_fast(data: bytes, options: SourceOptions) -> SourceTable | None:
    """Arrow's or pandas' C parser; row numbers derived from line counts. None when the file needs
    the exact parser."""
    parsed = _parse_csv_arrow(data, options) or _parse_csv_pandas(data, options)
    if parsed is None:
        return None
    columns, arrays = parsed
    n = len(arrays[columns[0]]) if columns else 0
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    extra = n_lines - 1 - n   # lines taken by line breaks inside quoted values
    arrow = any(isinstance(arr, pa.Array) for arr in arrays.values())
    if options.quote and options.quote.encode() in data and (extra or arrow):
        # Each record's own line breaks, counted in its values: they must account for every line more
        # than the records (else a lone CR ended a line: the exact reader numbers those). Cheap for
        # Arrow's columns, so always done there; for pandas' objects only when lines are left over.
        per = np.zeros(n, dtype=np.int64)
        for arr in arrays.values():
            if not isinstance(arr, pa.Array):
                per += np.fromiter((v.count("\n") for v in arr), dtype=np.int64, count=n)
            elif np.count_nonzero(_value_bytes(arr) == 10):  # (most columns hold no line break at all)
                per += pc.count_substring(arr, "\n").to_numpy(zero_copy_only=False)
        if per.sum() != extra:
            return None
        rows = 2 + np.arange(n, dtype=np.int64) + np.concatenate(([0], np.cumsum(per)[:-1]))
    elif extra == 0:
        rows = np.arange(2, n + 2, dtype=np.int64)
    else:
        return None
    return SourceTable(columns=columns, data=arrays, rows=rows)


def _parse_csv_pandas(data: bytes, options: SourceOptions) -> tuple[list[str], dict[str, SourceColumn]] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = pd.read_csv(io.BytesIO(data), sep=options.delimiter, dtype=object, na_filter=False,
                             skip_blank_lines=False, quotechar=options.quote, doublequote=True, encoding="utf-8",
                             encoding_errors="strict", engine="c", header=0)
    except pd.errors.ParserError:
        return None
    if not isinstance(df.index, pd.RangeIndex):  # rows with more fields than the header
        return None
    columns = [str(c).strip() for c in df.columns]
    if len(set(columns)) != len(columns) or any(c.startswith("Unnamed: ") for c in columns):
        return None
    return columns, {c: _own(df.iloc[:, i].to_numpy(dtype=object)) for i, c in enumerate(columns)}


ARROW_BLOCK_BYTES = 16 << 20


def _parse_csv_arrow(data: bytes, options: SourceOptions) -> tuple[list[str], dict[str, pa.Array]] | None:
    """Arrow's multi-threaded reader (several times pandas' speed, and its columns are already the
    Arrow text the engines map) for the files where it reads exactly what pandas reads: every line
    with as many fields as the header and a header of distinct, non-empty names. Quoted values are
    read as pandas reads them (doubled quotes, text after the closing quote, line breaks inside).
    None: let pandas read it. (Both end a line at LF, CRLF or a lone CR; the caller counts the LF
    lines, so a lone CR, one record more than they hold, sends the file to the exact reader.)"""
    sep, quote = options.delimiter, options.quote
    if len(sep) != 1 or not sep.isascii() or sep in "\r\n" or len(quote) != 1 or not quote.isascii() or quote == sep:
        return None
    quoted = quote.encode() in data
    header_end = data.find(b"\n")
    if header_end < 0 or header_end + 1 == len(data):  # no row after the header: pandas says what it is
        return None
    header = data[:header_end].decode("utf-8").rstrip("\r")
    if quoted and header.count(quote) % 2:  # a quoted name with a line break, or a stray quote
        return None
    names = [c.strip() for c in next(csv.reader([header], delimiter=sep, quotechar=quote, doublequote=True))]
    if len(set(names)) != len(names) or "" in names:
        return None
    # Arrow reads a block at a time (its buffers stay a block big) straight from the bytes, not a copy.
    read = pa_csv.ReadOptions(block_size=ARROW_BLOCK_BYTES, column_names=[f"c{i}" for i in range(len(names))],
                              skip_rows=1)
    # (line breaks in quoted values: the blocks are then cut where no quoted value is open)
    parse = pa_csv.ParseOptions(delimiter=sep, quote_char=quote if quoted else False, double_quote=quoted,
                                escape_char=False, newlines_in_values=quoted, ignore_empty_lines=False)
    convert = pa_csv.ConvertOptions(column_types={f"c{i}": pa.string() for i in range(len(names))},
                                    strings_can_be_null=False, quoted_strings_can_be_null=False)
    try:
        table = pa_csv.read_csv(pa.py_buffer(data), read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a line with fewer or more fields, text that is not UTF-8
        return None
    if quoted and (not table.num_rows
                   or not _last_record_closed(data, [table.column(i)[-1].as_py() for i in range(len(names))], options)
                   or b"\r" in data and _lone_cr_in_values(table)):
        return None
    arrays = {}
    for name in names:
        arrays[name] = text_array(table.column(0).chunks)
        table = table.remove_column(0)  # (each column is held once: its blocks go as it is put together)
    return names, arrays


def _last_record_closed(data: bytes, last: list[str], options: SourceOptions) -> bool:
    """Whether the last record closes every quote it opens: Arrow ends a value left open at the end of
    the file (a file cut short), pandas refuses it. Only the last record can hold such a value (it runs
    to the end); its lines are read again by Python's csv module, strictly."""
    breaks = sum(value.count("\n") for value in last)
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    start = end
    for _ in range(breaks + 1):
        start = data.rfind(b"\n", 0, start) if start > 0 else -1
    tail = data[start + 1:].decode("utf-8")
    try:
        list(csv.reader(io.StringIO(tail, newline=""), delimiter=options.delimiter, quotechar=options.quote,
                        doublequote=True, strict=True))
    except csv.Error:
        return False
    return True


def _lone_cr_in_values(table: pa.Table) -> bool:
    """Whether a value holds a CR with no LF after it. Arrow drops the LF of a quoted value's CRLF when a
    block of the file ends between the two (and may end the record there): such a file goes to pandas."""
    def lone_cr(column: pa.ChunkedArray) -> bool:
        if not any(np.count_nonzero(_value_bytes(chunk) == 13) for chunk in column.chunks):  # (most hold no CR)
            return False
        return pc.sum(pc.count_substring(column, "\r")).as_py() != pc.sum(pc.count_substring(column, "\r\n")).as_py()

    return any(lone_cr(column) for column in table.columns)


def text_array(chunks: list[pa.Array]) -> pa.Array:
    """Text chunks as one Arrow array: 32-bit offsets (4 bytes a value less) unless the column holds
    more than 2 GiB of text."""
    try:
        return pa.concat_arrays(chunks) if chunks else pa.array([], pa.string())
    except (pa.ArrowInvalid, pa.ArrowCapacityError):
        return pa.concat_arrays([chunk.cast(pa.large_string()) for chunk in chunks])


def blank_texts(column: pa.Array) -> np.ndarray:
    """Per value of an Arrow text column: is it empty or all whitespace (as ``str.isspace``)? (A null is blank.)"""
    column = _offsets_and_data(column)
    first, _last, length = _end_bytes(column)
    blank = length == 0
    maybe = np.flatnonzero(~blank & _WS_FIRST[first])
    if len(maybe):
        blank[maybe] = _matches(column, maybe, _BLANK)
    return blank


def whitespace_edges(column: pa.Array) -> np.ndarray:
    """Per value of an Arrow text column: does it start or end with whitespace (what ``str.strip``
    takes off)? The regular expression runs only on the values whose first or last byte could belong
    to a whitespace character."""
    column = _offsets_and_data(column)
    first, last, length = _end_bytes(column)
    edges = np.zeros(len(column), dtype=bool)
    maybe = np.flatnonzero((length > 0) & (_WS_FIRST[first] | _WS_LAST[last]))
    if len(maybe):
        edges[maybe] = _matches(column, maybe, f"^{PY_WHITESPACE}|{PY_WHITESPACE}$")
    return edges


# The first and the last UTF-8 byte of every character Python takes for whitespace.
_WS_FIRST = np.zeros(256, dtype=bool)
_WS_LAST = np.zeros(256, dtype=bool)
for _c in (chr(i) for i in range(0x3001) if chr(i).isspace()):  # (U+3000 is the last one)
    _WS_FIRST[_c.encode()[0]] = _WS_LAST[_c.encode()[-1]] = True


def _offsets_and_data(column: pa.Array) -> pa.Array:
    """A text column laid out as offsets and data (``_end_bytes`` reads those buffers): a string view,
    say, converted."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    return column.cast(pa.large_string())


def _own_offsets(column: pa.Array) -> np.ndarray:
    """The value offsets of an Arrow text column laid out as offsets and data, as 64-bit integers: the
    column's own only (a slice shares its parent's buffer)."""
    offsets_buf = column.buffers()[1]
    offsets = np.frombuffer(offsets_buf, dtype=np.int64 if pa.types.is_large_string(column.type) else np.int32)
    return offsets[column.offset:column.offset + len(column) + 1].astype(np.int64, copy=False)


def _value_bytes(column: pa.Array) -> np.ndarray:
    """The bytes of an Arrow text column's values, end to end: a view of its data buffer."""
    column = _offsets_and_data(column)
    offsets, data_buf = _own_offsets(column), column.buffers()[2]
    return np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]] if data_buf is not None else np.zeros(0, np.uint8)


def _end_bytes(column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first byte, last byte, byte length) of each value of an Arrow text column, read from its
    buffers (0 and 0 for an empty value; a null counts as empty)."""
    offsets, data_buf = _own_offsets(column), column.buffers()[2]
    starts, ends = offsets[:-1], offsets[1:]
    length = ends - starts
    if column.null_count:
        length[column.is_null().to_numpy(zero_copy_only=False)] = 0
    first = np.zeros(len(column), dtype=np.uint8)
    last = np.zeros(len(column), dtype=np.uint8)
    filled = length > 0
    if filled.any():
        data = np.frombuffer(data_buf, dtype=np.uint8)
        first[filled], last[filled] = data[starts[filled]], data[ends[filled] - 1]
    return first, last, length


def _matches(column: pa.Array, positions: np.ndarray, pattern: str) -> np.ndarray:
    found = pc.match_substring_regex(column.take(pa.array(positions, pa.int64())), pattern)
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def distinct_codes(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """An Arrow column's code per value and its distinct values (None for a null) as Python objects:
    only the distinct values become objects."""
    encoded = pc.dictionary_encode(column, null_encoding="encode")
    return (encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp),
            encoded.dictionary.to_numpy(zero_copy_only=False))


def text_objects(column: pa.Array) -> np.ndarray:
    """An Arrow text column as an array of Python strings, one object per distinct value (as pandas'
    reader makes them): a million rows of a few dates, statuses and names are not a million objects each."""
    codes, distinct = distinct_codes(column)
    return distinct[codes]


def objects(column: SourceColumn) -> np.ndarray:
    """A column as an object array (None for an Arrow null)."""
    return column.to_numpy(zero_copy_only=False) if isinstance(column, pa.Array) else column


def take(column: SourceColumn, positions: np.ndarray) -> SourceColumn:
    """The values at ``positions`` (an index array) of a source column."""
    return column.take(pa.array(positions, pa.int64())) if isinstance(column, pa.Array) else column[positions]


def _own(arr: np.ndarray) -> np.ndarray:
    """A column taken out of the parsed frame (which is dropped), writable like any other array."""
    if not arr.flags.writeable:
        try:
            arr.flags.writeable = True
        except ValueError:
            arr = arr.copy()
    return arr


def _parse_csv_exact(data: bytes, options: SourceOptions) -> SourceTable:
    """Python's csv module, record by record: exact line numbers and rows with too many fields."""
    text = data.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=options.delimiter, quotechar=options.quote)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        header = []
    width = len(header)
    values: list[list[str]] = []
    rows: list[int] = []
    problems = []
    last = reader.line_num
    try:
        for rec in reader:
            row = last + 1
            last = reader.line_num
            if len(rec) > width:
                raw = dict(zip(header, rec, strict=False))
                raw["_extra_fields"] = options.delimiter.join(rec[width:])
                problems.append(Problem(row, "source.fields", f"row has {len(rec)} fields, the header has {width}", raw))
                continue
            values.append(rec + [""] * (width - len(rec)))
            rows.append(row)
    except csv.Error as exc:
        raise SourceError(f"line {reader.line_num}: {exc}") from None
    columns = list(dict.fromkeys(header))
    arrays = {}
    for i, c in enumerate(header):
        if c in arrays:
            continue
        arr = np.empty(len(values), dtype=object)
        arr[:] = [r[i] for r in values]
        arrays[c] = arr
    return SourceTable(columns=columns, data=arrays, rows=np.array(rows, dtype=np.int64), problems=problems)


# --- XML ----------------------------------------------------------------------------------

def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_pis=True)


def parse_xml(raw: bytes, name: str = "<xml>") -> etree._Element:
    """Parse XML hardened: no DTD (refused outright), no entities, no network, size limits on."""
    if _DTD_RE.search(raw):
        raise SourceError(f"{name}: XML with a DOCTYPE or entity declaration is refused "
                          "(DTDs and entities can read files or expand without bound)")
    try:
        root = etree.fromstring(raw, _xml_parser())
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"{name}: not well-formed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SourceError(f"{name}: XML with a DOCTYPE or entity declaration is refused")
    return root


def _xml_text(result: Any) -> str | None:
    if isinstance(result, list):
        if not result:
            return None
        result = result[0]
    if isinstance(result, etree._Element):
        return "".join(result.itertext())
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float):
        return str(int(result)) if result.is_integer() else str(result)
    return None if result is None else str(result)


def _element_path(el: etree._Element, prefixes: dict[str, str]) -> str:
    parts = []
    while el is not None:
        qname = etree.QName(el)
        prefix = prefixes.get(qname.namespace or "")
        tag = f"{prefix}:{qname.localname}" if prefix else qname.localname
        parent = el.getparent()
        index = 1 if parent is None else 1 + sum(1 for s in el.itersiblings(preceding=True) if s.tag == el.tag)
        parts.append(f"{tag}[{index}]")
        el = parent
    return "/" + "/".join(reversed(parts))


def read_xml_bytes(raw: bytes, options: SourceOptions, used: list[str], name: str = "<xml>") -> SourceTable:
    root = parse_xml(raw, name)
    ns = options.namespaces
    prefixes = {uri: p for p, uri in ns.items()}
    records = root.xpath(options.record_path or "/*", namespaces=ns)
    records = [r for r in records if isinstance(r, etree._Element)]
    paths = {p: etree.XPath(p, namespaces=ns) for p in used}
    raws = []
    for el in records:
        found = {}
        for p, xp in paths.items():
            text = _xml_text(xp(el))
            if text is not None:
                found[p] = text
        raws.append(found)
    return _table_from_dicts(raws, list(range(1, len(raws) + 1)), [_element_path(el, prefixes) for el in records],
                             used)


# --- JSON ---------------------------------------------------------------------------------

def json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def json_get(record: Any, path: str) -> Any:
    node = record
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and re.fullmatch(r"-?\d+", part) and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def json_has(record: Any, path: str) -> bool:
    """Whether the record has the path's keys (its value may be null). Past a list the path counts as
    present: a short or empty list is a value, not a field the source dropped."""
    node = record
    for part in path.split("."):
        if isinstance(node, list):
            return True
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def read_json_bytes(raw: bytes, options: SourceOptions, used: list[str], name: str = "<json>") -> SourceTable:
    doc = None
    for _enc, data in _utf8_candidates(raw, options.encodings, name):
        try:
            # numbers stay text: amounts are never floats
            doc = json.loads(data.decode("utf-8"), parse_float=str, parse_int=str, parse_constant=str)
            break
        except UnicodeDecodeError:
            continue
        except json.JSONDecodeError as exc:
            raise SourceError(f"{name}: not valid JSON: {exc}") from None
    if doc is None:
        raise SourceError(f"{name}: cannot be decoded as {' or '.join(options.encodings)}")
    base = options.record_path or ""
    records = json_get(doc, base) if base else doc
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list):
        raise SourceError(f"{name}: record_path {base!r} does not lead to a list of records")
    prefix = f"$.{base}" if base else "$"
    raws, locations = [], []
    for i, rec in enumerate(records):
        found = {}
        for p in used:
            text = json_text(json_get(rec, p))
            if text is not None:
                found[p] = text
        raws.append(found)
        locations.append(f"{prefix}[{i}]")
    return _table_from_dicts(raws, list(range(1, len(raws) + 1)), locations, used)


# --- raw rows (replay) --------------------------------------------------------------------

def _table_from_dicts(raws: list[dict[str, Any]], rows: list[int], locations: Sequence[str | None] | None,
                      columns_hint: list[str]) -> SourceTable:
    present: dict[str, None] = {}
    for r in raws:
        present.update(dict.fromkeys(r))
    columns = [c for c in columns_hint if c in present] + [c for c in present if c not in columns_hint]
    data = {}
    for c in columns:
        arr = np.empty(len(raws), dtype=object)
        arr[:] = [("" if r.get(c) is None else str(r.get(c))) for r in raws]
        data[c] = arr
    return SourceTable(columns=columns, data=data, rows=np.array(rows, dtype=np.int64),
                       locations=None if locations is None else list(locations), raws=raws)


def table_from_rows(raw_rows: list[tuple[int | None, str | None, dict[str, Any]]], *, xml_or_json: bool) -> SourceTable:
    """A table from (row, location, raw dict) triples, e.g. quarantined rows being replayed."""
    rows = [r if r is not None else i + 1 for i, (r, _loc, _raw) in enumerate(raw_rows)]
    locations = [loc for _r, loc, _raw in raw_rows]
    raws = [dict(raw) for _r, _loc, raw in raw_rows]
    table = _table_from_dicts(raws, rows, locations if any(locations) else None, [])
    if not xml_or_json:
        table.raws = None if all(list(r) == table.columns for r in raws) else table.raws
    return drop_blank(table)
