"""BAI2 parser: the sample corpus, values read from named files, and hand-written snippets."""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.bank import bai2, grouped
from connectors.bank.model import BankParseError
from tests.fixtures.corpus import CORPUS_DIR, corpus_params, requires_corpus

# Files whose trailers do not reconcile with their records (their authors edited the records and
# left the trailers): the default mode records the difference, strict mode refuses the file.
DISCREPANT = {
    "bai2/moov-bai2/sample4-continuations-newline-delimited.txt": "control total -1260161341762",
    "bai2/moov-bai2/sample5-issue113.txt": "control total -1260161341762",
}
# Statements whose opening ledger + details == closing ledger (both balances given).
BALANCED = {"bai2/moj-bai2/svb_us_example.bai2": 2, "bai2/moov-bai2/sample3.txt": 15}
# Both ledger balances given, but the details are not the whole day's movement:
# citi reports 100.00 -> 100.00 with a 0.01 detail; in sample4/5 the closing ledger moves by the
# 400 summary (2000.00) while the details listed are other activity (returns, wires, checks).
NOT_BALANCED = {"bai2/moj-bai2/citi_example.bai2": 1, "bai2/moov-bai2/sample4-continuations-newline-delimited.txt": 1,
                "bai2/moov-bai2/sample5-issue113.txt": 1}



def corpus(rel: str) -> Path:
    return CORPUS_DIR / rel


def write(tmp_path: Path, text: str, name: str = "in.bai2") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("path", "expect"), corpus_params("bai2"))
def test_corpus_file(path: Path, expect: str) -> None:
    rel = path.relative_to(CORPUS_DIR).as_posix()
    if expect == "FAIL":
        with pytest.raises(BankParseError) as info:
            list(bai2.parse(path))
        assert info.value.file == str(path) and info.value.position
        return
    statements = grouped(bai2.parse(path))
    assert statements
    for statement, transactions in statements:
        assert statement.format == "bai2" and statement.account_number and statement.currency
        assert statement.statement_id and statement.from_date
        for tx in transactions:
            assert isinstance(tx.amount, Decimal) and tx.currency == statement.currency
            assert tx.bank_transaction_code and tx.position and tx.position.startswith("record 16 at line ")
    found = [d for s, _ in statements for d in s.extra.get("discrepancies", [])]
    if rel in DISCREPANT:
        assert any(DISCREPANT[rel] in d for d in found)
        with pytest.raises(BankParseError, match=DISCREPANT[rel]):
            list(bai2.parse(path, strict=True))
    else:
        assert found == []
        assert len(grouped(bai2.parse(path, strict=True))) == len(statements)
    balanced = unbalanced = 0
    for statement, transactions in statements:
        if statement.opening_balance and statement.closing_balance:
            moved = sum((t.amount for t in transactions), Decimal(0))
            if statement.opening_balance.amount + moved == statement.closing_balance.amount:
                balanced += 1
            else:
                unbalanced += 1
    assert balanced == BALANCED.get(rel, 0)
    assert unbalanced == NOT_BALANCED.get(rel, 0)


@requires_corpus
def test_svb_statements_balance_and_carry_the_summary() -> None:
    (first, txs1), (second, txs2) = grouped(bai2.parse(corpus("bai2/moj-bai2/svb_us_example.bai2")))
    assert first.account_number == "1234567890" and first.currency == "USD"
    assert first.opening_balance.amount == Decimal("347269.79") and first.opening_balance.kind == "010"
    assert first.closing_balance.amount == Decimal("352171.75") and first.closing_balance.date == date(2022, 2, 1)
    assert first.extra["summary"]["040"] == Decimal("327425.37")
    assert first.extra["summary"]["100"] == Decimal("4901.96")
    assert first.created_at == "2023-02-14T07:54:00"
    assert first.statement_id != second.statement_id and second.from_date == date(2022, 2, 2)
    [tx] = txs1
    assert tx.amount == Decimal("4901.96") and tx.bank_transaction_code == "142"
    assert tx.bank_reference == "172629" and tx.customer_reference is None
    assert tx.remittance_text == "SOME PAYMENT ACH OFFSET" and tx.booking_date == date(2022, 2, 1)
    assert txs2[0].amount == Decimal("9058.00")
    # The one detail is the whole day's movement: opening ledger + detail == closing ledger.
    assert first.opening_balance.amount + tx.amount == first.closing_balance.amount


