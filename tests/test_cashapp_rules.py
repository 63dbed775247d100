"""Cash-application rules files: the shipped defaults, and errors that name the file, the line and the rule."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from ledgerlink.cashapp import RulesError, load_rules, parse_rules
from ledgerlink.cashapp.rules import DEFAULT_RULES, RULES_ENV

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "cashapp_rules.schema.json"


def problem(text: str) -> str:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "my_rules.yaml")
    return str(caught.value)


def test_the_schema_is_json_schema_2020_12():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_shipped_rules_load_with_their_thresholds_tolerance_discount_and_rule_order():
    rules = load_rules(DEFAULT_RULES)
    assert [r.name for r in rules.rules] == ["structured_reference", "invoice_number", "amount_and_party",
                                              "several_invoices"]
    assert (rules.auto_threshold, rules.suggest_threshold) == (Decimal("0.90"), Decimal("0.60"))
    assert (rules.tolerance_percent, rules.tolerance_amounts["EUR"]) == (Decimal("2"), Decimal("10.00"))
    assert rules.discount is not None and (rules.discount.percent, rules.discount.days) == (Decimal("2"), 10)
    assert [r.code for r in rules.deduction_reasons][0] == "BANK_CHARGES"


def test_rules_file_comes_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "strict.yaml"
    path.write_text('version: 1\nthresholds: {auto: "0.99"}\nrules:\n'
                    '  - {name: only_refs, match: structured_reference, confidence: "0.95"}\n', encoding="utf-8")
    monkeypatch.setenv(RULES_ENV, str(path))
    rules = load_rules()
    assert (rules.path, rules.auto_threshold, [r.name for r in rules.rules]) == (str(path), Decimal("0.99"), ["only_refs"])


def test_a_missing_rules_file_is_named():
    with pytest.raises(RulesError, match=r"nowhere\.yaml: cannot read the cash-application rules"):
        load_rules("nowhere.yaml")


def test_an_unknown_setting_names_the_file_line_and_rule():
    message = problem("""version: 1
rules:
  - name: refs
    match: structured_reference
    confidence: "0.9"
    tolerence: "1"
""")
    assert message.startswith("my_rules.yaml:6: rule 'refs': unknown setting 'tolerence'")


def test_an_invalid_regex_names_the_file_line_and_rule():
    message = problem("""version: 1
rules:
  - {name: refs, match: structured_reference, confidence: "0.9"}
  - name: orders
    match: regex
    pattern: "ORDER (?P<invoice>[0-9"
    confidence: "0.8"
""")
    assert message.startswith("my_rules.yaml:6: rule 'orders': pattern: not a valid regular expression")


def test_a_regex_rule_without_the_invoice_group_is_refused():
    message = problem("""version: 1
rules:
  - {name: orders, match: regex, pattern: "ORDER (\\\\d+)", confidence: "0.8"}
""")
    assert "my_rules.yaml:3: rule 'orders'" in message and "(?P<invoice>...)" in message


def test_a_regex_rule_without_a_pattern_is_refused():
    assert problem('version: 1\nrules:\n  - {name: orders, match: regex, confidence: "0.8"}\n').startswith(
        "my_rules.yaml:3: rule 'orders': a regex rule needs a pattern")


def test_a_percentage_written_as_a_yaml_number_is_refused():
    message = problem('version: 1\ntolerance:\n  percent: 2\nrules:\n'
                      '  - {name: refs, match: structured_reference, confidence: "0.9"}\n')
    assert message.startswith("my_rules.yaml:3: tolerance.percent: 2 is not of type 'string'")


def test_a_confidence_above_one_is_refused_with_its_rule():
    message = problem('version: 1\nrules:\n  - {name: refs, match: structured_reference, confidence: "1.5"}\n')
    assert message.startswith("my_rules.yaml:3: rule 'refs': confidence:")


def test_an_unknown_match_kind_is_refused_with_its_rule():
    message = problem('version: 1\nrules:\n  - {name: guess, match: gut_feeling, confidence: "0.5"}\n')
    assert message.startswith("my_rules.yaml:3: rule 'guess': match: 'gut_feeling' is not one of")


def test_suggest_threshold_above_auto_is_refused():
    message = problem('version: 1\nthresholds:\n  auto: "0.70"\n  suggest: "0.80"\nrules:\n'
                      '  - {name: refs, match: structured_reference, confidence: "0.9"}\n')
    assert message == "my_rules.yaml:4: thresholds.suggest: suggest 0.80 is above auto 0.70"


def test_two_rules_with_one_name_are_refused():
    message = problem('version: 1\nrules:\n  - {name: refs, match: structured_reference, confidence: "0.9"}\n'
                      '  - {name: refs, match: invoice_number, confidence: "0.8"}\n')
    assert message.startswith("my_rules.yaml:4: rule 'refs': name: a second rule named 'refs'")


def test_a_setting_for_another_kind_of_rule_is_refused():
    message = problem('version: 1\nrules:\n  - {name: refs, match: structured_reference, confidence: "0.9", max_items: 5}\n')
    assert "rule 'refs': max_items: max_items is for several_invoices rules" in message


def test_a_tolerance_with_too_many_decimals_for_its_currency_is_refused():
    message = problem('version: 1\ntolerance:\n  amount: {JPY: "1.5"}\nrules:\n'
                      '  - {name: refs, match: structured_reference, confidence: "0.9"}\n')
    assert message.startswith("my_rules.yaml:3: tolerance.amount.JPY: 1.5 has more than 0 decimals")


def test_a_mapping_with_a_bad_iban_is_refused():
    message = problem('version: 1\nparties:\n  - party_id: C1\n    ibans: [NL00BANK0000000000]\nrules:\n'
                      '  - {name: refs, match: structured_reference, confidence: "0.9"}\n')
    assert message.startswith("my_rules.yaml:4: parties.0.ibans.0: invalid IBAN")


def test_yaml_that_does_not_parse_names_its_line():
    assert problem("version: 1\nrules: [\n  {name: x\n").startswith("my_rules.yaml:4: not valid YAML")


def test_several_problems_are_reported_in_one_line_with_their_count():
    with pytest.raises(RulesError) as caught:
        parse_rules('version: 1\nthresholds: {auto: 2}\nrules:\n  - {name: A, match: x, confidence: "0.9"}\n',
                    "my_rules.yaml")
    assert "\n" not in str(caught.value) and len(caught.value.problems) >= 3
    assert str(caught.value).endswith(f"(and {len(caught.value.problems) - 1} more problems)")
