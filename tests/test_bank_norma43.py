"""Norma 43 parser: the sample corpus, values read from named files, and hand-written files."""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.bank import grouped, norma43
from connectors.bank.model import BankParseError
from tests.fixtures.corpus import CORPUS_DIR, corpus_params, requires_corpus

# None of the four samples reconciles completely; what the default mode records for each (strict
# mode refuses them with the same reason):
DISCREPANT = {
    # the 33 record writes the final balance's sign code as '0' (the amounts all add up)
    "norma43/oca-l10n-spain/test.n43": "final balance sign code '0' is neither 1 (debit) nor 2 (credit)",
    "norma43/oca-l10n-spain/testmulti.n43": "final balance sign code '0' is neither 1 (debit) nor 2 (credit)",
    # the 33 record does not describe the file's movements at all
    "norma43/sequra-n43/example1.n43": "4 debits totalling 49.36 announced, the account has 0 totalling 0.00",
    # the file stops after the last movement: no 33 (so no final balance) and no 88
    "norma43/sequra-n43/example2.n43": "without its 33 end-of-account record (no final balance)",
}



def corpus(rel: str) -> Path:
    return CORPUS_DIR / rel


@pytest.mark.parametrize(("path", "expect"), corpus_params("norma43"))
def test_corpus_file(path: Path, expect: str) -> None:
    rel = path.relative_to(CORPUS_DIR).as_posix()
    assert expect != "FAIL" and norma43.detect(path.read_bytes()[:65536])
    statements = grouped(norma43.parse(path))
    assert statements
    for statement, transactions in statements:
        assert statement.format == "norma43" and statement.currency == "EUR"
        assert statement.account_iban.startswith("ES") and len(statement.account_number) == 20
        assert statement.opening_balance and statement.from_date <= statement.to_date
        assert any(DISCREPANT[rel] in d for d in statement.extra["discrepancies"])
        for tx in transactions:
            assert isinstance(tx.amount, Decimal) and tx.booking_date and tx.value_date
            assert tx.position.startswith("record 22 at line ")
        if statement.closing_balance and "example1" not in rel:
            moved = sum((t.amount for t in transactions), Decimal(0))
            assert statement.opening_balance.amount + moved == statement.closing_balance.amount
    with pytest.raises(BankParseError, match=r"record 33 at line \d+|line \d+: file ends"):
        list(norma43.parse(path, strict=True))


@requires_corpus
def test_oca_file_values() -> None:
    [(st_, txs)] = grouped(norma43.parse(corpus("norma43/oca-l10n-spain/test.n43")))
    assert st_.account_number == "00000000000000000000" and st_.account_iban == "ES8200000000000000000000"
    assert (st_.from_date, st_.to_date) == (date(2016, 2, 1), date(2016, 5, 31))
    assert st_.opening_balance.amount == Decimal("0.00")
    assert st_.closing_balance.amount == Decimal("101.96") and st_.closing_balance.date == date(2016, 5, 31)
    assert st_.extra["account_holder"] == "TECNATIVA S.L" and st_.extra["information_mode"] == "3"
    assert [t.amount for t in txs] == [Decimal("-0.03"), Decimal("-178.30"), Decimal("280.29"), Decimal("0.00")]
    fee = txs[0]
    assert (fee.booking_date, fee.value_date) == (date(2016, 5, 26), date(2016, 5, 25))
    assert fee.bank_transaction_code == "06-100" and fee.customer_reference == "5540014210128010"
    assert fee.remittance_text.startswith("COMISI")
    transfer = txs[1]
    assert transfer.customer_reference == "000975737917" and transfer.bank_transaction_code == "04-016"
    assert transfer.remittance_text == "TRANSFERENC. A TEST PARTNER N43"
    assert str(txs[3].amount) == "0.00"  # a debit of zero is not "-0.00"
    assert st_.extra["currency_equivalences"] == [
        {"position": "record 22 at line 8", "currency": "EUR", "amount": Decimal("1.00")}]


@requires_corpus
def test_multi_account_file() -> None:
    statements = grouped(norma43.parse(corpus("norma43/oca-l10n-spain/testmulti.n43")))
    assert [(s.account_number, len(t)) for s, t in statements] == [
        ("00000000000000000000", 3), ("10000000711000000000", 3)]
    assert statements[1][0].account_iban == "ES2610000000711000000000"
    assert statements[0][0].statement_id != statements[1][0].statement_id


@requires_corpus
def test_example2_without_account_end() -> None:
    [(st_, txs)] = grouped(norma43.parse(corpus("norma43/sequra-n43/example2.n43")))
    assert st_.account_iban == "ES0700814797516995216857" and st_.closing_balance is None
    assert st_.opening_balance.amount == Decimal("86145.71") and st_.extra["account_holder"] == "SEQURA WORLDWIDE S.A."
    first = txs[0]
    assert first.amount == Decimal("97.26") and first.bank_reference == "6871166755"
    assert (first.booking_date, first.value_date) == (date(2025, 3, 17), date(2025, 3, 14))
    assert first.remittance_text == "MARIA NARANJO ENFLOR A48555633617 01826874"
    assert txs[2].bank_transaction_code == "99-051" and txs[2].customer_reference == "BIZUM"