@requires_corpus
def test_citi_detail_with_value_date_references_and_continued_text() -> None:
    [(statement, [tx])] = grouped(bai2.parse(corpus("bai2/moj-bai2/citi_example.bai2")))
    assert statement.currency == "GBP" and statement.account_number == "77777777"
    assert statement.opening_balance.amount == statement.closing_balance.amount == Decimal("100.00")
    assert tx.amount == Decimal("0.01")  # "001" in minor units
    assert tx.value_date == date(2015, 7, 15) and tx.booking_date == date(2015, 7, 15)
    assert tx.bank_reference == "1234567890" and tx.customer_reference == "RP12312312312312"
    assert tx.remittance_text.startswith("FR:FP SIP INCOMING ENDT:20150715 TRID:RP12312312312312")
    assert tx.remittance_text.endswith("BO:11111111 BO1:DOE JO")


@requires_corpus
def test_sample1_details_signed_by_type_code_without_closing_ledger() -> None:
    statements = grouped(bai2.parse(corpus("bai2/moov-bai2/sample1.txt")))
    assert len(statements) == 2
    first, txs = statements[0]
    assert first.currency == "CAD"
    # This file reports available balances (040/045) and totals only, no 010/015 ledger: there is no
    # balance to check the details against.
    assert first.opening_balance is None and first.closing_balance is None
    assert first.extra["summary"] == {"040": Decimal("0.00"), "045": Decimal("0.00"),
                                      "100": Decimal("2085.00"), "400": Decimal("2085.00")}
    assert len(txs) == 11
    assert (txs[0].amount, txs[0].bank_transaction_code, txs[0].remittance_text) == (
        Decimal("-25.00"), "409", "RETURNED CHEQUE")
    assert txs[0].value_date == date(2006, 3, 16)
    assert txs[3].amount == Decimal("2035.00") and txs[3].bank_transaction_code == "108"
    credits = sum(t.amount for t in txs if t.amount > 0)
    debits = -sum(t.amount for t in txs if t.amount < 0)
    assert credits == first.extra["summary"]["100"] and debits == first.extra["summary"]["400"]
    assert statements[1][0].statement_id.endswith("#2")  # the same account twice in one group


@requires_corpus
def test_sample2_funds_types_and_summaries_split_over_continuations() -> None:
    statements = grouped(bai2.parse(corpus("bai2/moov-bai2/sample2.txt")))
    by_account = {s.account_number: (s, txs) for s, txs in statements}
    assert len(by_account) == 5 and {s.currency for s, _ in statements} == {"USD"}  # blank: USD
    second, [lockbox] = by_account["9876543210"]
    # "...,190/" then "88,500000,..." and "...,040/" then "88,-1500000,,/": type code and amount
    # on different records.
    assert second.extra["summary"]["190"] == Decimal("5000.00")
    assert second.extra["summary"]["040"] == Decimal("-15000.00")
    assert lockbox.amount == Decimal("5000.00") and lockbox.remittance_text == "LOCK BOX NO.68751"  # funds S
    third, (letter, plain) = by_account["4589761203"]
    assert letter.amount == Decimal("200000.00") and letter.value_date == date(2004, 6, 22)
    assert (letter.bank_reference, letter.customer_reference) == ("SP4738", "YRC065321")
    assert letter.remittance_text == "PROCEEDS OF LETTER OF CREDIT FROM THE ARAMCO OIL CO"
    assert plain.amount == Decimal("100000.00") and plain.remittance_text is None
    distributed, txs = by_account["0975312468"]
    assert txs == [] and distributed.extra["summary"]["110"] == Decimal("700000.00")  # funds D
    assert distributed.extra["item_counts"] == {"190": 4, "110": 15}


