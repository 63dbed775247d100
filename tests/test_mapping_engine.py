"""Both engines, drift policies, replay, the preview/test CLI, and the 1M-row timing."""

from __future__ import annotations

import gc
import json
import random
import weakref
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerlink.cli import main
from ledgerlink.mapping import DriftError, load_mapping
from ledgerlink.mapping.cli import render_lines

ROOT = Path(__file__).resolve().parent.parent
INVOICES = ROOT / "mappings" / "csv" / "invoices_nl.yaml"
SAMPLES = ROOT / "mappings" / "csv" / "samples" / "invoices_nl"
HEADER = ["Factuurnummer", "Crediteurnummer", "Crediteurnaam", "IBAN", "Factuurdatum", "Vervaldatum", "Valuta",
          "Bedrag excl. BTW", "BTW", "Bedrag incl. BTW", "Betalingsconditie", "Omschrijving", "Status"]
IBANS = ["NL91ABNA0417164300", "NL20INGB0001234567", "DE89370400440532013000"]
STATUSES = ["Open", "Goedgekeurd", "Geblokkeerd", "Betwist", "Betaald"]


def mapping_with(tmp_path: Path, on_drift: str) -> Path:
    path = tmp_path / f"invoices_{on_drift}.yaml"
    path.write_text(INVOICES.read_text(encoding="utf-8").replace("on_drift: report", f"on_drift: {on_drift}"),
                    encoding="utf-8")
    return path


def assert_invariant(res) -> None:
    assert res.read == len(res.frame) + res.filtered + len({e.row for e in res.errors})


def assert_same(a, b) -> None:
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert [e.key() for e in a.errors] == [e.key() for e in b.errors]
    assert [e.raw for e in a.errors] == [e.raw for e in b.errors]
    assert a.drift == b.drift and a.read == b.read and a.filtered == b.filtered


# --- property: columnar == rows ------------------------------------------------------------

def dutch_amount(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{frac:02d}"


GOOD_VALUES = {
    "Factuurnummer": st.from_regex(r"F-[0-9]{1,5}", fullmatch=True),
    "Crediteurnummer": st.sampled_from(["C1", "C2", "C3"]),
    "Crediteurnaam": st.sampled_from(["Café Zoë", "Smit", "Müller GmbH", "De Boer"]),
    "IBAN": st.sampled_from(IBANS + ["nl91 abna 0417 1643 00"]),
    "Factuurdatum": st.sampled_from(["01-01-2024", "15-02-2024", "31-12-2023"]),
    "Vervaldatum": st.sampled_from(["31-01-2024", "15-03-2024", "01-01-2024"]),
    "Valuta": st.sampled_from(["EUR", "eur", "JPY", "KWD", "USD"]),
    "Betalingsconditie": st.sampled_from(["30 dagen", "", "14"]),
    "Omschrijving": st.text(alphabet="abc é;\"", max_size=6),
    "Status": st.sampled_from(STATUSES),
}
ODD_VALUES = st.sampled_from([
    "", " ", "  x  ", "1.234,56", "1234,5", "-0,00", "-0,50", "007,00", "12,345", "12,340", "1.2.3,00", "1,234.56",
    "abc", "31-02-2024", "XXX", "Vervallen", "NL91ABNA0417164301", "Ã©", "\u00a0", "1 234,56", "0,00", "+5,00",
    "99999999999999999999,99", "١٢٣,٠٠", "1.234", "5",
    "-0,05", "0,5", "1.234.567,89", "1234.567,89", "-1.000", "12,3456", "1\x002,00", "\u2003", " \u2003Open",
])


@st.composite
def invoice_rows(draw):
    cents = draw(st.integers(-10**9, 10**9))
    tax = draw(st.sampled_from([0, 21, 9])) * cents // 100
    row = {c: draw(s) for c, s in GOOD_VALUES.items()}
    row["Bedrag excl. BTW"] = dutch_amount(cents)
    row["BTW"] = dutch_amount(tax)
    row["Bedrag incl. BTW"] = dutch_amount(cents + tax + draw(st.sampled_from([0, 0, 0, 1])))
    for column in draw(st.lists(st.sampled_from(HEADER), max_size=3)):
        row[column] = draw(ODD_VALUES)
    if draw(st.booleans()):
        row = {c: f" {v}\t" for c, v in row.items()}
    return row


@st.composite
def invoice_files(draw):
    header = list(HEADER)
    if draw(st.booleans()):
        header.remove(draw(st.sampled_from(HEADER)))
    if draw(st.booleans()):
        header.append("Kostenplaats")
    rows = draw(st.lists(invoice_rows(), min_size=0, max_size=12))
    lines = [";".join(header)]
    for row in rows:
        if draw(st.integers(0, 9)) == 0:
            lines.append("")
        fields = []
        for c in header:
            v = row.get(c, "KP1")
            fields.append('"' + v.replace('"', '""') + '"' if (";" in v or '"' in v) else v)
        lines.append(";".join(fields))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    text = newline.join(lines) + newline
    return text.encode(encoding, errors="replace")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=invoice_files(), on_drift=st.sampled_from(["report", "quarantine"]))