@requires_corpus
def test_example1_totals_that_do_not_match_are_reported() -> None:
    path = corpus("norma43/sequra-n43/example1.n43")
    [(st_, txs)] = grouped(norma43.parse(path))
    assert st_.opening_balance.amount == Decimal("1234.56") and len(txs) == 4
    assert st_.extra["discrepancies"] == [
        "record 33 at line 10: currency '001' differs from the 11 record's '978'",
        "record 33 at line 10: 4 debits totalling 49.36 announced, the account has 0 totalling 0.00",
        "record 33 at line 10: 2 credits totalling 9999.99 announced, the account has 4 totalling 49.36",
        "record 33 at line 10: final balance 788899999999.99 differs from initial balance 1234.56 + credits - "
        "debits = 1283.92"]
    with pytest.raises(BankParseError, match=r"example1\.n43: record 33 at line 10: currency '001' differs"):
        list(norma43.parse(path, strict=True))


# -- hand-written files ----------------------------------------------------------------------------

def r11(balance: str = "100.00", sign: str = "2", currency: str = "978", account: str = "0200051332") -> str:
    return f"1121000418{account}230101230131{sign}{int(Decimal(balance) * 100):014d}{currency}3{'HOLDER SL':<26}   "


def r22(amount: str, sign: str = "2", common: str = "04", own: str = "007", refs: str = "") -> str:
    return (f"22    0418230110230109{common}{own}{sign}{int(Decimal(amount) * 100):014d}0000012345"
            f"{refs:<28}")


def r33(debits: int, debit: str, credits: int, credit: str, final: str, sign: str = "2", currency: str = "978",
        account: str = "0200051332") -> str:
    return (f"3321000418{account}{debits:05d}{int(Decimal(debit) * 100):014d}{credits:05d}"
            f"{int(Decimal(credit) * 100):014d}{sign}{int(Decimal(final) * 100):014d}{currency}    ")


def r88(count: int) -> str:
    return f"88{'9' * 18}{count:06d}" + " " * 54


def write(tmp_path: Path, lines: list[str], encoding: str = "latin-1") -> Path:
    path = tmp_path / "in.n43"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def test_ccc_control_digits_and_iban() -> None:
    assert norma43.ccc_control_digits("2100", "0418", "0200051332") == "45"
    assert norma43.spanish_iban("21000418450200051332") == "ES9121000418450200051332"
    assert norma43.ccc_control_digits("0012", "0345", "0000067890") == "03"  # the AEB annex example (its first digit is 0)


def test_reconciled_account(tmp_path: Path) -> None:
    lines = [r11("100.00"), r22("25.50", "2", refs="REF1        FACTURA 1"), "2301" + "TRANSFERENCIA DE".ljust(38) + "PEÑA S.L.",
             "2302CONCEPTO DOS", r22("10.25", "1", "02", "015"), "240184000000000001200", r33(1, "10.25", 1, "25.50",
                                                                                       "115.25"), r88(7)]
    [(st_, (credit, debit))] = grouped(norma43.parse(write(tmp_path, lines), strict=True))
    assert st_.account_number == "21000418450200051332" and st_.account_iban == "ES9121000418450200051332"
    assert st_.statement_id == "21000418450200051332/20230101-20230131" and st_.extra["account_holder"] == "HOLDER SL"
    assert (st_.opening_balance.amount, st_.closing_balance.amount) == (Decimal("100.00"), Decimal("115.25"))
    assert credit.amount == Decimal("25.50") and credit.customer_reference == "REF1 / FACTURA 1"
    assert credit.remittance_text == "TRANSFERENCIA DE PEÑA S.L. CONCEPTO DOS"  # latin-1 bytes read right
    assert credit.bank_reference == "0000012345" and credit.bank_transaction_code == "04-007"
    assert (credit.booking_date, credit.value_date) == (date(2023, 1, 10), date(2023, 1, 9))
    assert debit.amount == Decimal("-10.25") and debit.bank_transaction_code == "02-015"
    assert st_.extra["currency_equivalences"] == [
        {"position": "record 22 at line 5", "currency": "USD", "amount": Decimal("-12.00")}]
    assert "discrepancies" not in st_.extra


def test_totals_mismatch_is_an_error_in_strict_mode(tmp_path: Path) -> None:
    lines = [r11("100.00"), r22("25.50"), r33(0, "0", 1, "25.00", "125.00"), r88(3)]
    path = write(tmp_path, lines)
    with pytest.raises(BankParseError, match=r"in\.n43: record 33 at line 3: 1 credits totalling 25\.00 announced, "
                                             r"the account has 1 totalling 25\.50"):
        list(norma43.parse(path, strict=True))
    [(st_, _)] = grouped(norma43.parse(path))
    assert st_.extra["discrepancies"] == [
        "record 33 at line 3: 1 credits totalling 25.00 announced, the account has 1 totalling 25.50",
        "record 33 at line 3: final balance 125.00 differs from initial balance 100.00 + credits - debits = 125.50"]
    assert st_.closing_balance.amount == Decimal("125.00")  # as the file gives it