@requires_corpus
def test_sample3_records_packed_on_one_line_and_wrapped_text() -> None:
    statements = grouped(bai2.parse(corpus("bai2/moov-bai2/sample3.txt")))
    assert len(statements) == 15
    first, txs = statements[0]
    assert (first.opening_balance.amount, first.closing_balance.amount) == (Decimal("-35.00"), Decimal("-36.00"))
    assert [t.amount for t in txs] == [Decimal(x) for x in ("25.00", "5.00", "1.00", "-25.00", "-6.00", "-1.00")]
    assert txs[1].remittance_text == "TRANSFER   MSPBNA BANK        PPD"  # second record on line 3
    wrapped = statements[7][1][0]  # its text goes on on the next line, without an 88
    assert wrapped.remittance_text == "111111     ACH_SETL           1111111111 111111111111111 1111111111"


@requires_corpus
def test_sample4_tagged_continuations_and_discrepancies() -> None:
    path = corpus("bai2/moov-bai2/sample4-continuations-newline-delimited.txt")
    statements = grouped(bai2.parse(path))
    assert len(statements) == 5
    account, txs = next((s, t) for s, t in statements if s.account_number == "104108339")
    wire = next(t for t in txs if t.bank_reference == "GI2229300000187")
    assert wire.amount == Decimal("11.25") and wire.bank_transaction_code == "195"
    assert wire.end_to_end_id == "GS0D9VGMP1IWPLW" and wire.counterparty_account == "8348572423"
    assert wire.counterparty_bic == "CITIUS30XXX" and wire.remittance_text == "Incoming Wire,-"
    out = next(t for t in txs if t.bank_reference == "GI2321400000090")
    assert out.amount == Decimal("-505.00") and out.counterparty_name == "TEST COMPANY"
    assert out.counterparty_bic == "COBADEFF"
    assert "Remittance Info: \"QWERTIOP\"" in out.remittance_text
    discrepancies = statements[1][0].extra["discrepancies"]
    assert discrepancies == [
        "record 49 at line 22: account 107049932: control total -1260161341762 does not match the sum of the "
        "account's amounts 7999960",
        "record 49 at line 22: account 107049932: trailer counts 26 records, the account has 18 (03 to 49, "
        "88s included)"]
    assert "discrepancies" not in statements[0][0].extra


@requires_corpus
def test_sample5_slashes_inside_fields() -> None:
    statements = grouped(bai2.parse(corpus("bai2/moov-bai2/sample5-issue113.txt")))
    txs = [t for _, ts in statements for t in ts]
    ach = next(t for t in txs if t.bank_reference == "SPB2322684598521")
    assert ach.customer_reference == "AB/GS/RPFILERP0001/RPBA0001"
    assert ach.end_to_end_id == "AB/GS/RPFILERP0001/RPBA0001"
    wire = next(t for t in txs if t.bank_reference == "GI2323300009168")
    assert "08/18/23 Invoice - Sample" in wire.remittance_text and wire.amount == Decimal("-300000.00")
    assert next(t for t in txs if t.bank_transaction_code == "698").amount == Decimal("-4634.62")


@requires_corpus
def test_blank_account_trailer_amount_is_not_checked() -> None:
    statements = grouped(bai2.parse(corpus("bai2/moj-bai2/account_trailer_amount_blank_example.bai2"), strict=True))
    assert [s.account_number for s, _ in statements] == ["12345", "54321"]
    assert all(s.extra["summary"] == {} and txs == [] for s, txs in statements)


@requires_corpus
def test_parse_error_sample_names_file_and_line() -> None:
    path = corpus("bai2/moov-bai2/sample-parseError.txt")
    assert not bai2.detect(path.read_bytes())
    with pytest.raises(BankParseError, match=r"sample-parseError\.txt: line 1: unknown BAI2 record code '00'"):
        list(bai2.parse(path))


# -- snippets --------------------------------------------------------------------------------------

HEADER = "01,SENDER,RECEIVER,230105,1200,FILE1,,,2/\n02,RECEIVER,BANK,1,230104,,{cur},2/\n"


