"""`ledgerlink mapping validate` reports every problem of a file at once, explains YAML slips at the line at
fault, and `ledgerlink mapping preview` flags natural keys that several rows of a sample share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledgerlink.config import BUNDLED_MAPPINGS_DIR
from tests.fixtures.cli import run_cli

MAPPING = BUNDLED_MAPPINGS_DIR / "csv" / "invoices_nl.yaml"
SAMPLE = BUNDLED_MAPPINGS_DIR / "csv" / "samples" / "invoices_nl" / "record_bad_amount.csv"

MANY_PROBLEMS = """\
version: 1
entity: invoice
source: {format: csv, delimiter: ";", dates: ["%d-%m-%Y"]}
key: [vendor_id, invoice_number]
fields:
  invoice_number: {from: Factuurnummer, required: true}
  direction: {value: payable}
  vendor_id: {from: Crediteurnummer, required: true}
  vendor_name: {from: Naam, transform: [{shout: true}]}
  no_such_field: {from: X}
  issue_date: {from: Factuurdatum, type: dat}
  currency: {from: Valuta, type: currency}
  amount_incl_tax: {from: Bedrag, type: money, currency: currency, colour: red}
  status: {from: Status}
checks:
  - sum: [amount_excl_tax, tax_amount]
    equals: amount_incl_tax
"""


def test_validate_reports_every_problem_with_its_line(capsys, tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(MANY_PROBLEMS, encoding="utf-8")
    ran = run_cli(capsys, "mapping", "validate", str(path))
    assert ran.returncode == 1
    lines = ran.stdout.splitlines()
    expected = [
        (9, "unknown transform 'shout'"),                                   # schema: unknown transform
        (10, "unknown field 'no_such_field' for entity invoice"),           # compiler: unknown field
        (11, "fields.issue_date.type: 'dat' is not one of"),                # schema: bad enum value
        (13, "unknown key 'colour' in fields.amount_incl_tax"),             # schema: unknown key
        (16, "check refers to 'amount_excl_tax', which is not defined"),    # compiler: check on a missing field
    ]
    for line, text in expected:
        assert any(out.startswith(f"{path}:{line}: {text}") for out in lines), (line, text, lines)
    assert [int(out.split(":")[1]) for out in lines] == sorted(int(out.split(":")[1]) for out in lines)


HEADER = "version: 1\nentity: invoice\nsource: {format: csv}\nkey: [invoice_number]\n"


@pytest.mark.parametrize(("body", "line", "message"), [
    pytest.param("fields:\n  invoice_number: {from: A}\n   currency: {from: B}\n", 7,
                 "a key does not line up with the keys of its block; check the indentation of line 7 "
                 "(3 spaces; line 6 above has 2 spaces)", id="key-indented-too-deep"),
    pytest.param("fields:\n  invoice_number: {from: A}\n currency: {from: B}\n", 7,
                 "a key does not line up with the keys of its block; check the indentation of line 7 "
                 "(1 space; line 6 above has 2 spaces)", id="key-indented-too-shallow"),
    pytest.param("fields:\n  invoice_number:\n    from: A\n     required: true\n", 8,
                 "check the indentation of line 8 (5 spaces; line 7 above has 4 spaces)",
                 id="value-line-indented-too-deep"),
    pytest.param("fields:\n\tinvoice_number: {from: A}\n", 6,
                 "line 6 is indented with a tab; YAML indents with spaces only", id="tab"),
    pytest.param("fields:\n  invoice_number\n  currency: {from: B}\n", 6,
                 "line 6 has no ':' (a key needs 'key: value' or 'key:'), so line 7 cannot start a key",
                 id="key-without-colon"),
    pytest.param("description: Note: see the vendor file\nfields:\n  invoice_number: {from: A}\n", 5,
                 "line 5 has a value with ': ' in it: put the value in quotes", id="unquoted-colon"),
    pytest.param("fields:\n  invoice_number: {from: [A, B}\n  currency: {from: B}\n", 6,
                 "the '[' on line 6 is not closed on that line", id="unclosed-bracket"),
])
def test_yaml_slips_are_explained_at_the_line_at_fault(capsys, tmp_path, body, line, message):
    path = tmp_path / "slip.yaml"
    path.write_text(HEADER + body, encoding="utf-8")
    ran = run_cli(capsys, "mapping", "validate", str(path))
    assert ran.returncode == 1
    [out] = ran.stdout.splitlines()
    assert out.startswith(f"{path}:{line}: not valid YAML: "), out
    assert message in out, out


@pytest.fixture
def duplicated(tmp_path: Path) -> Path:
    """The shipped sample with its first invoice sent twice (rows 2 and 5) and its bad rows kept."""
    lines = SAMPLE.read_text(encoding="utf-8-sig").splitlines()
    path = tmp_path / "record_duplicate_invoice.csv"
    path.write_text("\n".join([*lines, lines[1].replace("Brood en banket januari", "again")]) + "\n",
                    encoding="utf-8")
    return path


def test_preview_flags_duplicate_natural_keys_with_their_rows(capsys, duplicated):
    ran = run_cli(capsys, "mapping", "preview", "--json", str(MAPPING), str(duplicated))
    assert ran.returncode == 0, ran.stderr
    found = [json.loads(line) for line in ran.stdout.splitlines() if '"duplicate_key"' in line]
    assert found == [{"kind": "duplicate_key", "key": {"vendor_id": "C1001", "invoice_number": "2024-0001"},
                      "rows": [2, 5], "mapping_line": 13}]
    human = run_cli(capsys, "mapping", "preview", str(MAPPING), str(duplicated)).stdout
    [line] = [out for out in human.splitlines() if out.startswith("DUPLICATE KEY")]
    assert line.startswith("DUPLICATE KEY vendor_id=C1001, invoice_number=2024-0001 (")
    assert line.endswith("invoices_nl.yaml:13 key) on rows 2, 5: a load quarantines all of them")
    assert "duplicate keys 1" in human


def test_preview_without_duplicates_says_none(capsys):
    ran = run_cli(capsys, "mapping", "preview", str(MAPPING), str(SAMPLE))
    assert "duplicate keys 0" in ran.stdout
    assert "DUPLICATE KEY" not in ran.stdout
