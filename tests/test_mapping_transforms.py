"""Every transform and type conversion, including the examples documented in the schema."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from ledgerlink.mapping import load_mapping
from ledgerlink.mapping.loader import mapping_schema
from ledgerlink.mapping.transforms import Failure, build_step, type_converter
from ledgerlink.redact import mask_account

SCHEMA = mapping_schema()
STEP_EXAMPLES = [(name, ex) for name, prop in SCHEMA["$defs"]["step"]["properties"].items()
                 for ex in prop.get("x-examples", [])]
TYPE_EXAMPLES = SCHEMA["$defs"]["field"]["properties"]["type"]["x-examples"]
FIELD_EXAMPLES = [(name, ex) for name, prop in SCHEMA["$defs"]["field"]["properties"].items()
                  for ex in prop.get("x-examples", []) if "rule" in ex]


def test_every_step_has_a_documented_example():
    documented = {name for name, _ in STEP_EXAMPLES}
    assert documented >= {"strip", "case", "regex_extract", "regex_replace", "split", "pad", "when"}


@pytest.mark.parametrize(("name", "example"), STEP_EXAMPLES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(STEP_EXAMPLES)])
def test_step_examples(name, example):
    step = build_step(example["step"])
    assert step(example["input"], (example["input"],)) == example["output"]


def one_field_mapping(tmp_path: Path, rule: dict, source: dict | None = None, extra: str = "") -> object:
    doc = {
        "version": 1, "entity": "vendor",
        "source": {"format": "csv", "delimiter": ";", **(source or {})},
        "fields": {"vendor_id": {"value": "V1"}, "name": {"value": "N"}, "approval_status": {"value": "approved"},
                   "city": rule},
    }
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True) + textwrap.dedent(extra), encoding="utf-8")
    return load_mapping(path)


def map_one(tmp_path: Path, mapping, row: dict[str, str]):
    return mapping.map_rows([(2, None, row)])


@pytest.mark.parametrize(("name", "example"), FIELD_EXAMPLES, ids=[n for n, _ in FIELD_EXAMPLES])
def test_field_input_examples(tmp_path, name, example):
    m = one_field_mapping(tmp_path, example["rule"])
    res = map_one(tmp_path, m, example["inputs"])
    assert res.errors == []
    assert res.frame["city"].iloc[0] == example["output"]


@pytest.mark.parametrize("example", TYPE_EXAMPLES, ids=[f"{e['type']}-{e['input']}" for e in TYPE_EXAMPLES])
def test_type_examples(example):
    src = {"decimal": ".", "thousands": None, "dates": ["%Y-%m-%d"], **example.get("source", {})}
    convert = type_converter(example["type"], **src)
    value = convert(example["input"])
    if example["type"] == "money":
        from ledgerlink.mapping.transforms import finish_money
        value = finish_money(value, example["currency"])
    assert value == example["output"]


@pytest.mark.parametrize(("text", "currency", "expected"), [
    ("1.234", "JPY", "1234"),
    ("1.234,0", "JPY", "1234"),
    ("12,345", "KWD", "12.345"),
    ("12,3", "KWD", "12.300"),
    ("12,340", "EUR", "12.34"),
    ("-0,00", "EUR", "0.00"),
])
def test_money_quantised_to_currency_exponent(text, currency, expected):
    from ledgerlink.mapping.transforms import finish_money
    parse = type_converter("money", decimal=",", thousands=".", dates=[])
    assert finish_money(parse(text), currency) == expected


@pytest.mark.parametrize(("text", "currency"), [("12,345", "EUR"), ("1.234,5", "JPY"), ("1,0001", "KWD")])
def test_money_refuses_to_drop_digits(text, currency):
    from ledgerlink.mapping.transforms import finish_money
    parse = type_converter("money", decimal=",", thousands=".", dates=[])
    with pytest.raises(Failure) as exc:
        finish_money(parse(text), currency)
    assert exc.value.rule == "currency"


@pytest.mark.parametrize("text", ["1,234.56", "12a", "", "1e5", "--1", "1 2 3,4.5"])
def test_money_parse_errors(text):
    parse = type_converter("money", decimal=",", thousands=".", dates=[])
    with pytest.raises(Failure) as exc:
        parse(text or " ")
    assert exc.value.rule == "type.money"


def test_decimal_comma_and_thousands():
    parse = type_converter("decimal", decimal=",", thousands=".", dates=[])
    assert parse("1.234.567,891") == "1234567.891"
    assert parse("-12,5") == "-12.5"
    parse = type_converter("decimal", decimal=".", thousands=",", dates=[])
    assert parse("1,234.5") == "1234.5"


def test_iban_normalised_and_masked_in_errors():
    to_iban = type_converter("iban", decimal=".", thousands=None, dates=[])
    assert to_iban("nl91 abna 0417 1643 00") == "NL91ABNA0417164300"
    with pytest.raises(Failure) as exc:
        to_iban("NL91ABNA0417164301")
    assert exc.value.rule == "type.iban"
    assert "0417164301" not in exc.value.message
    assert mask_account("NL91ABNA0417164301") in exc.value.message


def test_bic_currency_int_bool_date():
    assert type_converter("bic", decimal=".", thousands=None, dates=[])("abnanl2a") == "ABNANL2A"
    assert type_converter("currency", decimal=".", thousands=None, dates=[])("eur") == "EUR"
    for bad, conv, rule in [("EURO", "currency", "type.currency"), ("XAU", "currency", "type.currency"),
                            ("1.5", "int", "type.int"), ("misschien", "bool", "type.bool"),
                            ("2024-02-30", "date", "type.date"), ("ABN", "bic", "type.bic")]:
        with pytest.raises(Failure) as exc:
            type_converter(conv, decimal=".", thousands=None, dates=["%Y-%m-%d"])(bad)
        assert exc.value.rule == rule
    assert type_converter("bool", decimal=".", thousands=None, dates=[])("NEE") is False
    assert type_converter("date", decimal=".", thousands=None, dates=["%d-%m-%Y", "%Y%m%d"])("20240131") == "2024-01-31"


def test_map_with_fallback_lookup_default_and_required(tmp_path):
    extra = """\
    reference:
      cities:
        values: {AMS: Amsterdam, RTM: Rotterdam}
      plaatsen:
        csv: plaatsen.csv
        key: Code
        value: Naam
        delimiter: ";"
    """
    (tmp_path / "plaatsen.csv").write_text("Code;Naam\nUTR;Utrecht\n", encoding="utf-8")
    cases = [
        ({"from": "C", "map": {"a": "A"}, "map_fallback": "other"}, {"C": "zz"}, "other", None),
        ({"from": "C", "map": {"a": "A"}, "map_fallback": None}, {"C": "zz"}, None, None),
        ({"from": "C", "map": {"a": "A"}}, {"C": "zz"}, None, "map"),
        ({"from": "C", "lookup": "cities"}, {"C": "AMS"}, "Amsterdam", None),
        ({"from": "C", "lookup": "plaatsen"}, {"C": "UTR"}, "Utrecht", None),
        ({"from": "C", "lookup": "cities"}, {"C": "XXX"}, None, "lookup"),
        ({"from": "C", "lookup": "cities", "lookup_fallback": "?"}, {"C": "XXX"}, "?", None),
        ({"from": "C", "default": "Onbekend"}, {"C": "   ", "X": "1"}, "Onbekend", None),
        ({"from": "C", "required": True}, {"C": " ", "X": "1"}, None, "required"),
        ({"from": "C"}, {"C": "  Delft \t"}, "Delft", None),
        ({"coalesce": ["A", "B"], "transform": [{"case": "upper"}]}, {"A": "", "B": "x"}, "X", None),
        ({"from": "C", "transform": [{"when": {"from": "D", "equals": "1"}, "then": "yes"}]}, {"C": "c", "D": "1"}, "yes", None),
        ({"from": "C", "transform": [{"split": {"separator": "-", "parts": [3]}}]}, {"C": "a-b"}, None, "split"),
        ({"from": "C", "transform": [{"regex_extract": "([0-9]+)"}]}, {"C": "abc"}, None, "regex_extract"),
        ({"from": "C", "transform": [{"when": {"matches": "^N/?A$"}, "then": ""}]}, {"C": "NA"}, None, None),
        ({"from": "C", "transform": [{"when": {"empty": True}, "then": "leeg"}]}, {"C": "", "X": "1"}, "leeg", None),
    ]
    for rule, row, value, rule_code in cases:
        m = one_field_mapping(tmp_path, rule, extra=extra)
        res = m.map_rows([(2, None, row)])
        if rule_code:
            assert [e.rule for e in res.errors] == [rule_code], rule
            assert res.errors[0].mapping_line == next(f.line for f in m.fields if f.name == "city")
        else:
            assert res.errors == [], rule
            assert res.frame["city"].iloc[0] == value, rule


def test_records_have_python_values(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        entity: invoice
        source: {format: csv, delimiter: ";", decimal: ","}
        fields:
          invoice_number: {from: Nr}
          direction: {value: payable}
          vendor_id: {value: V}
          issue_date: {from: D, type: date}
          currency: {value: EUR, type: currency}
          amount_incl_tax: {from: B, type: money, currency: currency}
          status: {value: open}
        """), encoding="utf-8")
    m = load_mapping(path)
    rec = next(m.map_rows([(2, None, {"Nr": "1", "D": "2024-01-31", "B": "5"})]).records())
    assert rec["amount_incl_tax"] == Decimal("5.00") and str(rec["amount_incl_tax"]) == "5.00"
    assert rec["issue_date"].isoformat() == "2024-01-31"
