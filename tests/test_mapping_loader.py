"""Mapping files: YAML line numbers, schema and semantic errors, migration, docs, validate CLI."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from ledgerlink.cli import main
from ledgerlink.mapping import MappingFileError, load_mapping
from ledgerlink.mapping.docs import reference_markdown
from ledgerlink.mapping.loader import SCHEMA_PATH, mapping_schema

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
version: 1
entity: invoice
source:
  format: csv
  delimiter: ";"
key: [vendor_id, invoice_number]
fields:
  invoice_number: {from: Nr, required: true}
  direction: {value: payable}
  vendor_id: {from: Crediteur}
  currency: {from: Valuta, type: currency}
  amount_incl_tax: {from: Bedrag, type: money, currency: currency}
  status: {value: open}
"""


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def issues_of(path: Path) -> list[tuple[int, str]]:
    with pytest.raises(MappingFileError) as exc:
        load_mapping(path)
    for issue in exc.value.issues:
        assert issue.file == str(path)
    return [(i.line, i.message) for i in exc.value.issues]


def test_good_mapping_loads(tmp_path):
    m = load_mapping(write(tmp_path, GOOD))
    assert m.entity == "invoice"
    assert m.key == ["vendor_id", "invoice_number"]
    assert m.on_drift == "report"
    assert m.field_names == ["invoice_number", "direction", "vendor_id", "currency", "amount_incl_tax", "status"]
    assert m.source.delimiter == ";"


def test_typo_key_reported_at_its_line(tmp_path):
    path = write(tmp_path, GOOD.replace("vendor_id: {from: Crediteur}", "vendor_id:\n    form: Crediteur"))
    issues = issues_of(path)
    line, message = next(i for i in issues if "form" in i[1])
    assert line == 11
    assert "unknown key 'form'" in message and "did you mean 'from'" in message


def test_unknown_canonical_field(tmp_path):
    issues = issues_of(write(tmp_path, GOOD + "  vendor_nme: {from: Naam}\n"))
    assert issues == [(14, "unknown field 'vendor_nme' for entity invoice; did you mean 'vendor_name'?")]


def test_unknown_transform(tmp_path):
    text = GOOD.replace("vendor_id: {from: Crediteur}", "vendor_id:\n    from: Crediteur\n    transform:\n      - upcase: true")
    issues = issues_of(write(tmp_path, text))
    assert len(issues) == 1
    assert issues[0][0] == 13
    assert "unknown transform 'upcase'" in issues[0][1]


def test_bad_regex(tmp_path):
    text = GOOD.replace("vendor_id: {from: Crediteur}",
                        "vendor_id:\n    from: Crediteur\n    transform:\n      - regex_extract: '(\\d+'")
    issues = issues_of(write(tmp_path, text))
    assert issues[0][0] == 13
    assert "invalid regular expression in regex_extract" in issues[0][1]


def test_key_field_and_currency_reference_must_exist(tmp_path):
    text = GOOD.replace("key: [vendor_id, invoice_number]", "key: [vendor_id, invoice_nr]").replace(
        "currency: currency}", "currency: valuta}")
    issues = issues_of(write(tmp_path, text))
    assert (6, "key field 'invoice_nr' is not defined in fields") in issues
    assert (12, "currency field 'valuta' is not defined in fields") in issues


def test_schema_violation_line_and_several_issues_at_once(tmp_path):
    text = GOOD.replace("format: csv", "format: xls").replace("required: true", "required: yes please")
    issues = issues_of(write(tmp_path, text))
    lines = [line for line, _ in issues]
    assert 4 in lines and 8 in lines
    assert any("source.format" in m and "'xls'" in m for _, m in issues)


def test_duplicate_key_and_unquoted_boolean_map_key(tmp_path):
    text = GOOD + "  status: {from: S, map: {Yes: open, No: paid}}\n"
    issues = issues_of(write(tmp_path, text.replace("  status: {value: open}\n", "", 0)))
    messages = " ".join(m for _, m in issues)
    assert "duplicate key 'status'" in messages
    assert "YAML read it as bool; quote it" in messages


