"""The column-wise screen of text values gives, value by value, what the schema's keywords say."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from ledgerlink.pipeline.validate import _column_ok, text_column

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
    text = text_column(array)
    assert (text is not None) == all(isinstance(v, str) for v in values)
    if text is not None:
        assert _column_ok(pd.Series(array), text, spec).tolist() == expected
