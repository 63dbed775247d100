"""Text hygiene of CSV feeds: mixed encodings, control characters, row and field size caps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerlink.mapping import SourceError, csvtext, load_mapping
from ledgerlink.mapping.sources import SourceOptions, drop_blank, read_csv_bytes, read_csv_file

ROOT = Path(__file__).resolve().parent.parent
MIXED = SourceOptions(format="csv", delimiter=";", encodings=["utf-8-sig", "cp1252"])


def _mixed_file() -> bytes:
    """A file whose rows were appended by two systems: UTF-8 and cp1252."""
    return (b"Naam;Plaats\n" + "Café Zoë;Köln\n".encode() + "Brûlé;Genève\n".encode("cp1252")
            + "Ærø;Straße\n".encode() + "Façade;Besançon\n".encode("cp1252"))


def _problems(table) -> list[tuple]:
    return [(p.row, p.rule, p.field) for p in table.problems]


# --- encodings ------------------------------------------------------------------------------

def test_rows_in_utf8_and_cp1252_each_decode_right():
    table = read_csv_bytes(_mixed_file(), MIXED)
    assert table.column("Naam").tolist() == ["Café Zoë", "Brûlé", "Ærø", "Façade"]
    assert table.column("Plaats").tolist() == ["Köln", "Genève", "Straße", "Besançon"]
    assert list(table.rows) == [2, 3, 4, 5] and table.problems == []


def test_mixed_rows_with_cp1252_listed_first_are_not_garbled():
    table = read_csv_bytes(_mixed_file(), SourceOptions(format="csv", delimiter=";", encodings=["cp1252"]))
    text = " ".join(v for c in table.columns for v in table.column(c))
    assert "Ã" not in text and "Â" not in text
    # UTF-8 rows where only cp1252 is declared are quarantined, never read as "CafÃ© ZoÃ«"
    assert table.column("Naam").tolist() == ["Brûlé", "Façade"]
    assert _problems(table) == [(2, "source.encoding", "Naam"), (4, "source.encoding", "Naam")]
    assert table.problems[0].message == "the row is UTF-8 text, but the mapping reads the file as cp1252"
    assert table.problems[0].raw == {"Naam": "Café Zoë", "Plaats": "Köln"}


def test_a_row_no_listed_encoding_decodes_is_quarantined():
    table = read_csv_bytes(_mixed_file(), SourceOptions(format="csv", delimiter=";", encodings=["utf-8"]))
    assert table.column("Naam").tolist() == ["Café Zoë", "Ærø"]
    assert _problems(table) == [(3, "source.encoding", "Naam"), (5, "source.encoding", "Naam")]
    assert table.problems[0].message == "the row cannot be decoded as utf-8"


def test_a_file_wholly_in_an_unlisted_encoding_is_still_refused():
    raw = "Naam;Plaats\nCafé;Köln\n".encode()
    with pytest.raises(SourceError, match="cannot be decoded as cp1252 .line 2: the row is UTF-8 text"):
        read_csv_bytes(raw, SourceOptions(format="csv", delimiter=";", encodings=["cp1252"]))


def test_a_single_encoding_file_reads_as_before():
    raw = "Naam;Plaats\nBrûlé;Genève\n".encode("cp1252")
    table = read_csv_bytes(raw, MIXED)
    assert table.column("Naam").tolist() == ["Brûlé"] and table.problems == []


# --- control characters ---------------------------------------------------------------------

def test_control_characters_quarantine_the_row_naming_the_field():
    raw = ('Nr;Tekst\n1;"tab\there, CRLF\r\nand LF\ninside quotes"\n2;nul\x00byte\n3;bell\x07\n4;next line\u0085\n'
           "5;fine\n").encode("utf-8")
    table = read_csv_bytes(raw, MIXED)
    assert table.column("Nr").tolist() == ["1", "5"]
    assert table.column("Tekst")[0] == "tab\there, CRLF\r\nand LF\ninside quotes"
    assert list(table.rows) == [2, 8]  # row 1's quoted CRLF and LF take lines 2 to 4
    assert _problems(table) == [(5, "source.control_character", "Tekst"), (6, "source.control_character", "Tekst"),
                                (7, "source.control_character", "Tekst")]
    assert table.problems[0].message == "field 'Tekst' holds the control character U+0000 at position 4"
    assert table.problems[2].message == "field 'Tekst' holds the control character U+0085 at position 10"


MAPPING = textwrap.dedent("""\
    version: 1
    entity: vendor
    source: {{format: csv, delimiter: ";", encoding: [utf-8-sig, cp1252]{extra}}}
    key: [vendor_id]
    fields:
      vendor_id: {{from: Nr, required: true}}
      name: {{from: Naam, required: true}}
      approval_status: {{value: approved}}
    """)


def _mapping(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING.format(extra=extra), encoding="utf-8")
    return path


def test_mapping_quarantines_bad_text_with_rule_and_field(tmp_path):
    src = tmp_path / "s.csv"
    src.write_bytes(b"Nr;Naam\n" + "1;Café\n".encode() + "2;Brûlé\n".encode("cp1252")
                    + b"3;nul\x00\n" + ("4;" + "x" * 30 + "\n").encode())
    result = load_mapping(_mapping(tmp_path, ", max_field_chars: 20")).map_file(src)
    assert list(result.frame["name"]) == ["Café", "Brûlé"]
    assert [(e.row, e.field, e.rule) for e in result.errors] == [
        (4, "Naam", "source.control_character"), (5, "Naam", "source.field_size")]
    assert result.errors[1].message == ("field 'Naam' is 30 characters, more than the 20 allowed "
                                        "(source.max_field_chars)")
    assert result.read == 4


# --- size caps ------------------------------------------------------------------------------

def test_a_row_longer_than_the_cap_is_left_out_and_the_read_goes_on(tmp_path):
    cap = 4096
    path = tmp_path / "s.csv"
    path.write_bytes(b"Nr;Tekst\n1;ok\n2;\"" + b"long\n" * 2000 + b"\"\n3;after\n"
                     + b'4;12" monitor\n' + b"5;" + b"y" * 5000 + b"\n6;last\n")
    options = SourceOptions(format="csv", delimiter=";", max_row_bytes=cap)
    table = drop_blank(read_csv_file(path, options))
    # the stray quote in row 6 does not swallow the rows after it; rows keep their line numbers
    assert table.column("Nr").tolist() == ["1", "3", "4", "6"]
    assert list(table.rows) == [2, 2004, 2005, 2007]
    assert _problems(table) == [(3, "source.row_size", None), (2006, "source.row_size", None)]
    assert table.problems[0].message == (f"row is {10000 + 5} bytes, more than the {cap} allowed "
                                         "(source.max_row_bytes); it was not read")
    assert table.problems[0].raw["_start"].startswith('2;"long')


def test_a_header_longer_than_the_cap_is_refused(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"Nr;" + b"H" * 5000 + b"\n1;2\n")
    with pytest.raises(SourceError, match="s.csv: line 1: the header is 5004 bytes, more than the 4096"):
        read_csv_file(path, SourceOptions(format="csv", delimiter=";", max_row_bytes=4096))


def test_the_caps_are_in_the_mapping_schema(tmp_path):
    with pytest.raises(Exception, match="max_row_bytes"):
        load_mapping(_mapping(tmp_path, ", max_row_bytes: 10"))  # below the schema's minimum
    mapping = load_mapping(_mapping(tmp_path, ", max_row_bytes: 2048, max_field_chars: 100"))
    assert (mapping.source.max_row_bytes, mapping.source.max_field_chars) == (2048, 100)


_MEMORY_PROBE = textwrap.dedent("""\
    import json, resource, sys
    from pathlib import Path
    from ledgerlink.mapping import load_mapping
    mapping = load_mapping(Path(sys.argv[1]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = mapping.map_file(Path(sys.argv[2]))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_kib": after - before, "kept": list(result.frame["vendor_id"]),
                      "errors": [(e.row, e.rule) for e in result.errors]}))
    """)


def test_a_200_mb_cell_leaves_memory_bounded(tmp_path):
    """The file is written a block at a time; the reading process's peak RSS may grow by a few
    blocks and caps, far below the cell's 200 MB (reading it whole took well over 1 GB)."""
    src = tmp_path / "big.csv"
    block = b"z" * (1 << 20)
    with open(src, "wb") as fh:
        fh.write(b"Nr;Naam\n1;before\n2;\"")
        for _ in range(200):
            fh.write(block)
        fh.write(b"\"\n3;after\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(_mapping(tmp_path)), str(src)],
                         capture_output=True, text=True, env=env, check=True, timeout=600)
    report = json.loads(out.stdout)
    assert report["kept"] == ["1", "3"]
    assert report["errors"] == [[3, "source.row_size"]]
    assert report["growth_kib"] < 32 * 1024, report["growth_kib"]  # measured: about 6 MiB