def test_required_entity_field_missing(tmp_path):
    issues = issues_of(write(tmp_path, GOOD.replace("  status: {value: open}\n", "")))
    assert issues == [(7, "entity invoice requires field 'status', which the mapping does not define")]


def test_migrates_version_0_with_notice(tmp_path):
    old = """\
    entity: invoice
    format: csv
    delimiter: ";"
    decimal_comma: true
    date_format: "%d-%m-%Y"
    unique: [invoice_number]
    columns:
      invoice_number: {column: Nr, required: true}
      direction: {value: payable}
      vendor_id: {column: Crediteur}
      issue_date: {column: Datum, type: date}
      currency: {column: Valuta, type: currency}
      amount_incl_tax: {column: Bedrag, type: amount, currency_field: currency}
      status: {value: open}
    """
    path = write(tmp_path, old)
    m = load_mapping(path)
    assert m.notices and "migrated from mapping language version 0 to 1" in m.notices[0]
    assert m.key == ["invoice_number"]
    assert m.source.decimal == "," and m.source.thousands == "." and m.source.dates == ["%d-%m-%Y"]
    csv = tmp_path / "s.csv"
    csv.write_text("Nr;Crediteur;Datum;Valuta;Bedrag\nA1;C1;31-01-2024;EUR;1.234,5\n", encoding="utf-8")
    rec = next(m.map_file(csv).records())
    assert str(rec["amount_incl_tax"]) == "1234.50" and rec["issue_date"].isoformat() == "2024-01-31"
    # errors in a migrated file still point at the old file's lines
    broken = write(tmp_path, old.replace("{column: Crediteur}", "{column: Crediteur, typ: string}"), "b.yaml")
    assert issues_of(broken)[0][0] == 10


def test_newer_version_refused(tmp_path):
    issues = issues_of(write(tmp_path, GOOD.replace("version: 1", "version: 7")))
    assert issues == [(1, "version 7 is newer than this ledgerlink understands (up to 1)")]


def test_every_schema_property_has_a_description():
    missing = []

    def walk(node, path):
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                if "description" not in prop:
                    missing.append(f"{path}.{name}")
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk(mapping_schema(), "$")
    assert missing == []


def test_committed_reference_is_up_to_date():
    committed = (ROOT / "docs" / "mapping-reference.md").read_text(encoding="utf-8")
    assert committed == reference_markdown(), "run: ledgerlink mapping docs > docs/mapping-reference.md"


def test_cli_docs_and_schema(capsys):
    assert main(["mapping", "docs"]) == 0
    assert capsys.readouterr().out == reference_markdown()
    assert main(["mapping", "schema"]) == 0
    assert capsys.readouterr().out.strip() == str(SCHEMA_PATH)
    json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def test_cli_validate_exit_codes_and_format(tmp_path, capsys):
    good = write(tmp_path, GOOD, "good.yaml")
    assert main(["mapping", "validate", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: ok\n"
    bad = write(tmp_path, GOOD + "  vendor_nme: {from: Naam}\n", "bad.yaml")
    assert main(["mapping", "validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{good}: ok", f"{bad}:14: unknown field 'vendor_nme' for entity invoice; did you mean 'vendor_name'?"]


def test_shipped_mappings_validate(capsys):
    files = sorted(str(p) for p in (ROOT / "mappings").glob("*/*.yaml"))
    # Every folder of mappings/ holds mapping files, and all of them validate.
    assert {Path(f).parent.name for f in files} == {p.name for p in (ROOT / "mappings").iterdir() if p.is_dir()}
    assert {"bank", "csv", "xml"} <= {Path(f).parent.name for f in files}
    assert main(["mapping", "validate", *files]) == 0
