"""The column-wise screen of text values gives, value by value, what the schema's keywords say."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ledgerlink.pipeline.validate import _column_ok, _fast_pattern, _search, _text

SPECS = [
    {"type": "string", "minLength": 1, "maxLength": 3},
    {"type": "string", "pattern": "^[A-Z]{2}[0-9]$"},
    {"type": "string", "pattern": "^-?\\d+(\\.\\d{1,3})?$", "maxLength": 6},
    {"enum": ["AB", "é", "x"]},
    {"type": "string", "enum": ["AB", "é"], "minLength": 2},
]


def by_the_keywords(value: object, spec: dict) -> bool:
    if "enum" in spec and value not in spec["enum"]:
        return False
    if spec.get("type") != "string" and not {"pattern", "minLength", "maxLength"} & set(spec):
        return True
    return (isinstance(value, str) and spec.get("minLength", 0) <= len(value) <= spec.get("maxLength", 10**9)
            and ("pattern" not in spec or re.search(spec["pattern"], value) is not None))


@given(st.sampled_from(SPECS),
       st.lists(st.one_of(st.text(alphabet="AB9.-é\n x", max_size=5), st.integers(0, 9)), min_size=1, max_size=30))
def test_each_value_is_judged_as_the_schema_keywords_say(spec, values):
    """Both ways: value by value, and column-wise when every value is text."""
    array = np.array(values, dtype=object)
    expected = [by_the_keywords(v, spec) for v in values]
    assert _column_ok(pd.Series(array), None, spec).tolist() == expected
    text = _text(pd.Series(array), "f")
    assert (text is not None) == all(isinstance(v, str) for v in values)
    if text is not None:
        assert _column_ok(pd.Series(array), text, spec).tolist() == expected


@given(st.sampled_from([{"type": "string", "minLength": 1, "maxLength": 3}, {"type": "string", "maxLength": 2},
                        {"type": "string", "minLength": 2, "description": "x"}]),
       st.lists(st.none() | st.text(alphabet="aé😀 ", max_size=5), min_size=1, max_size=30))
def test_text_kept_in_arrow_is_screened_for_length_exactly(spec, values):
    """Length-only fields of Arrow text are screened from Arrow's character counts: exactly the values
    the keywords refuse (no copy of the column, and no more rows for jsonschema than needed)."""
    import pyarrow as pa

    from ledgerlink.pipeline.validate import _field_screen

    series = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, pa.string())))
    mask, ok, covered = _field_screen(series, "f", spec)
    assert covered and mask.tolist() == [v is not None for v in values]
    expected = [by_the_keywords(v, spec) for v in values if v is not None]
    assert (ok.tolist() if ok is not None else []) == expected  # (None: no value to check)


INVOICE = {
    "invoice_number": "F-1", "direction": "payable", "vendor_id": "C1001", "vendor_name": "Bakkerij De Zon",
    "issue_date": "2026-02-20", "due_date": "2026-04-01", "currency": "EUR", "amount_excl_tax": "1000.00",
    "tax_amount": "210.00", "amount_incl_tax": "1210.00", "payment_terms": "30 dagen netto", "status": "approved",
    "description": "Levering 1",
}
# Values that break (or keep) a field's keywords: pattern, enum, length, type, a missing required field.
CHANGES = st.sampled_from([
    {}, {"currency": "eur"}, {"currency": "EURO"}, {"direction": "sideways"}, {"direction": "receivable"},
    {"status": "lost"}, {"issue_date": "20-02-2026"}, {"vendor_id": None}, {"vendor_id": ""},
    {"amount_incl_tax": "12,10"}, {"invoice_number": None}, {"vendor_name": 7}, {"vendor_name": ""},
    {"payment_terms": "x" * 101}, {"description": "é" * 1000}, {"description": "é" * 1001},
])


@given(st.lists(st.tuples(CHANGES, CHANGES), min_size=1, max_size=25), st.booleans())
def test_the_screen_of_a_frame_finds_every_row_the_schema_refuses(changes, arrow):
    """Every field screened (two at a time), then the rows it doubts checked by jsonschema: the rows
    refused are exactly those jsonschema refuses, each with jsonschema's errors. ``arrow``: the text
    columns kept in Arrow, as the mapping engines make them."""
    import pyarrow as pa

    from ledgerlink.model.entities import schema_errors
    from ledgerlink.pipeline.validate import validate_frame

    rows = [{**INVOICE, **first, **second} for first, second in changes]

    def column(field: str) -> pd.Series:
        values = [row.get(field) for row in rows]
        if arrow and all(v is None or isinstance(v, str) for v in values):
            return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, pa.large_string())))
        return pd.Series(values, dtype=object)

    frame = pd.DataFrame({field: column(field) for field in INVOICE})
    found = {(v.index, v.field, v.rule) for v in validate_frame("invoice", frame, list(INVOICE))}
    expected = {(i, field, rule) for i, row in enumerate(rows)
                for field, rule, _ in schema_errors("invoice", {k: v for k, v in row.items() if v is not None})}
    assert found == expected


# Patterns where RE2 (Arrow's regular expressions) and Python's differ, or could: Unicode digits for \d, $
# before a final newline, [[:alpha:]] and nested classes, \<, flags, escaped punctuation, braces that are
# a count in one and literal text in the other, possessive quantifiers.
PATTERNS = ["^\\d{2}$", "^-?\\d+(\\.\\d{1,3})?$", "[[:alpha:]]", "[a[b]]", "a\\<", "\\<a", "(?i)ab",
            "^[A-Z]{2}$", "[^\\d]", "[\\d.]+$", "^a|b$", "(?:ab)+", "\\w", "x\\/y", "a{,2}b", "^a{,2}$", "a{2,}", "x{a}",
            "a*+b", "[]a]"]


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
@given(st.sampled_from(PATTERNS),
       st.lists(st.text(alphabet="ab9\u0663.AB\n/:[]<xy{},2", max_size=6), min_size=1, max_size=30))
@example("^a{,2}$", ["a{,2}", "aa", "a"])  # RE2 reads the braces as text, Python as a count
@example("x{a}", ["x{a}", "xa"])
def test_a_pattern_is_searched_as_pythons_re_searches_it(source, values):
    """RE2 answers only where its match implies Python's; Python decides the rest."""
    pattern = re.compile(source)
    expected = [pattern.search(v) is not None for v in values]
    assert _search(pa.array(values, pa.string()), pattern).tolist() == expected
    assert _search(pa.chunked_array([pa.array(values, pa.large_string())]), pattern).tolist() == expected


def test_only_syntax_that_means_the_same_or_less_goes_to_re2():
    assert _fast_pattern("^\\d{4}-\\d{2}$") == "^[0-9]{4}-[0-9]{2}$"  # ASCII digits: a subset of Python's
    assert _fast_pattern("[\\d.]+") == "[0-9.]+"
    assert _fast_pattern("^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$") == "^[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}$"
    assert _fast_pattern("^a{2,}b{1,3}$") == "^a{2,}b{1,3}$"
    for source in ("[^\\d]", "[[:alpha:]]", "[a[b]]", "\\w", "a\\<", "(?i)ab", "(?=a)", "[ab", "a{,2}", "a{x}"):
        assert _fast_pattern(source) is None, source