def test_bank_text_lines_mixing_utf8_and_cp1252_decode_right(tmp_path):
    """Line-based bank files (MT940, BAI2, CODA, Norma 43): each line decoded on its own."""
    from connectors.bank.text import numbered_lines

    path = tmp_path / "mixed.sta"
    path.write_bytes("Brûlé\r\n".encode("cp1252") + "Café Zoë\n".encode() + b"a\rb\r\n\n"
                     + "Genève\r".encode("cp1252"))
    assert list(numbered_lines(path)) == [(1, "Brûlé"), (2, "Café Zoë"), (3, "a"), (4, "b"), (5, ""), (6, "Genève")]


def test_row_numbers_stay_right_across_read_blocks(tmp_path):
    """Rows, quoted line breaks and a too-long row on both sides of the 1 MiB read blocks."""
    rows = [f'{i};"text {i}\nsecond line"' if i % 7 == 0 else f"{i};text {i}" for i in range(1, 150_001)]
    rows[90_000] = '90001;"' + "big\n" * 3000 + '"'
    path = tmp_path / "s.csv"
    path.write_bytes(("Nr;Tekst\n" + "\n".join(rows) + "\n").encode())
    assert path.stat().st_size > 2 * (1 << 20)
    table = drop_blank(read_csv_file(path, SourceOptions(format="csv", delimiter=";", max_row_bytes=8192)))
    expected_rows, line = [], 2
    for i, text in enumerate(rows, start=1):
        if i != 90_001:
            expected_rows.append(line)
        line += text.count("\n") + 1
    big_row = 2 + sum(text.count("\n") + 1 for text in rows[:90_000])
    assert _problems(table) == [(big_row, "source.row_size", None)]
    assert list(table.rows) == expected_rows
    assert table.column("Tekst")[6] == "text 7\nsecond line" and len(table) == 149_999


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "bb", "\n", "\r\n", ";", '"']), max_size=40), st.sampled_from([1, 3, 8, 64]),
       st.sampled_from([2, 4, 7, 50]))
