"""Bank CSV exports read through the mappings in mappings/bank/ (connectors.bank.csv_export)."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.bank import FeedSettings, csv_export, grouped
from connectors.bank.model import BankParseError, Statement, Transaction
from ledgerlink.config import BUNDLED_MAPPINGS_DIR
from tests.fixtures.corpus import CORPUS_DIR, corpus_params, requires_corpus

SAMPLES = BUNDLED_MAPPINGS_DIR / "bank" / "samples"
DUTCH = "bank-csv/gpaulissen-dutch"
AUSTRIAN = "bank-csv/nblock-austrian"

# What each corpus file does: "parsed" (with the mapping that reads it), "FAIL" (refused: BankParseError
# naming the reason) or "no mapping" (no bank CSV mapping matches: not a bank's transaction layout, or a
# bank layout not mapped).
OUTCOMES = {
    f"{DUTCH}/Account_20190101_20200317.csv": "no mapping",  # DEGIRO broker account, not a bank export
    f"{DUTCH}/Knab_transactieoverzicht_no_lines.csv": ("parsed", "knab"),
    f"{DUTCH}/Knab_transactieoverzicht_ok.csv": ("parsed", "knab"),
    f"{DUTCH}/NL99INGB9999999999_25-11-2019_30-05-2020.csv": "no mapping",  # daily balances, no transactions
    f"{DUTCH}/ing_fail.csv": ("FAIL", "ing_nl", "rule check.same"),  # a second account in a one-account export
    f"{DUTCH}/ing_ok.csv": ("parsed", "ing_nl"),
    f"{DUTCH}/ing_ok_Mutatiesoort.csv": ("parsed", "ing_nl"),
    f"{DUTCH}/ing_ok_Mutatiesoort_Extra_Unquoted.csv": ("parsed", "ing_nl_semicolon"),
    f"{DUTCH}/transactie-historie_NL00ASNB9999999999_20220717204133.csv": ("parsed", "asn"),
    f"{DUTCH}/transactie-historie_fail.csv": ("FAIL", "asn", "rule check.same"),
    f"{AUSTRIAN}/easybank-creditcard.csv": ("parsed", "easybank"),
    f"{AUSTRIAN}/easybank-giro.csv": ("parsed", "easybank"),
    f"{AUSTRIAN}/ing-diba.csv": ("parsed", "ingdiba_at"),
    # free text over a varying number of fields (rows of 12 and 14 under a 10-column header): named columns
    f"{AUSTRIAN}/livebank.csv": ("parsed", "livebank"),
    # name no account: it is the feed's settings: account (see SETTINGS)
    f"{AUSTRIAN}/oberbank.csv": ("parsed", "oberbank"),
    f"{AUSTRIAN}/raiffeisen.csv": ("parsed", "raiffeisen_at"),
    "bank-csv/oca-bsi/debit_credit.csv": "no mapping",  # generic sheet-import fixtures, no bank's layout
    "bank-csv/oca-bsi/meta_data_separated_credit_debit.csv": "no mapping",
    "bank-csv/oca-bsi/multi_currency.csv": "no mapping",
    "bank-csv/oca-bsi/original_currency.csv": "no mapping",
    "bank-csv/oca-bsi/sample_statement_en.csv": "no mapping",
    "bank-csv/oca-bsi/statement_en.csv": "no mapping",  # PayPal activity export
}


# The account of the exports that do not name it, as a feed gives it (settings: account).
SETTINGS = {f"{AUSTRIAN}/oberbank.csv": FeedSettings(account="AT611904300234573201"),
            f"{AUSTRIAN}/raiffeisen.csv": FeedSettings(account="12345678")}
FIXTURES = Path(__file__).parent / "fixtures" / "bank"


def parse(path: Path, settings: FeedSettings | None = None) -> list[Statement | Transaction]:
    if settings is None and path.is_relative_to(CORPUS_DIR):
        settings = SETTINGS.get(path.relative_to(CORPUS_DIR).as_posix())
    return list(csv_export.parse(path, settings=settings))


def statements(records: list[Statement | Transaction]) -> list[tuple[Statement, list[Transaction]]]:
    """(statement, its transactions); grouping refuses a transaction before any statement."""
    return grouped(records)


def corpus(rel: str) -> Path:
    return CORPUS_DIR / rel


# --- every corpus file -------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "expect"), corpus_params("bank-csv"))
def test_corpus_file(path: Path, expect: str):
    rel = path.relative_to(CORPUS_DIR).as_posix()
    assert rel in OUTCOMES, f"{rel}: no expected outcome listed"
    outcome = OUTCOMES[rel]
    kind = outcome if isinstance(outcome, str) else outcome[0]
    assert (kind == "FAIL") == (expect == "FAIL")
    detected = csv_export.detect(path.read_bytes()[: 64 * 1024])
    if kind == "no mapping":
        assert not detected
        with pytest.raises(BankParseError, match="no bank CSV mapping matches this header") as exc:
            parse(path)
        assert exc.value.file == str(path) and exc.value.position == "line 1"
        return
    assert detected
    assert csv_export.match_layout(path.read_bytes()[: 64 * 1024]).name == outcome[1]
    if kind == "FAIL":
        with pytest.raises(BankParseError) as exc:
            parse(path)
        assert exc.value.file == str(path)
        assert exc.value.position and exc.value.position.startswith("line ")
        assert outcome[2] in exc.value.reason and "the file must hold one account" in exc.value.reason
        return
    groups = statements(parse(path))
    for stmt, txns in groups:
        assert stmt.format == f"csv:{outcome[1]}" and stmt.account
        assert txns and all(isinstance(t.amount, Decimal) and isinstance(t.booking_date, date) for t in txns)
        assert [t.booking_date for t in txns] == sorted(t.booking_date for t in txns)
        assert stmt.from_date == txns[0].booking_date and stmt.to_date == txns[-1].booking_date
        if stmt.opening_balance is not None:
            assert stmt.opening_balance.amount + sum(t.amount for t in txns) == stmt.closing_balance.amount
    if expect == "edge":
        assert groups == []  # the header-only Knab export
    else:
        assert groups


# --- values of named corpus files ----------------------------------------------------------------

@requires_corpus
def test_ing_comma_export_values():
    [(stmt, txns)] = statements(parse(corpus(f"{DUTCH}/ing_ok.csv")))
    assert stmt.account_number == "NL99INGB9999999999" and stmt.account_iban is None  # the sample's check digits are fake
    assert stmt.currency == "EUR" and stmt.opening_balance is None and stmt.closing_balance is None
    # the export lists the newest entry first; the statement runs oldest first
    assert [t.amount for t in txns] == [Decimal(x) for x in ("-0.31", "-0.31", "20.00", "0.00", "1.25", "-1.25")]
    costs = txns[5]
    assert costs.booking_date == date(2020, 2, 13) and costs.value_date == date(2020, 2, 13)
    assert costs.remittance_text == "1 jan t/m 31 jan 2020 ING BANK N.V. Valutadatum: 13-02-2020"
    assert costs.counterparty_name == "Kosten OranjePakket met korting" and costs.bank_transaction_code == "DV"
    transfer = txns[2]
    assert transfer.counterparty_name == "PAULISSEN G J L M"
    assert transfer.counterparty_account == "NL99ASNB9999999999" and transfer.counterparty_iban is None
    assert transfer.value_date == date(2019, 12, 13) and transfer.position == "line 5"
    # two identical entries keep their own ids (the second in the file gets -2)
    assert txns[1].position == "line 6" and txns[0].bank_reference == f"{txns[1].bank_reference}-2"


@requires_corpus
def test_ing_spellings_and_delimiters_give_the_same_transactions():
    def key(path):
        return [(t.amount, t.booking_date, t.remittance_text, t.bank_reference) for t in parse(path)
                if isinstance(t, Transaction)]
    same = key(corpus(f"{DUTCH}/ing_ok.csv"))
    assert key(corpus(f"{DUTCH}/ing_ok_Mutatiesoort.csv")) == same
    assert key(corpus(f"{DUTCH}/ing_ok_Mutatiesoort_Extra_Unquoted.csv")) == same


@requires_corpus
def test_ing_extra_column_is_reported_as_drift():
    [stmt] = [r for r in parse(corpus(f"{DUTCH}/ing_ok_Mutatiesoort_Extra_Unquoted.csv")) if isinstance(r, Statement)]
    assert any("'Extra'" in d for d in stmt.extra["drift"])


@requires_corpus
def test_knab_values():
    [(stmt, txns)] = statements(parse(corpus(f"{DUTCH}/Knab_transactieoverzicht_ok.csv")))
    assert stmt.account == "NL99KNAB9999999999" and len(txns) == 28
    first = next(t for t in txns if t.bank_reference == "B9F21PGYA068V2KD")
    assert first.amount == Decimal("-827.75") and first.booking_date == date(2019, 6, 21)
    assert first.counterparty_name == "Gert Janssen (FR)" and first.counterparty_account == "FR9999999999999999999999999"
    assert first.remittance_text == "Tresorie" and first.bank_transaction_code == "Overboeking"
    whole = next(t for t in txns if t.bank_reference == "B9F19PGFCT4Q5467")
    assert whole.amount == Decimal("2500.00") and whole.counterparty_account == "99999999"
    interest = next(t for t in txns if t.bank_reference == "B9F28INNFQ2MUC3X")
    assert interest.amount == Decimal("7.02") and interest.counterparty_name == "Knab"
    # booking date, not transaction date: entered 09-06, booked 10-06
    assert next(t for t in txns if t.bank_reference == "B9F10IP1XU000004").booking_date == date(2019, 6, 10)


@requires_corpus
def test_asn_values_and_balances():
    [(stmt, txns)] = statements(parse(corpus(f"{DUTCH}/transactie-historie_NL00ASNB9999999999_20220717204133.csv")))
    assert stmt.account == "NL00ASNB9999999999" and len(txns) == 11
    assert stmt.opening_balance.amount == Decimal("130.44") and stmt.opening_balance.currency == "EUR"
    assert stmt.closing_balance.amount == Decimal("644.24") + Decimal("-560.00")
    first = txns[0]
    assert first.bank_reference == "20220617.51392971" and first.amount == Decimal("223.77")
    assert first.counterparty_account == "NL99ASNB0000000000" and first.counterparty_name == "XXXXXXXXX Z Z Z Z"
    assert first.statement_id == "26" and first.bank_transaction_code == "NGM"
    fee = txns[2]
    assert fee.counterparty_account is None and fee.counterparty_name is None
    assert fee.remittance_text == "Kosten gebruik betaalrekening inclusief 1 betaalpas"  # single quotes removed
    booked_later = next(t for t in txns if t.bank_reference == "20220629.50139616")
    assert booked_later.booking_date == date(2022, 6, 29) and booked_later.value_date == date(2022, 6, 28)


@requires_corpus
def test_easybank_and_ing_diba_values():
    [(giro, txns)] = statements(parse(corpus(f"{AUSTRIAN}/easybank-giro.csv")))
    assert giro.account == "AT123456789012345678" and len(txns) == 10
    iban_row = next(t for t in txns if t.bank_reference == "FE/000000003")
    assert iban_row.amount == Decimal("-123.45") and iban_row.booking_date == date(2014, 1, 4)
    assert iban_row.counterparty_name == "Payment receiver" and iban_row.counterparty_account == "AT098765432109876543"
    assert iban_row.remittance_text == "Usage, specific reason"
    assert next(t for t in txns if t.bank_reference == "FE/000000005").amount == Decimal("-1001.00")
    assert next(t for t in txns if t.bank_reference == "VD/000000009").remittance_text == "Gutschrift Überweisung"
    [(card, txns)] = statements(parse(corpus(f"{AUSTRIAN}/easybank-creditcard.csv")))
    assert card.account == "12345678901" and sum(t.amount for t in txns) == Decimal("2.31")
    assert next(t for t in txns if t.bank_reference == "34567890987654321234567").remittance_text == "Someone GBP 22,89"
    [(diba, txns)] = statements(parse(corpus(f"{AUSTRIAN}/ing-diba.csv")))
    assert diba.account == "12345678001"
    assert [(t.booking_date, t.amount) for t in txns][:2] == [(date(2013, 8, 13), Decimal("10.00")),
                                                            (date(2013, 8, 27), Decimal("-1500.00"))]
    assert {t.remittance_text: t.amount for t in txns}["Kapitalertragsteuer"] == Decimal("-34.56")


@requires_corpus
def test_livebank_joins_the_text_spread_over_unnamed_fields():
    records = parse(CORPUS_DIR / AUSTRIAN / "livebank.csv")
    (statement, txs), = statements(records)
    assert statement.account_number == "12345678" and len(txs) == 6
    by_date = {t.booking_date.isoformat(): t for t in txs}
    assert by_date["2013-06-05"].amount == Decimal("5000.00") and by_date["2013-06-10"].amount == Decimal("-100.00")
    notice = by_date["2013-07-01"].remittance_text
    assert notice.startswith("Änderungsmitteilung gemäß Paragraph 29 ZaDiG") and notice.endswith("konditionenblatt")


@requires_corpus
def test_no_mapping_message_shows_the_header_with_accounts_masked():
    with pytest.raises(BankParseError) as exc:
        parse(corpus(f"{DUTCH}/Account_20190101_20200317.csv"))
    assert "Datum,Tijd,Valutadatum,Product,ISIN" in exc.value.reason
    assert "bank CSV layouts known: abnamro_tab, asn, bunq, dkb_creditcard" in exc.value.reason
    with pytest.raises(BankParseError) as exc:
        parse(corpus("bank-csv/oca-bsi/debit_credit.csv"))
    assert '("Date","Label","Amount","D/C","Balance","Partner Name","Bank Account")' in exc.value.reason


# --- running balance -----------------------------------------------------------------------------

def running_balance_files() -> list[Path]:
    files = [p for folder in ("ing_nl_semicolon", "rabobank", "abnamro_tab", "triodos", "asn")
             for p in sorted((SAMPLES / folder).glob("valid_*")) if not p.name.endswith(".jsonl")]
    corpus_asn = CORPUS_DIR / DUTCH / "transactie-historie_NL00ASNB9999999999_20220717204133.csv"
    return files + ([corpus_asn] if corpus_asn.is_file() else [])


@pytest.mark.parametrize("path", running_balance_files(), ids=lambda p: p.name)
def test_balance_continuity(path: Path):
    """previous balance + amount == balance on every row, in the statement's (date) order."""
    layout = csv_export.match_layout(path.read_bytes())
    result = layout.mapping.map_file(path)
    assert result.errors == []
    by_account: dict[str, list[dict]] = {}
    for rec in result.records():
        by_account.setdefault(rec["account"], []).append(rec)
    yielded = {stmt.account: txns for stmt, txns in statements(parse(path))}
    for account, recs in by_account.items():
        txns = yielded[account]
        if recs[0]["booking_date"] > recs[-1]["booking_date"]:
            recs = recs[::-1]  # newest first in the file
        assert [r["amount"] for r in recs] == [t.amount for t in txns]
        for prev, cur in zip(recs, recs[1:], strict=False):
            if "balance_after" in cur:
                assert prev["balance_after"] + cur["amount"] == cur["balance_after"]
            else:
                assert prev["balance_before"] + prev["amount"] == cur["balance_before"]