def test_debit_balances_and_another_currency(tmp_path: Path) -> None:
    lines = [r11("50.00", sign="1", currency="840"), r22("20.00", "1"), r33(1, "20.00", 0, "0", "70.00", sign="1",
                                                                            currency="840"), r88(4)]
    [(st_, [tx])] = grouped(norma43.parse(write(tmp_path, lines), strict=True))
    assert st_.currency == tx.currency == "USD"
    assert (st_.opening_balance.amount, tx.amount, st_.closing_balance.amount) == (
        Decimal("-50.00"), Decimal("-20.00"), Decimal("-70.00"))


def test_record_count_may_include_the_88_record(tmp_path: Path, caplog) -> None:
    base = [r11(), r22("1.00"), r33(0, "0", 1, "1.00", "101.00")]
    for count in (3, 4):
        assert len(list(norma43.parse(write(tmp_path, [*base, r88(count)]), strict=True))) == 2
    path = write(tmp_path, [*base, r88(9)])
    assert len(list(norma43.parse(path))) == 2
    assert "end-of-file record counts 9 records, the file has 3" in caplog.text
    with pytest.raises(BankParseError, match=r"record 88 at line 4: end-of-file record counts 9 records"):
        list(norma43.parse(path, strict=True))


def test_optional_file_header_and_two_accounts(tmp_path: Path) -> None:
    lines = ["00" + "2100" + "230131" + " " * 68, r11(), r33(0, "0", 0, "0", "100.00"),
             r11(account="1234567890"), r22("5.00", "1"), r33(1, "5.00", 0, "0", "95.00", account="1234567890"), r88(5)]
    statements = grouped(norma43.parse(write(tmp_path, lines), strict=True))
    assert [(s.account_number[-10:], len(t)) for s, t in statements] == [("0200051332", 0), ("1234567890", 1)]


@pytest.mark.parametrize(("lines", "message"), [
    ([r11(), r22("1.00").replace("00000000000100", "0000000000010X")], r"record 22 at line 2: amount '0000000000010X'"),
    ([r11(), r22("1.00", sign="3")], r"record 22 at line 2: debit/credit code '3' is neither 1"),
    ([r11().replace("230101230131", "230101230231")], r"record 11 at line 1: end date '230231' is not a valid date"),
    ([r11(currency="000")], r"currency '000' is not an ISO 4217 numeric currency code"),
    ([r11(), "55" + " " * 78], r"record 55 at line 2: unknown Norma 43 record type '55'"),
    ([r11(), r22("1.00") + "X"], r"line 2: Norma 43 records are 80 characters, this one has 81"),
    ([r22("1.00")], r"record 22 at line 1: a Norma 43 file starts with an 11 account header record"),
    ([r11(), "2301TEXT WITHOUT A MOVEMENT"], r"record 23 at line 2: record without the 22 movement"),
    ([r11(), r33(0, "0", 0, "0", "100.00"), r88(2), r11()], r"record 11 at line 4: record after the 88"),
    ([r11(), r33(0, "0", 0, "0", "100.00"), r22("1.00")], r"record 22 at line 3: record outside an account"),
    ([r11().replace("0418", "04X8", 1)], r"branch code '04X8' is not numeric"),
    ([], r"no Norma 43 records"),
])
def test_malformed_input_raises_bank_parse_error_with_position(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(BankParseError, match=message):
        list(norma43.parse(write(tmp_path, lines)))


def test_detect_judges_content_only() -> None:
    assert norma43.detect((r11() + "\r\n").encode())
    assert norma43.detect(("00" + "2100" + "230131" + " " * 68 + "\r\n" + r11()).encode())
    assert not norma43.detect(b"01,SENDER,RECEIVER,230105,1200,FILE1,,,2/\n")
    assert not norma43.detect((r11() + "X" * 48).encode())  # 128 characters: not a Norma 43 record


VALID = "\r\n".join([r11("100.00"), r22("25.50", refs="REF"), "2301TEXT", r22("10.25", "1"), "240197800000000001025",
                     r33(1, "10.25", 1, "25.50", "115.25"), r88(6)]) + "\r\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.sampled_from(list("0129 AZ\n\x00ñ"))), max_size=6),
       st.integers(1, len(VALID)))
def test_damaged_input_raises_only_bank_parse_error(tmp_path: Path, edits, cut) -> None:
    text = list(VALID)
    for at, char in edits:
        text[at] = char
    path = tmp_path / "fuzz.n43"
    path.write_text("".join(text)[:cut], encoding="latin-1")
    with contextlib.suppress(BankParseError):
        list(norma43.parse(path, strict=True))