def test_the_quick_check_for_quotes_and_long_lines_agrees_with_a_line_by_line_one(tmp_path_factory, pieces, block, cap):
    """Across read blocks of any size against the cap: no quote and no line (its end included)
    longer than the cap, or the file goes to the record scanner."""
    data = "".join(pieces).encode()
    path = tmp_path_factory.mktemp("quick") / "f.csv"
    path.write_bytes(data)
    lines = data.split(b"\n")
    expected = b'"' not in data and all(len(line) + 1 <= cap for line in lines[:-1]) and len(lines[-1]) <= cap
    kept, csvtext._BLOCK = csvtext._BLOCK, block
    try:
        assert csvtext._unquoted_short_lines(path, b'"', cap) == expected, (data, block, cap)
    finally:
        csvtext._BLOCK = kept


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["a", "bb", "\n", "\r\n", ";", '"', '""', ';"', '"\n']), max_size=60),
       st.sampled_from([1, 3, 8, 64]), st.sampled_from([2, 4, 7, 50]), st.booleans())
def test_the_quick_check_of_quoted_records_passes_only_files_the_scanner_drops_nothing_of(
        tmp_path_factory, pieces, block, cap, bom):
    """Across read blocks of any size against the cap: where the quick check finds no record (by quote
    parity, a byte order mark counted in the first) longer than the cap, the record scanner drops nothing
    either, and it finds one wherever the scanner's own parity split does."""
    data = (b"\xef\xbb\xbf" if bom else b"") + "".join(pieces).encode()
    path = tmp_path_factory.mktemp("quoted") / "f.csv"
    path.write_bytes(data)
    kept, csvtext._BLOCK = csvtext._BLOCK, block
    try:
        short = csvtext._short_records(path, ord('"'), cap)
    finally:
        csvtext._BLOCK = kept
    scanner = csvtext._Scanner(ord('"'), ord(";"), cap)
    scanner.feed(data)
    scanner.finish()
    if short:
        assert scanner.spans == [] and scanner.skipped == [], (data, cap)
    records, odd, start = [], False, 0  # the records as quote parity splits them
    for at, byte in enumerate(data):
        odd ^= byte == ord('"')
        if byte == ord("\n") and not odd:
            records.append(at + 1 - start)
            start = at + 1
    records.append(len(data) - start)
    assert short == all(length <= cap for length in records), (data, block, cap)