def test_statements_per_account_with_balances_from_the_running_balance():
    groups = statements(parse(SAMPLES / "rabobank" / "valid_two_accounts_cp1252.csv"))
    assert [(s.account_iban, s.account_bic, len(t)) for s, t in groups] == [
        ("NL44RABO0123456789", "RABONL2U", 6), ("NL61RABO0300123456", "RABONL2U", 2)]
    pay, savings = groups[0][0], groups[1][0]
    assert (pay.opening_balance.amount, pay.closing_balance.amount) == (Decimal("1000.00"), Decimal("2955.40"))
    assert (savings.opening_balance.amount, savings.closing_balance.amount) == (Decimal("0.00"), Decimal("500.42"))
    assert pay.opening_balance.date == date(2024, 1, 2) and pay.closing_balance.date == date(2024, 1, 9)
    ret = groups[0][1][2]
    assert ret.is_reversal and ret.amount == Decimal("1250.00") and ret.end_to_end_id == "HD-2024-01"
    assert ret.bank_reference == "000000000000001003"  # Volgnr


def test_newest_first_export_is_turned_round():
    [(stmt, txns)] = statements(parse(SAMPLES / "ing_nl_semicolon" / "valid_running_balance.csv"))
    assert [t.position for t in txns] == ["line 6", "line 5", "line 4", "line 3", "line 2"]
    assert (stmt.opening_balance.amount, stmt.closing_balance.amount) == (Decimal("1000.00"), Decimal("14.60"))
    assert txns[3].amount == Decimal("-2300.00") and txns[3].counterparty_iban == "DE89370400440532013000"


