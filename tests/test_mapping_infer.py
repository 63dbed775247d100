"""`ledgerlink mapping infer`: draft mappings from sample exports, taken unchanged by validate, preview
and test; layouts, number and date formats and field guesses read from the files themselves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ledgerlink.mapping import load_mapping
from ledgerlink.mapping.errors import MappingFileError
from ledgerlink.mapping.infer import (
    InferError,
    infer_mapping,
    sniff_encoding,
    sniff_layout,
)
from tests.fixtures.cli import run_cli
from tests.fixtures.corpus import CORPUS_DIR, requires_corpus

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "fixtures" / "infer"
BANK = ROOT / "mappings" / "bank"

# sample -> (entity, number of records, {row: fields the record must hold})
ROUND_TRIPS = {
    "invoices_nl_cp1252_semicolon.csv": ("invoice", 3, {
        3: {"invoice_number": "F-2025-002", "direction": "payable", "vendor_id": "C1002", "vendor_name": "Café Hé",
            "vendor_iban": "NL20INGB0001234567", "issue_date": "2025-01-20", "due_date": "2025-02-19",
            "currency": "EUR", "amount_excl_tax": "2500.50", "tax_amount": "525.11", "amount_incl_tax": "3025.61",
            "status": "approved"},
    }),
    "rechnungen_de_utf8bom_trailing_minus.csv": ("invoice", 3, {
        2: {"invoice_number": "RE-4711", "vendor_name": "Müller & Söhne GmbH", "due_date": "2025-03-05",
            "amount_incl_tax": "1785.00", "status": "open"},
        4: {"invoice_number": "GS-0815", "amount_excl_tax": "-100.00", "amount_incl_tax": "-119.00", "status": "paid"},
    }),
    "factures_fr_semicolon.csv": ("invoice", 2, {
        2: {"invoice_number": "FA-1001", "vendor_name": "Société Générale d'Électricité", "issue_date": "2025-03-05",
            "due_date": "2025-04-04", "amount_excl_tax": "1000.00", "amount_incl_tax": "1200.00", "status": "open",
            "description": "Électricité février"},
    }),
    "invoices_en_comma_quoted.csv": ("invoice", 3, {
        2: {"invoice_number": "INV-9001", "direction": "receivable", "customer_id": "CUST-01",
            "issue_date": "2025-01-15", "due_date": "2025-02-14", "currency": "GBP", "amount_incl_tax": "1234.56"},
        4: {"amount_incl_tax": "12000.00", "amount_open": "6000.00", "status": "disputed"},
    }),
    "vendors_nl_cp1252_semicolon.csv": ("vendor", 3, {
        4: {"vendor_id": "C1003", "name": "Drukkerij Ëlsa", "chamber_of_commerce": "11223344",
            "vat_number": "NL004455667B01", "city": "Arnhem", "country": "NL", "approval_status": "blocked",
            "bank_accounts": [{"iban": "NL44RABO0123456789", "bic": "RABONL2U"}]},
    }),
    "vendors_en_comma.csv": ("vendor", 2, {
        3: {"vendor_id": "V-002", "name": "Globex GmbH", "email": "billing@globex.example",
            "approval_status": "pending", "bank_accounts": [{"iban": "DE89370400440532013000"}]},
    }),
    "umsaetze_de_cp1252_preamble_soll_haben.csv": ("bank_transaction", 3, {
        6: {"account": "DE89370400440532013000", "booking_date": "2025-03-03", "amount": "-1234.56",
            "currency": "EUR", "counterparty_name": "Stadtwerke Köln GmbH", "remittance_text": "Abschlag März"},
        7: {"value_date": "2025-03-04", "amount": "2000.00", "counterparty_iban": "DE44500105175407324931"},
    }),
    "releve_fr_comma.csv": ("bank_transaction", 2, {
        2: {"account": "FR7630006000011234567890189", "booking_date": "2025-03-14", "amount": "-87.45",
            "remittance_text": "Prélèvement EDF"},
        3: {"value_date": "2025-03-17", "amount": "1250.00"},
    }),
    "statement_en_dc_indicator.csv": ("bank_transaction", 3, {
        2: {"account": "GB33BUKB20201555555555", "booking_date": "2025-03-14", "amount": "-2500.00",
            "currency": "GBP", "entry_id": "TRX-0001"},
        3: {"amount": "1234.56"},
    }),
}


@pytest.mark.parametrize("sample", sorted(ROUND_TRIPS))
def test_inferred_mapping_round_trips_through_validate_preview_and_test(sample, tmp_path, capsys):
    entity, count, expected = ROUND_TRIPS[sample]
    folder = tmp_path / "mappings" / "csv"
    mapping = folder / f"{Path(sample).stem}.yaml"
    (folder / "samples" / mapping.stem).mkdir(parents=True)
    copied = shutil.copy(SAMPLES / sample, folder / "samples" / mapping.stem / sample)

    ran = run_cli(capsys, "mapping", "infer", str(SAMPLES / sample), "--entity", entity, "-o", str(mapping))
    assert ran.returncode == 0, ran.stderr
    assert "TODO" not in ran.stderr

    ran = run_cli(capsys, "mapping", "validate", str(mapping))
    assert ran.returncode == 0, ran.stdout
    assert ran.stdout.strip() == f"{mapping}: ok"

    ran = run_cli(capsys, "mapping", "preview", str(mapping), str(copied), "--json", "--limit", "0")
    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [line for line in lines if line["kind"] != "record"] == []
    records = {line["row"]: line["data"] for line in lines}
    assert len(records) == count
    for row, fields in expected.items():
        assert {k: records[row].get(k) for k in fields} == fields

    assert run_cli(capsys, "mapping", "test", "--update", str(mapping)).returncode == 0
    ran = run_cli(capsys, "mapping", "test", str(mapping))
    assert ran.returncode == 0 and ran.stdout.strip().endswith(": ok"), ran.stdout


def test_every_guess_says_why():
    text, _ = infer_mapping(SAMPLES / "invoices_nl_cp1252_semicolon.csv", "invoice")
    lines = text.splitlines()
    start = lines.index("fields:") + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith(" "))
    rules = [i for i in range(start, end) if lines[i][2] not in " #"]  # a field's first line
    assert len(rules) == 13
    for i in rules:
        assert lines[i - 1].startswith("  # "), f"no comment above {lines[i]!r}"
    assert '# header "Factuurnummer" is Dutch "factuurnummer"; values: text; confidence high' in text
    assert "separate" not in text and "decimal comma" in text
    assert "encoding: [utf-8-sig, cp1252]" in text and "cp1252 (Windows Western European)" in text


def test_a_required_field_not_found_is_a_todo_that_validate_reports(tmp_path, capsys):
    sample = tmp_path / "no_status.csv"
    sample.write_text("Invoice number;Supplier id;Invoice date;Currency;Amount\n"
                      "A-1;S-1;31-01-2025;EUR;10,00\nA-2;S-1;28-02-2025;EUR;12,50\n", encoding="utf-8")
    out = tmp_path / "draft.yaml"
    ran = run_cli(capsys, "mapping", "infer", str(sample), "--entity", "invoice", "-o", str(out))
    assert ran.returncode == 0
    assert "TODO: status" in ran.stderr
    text = out.read_text(encoding="utf-8")
    assert "# TODO: status (required by invoice): no column found for it" in text
    assert "\n  status:" not in text  # nothing invented
    ran = run_cli(capsys, "mapping", "validate", str(out))
    assert ran.returncode == 1
    assert "entity invoice requires field 'status', which the mapping does not define" in ran.stdout


def test_status_texts_not_recognised_are_left_out_of_the_map_with_a_todo(tmp_path):
    sample = tmp_path / "odd_status.csv"
    sample.write_text("Invoice number,Vendor id,Currency,Amount,Status\nA-1,S-1,EUR,10.00,Open\n"
                      "A-2,S-1,EUR,12.50,Wacht op PO\n", encoding="utf-8")
    text, _ = infer_mapping(sample, "invoice")
    assert "map: {Open: open}" in text
    assert "TODO: add 'Wacht op PO' to the map" in text


@pytest.mark.parametrize(("layout", "sample"), [
    ("ingdiba_at", "valid_cp1252.csv"),     # German, Soll/Haben columns, cp1252
    ("knab", "valid_newest_first.csv"),     # Dutch, preamble line, C/D indicator
    ("bunq", "valid_utf8.csv"),             # English, signed amounts, no currency column
    ("ing_nl", "valid_cp1252_crlf.csv"),    # Af/Bij, currency in a header, value date inside the text
])
def test_inferred_bank_mapping_has_the_shipped_mappings_fields(layout, sample, tmp_path):
    text, _ = infer_mapping(BANK / "samples" / layout / sample, "bank_transaction")
    draft = tmp_path / f"{layout}.yaml"
    draft.write_text(text, encoding="utf-8")
    inferred, shipped = load_mapping(draft), load_mapping(BANK / f"{layout}.yaml")
    fields = {p.name for p in inferred.fields if not p.carried}
    assert fields == {p.name for p in shipped.fields if not p.carried}
    # the same columns feed them (the content-derived entry ids may hash different columns)
    by_name = {p.name: set(p.inputs) for p in shipped.fields}
    for plan in inferred.fields:
        if not plan.numbered:
            assert set(plan.inputs) == by_name[plan.name], plan.name
    result = inferred.map_file(BANK / "samples" / layout / sample)
    assert result.errors == [] and len(result.frame) == result.read


@pytest.mark.parametrize(("mapping", "sample", "entity"), [
    ("invoices_nl", "valid_cp1252_lf.csv", "invoice"),
    ("exact_online_purchase_entries", "valid_bom_crlf.csv", "invoice"),  # an id column empty on some rows
    ("vendors_nl", "valid_vendors_cp1252_crlf.csv", "vendor"),          # days read out of the payment terms
])
def test_inferred_invoice_and_vendor_mappings_read_the_shipped_mappings_columns(mapping, sample, entity, tmp_path):
    folder = ROOT / "mappings" / "csv"
    text, _ = infer_mapping(folder / "samples" / mapping / sample, entity)
    draft = tmp_path / f"{mapping}.yaml"
    draft.write_text(text, encoding="utf-8")
    inferred, shipped = load_mapping(draft), load_mapping(folder / f"{mapping}.yaml")
    assert {p.name: set(p.inputs) for p in inferred.fields} == {p.name: set(p.inputs) for p in shipped.fields}
    assert inferred.key == shipped.key
    result = inferred.map_file(folder / "samples" / mapping / sample)
    assert result.errors == [] and len(result.frame) == result.read


def test_headerless_export_gets_columns_and_value_based_guesses():
    text, draft = infer_mapping(BANK / "samples" / "abnamro_tab" / "valid_TXT240110093000.TAB", "bank_transaction")
    assert "columns: [column_1, column_2" in text and 'delimiter: "\\t"' in text
    rules = {name: rule for name, rule, _ in draft.fields}
    assert rules["booking_date"]["from"] == "column_3" and rules["amount"]["from"] == "column_7"
    assert rules["currency"] == {"from": "column_2", "type": "currency", "required": True}
    assert rules["account"]["from"] == "column_1"


def test_ambiguous_day_month_order_is_picked_and_said(tmp_path):
    sample = tmp_path / "ambiguous.csv"
    sample.write_text("Date,Account,Amount,Currency\n01/02/2025,NL91ABNA0417164300,-5.00,EUR\n"
                      "03/04/2025,NL91ABNA0417164300,7.25,EUR\n", encoding="utf-8")
    text, _ = infer_mapping(sample, "bank_transaction")
    assert "dates: ['%d/%m/%Y']" in text
    assert "AMBIGUOUS day/month order, %d/%m/%Y picked" in text
    assert "Date: no day above 12 in the sample" in text


def test_month_first_dates_are_recognised_from_a_day_above_12(tmp_path):
    sample = tmp_path / "us.csv"
    sample.write_text("Date,Account,Amount,Currency\n01/02/2025,NL91ABNA0417164300,-5.00,EUR\n"
                      "01/13/2025,NL91ABNA0417164300,7.25,EUR\n", encoding="utf-8")
    text, _ = infer_mapping(sample, "bank_transaction")
    assert "dates: ['%m/%d/%Y']" in text and "AMBIGUOUS" not in text


def test_decimal_commas_do_not_make_comma_the_delimiter():
    layout = sniff_layout((BANK / "samples" / "ingdiba_at" / "valid_cp1252.csv").read_bytes())
    assert layout.delimiter == ";" and layout.header[:2] == ["Kontonummer", "Text"]
    assert layout.encoding == "cp1252"


def test_single_quotes_are_recognised_as_the_quote_character():
    layout = sniff_layout((BANK / "samples" / "asn" / "valid_transactie-historie.csv").read_bytes())
    assert layout.delimiter == "," and layout.quote == "'" and layout.header_line is None
    assert any(row[-2] == "Huur januari 2024, Hoofdstraat 1" for row in layout.rows)


@pytest.mark.parametrize(("data", "encoding"), [
    ("Omschrijving;Bedrag\nCafé;1,00\n".encode("utf-8-sig"), "utf-8-sig"),
    ("Omschrijving;Bedrag\nCafé;1,00\n".encode(), "utf-8"),
    ("Omschrijving;Bedrag\nCafé Hé;1,00\n".encode("cp1252"), "cp1252"),
    ("Opis;Kwota\nZapłata za usługę księgową;1,00\nŻółć gęślą jaźń;2,00\n".encode("cp852"), "cp852"),
    ("Popis;Částka\nPlatba za služby;1,00\nPříjem úroků;2,00\n".encode("cp852"), "cp852"),
    (b"Text;Betrag\nCaf\xe9 \x81;1,00\n", "latin-1"),  # 0x81 is undefined in cp1252
])
def test_encoding_is_detected(data, encoding):
    assert sniff_encoding(data)[0] == encoding
    assert sniff_layout(data).encoding == encoding


def test_an_unusable_sample_is_refused_in_one_line(tmp_path, capsys):
    one = tmp_path / "one_column.csv"
    one.write_text("Header\nvalue\nother\n", encoding="utf-8")
    with pytest.raises(InferError, match="one column only"):
        infer_mapping(one, "invoice")
    ran = run_cli(capsys, "mapping", "infer", str(one), "--entity", "invoice")
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines() == [f"ledgerlink: {one}: has one column only: no delimiter among , ; "
                                               "tab | splits its lines consistently"]


# --- the third-party sample corpus: inferred mappings against the shipped ones --------------------------

def _corpus_files() -> list[Path]:
    return sorted((CORPUS_DIR / "bank-csv").glob("*/*.csv"))


@requires_corpus
def test_corpus_bank_csv_files_get_the_shipped_fields_where_a_layout_exists(tmp_path):
    from connectors.bank.csv_export import match_layout
    from connectors.bank.text import read_head

    compared = right = total = 0
    for path in _corpus_files():
        layout = match_layout(read_head(path))
        text, _ = infer_mapping(path, "bank_transaction")  # every file gives a draft
        if layout is None:
            continue
        draft = tmp_path / f"{path.stem}.yaml"
        draft.write_text(text, encoding="utf-8")
        if "settings:account" in Path(layout.mapping.path).read_text(encoding="utf-8"):
            # The export does not name the holder's account (the feed's settings do): the draft says so.
            with pytest.raises(MappingFileError, match="requires field 'account'"):
                load_mapping(draft)
            continue
        inferred = {p.name: p for p in load_mapping(draft).fields if not p.carried}
        shipped = {p.name: p for p in layout.mapping.fields if not p.carried}
        compared += 1
        for name, plan in shipped.items():
            total += 1
            mine = inferred.get(name)
            if mine is None:
                continue
            pos = layout.mapping.source.columns
            both_hashes = name == "entry_id" and plan.numbered and mine.numbered
            same = both_hashes or _positions(mine.inputs, load_mapping(draft).source.columns) == _positions(
                plan.inputs, pos)
            right += same
    assert compared >= 8
    # measured: 114 of 142 (most of the rest the shipped layouts cut out of free text with regexes)
    assert right / total >= 0.78, f"{right} of {total} fields of the shipped layouts inferred"


def _positions(inputs, columns):
    return sorted(columns.index(c) if columns and c in columns else c for c in inputs)


def test_rows_longer_than_the_header_keep_the_header_names():
    sample = BANK / "samples" / "livebank" / "valid_cp1252_crlf.csv"
    layout = sniff_layout(sample.read_bytes())
    assert layout.header_line == 1 and layout.extra > 0
    assert layout.header[:3] == ["Kontonummer", "Auszugsnummer", "Buchungsdatum"]
    text, _ = infer_mapping(sample, "bank_transaction")
    assert "header_row: 1" in text and "columns: [Kontonummer, Auszugsnummer" in text
    assert "the header is replaced by `columns`, the extra ones named column_N" in text


def test_a_preamble_and_a_total_line_around_the_data(tmp_path):
    sample = tmp_path / "meta.csv"
    sample.write_text("Bank code : 1001,Agency : 10,Start : 01/04/2020,End : 02/04/2020,,\n"
                      ",,,,,\n"
                      "Date,Operation Number,Label,Debit,Credit,Account\n"
                      "15/04/20,OP 1,LABEL 1,\"50,00\",,NL91ABNA0417164300\n"
                      "16/04/20,OP 2,LABEL 2,,\"1300,00\",NL91ABNA0417164300\n"
                      "Balance at start of period,,,,\"+30000,77\",\n", encoding="utf-8")
    layout = sniff_layout(sample.read_bytes())
    assert layout.header_line == 3 and layout.header[0] == "Date"
    text, draft = infer_mapping(sample, "bank_transaction")
    rules = {name: rule for name, rule, _ in draft.fields}
    assert rules["amount"]["from"] == "Credit" and rules["amount"]["minus"] == "Debit"
    assert "dates: ['%d/%m/%y']" in text and "1 value(s) are not, such as 'Balance at start of period'" in text


def test_debit_column_with_negative_amounts_is_not_subtracted_twice(tmp_path):
    sample = tmp_path / "signed_debits.csv"
    sample.write_text("Date,Label,Debit,Credit,Account,Currency\n"
                      '15/04/2020,Rent,"-50,00",,NL91ABNA0417164300,EUR\n'
                      '16/04/2020,Refund,,"1300,00",NL91ABNA0417164300,EUR\n', encoding="utf-8")
    text, _ = infer_mapping(sample, "bank_transaction")
    draft = tmp_path / "draft.yaml"
    draft.write_text(text, encoding="utf-8")
    result = load_mapping(draft).map_file(sample)
    assert result.errors == []
    assert [str(r["amount"]) for r in result.records()] == ["-50.00", "1300.00"]


def test_a_draft_does_not_overwrite_an_existing_file_unless_forced(tmp_path, capsys):
    out = tmp_path / "mine.yaml"
    out.write_text("# tuned by hand\n", encoding="utf-8")
    sample = str(SAMPLES / "vendors_en_comma.csv")
    ran = run_cli(capsys, "mapping", "infer", sample, "--entity", "vendor", "-o", str(out))
    assert ran.returncode == 2 and "exists" in ran.stderr
    assert out.read_text(encoding="utf-8") == "# tuned by hand\n"
    assert run_cli(capsys, "mapping", "infer", sample, "--entity", "vendor", "-o", str(out), "--force").returncode == 0
    assert out.read_text(encoding="utf-8").startswith("# Draft written by `ledgerlink mapping infer`")