def test_columnar_and_row_engines_agree(tmp_path, data, on_drift):
    mapping = load_mapping(mapping_with(tmp_path, on_drift))
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    columnar = mapping.map_file(path, engine="columnar")
    rows = mapping.map_file(path, engine="rows")
    assert_same(columnar, rows)
    assert_invariant(columnar)


def test_engines_agree_on_all_shipped_samples():
    for mapping_file in sorted((ROOT / "mappings").glob("*/*.yaml")):
        mapping = load_mapping(mapping_file)
        folder = mapping_file.parent / "samples" / mapping_file.stem
        if not folder.is_dir():  # bank layouts reading preamble or feed settings: tests/test_bank_csv.py
            continue
        for sample in sorted(folder.iterdir()):
            if sample.name.endswith(".expected.jsonl"):
                continue
            a, b = mapping.map_file(sample, engine="columnar"), mapping.map_file(sample, engine="rows")
            assert_same(a, b)
            assert_invariant(a)


# --- errors, replay ------------------------------------------------------------------------

def test_all_errors_of_a_row_are_reported_with_raw_row():
    res = load_mapping(INVOICES).map_file(SAMPLES / "record_bad_date_and_status_all_reported.csv", source_name="x.csv")
    assert [(e.row, e.field, e.rule, e.mapping_line) for e in res.errors] == [
        (2, "issue_date", "type.date", 21), (2, "status", "map", 29)]
    err = res.errors[0]
    assert err.location is None and err.source_name == "x.csv" and err.mapping_file == str(INVOICES)
    assert err.raw["Factuurdatum"] == "31-02-2024" and err.raw["Status"] == "Onbekend"
    assert len(res.frame) == 0


def test_replay_quarantined_rows_with_map_rows():
    mapping = load_mapping(INVOICES)
    res = mapping.map_file(SAMPLES / "record_unknown_status.csv")
    raw = res.raw_for(3)
    assert raw["Status"] == "Vervallen"
    assert res.raw_for(2)["Factuurnummer"] == "2024-0001"
    # together: a refused row's raw values (row 3) and a mapped row's (row 2); a row not in the file is left out
    together = res.raws_for([3, 2, 99])
    assert sorted(together) == [2, 3] and together[3] == raw and together[2] == res.raw_for(2)
    with pytest.raises(KeyError, match="no source row 99"):
        res.raw_for(99)
    raw["Status"] = "Open"
    replay = mapping.map_rows([(3, None, raw)])
    assert replay.errors == [] and replay.drift == []
    assert replay.frame["_row"].tolist() == [3] and replay.frame["status"].tolist() == ["open"]