def test_balance_before_and_after_per_row():
    [(first, txns), (second, _)] = statements(parse(SAMPLES / "abnamro_tab" / "valid_TXT240110093000.TAB"))
    assert first.account_number == "417164300" and first.account_iban is None
    assert (first.opening_balance.amount, first.closing_balance.amount) == (Decimal("1000.00"), Decimal("2179.20"))
    assert txns[2].counterparty_name == "Woonstichting Het Dak" and txns[2].counterparty_iban == "NL44RABO0123456789"
    assert (second.opening_balance.amount, second.closing_balance.amount) == (Decimal("500.00"), Decimal("500.42"))


def test_broken_running_balance_is_refused(tmp_path):
    lines = (SAMPLES / "triodos" / "valid_iso8859_15.csv").read_bytes().split(b"\r\n")
    lines[2] = lines[2].replace(b'"2.214,60"', b'"2.214,00"')
    path = tmp_path / "triodos.csv"
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(BankParseError) as exc:
        parse(path)
    assert exc.value.file == str(path) and exc.value.position == "line 3"
    assert exc.value.reason.startswith("field balance_after, rule balance.continuity: the running balance does not "
                                       "continue: previous balance 2250.00 + amount -35.40 = 2214.60, but the balance "
                                       "is 2214.00")