def test_continuation_88_extends_detail_text_and_summary(tmp_path: Path) -> None:
    text = (HEADER.format(cur="USD")
            + "03,123456,USD,010,100000,,,015/\n88,125000,,/\n"
            + "16,195,25000,0,BANKREF,CUSTREF,FIRST PART/\n88,SECOND PART/\n88,THIRD/\n"
            + "49,250000,6/\n98,250000,1,8/\n99,250000,1,10/\n")
    [(statement, [tx])] = grouped(bai2.parse(write(tmp_path, text), strict=True))
    assert statement.closing_balance.amount == Decimal("1250.00")  # type 015 on 03, amount on the 88
    assert tx.remittance_text == "FIRST PART SECOND PART THIRD"
    assert (tx.bank_reference, tx.customer_reference, tx.amount) == ("BANKREF", "CUSTREF", Decimal("250.00"))
    assert statement.opening_balance.amount + tx.amount == statement.closing_balance.amount


def test_continuation_before_text_supplies_the_remaining_fields(tmp_path: Path) -> None:
    text = (HEADER.format(cur="USD") + "03,123456,USD/\n16,475,1234,V,230104/\n88,0930,CHK100,,PAID CHECK/\n"
            + "49,1234,4/\n98,1234,1,6/\n99,1234,1,8/\n")
    [(_, [tx])] = grouped(bai2.parse(write(tmp_path, text), strict=True))
    assert tx.amount == Decimal("-12.34") and tx.value_date == date(2023, 1, 4)
    assert tx.bank_reference == "CHK100" and tx.customer_reference is None
    assert tx.remittance_text == "PAID CHECK"


@pytest.mark.parametrize(("currency", "raw", "expected"), [
    ("USD", "12345", "123.45"), ("JPY", "12345", "12345"), ("KWD", "12345", "12.345"), ("EUR", "5", "0.05")])
def test_amounts_are_in_minor_units_of_the_currency(tmp_path: Path, currency: str, raw: str, expected: str) -> None:
    text = (HEADER.format(cur=currency) + f"03,123456,,010,{raw},,/\n16,108,{raw},Z,,,DEPOSIT/\n"
            + f"49,{int(raw) * 2},3/\n98,{int(raw) * 2},1,5/\n99,{int(raw) * 2},1,7/\n")
    [(statement, [tx])] = grouped(bai2.parse(write(tmp_path, text), strict=True))
    assert statement.currency == currency  # the group's currency when the account gives none
    assert str(statement.opening_balance.amount) == expected and str(tx.amount) == expected


@pytest.mark.parametrize(("funds", "refs"), [
    ("0", "B1,C1,TEXT"), ("1", "B1,C1,TEXT"), ("2", "B1,C1,TEXT"), ("Z", "B1,C1,TEXT"), ("", "B1,C1,TEXT"),
    ("S", "100,200,300,B1,C1,TEXT"), ("V", "230103,1015,B1,C1,TEXT"), ("D", "2,0,600,1,400,B1,C1,TEXT"),
])
def test_funds_type_changes_where_the_references_are(tmp_path: Path, funds: str, refs: str) -> None:
    text = (HEADER.format(cur="USD") + f"03,123456,USD/\n16,469,1000,{funds},{refs}\n49,1000,3/\n98,1000,1,5/\n"
            + "99,1000,1,7/\n")
    [(_, [tx])] = grouped(bai2.parse(write(tmp_path, text), strict=True))
    assert (tx.bank_reference, tx.customer_reference, tx.remittance_text) == ("B1", "C1", "TEXT")
    assert tx.amount == Decimal("-10.00")
    assert tx.value_date == (date(2023, 1, 3) if funds == "V" else None)


def test_text_may_contain_commas_and_slashes(tmp_path: Path) -> None:
    text = (HEADER.format(cur="USD") + "03,123456,USD/\n16,142,1000,Z,REF,,PAY 1/2, INV 3/4, OK\n"
            + "49,1000,3/\n98,1000,1,5/\n99,1000,1,7/\n")
    [(_, [tx])] = grouped(bai2.parse(write(tmp_path, text), strict=True))
    assert tx.remittance_text == "PAY 1/2, INV 3/4, OK" and tx.bank_reference == "REF"