def test_filters_count_as_filtered(tmp_path):
    text = INVOICES.read_text(encoding="utf-8") + "filters:\n  - skip: {from: Status, equals: Vervallen}\n"
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    for engine in ("columnar", "rows"):
        res = load_mapping(path).map_file(SAMPLES / "record_unknown_status.csv", engine=engine)
        assert (res.read, res.filtered, len(res.frame), res.errors) == (2, 1, 1, [])


# --- drift ---------------------------------------------------------------------------------

def test_drift_report_carries_on(tmp_path):
    res = load_mapping(mapping_with(tmp_path, "report")).map_file(SAMPLES / "drift_column_added.csv")
    assert [(d.kind, d.column) for d in res.drift] == [("column_added", "Kostenplaats")]
    assert len(res.frame) == 1 and res.errors == []


def test_drift_fail_maps_nothing(tmp_path):
    mapping = load_mapping(mapping_with(tmp_path, "fail"))
    with pytest.raises(DriftError) as exc:
        mapping.map_file(SAMPLES / "drift_column_missing.csv")
    assert [(d.kind, d.column) for d in exc.value.events] == [("column_missing", "Betalingsconditie")]


@pytest.mark.parametrize("engine", ["columnar", "rows"])
def test_drift_quarantine_makes_every_row_an_error(tmp_path, engine):
    res = load_mapping(mapping_with(tmp_path, "quarantine")).map_file(SAMPLES / "drift_column_added.csv", engine=engine)
    assert len(res.frame) == 0
    assert [(e.row, e.rule, e.field) for e in res.errors] == [(2, "drift.column_added", "Kostenplaats")]
    assert res.drift and res.errors[0].raw["Kostenplaats"] == "KP-100"
    assert_invariant(res)


def test_type_drift(tmp_path):
    src = (SAMPLES / "valid_utf8_bom_crlf.csv").read_text(encoding="utf-8-sig")
    src = src.replace("15-01-2024", "2024/01/15").replace("20-01-2024", "2024/01/20").replace("01-02-2024", "2024/02/01")
    path = tmp_path / "s.csv"
    path.write_text(src, encoding="utf-8")
    res = load_mapping(mapping_with(tmp_path, "quarantine")).map_file(path)
    assert [(d.kind, d.column) for d in res.drift] == [("type_changed", "Factuurdatum")]
    assert {e.rule for e in res.errors} == {"drift.type_changed"} and len(res.errors) == 3


# --- CLI -----------------------------------------------------------------------------------

