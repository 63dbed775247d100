"""Money and bank identifiers."""

from decimal import Decimal

import pytest

from ledgerlink.model.entities import ENTITIES, schema_errors, validator
from ledgerlink.model.identifiers import IdentifierError, normalize_bic, normalize_iban
from ledgerlink.model.money import Money, MoneyError, currency_exponent, format_amount, parse_amount


@pytest.mark.parametrize(("code", "exponent"), [("EUR", 2), ("JPY", 0), ("KWD", 3), ("USD", 2), ("BHD", 3)])
def test_currency_exponent_follows_iso_4217(code, exponent):
    assert currency_exponent(code) == exponent


def test_unknown_currency_is_refused_with_its_code():
    with pytest.raises(MoneyError, match="'ZZZ'"):
        Money(Decimal("1"), "ZZZ")


def test_money_is_quantised_to_the_currency_exponent():
    assert str(Money(Decimal("12.5"), "EUR").amount) == "12.50"
    assert str(Money(Decimal("1000"), "JPY").amount) == "1000"
    assert str(Money(Decimal("1.2"), "KWD").amount) == "1.200"


def test_money_refuses_to_drop_digits():
    with pytest.raises(MoneyError, match="more than 2 decimals"):
        Money(Decimal("1.005"), "EUR")
    with pytest.raises(MoneyError, match="more than 0 decimals"):
        Money(Decimal("1.5"), "JPY")
    assert Money(Decimal("1.500"), "EUR").amount == Decimal("1.50")


def test_money_refuses_floats_and_mixed_currencies():
    with pytest.raises(MoneyError, match="float"):
        Money(1.1, "EUR")  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match="cannot combine"):
        Money(Decimal(1), "EUR") + Money(Decimal(1), "USD")
    assert (Money(Decimal("0.10"), "EUR") + Money(Decimal("0.20"), "EUR")).amount == Decimal("0.30")


@pytest.mark.parametrize(("text", "decimal", "thousands", "expected"), [
    ("1.234,56", ",", ".", "1234.56"),
    ("-12,50", ",", ".", "-12.50"),
    ("1,234.56", ".", ",", "1234.56"),
    (" 7 ", ".", None, "7"),
])
def test_parse_amount(text, decimal, thousands, expected):
    assert parse_amount(text, decimal=decimal, thousands=thousands) == Decimal(expected)


@pytest.mark.parametrize("text", ["12,3x", "", "1.2.3", "--1", "1e5"])
def test_parse_amount_rejects_garbage(text):
    with pytest.raises(MoneyError):
        parse_amount(text, decimal=",", thousands=".")


def test_format_amount_has_no_negative_zero():
    assert format_amount(Decimal("-0.00")) == "0.00"
    assert format_amount(Decimal("-12.50")) == "-12.50"


def test_iban_comes_out_in_electronic_form():
    assert normalize_iban(" nl91 abna 0417 1643 00 ") == "NL91ABNA0417164300"
    with pytest.raises(IdentifierError, match="checksum"):
        normalize_iban("NL91ABNA0417164301")
    assert normalize_bic("abnanl2a") == "ABNANL2A"
    with pytest.raises(IdentifierError):
        normalize_bic("ABN")


@pytest.mark.parametrize("entity", ENTITIES)
def test_entity_schemas_are_valid_2020_12(entity):
    v = validator(entity)
    assert v.schema["$schema"].endswith("2020-12/schema")


def test_invoice_schema_requires_the_party_of_its_direction():
    base = {"invoice_number": "F1", "currency": "EUR", "amount_incl_tax": "1.00", "status": "open"}
    assert [e[:2] for e in schema_errors("invoice", {**base, "direction": "payable"})] == [("vendor_id", "schema.required")]
    assert [e[:2] for e in schema_errors("invoice", {**base, "direction": "receivable"})] == [("customer_id", "schema.required")]
    assert schema_errors("invoice", {**base, "direction": "payable", "vendor_id": "V1"}) == []




REQUEST = {"request_id": "a" * 64, "invoice_number": "F-1", "vendor_id": "C1001", "platform": "scf",
           "amount": "1200.50", "currency": "EUR", "status": "pending", "maturity_date": "2026-03-31"}


@pytest.mark.parametrize("change", [
    {}, {"amount": "12,50"}, {"currency": "eur"}, {"status": "lost"}, {"maturity_date": "2026-02-30"},
    {"request_id": "a" * 65}, {"vendor_id": 1001}, {"vendor_id": True}, {"extra": "x"}, {"invoice_number": None},
    {"invoice_number": ""}, {"amount": 12}, {"platform": ["scf"]}, {"amount": "1.2345"},
])
def test_schema_messages_are_the_validators_own(change):
    from ledgerlink.model.entities import schema_messages

    record = {**REQUEST, **change}
    expected = [e.message for e in validator("financing_request").iter_errors(record)]
    assert schema_messages("financing_request", record) == expected
    assert schema_messages("financing_request", record) == expected  # the second time from the cache
    assert bool(expected) == bool(change)


@pytest.mark.parametrize("change", [{"request_id": "é" * 64}, {"amount": "12.50\n"}, {"amount": "١٢.٥"}])
def test_schema_messages_accept_what_the_validator_accepts(change):
    from ledgerlink.model.entities import schema_messages

    record = {**REQUEST, **change}
    assert [e.message for e in validator("financing_request").iter_errors(record)] == []
    assert schema_messages("financing_request", record) == []


def test_schema_messages_name_a_missing_field():
    from ledgerlink.model.entities import schema_messages

    record = {k: v for k, v in REQUEST.items() if k != "currency"}
    assert schema_messages("financing_request", record) == ["'currency' is a required property"]


def test_amounts_in_minor_units_and_others_are_checked_alike():
    from ledgerlink.model.money import check_amount

    assert check_amount(Decimal("12.50"), "EUR") == Decimal("12.50")
    assert str(check_amount(Decimal("12.5"), "EUR")) == "12.50"
    assert str(check_amount(Decimal("1200"), "JPY")) == "1200"
    with pytest.raises(MoneyError, match="more than 0 decimals"):
        check_amount(Decimal("12.50"), "JPY")
    with pytest.raises(MoneyError, match="significant digits"):
        check_amount(Decimal("1234567890123456789.00"), "EUR")
    with pytest.raises(MoneyError, match="significant digits"):
        check_amount(Decimal("1E+19"), "EUR")