def test_control_total_mismatch_is_recorded_or_refused(tmp_path: Path) -> None:
    text = (HEADER.format(cur="USD") + "03,123456,USD,010,1000,,,015,2000,,/\n16,142,1000,Z,,,X/\n"
            + "49,3999,3/\n98,3999,1,5/\n99,3999,1,7/\n")
    path = write(tmp_path, text)
    [(statement, _)] = grouped(bai2.parse(path))
    assert statement.extra["discrepancies"] == [
        "record 49 at line 5: account 123456: control total 3999 does not match the sum of the account's "
        "amounts 4000"]
    with pytest.raises(BankParseError, match=r"record 49 at line 5: account 123456: control total 3999"):
        list(bai2.parse(path, strict=True))


def test_file_trailer_record_count_is_checked_in_strict_mode(tmp_path: Path, caplog) -> None:
    text = HEADER.format(cur="USD") + "03,123456,USD/\n49,,2/\n98,,1,4/\n99,,1,7/\n"
    path = write(tmp_path, text)
    assert len(list(bai2.parse(path))) == 1
    assert "file trailer counts 7 records, the file has 6" in caplog.text
    with pytest.raises(BankParseError, match=r"record 99 at line 6: file trailer counts 7 records"):
        list(bai2.parse(path, strict=True))


@pytest.mark.parametrize(("body", "message"), [
    ("03,123456,USD/\n16,142,12A4,Z,,,X/\n49,,3/", r"record 16 at line 4: amount '12A4' is not a whole number"),
    ("03,123456,USD/\n16,705,100,Z,,,X/\n49,,3/", r"record 16 at line 4: type code '705' is not a BAI2 detail code"),
    ("03,123456,USD/\n16,142,100,Q,,,X/\n49,,3/", r"unknown funds type 'Q'"),
    ("03,123456,USD/\n16,142,100,D,9,0,1/\n49,,3/", r"funds type D announces 9 distributions"),
    ("16,142,100,Z,,,X/", r"record 16 at line 3: 16 transaction detail outside an account"),
    ("03,123456,ZZZ/\n49,,2/", r"record 03 at line 3: unknown ISO 4217 currency code 'ZZZ'"),
    ("03,123456,USD,010,1.5,,/\n49,,2/", r"amount '1.5' for type code 010 is not a whole number"),
    ("03,123456,USD/\n49,,2/\n03,123456,USD/", r"98 group trailer inside account 123456"),
    ("03,123456,USD/\n49,,2/\n77,1/", r"line 5: unknown BAI2 record code '77'"),
])
def test_malformed_input_raises_bank_parse_error_with_position(tmp_path: Path, body: str, message: str) -> None:
    text = HEADER.format(cur="USD") + body + "\n98,,1,9/\n99,,1,9/\n"
    with pytest.raises(BankParseError, match=message):
        list(bai2.parse(write(tmp_path, text)))


@pytest.mark.parametrize(("text", "message"), [
    ("01,S,R,231301,1200,F,,,2/\n", r"record 01 at line 1: file creation date '231301' is not a valid date"),
    ("01,S,R,230101,1200,F,,,3/\n", r"BAI version '3' is not supported"),
    ("02,R,B,1,230101,,USD,2/\n", r"must start with an 01 file header"),
    (HEADER.format(cur="USD") + "03,1,USD/\n49,,2/\n98,,1,4/\n", r"without the 99 file trailer"),
    ("", r"no BAI2 records"),
    ("88,CONTINUED/\n", r"line 1: 88 continuation record without a record to continue"),
    (HEADER.format(cur="USD") + "03,1,USD/\n", r"file ends inside account 1 \(no 49 account trailer\)"),
])
def test_file_structure_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BankParseError, match=message):
        list(bai2.parse(write(tmp_path, text)))


def test_detect_judges_content_only(tmp_path: Path) -> None:
    assert bai2.detect(b"01,SENDER,RECEIVER,230105,1200,FILE1,,,2/\n")
    assert bai2.detect(b"\xef\xbb\xbf01,SENDER,RECEIVER,230105,,1,,,2/")
    assert not bai2.detect(b"00,0004,1/2/345,06/0321,0829,001,80,1,2/")
    assert not bai2.detect(b":20:STATEMENT\n:25:NL91ABNA0417164300\n")
    assert not bai2.detect(b"OFXHEADER:100\n<OFX>")