def test_preview_json_lines(capsys):
    sample = SAMPLES / "record_totals_do_not_add_up.csv"
    assert main(["mapping", "preview", str(INVOICES), str(sample), "--json", "--engine", "rows"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [list(line) for line in lines] == [
        ["kind", "row", "data"],
        ["kind", "row", "field", "rule", "message", "mapping_line"],
        ["kind", "row", "field", "rule", "message", "mapping_line"]]
    assert lines[0]["data"]["amount_incl_tax"] == "1210.00" and lines[0]["row"] == 2
    assert lines[1] == {"kind": "error", "row": 3, "field": "amount_incl_tax", "rule": "check.sum",
                        "message": "amount_excl_tax 1000.00 + tax_amount 210.00 = 1210.00, but amount_incl_tax is 1200.00",
                        "mapping_line": 34}
    assert lines[2]["rule"] == "check.compare" and lines[2]["row"] == 4


def test_preview_limit_and_human_output(capsys):
    sample = SAMPLES / "valid_utf8_bom_crlf.csv"
    assert main(["mapping", "preview", str(INVOICES), str(sample), "--json", "--limit", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert main(["mapping", "preview", str(INVOICES), str(SAMPLES / "record_unknown_status.csv")]) == 0
    out = capsys.readouterr().out
    assert f"ERROR {INVOICES}:29 status map 'Vervallen'" in out
    assert "read 2, mapped 1, rows with errors 1" in out


def test_preview_unreadable_exit_2(tmp_path, capsys):
    assert main(["mapping", "preview", str(INVOICES), str(tmp_path / "missing.csv")]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nentity: nope\n", encoding="utf-8")
    assert main(["mapping", "preview", str(bad), str(SAMPLES / "valid_cp1252_lf.csv")]) == 2


def test_mapping_test_passes_on_shipped_samples(capsys):
    assert main(["mapping", "test"]) == 0
    out = capsys.readouterr().out
    assert "MISMATCH" not in out and out.count(": ok") >= 15


def test_mapping_test_reports_mismatch_with_diff(tmp_path, capsys):
    folder = tmp_path / "csv"
    (folder / "samples" / "invoices_nl").mkdir(parents=True)
    mapping = folder / "invoices_nl.yaml"
    mapping.write_text(INVOICES.read_text(encoding="utf-8"), encoding="utf-8")
    sample = folder / "samples" / "invoices_nl" / "record_unknown_status.csv"
    sample.write_bytes((SAMPLES / "record_unknown_status.csv").read_bytes())
    expected = sample.with_name(sample.name + ".expected.jsonl")
    assert main(["mapping", "test", "--update", str(mapping)]) == 0
    assert expected.read_text(encoding="utf-8") == render_lines(load_mapping(mapping), sample)
    expected.write_text(expected.read_text(encoding="utf-8").replace('"open"', '"paid"'), encoding="utf-8")
    capsys.readouterr()
    assert main(["mapping", "test", str(mapping)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and '-{"kind": "record"' in out and '+{"kind": "record"' in out


# --- timing --------------------------------------------------------------------------------

def write_invoices(path: Path, n: int, bad_share: float = 0.02) -> None:
    rnd = random.Random(7)
    lines = [";".join(HEADER)]
    for i in range(n):
        excl = rnd.randint(100, 10_000_000)
        tax = excl * 21 // 100
        d, m = rnd.randint(1, 28), rnd.randint(1, 12)
        status = rnd.choice(STATUSES)
        incl = excl + tax
        if rnd.random() < bad_share:
            status = "Vervallen" if rnd.random() < 0.5 else status
            incl += 1
        lines.append(f"F{i:08d};C{rnd.randint(1, 5000):05d};Leverancier {rnd.randint(1, 5000)} B.V.;{rnd.choice(IBANS)};"
                     f"{d:02d}-{m:02d}-2024;{d:02d}-{m:02d}-2025;EUR;{dutch_amount(excl)};{dutch_amount(tax)};"
                     f"{dutch_amount(incl)};30 dagen;Factuur {i};{status}")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def test_a_large_generated_file_accounts_for_every_row(tmp_path):
    """100,000 generated rows, about 2 % of them bad: each is a record or an error, none is lost.
    (How fast a million rows map is measured by bench/bench_mapping.py, not here.)"""
    n = 100_000
    path = tmp_path / "big.csv"
    write_invoices(path, n)
    res = load_mapping(INVOICES).map_file(path)
    assert res.read == n and 0 < len({e.row for e in res.errors}) < n // 10
    assert_invariant(res)


@pytest.mark.parametrize("engine", ["columnar", "rows"])
def test_failures_keep_no_frames_so_the_source_is_freed_with_the_result(tmp_path, engine):
    """A failed value is kept as a value: not with the frames it was raised in (nor those of the error it
    was raised from), which would keep the whole source table alive as long as the batch is."""
    path = tmp_path / "bad.csv"
    path.write_text(";".join(HEADER) + "\nF1;C1;Smit;NL00XXXX0000000000;01-01-2024;31-01-2024;EUR;1,00;0,00;1,00;;;"
                    "Open\nF2;C1;Smit;NL91ABNA0417164300;31-02-2024;31-01-2024;EUR;x;0,00;1,00;;;Open\n",
                    encoding="utf-8")
    res = load_mapping(INVOICES).map_file(path, engine=engine)
    assert {e.rule for e in res.errors} >= {"type.iban", "type.date", "type.money"}
    source = weakref.ref(res.table)
    del res
    gc.collect()
    assert source() is None
