"""Reading sources: encodings, line ends, row numbers, XML hardening, JSON paths."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ledgerlink.mapping import MappingFileError, SourceError, load_mapping
from ledgerlink.mapping.sources import SourceOptions, drop_blank, parse_xml, read_csv_bytes

ROOT = Path(__file__).resolve().parent.parent
INVOICES = ROOT / "mappings" / "csv" / "invoices_nl.yaml"
UBL = ROOT / "mappings" / "xml" / "ubl_invoice.yaml"
OPTS = SourceOptions(format="csv", delimiter=";", encodings=["utf-8-sig", "cp1252"])


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", True), ("utf-8", False), ("cp1252", False)])
def test_encodings_and_line_ends(encoding, bom, newline):
    text = newline.join(["Naam;Plaats", "Café Zoë;Köln", "  Brûlé ; Genève "]) + newline
    raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)
    table = read_csv_bytes(raw, OPTS)
    assert table.columns == ["Naam", "Plaats"]
    assert table.column("Naam").tolist() == ["Café Zoë", "  Brûlé "]
    assert table.column("Plaats").tolist() == ["Köln", " Genève "]
    assert list(table.rows) == [2, 3]


@pytest.mark.parametrize("raw", [b"A;B\n1;x\r2;y\n3;z\n", b"A;B\r\n1;x\r\n2;y\r3;z\r\n", b"A\n1\r2\n3\n"])
def test_a_lone_carriage_return_ends_a_line_and_counts_as_one(raw):
    """The fast readers count LF lines for row numbers; a lone CR (a line end to them too) must not
    shift the rows after it."""
    table = read_csv_bytes(raw, SourceOptions(format="csv", delimiter=";"))
    assert table.column("A").tolist() == ["1", "2", "3"]
    assert list(table.rows) == [2, 3, 4]


def test_encoding_that_does_not_decode_is_refused():
    with pytest.raises(SourceError, match="cannot be decoded as utf-8"):
        read_csv_bytes("a;b\né;1\n".encode("cp1252"), SourceOptions(format="csv", delimiter=";", encodings=["utf-8"]))


def test_row_numbers_count_blank_lines_and_quoted_newlines():
    text = 'A;B\n1;x\n\n2;"line one\nline two\r\nline three"\n   \n3;y\n'
    table = drop_blank(read_csv_bytes(text.encode(), OPTS))
    assert list(table.rows) == [2, 4, 8]
    assert table.column("B")[1] == "line one\nline two\r\nline three"


def test_row_numbers_with_header_row_and_preamble():
    text = "Export 2024\nGemaakt door ERP\nA;B\n1;2\n\n3;4\n"
    table = drop_blank(read_csv_bytes(text.encode(), SourceOptions(format="csv", delimiter=";", header_row=3)))
    assert table.columns == ["A", "B"]
    assert list(table.rows) == [4, 6]


def test_stray_quote_and_ragged_rows_use_exact_reader():
    text = 'A;B\n1;12" monitor\n2;b;extra\n3\n'
    table = read_csv_bytes(text.encode(), OPTS)
    assert list(table.rows) == [2, 4]
    assert table.column("B").tolist() == ['12" monitor', ""]
    assert [(p[0], p[1]) for p in table.problems] == [(3, "source.fields")]


def test_row_problem_is_a_record_error(tmp_path):
    header = "Factuurnummer;Crediteurnummer;Crediteurnaam;IBAN;Factuurdatum;Vervaldatum;Valuta;Bedrag excl. BTW;BTW;Bedrag incl. BTW;Betalingsconditie;Omschrijving;Status"
    row = "F1;C1;N;NL91ABNA0417164300;01-01-2024;31-01-2024;EUR;1,00;0,21;1,21;30;O;Open"
    path = tmp_path / "s.csv"
    path.write_text(f"{header}\n{row}\n{row};extra\n", encoding="utf-8")
    res = load_mapping(INVOICES).map_file(path)
    assert len(res.frame) == 1 and res.read == 2
    assert [(e.row, e.rule) for e in res.errors] == [(3, "source.fields")]
    assert res.errors[0].raw["_extra_fields"] == "extra"


def test_xml_records_paths_and_locations(tmp_path):
    sample = ROOT / "mappings" / "xml" / "samples" / "ubl_invoice" / "valid_invoice.xml"
    res = load_mapping(UBL).map_file(sample)
    assert res.errors == []
    rec = res.frame.iloc[0]
    assert rec["vendor_id"] == "C1001" and rec["amount_incl_tax"] == "121.00" and rec["currency"] == "EUR"
    assert rec["_location"] == "/ubl:Invoice[1]"
    assert res.drift == []


def test_xml_missing_path_is_drift_and_currency_from_attribute(tmp_path):
    sample = (ROOT / "mappings" / "xml" / "samples" / "ubl_invoice" / "valid_invoice.xml").read_text()
    sample = sample.replace("  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>\n", "")
    sample = sample.replace("<cbc:DueDate>2024-03-31</cbc:DueDate>", "")
    path = tmp_path / "x.xml"
    path.write_text(sample, encoding="utf-8")
    res = load_mapping(UBL).map_file(path)
    assert res.errors == []
    assert res.frame.iloc[0]["currency"] == "EUR"
    assert {(d.kind, d.column) for d in res.drift} == {("column_missing", "cbc:DueDate"),
                                                       ("column_missing", "cbc:DocumentCurrencyCode")}


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Invoice>&xxe;</Invoice>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<lolz>&lol3;</lolz>"""