VALID = (HEADER.format(cur="USD") + "03,123456,USD,010,100000,,,015,125000,,/\n"
         + "16,195,25000,V,230104,0930,BANKREF,CUSTREF,TEXT/\n88,MORE TEXT/\n49,250000,4/\n98,250000,1,6/\n"
         + "99,250000,1,8/\n")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.sampled_from(list("0129/,-+.AZ \n"))), max_size=6),
       st.integers(1, len(VALID)))
def test_damaged_input_raises_only_bank_parse_error(tmp_path: Path, edits, cut) -> None:
    text = list(VALID)
    for at, char in edits:
        text[at] = char
    path = write(tmp_path, "".join(text)[:cut], "fuzz.bai2")
    with contextlib.suppress(BankParseError):
        list(bai2.parse(path, strict=True))


FIXTURES = Path(__file__).parent / "fixtures" / "bank"


def test_bank_identifier_ids_loan_details_and_information_record() -> None:
    """A UK-style file: BIC sender/receiver ids, loan payment (721/722 credit) and disbursement (760
    debit) details, and an 890 information record that does not move the balance."""
    path = FIXTURES / "bai2_natwest_loan_info.bai2"
    assert bai2.detect(path.read_bytes())
    [(current, current_txs), (loan, loan_txs)] = grouped(bai2.parse(path, strict=True))
    assert current.extra["sender"] == "NWBKGB2L" and current.extra["receiver"] == "EXAMPLECO01"
    assert current.statement_id == "1/NWBKGB2L/2026-03-01/60161331926819" and current.currency == "GBP"
    assert [(t.bank_transaction_code, t.amount, t.status) for t in current_txs] == [
        ("195", Decimal("250.00"), "booked"), ("475", Decimal("-35.00"), "booked"), ("890", Decimal("0.00"), "info")]
    assert current_txs[2].remittance_text == "Standing order amended"
    booked = sum(t.amount for t in current_txs if t.status == "booked")
    assert current.opening_balance and current.closing_balance
    assert current.opening_balance.amount + booked == current.closing_balance.amount
    assert loan.extra["summary"] == {"701": Decimal("50000.00")} and loan.opening_balance is None
    assert [(t.bank_transaction_code, t.amount) for t in loan_txs] == [
        ("721", Decimal("120.00")), ("722", Decimal("880.00")), ("760", Decimal("-2000.00"))]


@pytest.mark.parametrize(("code", "sign"), [("720", 1), ("759", 1), ("761", -1), ("799", -1)])
def test_loan_type_code_ranges(tmp_path: Path, code: str, sign: int) -> None:
    text = f"01,A,B,260301,,1,,,2/\n02,B,A,1,260301,,USD/\n03,1,USD/\n16,{code},100,0/\n49,100,3/\n98,100,1,5/\n99,100,1,7/\n"
    [(_, [tx])] = grouped(bai2.parse(write(tmp_path, text), strict=True))
    assert tx.amount == Decimal("1.00") * sign and tx.status == "booked"


@pytest.mark.parametrize("code", ["701", "719", "700", "800", "889", "891"])
def test_status_and_unassigned_codes_are_not_details(tmp_path: Path, code: str) -> None:
    text = f"01,A,B,260301,,1,,,2/\n02,B,A,1,260301,,USD/\n03,1,USD/\n16,{code},100,0/\n49,100,3/\n98,100,1,5/\n99,100,1,7/\n"
    with pytest.raises(BankParseError, match=rf"record 16 at line 4: type code '{code}' is not a BAI2 detail code"):
        list(bai2.parse(write(tmp_path, text)))


def test_information_record_with_an_amount_keeps_it_but_stays_info(tmp_path: Path) -> None:
    text = ("01,A,B,260301,,1,,,2/\n02,B,A,1,260301,,USD/\n03,1,USD,010,500,,,015,500,,/\n16,890,700,0,,,note/\n"
            "49,1700,3/\n98,1700,1,5/\n99,1700,1,7/\n")
    [(statement, [tx])] = grouped(bai2.parse(write(tmp_path, text), strict=True))
    assert (tx.amount, tx.status) == (Decimal("7.00"), "info")
    assert statement.opening_balance and statement.closing_balance
    assert statement.opening_balance.amount == statement.closing_balance.amount