# --- recognition and errors ----------------------------------------------------------------------

@pytest.mark.parametrize("sample", sorted(p for p in SAMPLES.glob("*/valid_*") if not p.name.endswith(".jsonl")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_valid_sample_is_recognised_as_its_own_layout(tmp_path, sample: Path):
    # the name says nothing: recognition is by content
    path = tmp_path / "download.txt"
    shutil.copyfile(sample, path)
    assert csv_export.match_layout(path.read_bytes()).name == sample.parent.name
    assert statements(parse(path))


@pytest.mark.parametrize("sample", sorted(p for p in SAMPLES.glob("*/record_*") if not p.name.endswith(".jsonl")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_row_errors_name_file_line_field_and_rule(sample: Path):
    with pytest.raises(BankParseError) as exc:
        parse(sample)
    assert exc.value.file == str(sample)
    assert exc.value.position and exc.value.position.startswith("line ")
    assert exc.value.reason.startswith("field ") and ", rule " in exc.value.reason
    assert f"mappings/bank/{sample.parent.name}.yaml" in exc.value.reason


def test_mapping_error_wording():
    path = SAMPLES / "ing_nl" / "record_unknown_indicator_bad_date_second_account.csv"
    with pytest.raises(BankParseError) as exc:
        parse(path)
    assert str(exc.value) == (f"{path}: line 3: field amount, rule sign: 'Onbekend' in column 'Af Bij' is not a debit "
                              "or credit indicator (Af, Bij) (ing_nl, mappings/bank/ing_nl.yaml line 37)")


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "the file is empty"),
    (b"  \r\n\r\n", "the file is empty"),
    (b"\x00\x01\x02\xff\xfe binary", "no bank CSV mapping matches this header"),
    (b"Datum;Bedrag\n01-01-2024;1,00\n", "no bank CSV mapping matches this header (Datum;Bedrag)"),
    (b'"Datum","Naam / Omschrijving","Rekening"\n', "no bank CSV mapping matches this header"),
])
def test_unreadable_files(tmp_path, content: bytes, reason: str):
    path = tmp_path / "NL99INGB9999999999_01-01-2024_31-01-2024.csv"  # an ING-looking name changes nothing
    path.write_bytes(content)
    assert not csv_export.detect(content)
    with pytest.raises(BankParseError) as exc:
        parse(path)
    assert reason in str(exc.value) and str(path) in str(exc.value)


def test_file_that_does_not_decode_is_refused(tmp_path):
    header = (SAMPLES / "bunq" / "valid_utf8.csv").read_bytes().split(b"\n")[0]
    path = tmp_path / "bunq.csv"
    path.write_bytes(header + b'\n"2024-01-02";"2024-01-02";"1,00";"NL27BUNQ2025000000";"";"Caf\xe9";"x"\n')
    with pytest.raises(BankParseError, match="cannot be read as bunq: .*cannot be decoded as utf-8-sig") as exc:
        parse(path)
    assert exc.value.file == str(path)


def test_amounts_are_decimals_never_floats():
    for stmt, txns in statements(parse(SAMPLES / "knab" / "valid_newest_first.csv")):
        assert stmt.opening_balance is None
        assert all(type(t.amount) is Decimal for t in txns)
        assert [str(t.amount) for t in txns] == ["2500.00", "-35.40", "-1250.00", "0.42"]


def test_nothing_is_yielded_when_a_later_account_is_broken(tmp_path):
    lines = (SAMPLES / "rabobank" / "valid_two_accounts_cp1252.csv").read_bytes().split(b"\r\n")
    lines[8] = lines[8].replace(b'"+500,42"', b'"+500,24"')  # the second account's last balance
    path = tmp_path / "rabo.csv"
    path.write_bytes(b"\r\n".join(lines))
    records = csv_export.parse(path)
    with pytest.raises(BankParseError, match="rule balance.continuity") as exc:
        next(records)
    assert exc.value.position == "line 9"


# --- values from the preamble and the feed's settings, cp852 -------------------------------------

def test_ing_germany_account_from_the_preamble_and_balances_from_the_running_balance():
    path = FIXTURES / "ing_de_umsatzanzeige.csv"
    assert csv_export.match_layout(path.read_bytes()).name == "ing_de"
    [(stmt, txns)] = statements(parse(path))
    assert (stmt.format, stmt.account_iban, stmt.currency) == ("csv:ing_de", "DE89370400440532013000", "EUR")
    assert stmt.opening_balance.amount == Decimal("1203.11") and stmt.opening_balance.date == date(2026, 3, 2)
    assert stmt.closing_balance.amount == Decimal("2469.11") and stmt.closing_balance.date == date(2026, 3, 31)
    # the export lists the newest first; its header is line 15, after the preamble and a note
    assert [(t.position, t.booking_date, t.amount) for t in txns] == [
        ("line 18", date(2026, 3, 2), Decimal("-950.00")), ("line 17", date(2026, 3, 30), Decimal("2300.00")),
        ("line 16", date(2026, 3, 31), Decimal("-84.00"))]
    rent = txns[0]
    assert (rent.counterparty_name, rent.bank_transaction_code, rent.remittance_text) == (
        "Vermieter GmbH", "Dauerauftrag", "Miete März")
    assert "drift" not in stmt.extra


def test_ing_germany_without_the_iban_line_or_with_a_broken_balance_is_refused(tmp_path):
    text = (FIXTURES / "ing_de_umsatzanzeige.csv").read_bytes()
    path = tmp_path / "no_iban.csv"
    path.write_bytes(text.replace(b"IBAN;DE89 3704 0044 0532 0130 00\r\n", b""))
    with pytest.raises(BankParseError, match=r"no_iban.csv: ing_de reads 'IBAN' from the lines above the header"):
        parse(path)
    path = tmp_path / "broken.csv"
    path.write_bytes(text.replace(b";2.553,11;EUR;", b";2.553,12;EUR;"))
    with pytest.raises(BankParseError, match=r"broken.csv: line 17: field balance_after, rule balance.continuity"):
        parse(path)


def test_credit_card_export_masked_card_and_signs():
    path = FIXTURES / "dkb_creditcard.csv"
    [(card, txns)] = statements(parse(path))
    assert (card.format, card.account_number, card.account_iban, card.currency) == (
        "csv:dkb_creditcard", "4930********1234", None, "EUR")
    assert [(t.booking_date, t.amount, t.remittance_text) for t in txns] == [
        (date(2026, 3, 5), Decimal("500.00"), "Einzahlung"),
        (date(2026, 3, 15), Decimal("-1130.35"), "HOTEL NEW YORK -1.234,00 USD"),
        (date(2026, 3, 20), Decimal("-23.99"), "AMAZON EU S.A R.L.")]
    assert card.opening_balance is None and "drift" not in card.extra


@requires_corpus
def test_oberbank_takes_the_account_from_the_settings_and_refuses_without():
    path = corpus(f"{AUSTRIAN}/oberbank.csv")
    with pytest.raises(BankParseError, match=r"oberbank.csv: oberbank exports do not name the holder's own account: "
                                             r"set the feed's settings: account"):
        list(csv_export.parse(path))
    [(stmt, txns)] = statements(parse(path))
    assert (stmt.account_iban, stmt.account_number, stmt.currency) == ("AT611904300234573201", None, "EUR")
    assert [t.amount for t in txns] == [Decimal(x) for x in ("-11.00", "-10.00", "-9.00", "11.00", "10.00")]
    credit, debit = txns[3], txns[0]
    # the sample's IBANs have made-up check digits: kept as account numbers, not IBANs
    assert (credit.counterparty_name, credit.counterparty_iban, credit.counterparty_account, credit.counterparty_bic) == (
        "Auftraggebername", None, "AT022050302101023601", "PBNKDEFF")
    assert debit.counterparty_name is None and debit.remittance_text.startswith("Zahlungsreferenz, Empfängername")


@requires_corpus
def test_raiffeisen_headerless_with_the_account_from_the_settings():
    [(stmt, txns)] = statements(parse(corpus(f"{AUSTRIAN}/raiffeisen.csv")))
    assert (stmt.account_number, stmt.account_iban, len(txns)) == ("12345678", None, 7)
    assert sum(t.amount for t in txns) == Decimal("-157.89")
    assert [(t.amount, t.counterparty_name) for t in txns if t.counterparty_name] == [
        (Decimal("-175.16"), "A person"), (Decimal("-100.00"), "A company"), (Decimal("123.60"), "A person")]
    elba = next(t for t in txns if t.amount == Decimal("-175.16"))
    assert elba.counterparty_name == "A person"
    assert elba.remittance_text == "ELBA-INTERNET VOM 29.06 UM 09:16 Empfänger: A person Verwendungszweck: Invoice number 10"


def test_cp852_export_is_read_in_its_code_page(tmp_path):
    header = "Buchungsdatum;Wertstellung;Betrag;Währung;Auftraggebername;Auftraggeber IBAN/Kto.Nr.;" \
             "Auftraggeber BIC/BLZ;Empfängername;Empfänger IBAN/Kto.Nr.;Empfänger BIC/BLZ;Text;Verwendungszweck"
    row = "02.03.2026;02.03.2026;1.250,00;EUR;Příkazce Dvořák;;;;;;Úhrada faktury č. 17, Łódź;Částka za září"
    path = tmp_path / "cp852.csv"
    path.write_bytes(f"{header}\r\n{row}\r\n".encode("cp852"))
    [(_, [tx])] = statements(parse(path, FeedSettings(account="AT611904300234573201")))
    assert tx.counterparty_name == "Příkazce Dvořák" and tx.amount == Decimal("1250.00")
    assert tx.remittance_text == "Úhrada faktury č. 17, Łódź Částka za září"


@pytest.mark.parametrize(("text", "encoding", "expected"), [
    ("Überweisung Gebühr Straße Öl", "cp1252", "cp1252"), ("Betrag 100 € Gebühr", "cp1252", "cp1252"),
    ("café crème brûlée", "cp1252", "cp1252"), ("Příkaz k úhradě, částka 100 Kč", "cp852", "cp852"),
    ("Płatność kartą, Łódź", "cp852", "cp852"), ("Átutalás díj, ügyfél őrizet", "cp852", "cp852"),
    ("Miete März", "cp852", "cp852"), ("plain ascii", "ascii", "utf-8"), ("Grüße", "utf-8", "utf-8"),
])
def test_detect_encoding_tells_cp852_from_cp1252(text, encoding, expected):
    from connectors.bank.text import detect_encoding

    assert detect_encoding(text.encode(encoding)) == expected


def test_settings_layout_through_bank_load_with_the_feed_settings(tmp_path, monkeypatch, capsys):
    from ledgerlink.store import Store
    from tests.fixtures.cli import run_cli

    header = "Buchungsdatum;Wertstellung;Betrag;Währung;Auftraggebername;Auftraggeber IBAN/Kto.Nr.;" \
             "Auftraggeber BIC/BLZ;Empfängername;Empfänger IBAN/Kto.Nr.;Empfänger BIC/BLZ;Text;Verwendungszweck"
    path = tmp_path / "export.csv"
    path.write_bytes(f"{header}\n02.03.2026;02.03.2026;-5,00;EUR;;;;;;;Gebühr;\n".encode("cp1252"))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"""version: 1
feeds:
  - name: oberbank_feed
    entity: bank_transaction
    parser: bank_statement
    settings: {{account: AT611904300234573201}}
    source: {{connector: folder, path: {tmp_path}}}
""", encoding="utf-8")
    monkeypatch.setenv("LEDGERLINK_FEEDS", str(feeds))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("LEDGERLINK_STORE_URL", url)
    ran = run_cli(capsys, "bank", "load", "oberbank_feed", str(path))
    assert ran.returncode == 0, ran.stderr
    [record] = Store(url).current_records("bank_transaction")
    assert (record["payload"]["account"], record["payload"]["amount"]) == ("AT611904300234573201", "-5.00")


@requires_corpus
def test_a_cp852_statement_in_the_corpus_is_read_with_its_letters():
    """Raiffeisen Hungary's MT940 sample is in cp852: read as cp1252 its accented letters would come out
    as symbols ("j¢v ¡r sa")."""
    from connectors.bank import parse as parse_any
    from connectors.bank.text import detect_encoding, read_head

    path = CORPUS_DIR / "mt940" / "wolph-mt940" / "raiffeisen-cmi.sta"
    assert detect_encoding(read_head(path)) == "cp852"
    texts = [r.remittance_text for r in parse_any(path) if isinstance(r, Transaction) and r.remittance_text]
    assert any("napi összevont utánvét" in t for t in texts)
