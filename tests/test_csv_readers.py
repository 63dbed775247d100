"""The two fast CSV readers agree: whenever Arrow reads a file (LF or CRLF lines, quoted values or
not, no line with more fields than the header, distinct header names), it reads exactly what pandas
reads; otherwise it leaves the file to pandas (or the exact reader)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledgerlink.mapping import sources
from ledgerlink.mapping.sources import SourceOptions, _parse_csv_arrow, _parse_csv_pandas

OPTIONS = SourceOptions(format="csv", delimiter=";")
HEADERS = ["h1;h2\n", "h1;h2;h3\r\n", "h1 ; h2\n", "h1;h1\n", "h1;\n", "h1\n", '"h1";"h;2"\n', '"h""1";h2\r\n',
           '"h1\n";h2\n']
PIECES = ["a", "b", ";", "\n", "\r\n", "\r", " ", "é", '"', "x", "\t"]


@given(st.sampled_from(HEADERS), st.lists(st.sampled_from(PIECES), max_size=24), st.sampled_from([8, 16, 1 << 20]))
def test_arrow_reads_what_pandas_reads_or_leaves_the_file_to_pandas(header, pieces, slice_bytes):
    """(``slice_bytes``: Arrow reads a big file a block at a time; small blocks here.)"""
    data = (header + "".join(pieces)).encode("utf-8")
    kept, sources.ARROW_BLOCK_BYTES = sources.ARROW_BLOCK_BYTES, slice_bytes
    try:
        fast = _parse_csv_arrow(data, OPTIONS)
    finally:
        sources.ARROW_BLOCK_BYTES = kept
    if fast is None:
        return
    columns, arrays = fast
    reference = _parse_csv_pandas(data, OPTIONS)
    assert reference is not None, data
    assert columns == reference[0]
    for name in columns:
        assert arrays[name].to_pylist() == list(reference[1][name]), (data, name)


def test_an_export_is_read_by_arrow_quoted_or_not_and_a_ragged_one_is_not():
    plain = "Nr;Naam\r\n1;Café\r\n2;Bakker B.V.\r\n".encode()
    columns, arrays = _parse_csv_arrow(plain, OPTIONS) or ([], {})
    assert columns == ["Nr", "Naam"] and arrays["Naam"].to_pylist() == ["Café", "Bakker B.V."]
    columns, arrays = _parse_csv_arrow(b'"Nr";"Naam"\n1;"Caf\xc3\xa9; ""Bar"""\n2;"a\r\nb"\n', OPTIONS) or ([], {})
    assert columns == ["Nr", "Naam"] and arrays["Naam"].to_pylist() == ['Café; "Bar"', "a\r\nb"]
    assert _parse_csv_arrow(b'Nr;Naam\n1;"open\n', OPTIONS) is None               # a quote left open
    assert _parse_csv_arrow(b"Nr;Naam\n1;a;b\n", OPTIONS) is None                 # a field too many
    assert _parse_csv_arrow(b"Nr;Naam\r1;a\r", OPTIONS) is None                   # CR-only line ends
    assert _parse_csv_arrow(b"Nr;Naam\n1;a\n2;b;", OPTIONS) is None                 # nor on the last line


def test_arrow_whitespace_is_what_python_strips():
    import pyarrow as pa
    import pyarrow.compute as pc

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    matched = pc.match_substring_regex(pa.array(chars), f"^{sources.PY_WHITESPACE}$").to_pylist()
    assert [c for c, m in zip(chars, matched, strict=True) if m] == [c for c in chars if c.isspace()]


def test_a_column_kept_in_arrow_is_stripped_and_found_blank_as_python_does():
    from ledgerlink.mapping.executor import _strip_arrow

    values = ["a", " a", "a\u2003", "\u00a0\u3000", "", "x y", "\x1fz\x85", "\u200bq"]
    import pyarrow as pa

    assert _strip_arrow(pa.array(values, pa.large_string())).to_pylist() == [v.strip() for v in values]
    data = "Nr;Naam\n1;a\n\u00a0;\u2003 \n2;b\n".encode()
    table = sources.drop_blank(sources.read_csv_bytes(data, OPTIONS))
    assert isinstance(table.data["Naam"], pa.Array)
    assert table.column("Naam").tolist() == ["a", "b"] and table.rows.tolist() == [2, 4]


# Whitespace, characters sharing a first or last UTF-8 byte with one (U+00A9, U+2026, U+3001, U+1681) and others.
_TEXT = st.text(alphabet=st.sampled_from([" ", "\t", "\x1f", "\x85", "\xa0", "\u1680", "\u2000", "\u2009", "\u2028",
                                          "\u202f", "\u205f", "\u3000", "\xa9", "\u2026", "\u3001", "\u1681", "a",
                                          "é", "😀"]), max_size=5)


@given(st.lists(st.none() | _TEXT, max_size=12), st.integers(0, 3), st.booleans())
def test_arrow_columns_are_stripped_and_found_blank_as_python_does(values, cut, large):
    """The byte screen in front of the whitespace regular expression never hides a value that needs it:
    any slice of a column, nulls, both offset widths."""
    import pyarrow as pa

    from ledgerlink.mapping.executor import _strip_arrow

    column = pa.array(["x"] * cut + values, pa.large_string() if large else pa.string()).slice(cut)
    assert _strip_arrow(column).to_pylist() == [None if v is None else v.strip() for v in values]
    assert sources.blank_texts(column).tolist() == [v is None or v.isspace() or v == "" for v in values]
    assert sources.whitespace_edges(column.cast(pa.string_view())).tolist() == [
        v is not None and v != v.strip() for v in values]