@pytest.mark.parametrize("payload", [XXE, LAUGHS, XXE.replace(b"DOCTYPE", b"doctype")], ids=["xxe", "billion-laughs", "case"])
def test_xml_with_dtd_or_entities_is_refused(tmp_path, payload):
    with pytest.raises(SourceError, match="DOCTYPE or entity declaration is refused"):
        parse_xml(payload)
    path = tmp_path / "evil.xml"
    path.write_bytes(payload)
    with pytest.raises(SourceError):
        load_mapping(UBL).map_file(path)


def test_xml_refused_in_utf16_too():
    payload = XXE.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")
    with pytest.raises(SourceError):
        parse_xml(payload)


def test_json_record_path_nested_paths_and_number_text(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(textwrap.dedent("""\
        version: 1
        entity: invoice
        source: {format: json, record_path: data.items}
        fields:
          invoice_number: {from: number, required: true}
          direction: {value: receivable}
          customer_id: {from: customer.id}
          currency: {from: totals.currency, type: currency}
          amount_incl_tax: {from: totals.gross, type: money, currency: currency}
          status: {from: lines.0.state, default: open}
        """), encoding="utf-8")
    src = tmp_path / "s.json"
    src.write_text('{"data": {"items": [{"number": "R1", "customer": {"id": 7}, '
                   '"totals": {"currency": "EUR", "gross": 12.10}, "lines": [{"state": "paid"}]}, '
                   '{"number": "R2", "customer": {"id": 8}, "totals": {"currency": "JPY", "gross": 1200.5}}]}}',
                   encoding="utf-8")
    res = load_mapping(mapping).map_file(src)
    assert res.frame[["invoice_number", "customer_id", "amount_incl_tax", "status", "_row", "_location"]].values.tolist() == [
        ["R1", "7", "12.10", "paid", 1, "$.data.items[0]"]]
    assert [(e.row, e.location, e.rule) for e in res.errors] == [(2, "$.data.items[1]", "type.money.precision")]


# --- headerless files, replaced header names, quote character ------------------------------------

HEADERLESS = SourceOptions(format="csv", delimiter=";", columns=["Datum", "Bedrag", "Omschrijving"], header_row=0)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_headerless_file_rows_are_line_numbers_from_one(newline):
    text = newline.join(["01-01-2024;1,00;Koffie", "", '02-01-2024;2,00;"Thee; groen"', "03-01-2024;3,00"]) + newline
    table = drop_blank(read_csv_bytes(text.encode(), HEADERLESS))
    assert table.columns == ["Datum", "Bedrag", "Omschrijving"]
    assert list(table.rows) == [1, 3, 4]
    assert table.column("Omschrijving").tolist() == ["Koffie", "Thee; groen", ""]


def test_headerless_row_with_too_many_fields_is_a_row_problem():
    text = "01-01-2024;1,00;Koffie\n02-01-2024;2,00;Thee;extra\n"
    table = read_csv_bytes(text.encode(), HEADERLESS)
    assert list(table.rows) == [1]
    assert [(p[0], p[1]) for p in table.problems] == [(2, "source.fields")]


def test_headerless_empty_file_has_no_rows():
    assert len(read_csv_bytes(b"", HEADERLESS)) == 0


def test_columns_with_header_row_replace_blank_and_repeated_header_names():
    # a header with nameless and repeated columns (a broker's "Mutatie,,Saldo,,")
    text = "Export\nDatum,Mutatie,,Saldo,\n30-12-2019,EUR,\"0,19\",EUR,\"13,88\"\n"
    options = SourceOptions(format="csv", header_row=2, columns=["Datum", "Munt", "Bedrag", "Saldomunt", "Saldo"])
    table = read_csv_bytes(text.encode(), options)
    assert table.columns == ["Datum", "Munt", "Bedrag", "Saldomunt", "Saldo"]
    assert list(table.rows) == [3]
    assert table.column("Bedrag")[0] == "0,19" and table.column("Saldo")[0] == "13,88"


def test_single_quote_as_quote_character():
    text = "a,b,c\n1,'Factuur 12, termijn 2',x\n2,O'Brien,y\n"
    table = read_csv_bytes(text.encode(), SourceOptions(format="csv", quote="'"))
    assert table.column("b").tolist() == ["Factuur 12, termijn 2", "O'Brien"]


def test_columns_and_quote_are_for_csv_only(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        entity: invoice
        source: {format: json, columns: [a], quote: "'"}
        fields:
          invoice_number: {from: number}
          direction: {value: receivable}
          currency: {value: EUR, type: currency}
          amount_incl_tax: {from: total, type: money, currency: currency}
          status: {value: open}
        """), encoding="utf-8")
    with pytest.raises(MappingFileError) as exc:
        load_mapping(path)
    assert {i.message for i in exc.value.issues} == {"source.columns is only for CSV", "source.quote is only for CSV"}


def test_row_problem_numbers_count_the_lines_above_the_header():
    text = "Export 2024\nA;B\n1;2\n3;4;5\n"
    table = read_csv_bytes(text.encode(), SourceOptions(format="csv", delimiter=";", header_row=2))
    assert list(table.rows) == [3]
    assert [(p[0], p[1]) for p in table.problems] == [(4, "source.fields")]
