"""Every transform and type conversion, including the examples documented in the schema."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerlink.mapping import MappingFileError, load_mapping
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
    assert exc.value.rule == "type.money.precision"


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


# --- bank layouts: sign, minus, type_fallback, hash, same, carry ---------------------------------

BANK = """\
version: 1
entity: bank_transaction
source: {format: csv, delimiter: ";", decimal: ",", thousands: "."}
fields:
  account: {from: Rekening, required: true}
  entry_id: {hash: [Datum, Rekening, Bedrag, Omschrijving], required: true}
  booking_date: {from: Datum, type: date, required: true}
  amount:
    from: Bedrag
    type: money
    currency: currency
    required: true
    sign: {from: AfBij, debit: [Af, D], credit: [Bij, C]}
  currency: {value: EUR, type: currency}
  counterparty_iban: {from: Tegenrekening, type: iban, type_fallback: null}
  remittance_text: {from: Omschrijving}
carry:
  balance_after: {from: Saldo, type: money, currency: currency}
checks:
  - same: account
"""
BANK_HEADER = "Datum;Rekening;AfBij;Bedrag;Tegenrekening;Omschrijving;Saldo"


def bank_mapping(tmp_path: Path, text: str = BANK):
    path = tmp_path / "bank.yaml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path)


def map_both(tmp_path: Path, mapping, lines: list[str]):
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    columnar, rows = mapping.map_file(path, engine="columnar"), mapping.map_file(path, engine="rows")
    assert columnar.frame.equals(rows.frame)
    assert [e.key() for e in columnar.errors] == [e.key() for e in rows.errors]
    return columnar


def test_sign_from_indicator_column(tmp_path):
    res = map_both(tmp_path, bank_mapping(tmp_path), [
        BANK_HEADER,
        "2024-01-02;NL20INGB0001234567;Af;1.234,50;;Huur;10,00",
        "2024-01-03;NL20INGB0001234567;Bij;0,00;;Nul;10,00",
        "2024-01-04;NL20INGB0001234567;D;-2,00;;Storno van een afschrijving;12,00",
        "2024-01-05;NL20INGB0001234567;X;5,00;;Onbekend;17,00",
        "2024-01-06;NL20INGB0001234567;;5,00;;Geen teken;22,00",
    ])
    assert res.frame["amount"].tolist() == ["-1234.50", "0.00", "2.00"]
    assert [(e.row, e.field, e.rule) for e in res.errors] == [(5, "amount", "sign"), (6, "amount", "sign")]
    assert res.errors[0].message == "'X' in column 'AfBij' is not a debit or credit indicator (Af, D, Bij, C)"


def test_sign_and_minus_need_an_amount_type_and_distinct_indicators(tmp_path):
    text = BANK.replace("remittance_text: {from: Omschrijving}",
                        "remittance_text: {from: Omschrijving, minus: X, sign: {from: S, debit: [A], credit: [A]}}")
    with pytest.raises(MappingFileError) as exc:
        bank_mapping(tmp_path, text)
    messages = {i.message for i in exc.value.issues}
    assert messages == {"sign is only allowed with type: money or decimal", "minus is only allowed with type: money or decimal",
                        "sign: an indicator cannot be both debit and credit"}


@pytest.mark.parametrize(("credit", "debit", "expected", "rule"), [
    ("12,50", "0,00", "12.50", None),
    ("0,00", "1.500,00", "-1500.00", None),
    ("", "3,00", "-3.00", None),
    ("10,00", "", "10.00", None),
    ("", "", None, "required"),
    ("1,00", "x", None, "type.money"),
])
def test_minus_for_separate_credit_and_debit_columns(tmp_path, credit, debit, expected, rule):
    text = BANK.replace("""    sign: {from: AfBij, debit: [Af, D], credit: [Bij, C]}\n""", "    minus: Soll\n") \
        .replace("from: Bedrag", "from: Haben")
    res = map_both(tmp_path, bank_mapping(tmp_path, text), [
        "Datum;Rekening;Haben;Soll;Tegenrekening;Omschrijving;Saldo",
        f"2024-01-02;NL20INGB0001234567;{credit};{debit};;Boeking;",
    ])
    if rule:
        assert [(e.field, e.rule) for e in res.errors] == [("amount", rule)]
        assert "column 'Soll'" in res.errors[0].message
    else:
        assert res.errors == [] and res.frame["amount"].tolist() == [expected]


def test_type_fallback_value_or_empty(tmp_path):
    m = one_field_mapping(tmp_path, {"from": "C", "type": "bic", "type_fallback": "ABNANL2A"})
    assert m.map_rows([(2, None, {"C": "geen bic"})]).frame["city"].tolist() == ["ABNANL2A"]
    m = one_field_mapping(tmp_path, {"from": "C", "type": "iban", "type_fallback": None, "required": True})
    res = m.map_rows([(2, None, {"C": "NL91ABNA0417164301"})])
    assert [(e.field, e.rule) for e in res.errors] == [("city", "required")]


def test_hash_ids_number_repeated_rows_in_file_order(tmp_path):
    row = "2024-01-05;NL20INGB0001234567;Af;35,40;;Albert Heijn;{}"
    res = map_both(tmp_path, bank_mapping(tmp_path), [
        BANK_HEADER, row.format("100,00"), "2024-01-05;NL20INGB0001234567;Af;35,4O;;Fout;", row.format("64,60"),
        "2024-01-06;NL20INGB0001234567;Bij;1,00;;Anders;65,60", row.format("29,20"),
    ])
    ids = res.frame["entry_id"].tolist()
    base = ids[0]
    assert len(base) == 32 and ids == [base, f"{base}-2", ids[2], f"{base}-3"]
    assert [(e.row, e.rule) for e in res.errors] == [(3, "type.money")]


def test_same_check_names_the_first_value_and_its_row(tmp_path):
    res = map_both(tmp_path, bank_mapping(tmp_path), [
        BANK_HEADER,
        "2024-01-02;;Af;1,00;;Geen rekening;",
        "2024-01-02;NL20INGB0001234567;Af;1,00;;Een;",
        "2024-01-03;NL36INGB0007654321;Af;1,00;;Twee;",
        "2024-01-04;NL20INGB0001234567;Af;1,00;;Drie;",
    ])
    assert [(e.row, e.field, e.rule) for e in res.errors] == [(2, "account", "required"), (4, "account", "check.same")]
    assert res.errors[1].message == ("account 'NL36****4321' differs from 'NL20****4567' of row 3; "
                                     "the file must hold one account")


def test_carry_values_are_mapped_and_checked_but_not_canonical(tmp_path):
    mapping = bank_mapping(tmp_path)
    assert "balance_after" not in mapping.field_names and mapping.carry_names == ["balance_after"]
    res = map_both(tmp_path, mapping, [BANK_HEADER, "2024-01-02;NL20INGB0001234567;Bij;1,00;;Een;-12,50",
                                       "2024-01-03;NL20INGB0001234567;Bij;1,00;;Twee;12,5x"])
    assert res.frame["balance_after"].tolist() == ["-12.50"]
    assert [(e.row, e.field, e.rule) for e in res.errors] == [(3, "balance_after", "type.money")]
    rec = next(res.records())
    assert rec["balance_after"] == Decimal("-12.50")
    with pytest.raises(MappingFileError, match="carry value 'amount' is a field of entity bank_transaction"):
        bank_mapping(tmp_path, BANK.replace("carry:\n", "carry:\n  amount: {from: Saldo}\n"))


BANK_MINUS = BANK.replace("""    sign: {from: AfBij, debit: [Af, D], credit: [Bij, C]}\n""",
                          """    sign: {from: AfBij, debit: [Af, D], credit: [Bij, C]}\n    minus: Kosten\n""")


@st.composite
def bank_files(draw):
    values = {
        "Datum": st.sampled_from(["2024-01-02", "2024-01-03", "2024-02-30", ""]),
        "Rekening": st.sampled_from(["NL20INGB0001234567", "NL20INGB0001234567", "NL36INGB0007654321", "", " x "]),
        "AfBij": st.sampled_from(["Af", "Bij", "D", "C", "", "?"]),
        "Bedrag": st.sampled_from(["1,00", "1.234,56", "-0,50", "0,00", "", "1,005", "abc", " 2,00 "]),
        "Kosten": st.sampled_from(["", "", "0,10", "x"]),
        "Tegenrekening": st.sampled_from(["", "NL91ABNA0417164300", "NL91ABNA0417164301", "99999999"]),
        "Omschrijving": st.sampled_from(["Huur", "Koffie", "", "a;b"]),
        "Saldo": st.sampled_from(["", "10,00", "-3,50", "1,2,3"]),
    }
    header = list(values)
    rows = draw(st.lists(st.fixed_dictionaries(values), max_size=14))
    lines = [";".join(header)]
    for row in rows:
        lines.append(";".join('"' + row[c] + '"' if ";" in row[c] else row[c] for c in header))
    return "\n".join(lines) + "\n"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=bank_files(), with_minus=st.booleans())
def test_engines_agree_on_sign_minus_hash_same_and_carry(tmp_path, text, with_minus):
    mapping = bank_mapping(tmp_path, BANK_MINUS if with_minus else BANK)
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    columnar, rows = mapping.map_file(path, engine="columnar"), mapping.map_file(path, engine="rows")
    pd.testing.assert_frame_equal(columnar.frame, rows.frame)
    assert [e.key() for e in columnar.errors] == [e.key() for e in rows.errors]
    assert columnar.read == len(columnar.frame) + columnar.filtered + len({e.row for e in columnar.errors})
