"""Validate mapped records against their entity's JSON Schema, fast.

Per-record jsonschema validation runs at ~14k records/s, too slow for million-row files.
So the simple keywords (required, type string, enum, pattern, length, const, if/then
required) are checked column-wise first; only rows that fail there, or every row when the
schema uses keywords this screen does not understand, go through jsonschema, which
produces the precise messages. A row the screen passes is therefore valid by the schema.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ledgerlink.model.entities import load_schema, schema_errors
from ledgerlink.prefetch import two_at_a_time

_SIMPLE_KEYWORDS = {"type", "enum", "pattern", "minLength", "maxLength", "const", "description", "format",
                    "x-money", "minimum", "maximum"}


@dataclass(frozen=True)
class Violation:
    index: int       # position in the frame
    field: str
    rule: str
    message: str


def validate_frame(entity: str, frame: pd.DataFrame, fields: list[str]) -> list[Violation]:
    schema = load_schema(entity)
    suspicious, screened = _screen(schema, frame, fields)
    candidates = np.arange(len(frame)) if not screened else np.flatnonzero(suspicious)
    if len(candidates) == 0:
        return []
    sub = frame.iloc[candidates][fields]
    out: list[Violation] = []
    for pos, record in zip(candidates, sub.to_dict(orient="records"), strict=True):
        doc = {k: v for k, v in record.items() if v is not None}
        for field, rule, message in schema_errors(entity, doc):
            out.append(Violation(int(pos), field, rule, message))
    return out


def _screen(schema: dict[str, Any], frame: pd.DataFrame, fields: list[str]) -> tuple[np.ndarray, bool]:
    """(rows that may be invalid, whether the screen covered every keyword of the schema)."""
    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    props = schema.get("properties", {})
    covered = set(schema) <= {"$schema", "$id", "title", "description", "type", "additionalProperties",
                              "required", "properties", "allOf", "x-natural-key"}
    if set(fields) - set(props):
        return np.ones(n, dtype=bool), True  # unknown fields: let jsonschema name them
    # Two fields at a time: polars and numpy let go of the GIL for most of a field's checks. Each is
    # dropped once checked (a million-row text column converted from objects is big).
    screened = two_at_a_time(lambda name: _field_screen(frame[name], name, props[name]), fields)
    present: dict[str, np.ndarray] = {}
    for name, (mask, ok, field_covered) in zip(fields, screened, strict=True):
        present[name] = mask
        covered = covered and field_covered
        if ok is not None:
            bad[mask] |= ~ok
    for name in schema.get("required", []):
        bad |= ~present[name] if name in present else True
    for clause in schema.get("allOf", []):
        cond = clause.get("if", {}).get("properties", {})
        then_required = clause.get("then", {}).get("required")
        if len(cond) != 1 or set(clause) != {"if", "then"} or not then_required:
            covered = False
            continue
        (field, test), = cond.items()
        if set(test) != {"const"} or field not in frame:
            covered = False
            continue
        applies = (frame[field] == test["const"]).to_numpy(dtype=bool)
        for name in then_required:
            bad |= applies & (~present[name] if name in present else True)
    return bad, covered


def _field_screen(values: pd.Series, name: str, spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """One field's screen: (rows holding a value, whether each of those passes the simple keywords or None
    when there is nothing to check, whether the screen covered every keyword of the field)."""
    text = _text(values, name)
    mask = pc.is_valid(text).to_numpy(zero_copy_only=False) if text is not None else values.notna().to_numpy()
    if not set(spec) <= _SIMPLE_KEYWORDS:
        return mask, None, False
    if not mask.any():
        return mask, None, True
    kind = spec.get("type")
    if kind in (None, "string") or "enum" in spec or "const" in spec:
        if not mask.all():  # (most fields have a value in every row: no copy of them)
            values, text = values[mask], None if text is None else text.filter(pa.array(mask))
        return mask, _column_ok(values, text, spec), True
    return mask, None, False  # integers, booleans, arrays, objects: jsonschema decides


def _column_ok(values: pd.Series, text: pa.Array | pa.ChunkedArray | None, spec: dict[str, Any]) -> np.ndarray:
    """Per value: does it satisfy the simple keywords of ``spec``? ``text``: the same values as Arrow
    text, when they are all text: then the checks run column-wise on it, with no copy of the column
    (membership, lengths in characters as JSON Schema counts them, the pattern); else each distinct
    value is checked once by Python."""
    pattern = re.compile(spec["pattern"]) if "pattern" in spec else None
    allowed = spec.get("enum", [spec["const"]] if "const" in spec else None)
    need_string = spec.get("type") == "string" or bool({"pattern", "minLength", "maxLength"} & set(spec))
    low, high = spec.get("minLength", 0), spec.get("maxLength")

    if text is not None and (allowed is None or all(isinstance(a, str) for a in allowed)):
        good = np.ones(len(text), dtype=bool)
        if allowed is not None:
            good &= pc.is_in(text, value_set=pa.array(allowed, text.type)).to_numpy(zero_copy_only=False)
        if need_string:
            if low or high is not None:
                lengths = pc.utf8_length(text).to_numpy(zero_copy_only=False)
                good &= lengths >= low
                if high is not None:
                    good &= lengths <= high
            if pattern is not None:
                good &= _search(text, pattern)
        return good

    def ok(value: Any) -> bool:
        if allowed is not None and value not in allowed:
            return False
        if not need_string:
            return True
        if not isinstance(value, str) or len(value) < low or (high is not None and len(value) > high):
            return False
        # A search, as JSON Schema's "pattern" is.
        return pattern is None or pattern.search(value) is not None

    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return np.fromiter(map(ok, distinct), dtype=bool, count=len(distinct))[codes]


def _search(values: pa.Array | pa.ChunkedArray, pattern: re.Pattern[str]) -> np.ndarray:
    """``pattern.search`` of each value (text, not null). A value Arrow's regular expressions (RE2) find a
    match in is matched by Python's too (see ``_fast_pattern``); only the others are searched again by
    Python's ``re``, once per distinct value, whose answer, as jsonschema's, is the one that counts."""
    found = np.zeros(len(values), dtype=bool)
    fast = _fast_pattern(pattern.pattern)
    if fast is not None:
        # (syntax RE2 does not take is an error there: then Python searches them all)
        with contextlib.suppress(pa.ArrowInvalid):
            found = pc.match_substring_regex(values, fast).to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(~found)
    if len(rest):
        left = values.take(pa.array(rest))
        distinct = pc.unique(left)
        matched = [pattern.search(v) is not None for v in distinct.to_pylist()]
        found[rest] = pc.is_in(left, value_set=distinct.filter(pa.array(matched))).to_numpy(zero_copy_only=False)
    return found


_LITERAL_ESCAPES = set(".-+*?()[]{}|^$\\/")
_COUNT = re.compile(r"\{[0-9]+(,[0-9]*)?\}")


def _fast_pattern(source: str) -> str | None:
    """``source`` for Arrow's regular expressions (RE2) when every match it finds there is a match in
    Python's, else None. Taken: literals, escaped punctuation, classes of literals and ranges, groups,
    alternation, quantifiers and anchors (``$`` matches only at the very end, where Python's also matches
    before a final newline). ``\\d``, Unicode digits in Python, becomes ASCII digits, a subset (so not in a
    negated class). Not taken: other escapes, flags and look-arounds, a ``[`` inside a class (a nested
    class or ``[:alpha:]`` there, literal characters in Python) and a brace that is not a count of
    ``{n}``, ``{n,}`` or ``{n,m}`` (RE2 reads ``a{,2}`` as the literal text, Python as ``a{0,2}``)."""
    out: list[str] = []
    in_class = negated = False
    i = 0
    while i < len(source):
        c = source[i]
        if c == "\\":
            nxt = source[i + 1:i + 2]
            if nxt == "d":
                if negated:
                    return None
                out.append("0-9" if in_class else "[0-9]")
            elif nxt and nxt in _LITERAL_ESCAPES:
                out.append(c + nxt)
            else:
                return None
            i += 2
            continue
        if in_class:
            if c == "[":
                return None
            if c == "]":  # (a leading one was taken with the opening [)
                in_class = negated = False
        elif c == "[":
            in_class = True
            negated = source[i + 1:i + 2] == "^"
            if source[i + 1 + negated:i + 2 + negated] == "]":  # a leading ] is a literal one
                out.append(source[i:i + 2 + negated])
                i += 2 + negated
                continue
        elif c == "(" and source[i + 1:i + 2] == "?" and source[i + 2:i + 3] != ":":
            return None
        elif c == "{":
            count = _COUNT.match(source, i)
            if count is None:
                return None
            out.append(count.group())
            i = count.end()
            continue
        out.append(c)
        i += 1
    return None if in_class else "".join(out)


def _arrow_text(values: pd.Series) -> pa.Array | pa.ChunkedArray | None:
    """The Arrow text a frame's column holds (what the mapping engines make of an all-text field), or None."""
    if isinstance(values.dtype, pd.ArrowDtype) and (pa.types.is_large_string(values.dtype.pyarrow_dtype)
                                                    or pa.types.is_string(values.dtype.pyarrow_dtype)):
        return pa.array(values.array)
    return None


def _text(values: pd.Series, name: str) -> pa.Array | pa.ChunkedArray | None:
    """A frame's column as Arrow text (the Arrow text it holds, or its objects when each is text or None),
    or None when one of them is not text."""
    arrow = _arrow_text(values)
    if arrow is not None:
        return arrow
    text = text_column(values, name)
    return None if text is None else text.to_arrow(compat_level=pl.CompatLevel.oldest())


def text_column(values: np.ndarray | pd.Series, name: str = "") -> pl.Series | None:
    """``values`` (a frame's column, or an object array of text and None) as a polars text column, or
    None when one of them is not text. An Arrow text column (what the mapping engines make of an all-text
    field) is taken as it is; polars' own conversion of an object array is the fastest but refuses one
    that starts with None."""
    if isinstance(values, pd.Series):
        arrow = _arrow_text(values)
        if arrow is not None:
            return pl.Series(name, arrow)
        values = values.to_numpy()
    try:
        return pl.Series(name, values, dtype=pl.String, strict=True)
    except (TypeError, pl.exceptions.PolarsError):
        pass
    try:
        return pl.Series(name, pa.array(values, pa.string()))
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return None
