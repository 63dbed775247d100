"""Money checked against its currency on every input path, and sums that cannot round."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.bank import Balance, BankParseError, BatchDetail, Statement, Transaction, camt, checked, parse
from ledgerlink.bank.canonical import balance_difference
from ledgerlink.errors import ControlTotalsError
from ledgerlink.mapping import load_mapping
from ledgerlink.model.money import MoneyError, check_amount, exact_sum, significant_digits
from ledgerlink.pipeline.control import ControlTotals, Totals
from tests.fixtures.camt import camt053, entry

DAY = dt.date(2026, 3, 2)
HUGE = Decimal(10) ** 30
CENT = Decimal("0.01")


# --- check_amount / exact_sum ----------------------------------------------------------------

@pytest.mark.parametrize(("amount", "currency", "expected"), [
    ("12.5", "EUR", "12.50"), ("1200", "JPY", "1200"), ("1.234", "KWD", "1.234"), ("-0.05", "EUR", "-0.05"),
    ("1234567890123456.78", "EUR", "1234567890123456.78"),      # 18 digits: the most ISO 20022 allows
    ("12345678901234567.00", "EUR", "12345678901234567.00"),  # 17 digits: fraction zeros do not count
])
def test_check_amount_accepts(amount, currency, expected):
    assert format(check_amount(Decimal(amount), currency), "f") == expected


@pytest.mark.parametrize(("amount", "currency", "kind", "message"), [
    ("100.50", "JPY", "precision", "100.50 has more than 0 decimals, too many for JPY"),
    ("1.0001", "KWD", "precision", "more than 3 decimals"),
    ("12345678901234567.89", "EUR", "digits", "19 significant digits, more than the 18 an ISO 20022 amount may "
                                              "have (TotalDigits 18)"),
    ("1", "XAU", "currency", "has no minor unit"),
    ("1", "EURO", "currency", "not an ISO 4217 currency code"),
    ("1", "eur", "currency", "not an ISO 4217 currency code"),
    ("NaN", "EUR", "amount", "is not a number"),
])
def test_check_amount_refuses(amount, currency, kind, message):
    with pytest.raises(MoneyError, match=re.escape(message)) as info:
        check_amount(Decimal(amount), currency)
    assert info.value.kind == kind


def test_check_amount_refuses_floats():
    with pytest.raises(MoneyError, match="not a Decimal"):
        check_amount(1.5, "EUR")  # type: ignore[arg-type]


def test_significant_digits_count_like_xml_schema_total_digits():
    assert [significant_digits(Decimal(t)) for t in ("1200.50", "0.05", "0", "1E+3", "-123.00")] == [5, 1, 1, 4, 3]


def test_the_default_context_rounds_a_sum_exact_sum_does_not():
    assert sum([HUGE, CENT], Decimal(0)) == HUGE          # what a plain sum does: the cent is gone
    assert format(exact_sum([HUGE, CENT]), "f") == "1000000000000000000000000000000.01"


def test_exact_sum_refuses_a_sum_it_cannot_hold():
    with pytest.raises(MoneyError, match="cannot be computed exactly") as info:
        exact_sum([Decimal(10) ** 90, CENT])
    assert info.value.kind == "digits"


# --- sums: control totals and statement balances ---------------------------------------------

def test_control_totals_see_a_cent_next_to_a_huge_amount():
    """read 10^30 + 0.01 EUR, loaded only 10^30: a rounding sum made both 10^30 and let it pass."""
    totals = ControlTotals()
    totals.read.add_many([("EUR", HUGE), ("EUR", CENT)])
    totals.loaded.add("EUR", HUGE)
    totals.quarantined.count = 1
    totals.quarantined.unparsed = 1
    totals.read.unparsed = 1
    with pytest.raises(ControlTotalsError, match="control totals do not add up"):
        totals.check("run 1")
    assert totals.read.as_dict()["amounts"] == {"EUR": "1000000000000000000000000000000.01"}


def test_totals_added_together_stay_exact():
    a, b = Totals(), Totals()
    a.add("EUR", HUGE)
    b.add("EUR", CENT)
    assert (a + b).amounts["EUR"] - HUGE == CENT


def test_statement_balance_check_sees_the_cent():
    statement = Statement(format="camt.053.001.08", currency="EUR",
                          opening_balance=Balance(HUGE, "EUR"), closing_balance=Balance(HUGE, "EUR"))
    assert balance_difference(statement, [Transaction(CENT, "EUR")]) == -CENT


# --- bank files: one check for every parser --------------------------------------------------

def _camt(tmp_path: Path, amount: str, currency: str = "EUR") -> Path:
    xml = camt053(DAY, Decimal(0), [(entry(amount, DAY, "R1"), Decimal(amount))], closing=Decimal(0))
    xml = xml.replace('Ccy="EUR"', f'Ccy="{currency}"').replace("<Ccy>EUR</Ccy>", f"<Ccy>{currency}</Ccy>")
    path = tmp_path / "statement.xml"
    path.write_text(xml, encoding="utf-8")
    return path


@pytest.mark.parametrize(("amount", "currency", "reason"), [
    ("100.50", "JPY", "amount: 100.50 has more than 0 decimals, too many for JPY"),
    ("12345678901234567.89", "EUR", "amount: amount 12345678901234567.89 has 19 significant digits, more than the "
                                    "18 an ISO 20022 amount may have (TotalDigits 18)"),
])
def test_bank_amount_that_does_not_fit_its_currency_is_refused_with_its_xpath(tmp_path, amount, currency, reason):
    path = _camt(tmp_path, amount, currency)
    assert len(list(camt.parse(path))) == 2  # the format reader alone lets it through
    with pytest.raises(BankParseError) as info:
        list(parse(path))
    assert info.value.position == "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]"
    assert info.value.reason == reason
    assert str(info.value).startswith(f"{path}: /Document/BkToCstmrStmt/Stmt[1]/Ntry[1]: amount: ")


def test_bank_amount_that_fits_passes(tmp_path):
    records = list(parse(_camt(tmp_path, "1500", "JPY")))
    assert [r.amount for r in records if isinstance(r, Transaction)] == [Decimal("1500")]


def test_bank_check_covers_balances_currencies_and_batch_details():
    def refusal(*records) -> BankParseError:
        with pytest.raises(BankParseError) as info:
            list(checked(records, "f.sta"))
        return info.value

    ok = Statement(format="mt940", currency="EUR", position="line 1")
    err = refusal(Statement(format="mt940", currency="EUX", position="line 1"))
    assert (err.position, err.reason) == ("line 1", "statement currency: unknown ISO 4217 currency code 'EUX'")
    err = refusal(Statement(format="mt940", position="line 3", closing_balance=Balance(Decimal("1.5"), "JPY")))
    assert (err.position, err.reason) == ("line 3", "closing balance: 1.5 has more than 0 decimals, too many for JPY")
    batch = Transaction(Decimal("10.00"), "EUR", position="line 7",
                        batch=[BatchDetail(amount=Decimal("4.00")), BatchDetail(amount=Decimal("6.001"))])
    err = refusal(ok, batch)
    assert (err.position, err.reason) == ("line 7", "batch detail 2 amount: 6.001 has more than 2 decimals, "
                                                    "too many for EUR")


# --- mapped money fields ---------------------------------------------------------------------

MAPPING = textwrap.dedent("""\
    version: 1
    entity: invoice
    source: {format: csv, delimiter: ";", decimal: ","}
    key: [invoice_number]
    fields:
      invoice_number: {from: Nr, required: true}
      direction: {value: payable}
      vendor_id: {value: V1}
      status: {value: open}
      currency: {from: Valuta, type: currency}
      amount_incl_tax: {from: Bedrag, type: money, currency: currency}
    """)


@pytest.mark.parametrize("filler", [0, 200], ids=["scalar", "columnar"])
def test_mapped_money_rules(tmp_path, filler):
    """Each refusal has its rule; with many good rows around them the columnar path decides too."""
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    rows = [f"G{i};EUR;{i},50" for i in range(filler)]
    rows += ["J1;JPY;1200,50", "J2;JPY;1200", "D1;EUR;1234567890123456789,00", "D2;EUR;1234567890123456,78",
             "C1;;12,00", "K1;KWD;1,0001"]
    src = tmp_path / "s.csv"
    src.write_text("Nr;Valuta;Bedrag\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = load_mapping(tmp_path / "m.yaml").map_file(src)
    errors = {(e.raw["Nr"], e.field, e.rule) for e in result.errors}
    assert errors == {("J1", "amount_incl_tax", "type.money.precision"), ("D1", "amount_incl_tax", "type.money.digits"),
                      ("C1", "amount_incl_tax", "type.money.currency"),
                      ("K1", "amount_incl_tax", "type.money.precision")}
    kept = dict(zip(result.frame["invoice_number"], result.frame["amount_incl_tax"], strict=True))
    assert (kept["J2"], kept["D2"], len(kept)) == ("1200", "1234567890123456.78", filler + 2)
    digits = next(e for e in result.errors if e.rule == "type.money.digits")
    assert "19 significant digits" in digits.message and "TotalDigits 18" in digits.message


def test_bank_amount_without_a_currency_is_left_to_the_mapping_but_its_digits_are_checked():
    bare = Transaction(Decimal("-10.00"), "", position="line 1")
    assert list(checked([bare], "f.sta")) == [bare]
    with pytest.raises(BankParseError, match="line 1: amount: amount 12345678901234567890 has 20 significant"):
        list(checked([Transaction(Decimal("12345678901234567890"), "", position="line 1")], "f.sta"))


@pytest.mark.parametrize(("amount", "reason"), [
    ("6.001", "amount: 6.001 has more than 2 decimals, too many for EUR"),
    ("12345678901234567.89", "amount: amount 12345678901234567.89 has 19 significant digits, more than the "
                             "18 an ISO 20022 amount may have (TotalDigits 18)"),
    ("NaN", "amount: amount NaN is not a number"),
])
def test_bank_check_still_refuses_an_amount_after_good_ones_in_the_same_currency(amount, reason):
    good = [Transaction(Decimal(a), "EUR", position=f"line {i}") for i, a in enumerate(("1.00", "-2.50", "7"), 1)]
    assert list(checked(good, "f.sta")) == good
    with pytest.raises(BankParseError) as info:
        list(checked([*good, Transaction(Decimal(amount), "EUR", position="line 9")], "f.sta"))
    assert (info.value.position, info.value.reason) == ("line 9", reason)
