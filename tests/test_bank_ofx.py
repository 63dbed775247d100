"""OFX parser: the sample corpus, values read from named files, and hand-written snippets."""

from __future__ import annotations

import contextlib
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.bank import grouped, ofx
from connectors.bank.model import BankParseError
from tests.fixtures.corpus import CORPUS_DIR, corpus_params, requires_corpus

# What each FAIL file is refused for, and the server errors quoted for the two "edge" responses
# that carry an error instead of a statement.
REFUSED = {
    "ofx/oca-bsi/test_ofx_wrong.ofx": r"<STMTRS> at line 21: STMTRS has no BANKACCTFROM",
    "ofx/ofxparse/date_missing.ofx": r"<STMTTRN> at line 33: STMTTRN/DTPOSTED \(the booking date\) is missing",
    "ofx/ofxparse/decimal_error.ofx": r"<STMTTRN> at line 34: STMTTRN/TRNAMT '\$120' is not an amount",
    "ofx/ofxparse/empty_balance.ofx": r"<LEDGERBAL> at line 37: LEDGERBAL/BALAMT is missing or empty",
    "ofx/ofxparse/error_message.ofx": r"<STATUS> at line 22: the OFX server answered with an error instead of a "
                                      r"statement: 'General Server Error' \(code 2000, severity ERROR\)",
    "ofx/ofxparse/signon_fail.ofx": r"<STATUS> at line 11: the OFX server refused the sign-on: 'Your request "
                                    r"could not be processed .* \(code 15500, severity ERROR\)",
}
# Files that truly contain no statement (a sign-on reply, an account list, an empty <OFX>).
NO_STATEMENT = {"ofx/ofxparse/account_listing_aggregation.ofx", "ofx/ofxparse/bank_small.ofx",
                "ofx/ofxparse/signon_success.ofx", "ofx/ofxparse/signon_success_no_message.ofx"}
INVESTMENT = {"fidelity-savings.ofx", "fidelity.ofx", "investment_401k.ofx", "investment_medium.ofx",
              "td_ameritrade.ofx", "tiaacref.ofx", "vanguard.ofx", "vanguard401k.ofx"}



def corpus(rel: str) -> Path:
    return CORPUS_DIR / rel


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "in.ofx"
    path.write_text(text, encoding=encoding)
    return path


@pytest.mark.parametrize(("path", "expect"), corpus_params("ofx"))
def test_corpus_file(path: Path, expect: str) -> None:
    rel = path.relative_to(CORPUS_DIR).as_posix()
    assert ofx.detect(path.read_bytes()[:65536])
    if rel in REFUSED:
        assert expect in ("FAIL", "edge")
        with pytest.raises(BankParseError, match=REFUSED[rel]) as info:
            list(ofx.parse(path))
        assert info.value.file == str(path)
        return
    assert expect != "FAIL"
    statements = grouped(ofx.parse(path))
    assert (statements == []) == (rel in NO_STATEMENT)
    for statement, transactions in statements:
        assert statement.format == "ofx" and statement.account_number and statement.statement_id
        assert statement.opening_balance is None  # OFX has none
        if path.name in INVESTMENT:
            assert statement.extra["statement_type"] == "investment" and transactions == []
            assert statement.closing_balance is None
        for tx in transactions:
            assert isinstance(tx.amount, Decimal) and tx.booking_date and tx.currency
            assert tx.position.startswith("<STMTTRN> at line ")


@requires_corpus
def test_sgml_bank_statement() -> None:
    [(st_, txs)] = grouped(ofx.parse(corpus("ofx/ofxparse/bank_medium.ofx")))
    assert st_.account_number == "12300 000012345678" and st_.currency == "CAD"
    assert st_.extra["bank_id"] == "160000100" and st_.extra["account_type"] == "CHECKING"
    assert (st_.from_date, st_.to_date) == (date(2009, 4, 1), date(2009, 5, 23))
    assert st_.closing_balance.amount == Decimal("382.34") and st_.closing_balance.date == date(2009, 5, 23)
    assert st_.extra["available_balance"] == {"amount": Decimal("682.34"), "date": date(2009, 5, 23)}
    assert len(txs) == 3
    first = txs[0]
    assert first.amount == Decimal("-6.60") and first.booking_date == date(2009, 4, 1)
    assert first.counterparty_name == "MCDONALD'S #112" and first.bank_reference == "0000123456782009040100001"
    assert first.remittance_text == "POS MERCHANDISE;MCDONALD'S #112" and first.bank_transaction_code == "POS"
    assert txs[1].customer_reference is None  # CHECKNUM 0


@requires_corpus
def test_sgml_with_indentation_and_check_number() -> None:
    [(st_, txs)] = grouped(ofx.parse(corpus("ofx/ofxparse/checking.ofx")))
    assert st_.account_number == "1452687~7" and st_.created_at == "2013-05-25T22:57:31"
    check = txs[2]
    assert check.customer_reference == "319" and check.amount == Decimal("-25.00")
    assert check.remittance_text == "RETURNED CHECK FEE, CHECK # 319 FOR $45.33 ON 04/07/11"
    assert txs[0].amount == Decimal("0.01") and txs[0].bank_transaction_code == "CREDIT"


@requires_corpus
def test_xml_bank_and_credit_card_statements() -> None:
    path = corpus("ofx/oca-bsi/test_ofx.ofx")
    assert ofx._is_wellformed_xml(path)  # read by the hardened XML parser
    (bank, txs), (card, card_txs) = grouped(ofx.parse(path))
    assert bank.extra["statement_type"] == "bank" and card.extra["statement_type"] == "creditcard"
    assert bank.account_number == "123456" and bank.account_iban is None and bank.currency == "USD"
    assert bank.created_at == "2013-08-31T16:51:53-08:00"
    assert bank.to_date == date(2013, 8, 31) and bank.closing_balance.amount == Decimal("2156.56")
    assert [t.amount for t in txs] == [Decimal("-80.00"), Decimal("-90.00"), Decimal("-100.00"), Decimal("-90.00")]
    assert str(txs[0].amount) == "-80.00"  # "-80" given with the currency's decimals
    assert [t.counterparty_name for t in txs] == ["Agrolait", "China Export", "Axelor Scuba", "China Scuba"]
    assert txs[0].bank_reference == "219378" and txs[0].booking_date == date(2013, 8, 24)
    assert card.account_number == "123412341234" and card_txs == []
    assert card.closing_balance.amount == Decimal("-562.00")


@requires_corpus
def test_ofx2_header_over_sgml_body_falls_back_to_sgml() -> None:
    path = corpus("ofx/ofxparse/anzcc.ofx")
    assert not ofx._is_wellformed_xml(path)
    [(card, [tx])] = grouped(ofx.parse(path))
    assert card.extra["statement_type"] == "creditcard" and card.currency == "AUD"
    assert card.closing_balance.amount == Decimal("-123.45") and card.closing_balance.date == date(2017, 5, 10)
    assert tx.amount == Decimal("-5.50") and tx.value_date == date(2017, 5, 8)  # DTUSER
    assert tx.remittance_text == "SOME MEMO" and tx.counterparty_name is None


@requires_corpus
def test_cdata_and_multiple_accounts() -> None:
    [(_, [tx])] = grouped(ofx.parse(corpus("ofx/ofxparse/suncorp.ofx")))
    assert tx.counterparty_name == "EFTPOS WDL HANDYWAY ALDI STORE"
    assert tx.remittance_text == "EFTPOS WDL HANDYWAY ALDI STORE   GEELONG WEST VICAU"
    statements = grouped(ofx.parse(corpus("ofx/ofxparse/multiple_accounts.ofx")))
    assert [(s.account_number, s.extra["account_type"], s.closing_balance.amount) for s, _ in statements] == [
        ("9100", "CHECKING", Decimal("111.00")), ("9200", "SAVINGS", Decimal("222.00"))]
    assert statements[0][0].statement_id == "9100/2012-06-03"


@requires_corpus
def test_empty_tags_in_ofx_102() -> None:
    [(st_, [tx])] = grouped(ofx.parse(corpus("ofx/ofxparse/ofx-v102-empty-tags.ofx")))
    assert st_.currency is None and st_.closing_balance is None  # CURDEF and LEDGERBAL are empty
    assert st_.account_number == "12345678" and "account_type" not in st_.extra
    assert tx.amount == Decimal("12.34") and tx.currency == "AUD"  # CURRENCY/CURSYM
    assert tx.bank_reference is None and tx.counterparty_name is None and tx.customer_reference is None
    assert tx.remittance_text == "CBA:Transfer" and tx.bank_transaction_code == "CREDIT"


@requires_corpus
def test_investment_statement_header_only() -> None:
    [(st_, txs)] = grouped(ofx.parse(corpus("ofx/ofxparse/fidelity.ofx")))
    assert txs == [] and st_.account_number == "01234567890" and st_.currency == "USD"
    assert st_.extra == {"statement_type": "investment", "broker_id": "fidelity.com",
                         "trnuid": "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0", "investment_transactions_not_imported": 17}
    assert (st_.from_date, st_.to_date) == (date(2012, 7, 10), date(2012, 9, 8))


# -- snippets --------------------------------------------------------------------------------------

SGML_HEADER = ("OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\nCHARSET:1252\n"
               "COMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n")


def sgml(transactions: str, balance: str = "<LEDGERBAL><BALAMT>10.00<DTASOF>20230131</LEDGERBAL>",
         account: str = "<BANKACCTFROM><BANKID>123<ACCTID>999<ACCTTYPE>CHECKING</BANKACCTFROM>") -> str:
    return (SGML_HEADER + "<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>"
            "<DTSERVER>20230131<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1>\n<BANKMSGSRSV1><STMTTRNRS><TRNUID>1"
            "<STATUS><CODE>0<SEVERITY>INFO</STATUS>\n<STMTRS><CURDEF>EUR" + account
            + "\n<BANKTRANLIST><DTSTART>20230101<DTEND>20230131\n" + transactions + "\n</BANKTRANLIST>" + balance
            + "</STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n")


def trn(amount: str = "-1.00", posted: str = "20230105", extra: str = "") -> str:
    return f"<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>{posted}<TRNAMT>{amount}<FITID>F1{extra}</STMTTRN>"


def test_sgml_empty_elements_without_end_tags(tmp_path: Path) -> None:
    text = sgml("<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20230105<TRNAMT>-2.50<FITID><NAME>SHOP<MEMO></STMTTRN>")
    [(_, [tx])] = grouped(ofx.parse(write(tmp_path, text)))
    assert tx.counterparty_name == "SHOP" and tx.bank_reference is None and tx.remittance_text is None
    assert tx.amount == Decimal("-2.50")


@pytest.mark.parametrize(("value", "expected"), [
    ("20230101", date(2023, 1, 1)), ("20230101120000", date(2023, 1, 1)),
    ("20230101120000.000", date(2023, 1, 1)), ("20230101120000.000[-5:EST]", date(2023, 1, 1)),
    ("20231231235959.123[+5.30:IST]", date(2023, 12, 31)), ("20230101120000.000[-:EST]", date(2023, 1, 1)),
    ("20230101120000[0:GMT]", date(2023, 1, 1)), ("202301011200", date(2023, 1, 1)),
    ("20230101093914:014", date(2023, 1, 1))])
def test_date_formats(tmp_path: Path, value: str, expected: date) -> None:
    [(_, [tx])] = grouped(ofx.parse(write(tmp_path, sgml(trn(posted=value)))))
    assert tx.booking_date == expected


@pytest.mark.parametrize("value", ["20230231", "2023010", "20231301", "20230101250000", "2023-01-01", "yesterday",
                                   "20230101120000[-5:EST"])
def test_invalid_dates_name_the_field(tmp_path: Path, value: str) -> None:
    with pytest.raises(BankParseError, match=r"<STMTTRN> at line \d+: STMTTRN/DTPOSTED"):
        list(ofx.parse(write(tmp_path, sgml(trn(posted=value)))))


@pytest.mark.parametrize(("value", "expected"), [("12,50", "12.50"), ("-0.5", "-0.50"), ("+7", "7.00"),
                                                 (".25", "0.25"), ("1.234", "1.234")])
def test_amounts_are_decimal(tmp_path: Path, value: str, expected: str) -> None:
    [(_, [tx])] = grouped(ofx.parse(write(tmp_path, sgml(trn(amount=value)))))
    assert isinstance(tx.amount, Decimal) and str(tx.amount) == expected


@pytest.mark.parametrize("value", ["1,234.56", "1.2.3", "12e3", "NaN", "$5", "--1", "1,2,3"])
def test_invalid_amounts_name_the_field(tmp_path: Path, value: str) -> None:
    with pytest.raises(BankParseError, match=r"STMTTRN/TRNAMT"):
        list(ofx.parse(write(tmp_path, sgml(trn(amount=value)))))


def test_statement_fields_and_counterparty_account(tmp_path: Path) -> None:
    account = "<BANKACCTFROM><BANKID>BANK<ACCTID>NL91 ABNA 0417 1643 00<ACCTTYPE>CHECKING</BANKACCTFROM>"
    extra = ("<NAME>Fallback<PAYEE><NAME>ACME</PAYEE><MEMO>Invoice 42 &amp; 43<CHECKNUM>0012"
             "<DTUSER>20230104<DTAVAIL>20230106<BANKACCTTO><BANKID>X<ACCTID>DE89370400440532013000</BANKACCTTO>")
    text = sgml(trn(extra=extra), account=account)
    [(st_, [tx])] = grouped(ofx.parse(write(tmp_path, text)))
    assert st_.account_iban == "NL91ABNA0417164300" and st_.account_number == "NL91 ABNA 0417 1643 00"
    assert st_.statement_id == "NL91 ABNA 0417 1643 00/2023-01-31" and st_.created_at == "2023-01-31"
    assert st_.closing_balance.amount == Decimal("10.00") and st_.closing_balance.kind == "LEDGERBAL"
    assert tx.counterparty_name == "Fallback" and tx.remittance_text == "Invoice 42 & 43"
    assert tx.customer_reference == "0012" and tx.value_date == date(2023, 1, 6)  # DTAVAIL before DTUSER
    assert tx.counterparty_iban == "DE89370400440532013000" and tx.bank_reference == "F1"


def test_empty_balance_aggregate_is_absent_but_empty_amount_with_date_is_an_error(tmp_path: Path) -> None:
    empty = sgml(trn(), balance="<LEDGERBAL><BALAMT><DTASOF></LEDGERBAL>")
    [(st_, _)] = grouped(ofx.parse(write(tmp_path, empty)))
    assert st_.closing_balance is None
    half = sgml(trn(), balance="<LEDGERBAL><BALAMT><DTASOF>20230131</LEDGERBAL>")
    with pytest.raises(BankParseError, match=r"LEDGERBAL/BALAMT is missing or empty"):
        list(ofx.parse(write(tmp_path, half)))


XML_OFX = """<?xml version="1.0" encoding="UTF-8"?>
<?OFX OFXHEADER="200" VERSION="211" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>
{doctype}<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>7</TRNUID><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>
<STMTRS><CURDEF>EUR</CURDEF><BANKACCTFROM><BANKID>1</BANKID><ACCTID>42</ACCTID><ACCTTYPE>CHECKING</ACCTTYPE>
</BANKACCTFROM><BANKTRANLIST><DTSTART>20230101</DTSTART><DTEND>20230131</DTEND>
<STMTTRN><TRNTYPE>CREDIT</TRNTYPE><DTPOSTED>20230102</DTPOSTED><TRNAMT>5.00</TRNAMT><FITID>A</FITID>
<NAME>{name}</NAME></STMTTRN></BANKTRANLIST>
<LEDGERBAL><BALAMT>5.00</BALAMT><DTASOF>20230131</DTASOF></LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>
"""


def test_xml_entities_are_decoded(tmp_path: Path) -> None:
    path = write(tmp_path, XML_OFX.format(doctype="", name="Smith &amp; Sons &#233;"))
    assert ofx._is_wellformed_xml(path)
    [(st_, [tx])] = grouped(ofx.parse(path))
    assert tx.counterparty_name == "Smith & Sons é" and st_.extra["trnuid"] == "7"
    assert tx.position == "<STMTTRN> at line 6"


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE OFX [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
    '<!DOCTYPE OFX [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n',
    '<!DOCTYPE OFX SYSTEM "http://example.invalid/ofx.dtd">\n'])
def test_xml_doctype_is_refused(tmp_path: Path, doctype: str) -> None:
    path = write(tmp_path, XML_OFX.format(doctype=doctype, name="&xxe;&b;"))
    with pytest.raises(BankParseError, match=r"line 3: DOCTYPE and ENTITY declarations are refused"):
        list(ofx.parse(path))


def test_sgml_declarations_are_refused(tmp_path: Path) -> None:
    text = SGML_HEADER + '<!ENTITY x "boom">\n<OFX></OFX>'
    with pytest.raises(BankParseError, match=r"line 11: DOCTYPE, ENTITY and other declarations are refused"):
        list(ofx.parse(write(tmp_path, text)))


def test_sgml_entities_other_than_character_references_are_not_expanded(tmp_path: Path) -> None:
    [(_, [tx])] = grouped(ofx.parse(write(tmp_path, sgml(trn(extra="<MEMO>A &lt;B&gt; &unknown; C")))))
    assert tx.remittance_text == "A <B> &unknown; C"


def test_investment_statement_yields_its_header(tmp_path: Path) -> None:
    text = (SGML_HEADER + "<OFX><INVSTMTMSGSRSV1><INVSTMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS>"
            "<INVSTMTRS><DTASOF>20230131<CURDEF>USD<INVACCTFROM><BROKERID>b.com<ACCTID>77</INVACCTFROM>"
            "<INVTRANLIST><DTSTART>20230101<DTEND>20230131<BUYSTOCK><INVBUY><INVTRAN><FITID>1</INVTRAN></INVBUY>"
            "</BUYSTOCK></INVTRANLIST></INVSTMTRS></INVSTMTTRNRS></INVSTMTMSGSRSV1></OFX>")
    [(st_, txs)] = grouped(ofx.parse(write(tmp_path, text)))
    assert txs == [] and st_.account_number == "77" and st_.to_date == date(2023, 1, 31)
    assert st_.extra["investment_transactions_not_imported"] == 1


@pytest.mark.parametrize(("text", "message"), [
    (SGML_HEADER + "<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS>", r"the file ends before </OFX>"),
    (SGML_HEADER + "<OFX></STMTRS></OFX>", r"line 11: end tag </STMTRS> without a matching start tag"),
    (SGML_HEADER + "<OFX><STMTTRN", r"unterminated tag"),
    (SGML_HEADER + "<OFX><1BAD></OFX>", r"malformed tag '<1BAD>'"),
    (sgml(trn(), account=""), r"STMTRS has no BANKACCTFROM"),
    (sgml("<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20230105<FITID>1</STMTTRN>"), r"STMTTRN/TRNAMT .* missing"),
    (sgml("").replace("<CURDEF>EUR", "<CURDEF>"), r"LEDGERBAL is given but the statement has no currency"),
    (sgml(trn()).replace("<CURDEF>EUR", "<CURDEF>EURO"), r"CURDEF 'EURO' is not a currency code"),
])
def test_malformed_input_raises_bank_parse_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BankParseError, match=message):
        list(ofx.parse(write(tmp_path, text)))


def test_no_currency_at_all_is_an_error(tmp_path: Path) -> None:
    text = sgml(trn(), balance="").replace("<CURDEF>EUR", "<CURDEF>")
    with pytest.raises(BankParseError, match=r"no currency for the amount"):
        list(ofx.parse(write(tmp_path, text)))


def test_latin1_sgml(tmp_path: Path) -> None:
    path = write(tmp_path, sgml(trn(extra="<NAME>Café Müller")), encoding="cp1252")
    [(_, [tx])] = grouped(ofx.parse(path))
    assert tx.counterparty_name == "Café Müller"


def test_detect_judges_content_only() -> None:
    assert ofx.detect(b"OFXHEADER:100\nDATA:OFXSGML\n")
    assert ofx.detect(b'<?xml version="1.0"?>\n<?OFX OFXHEADER="200" VERSION="211"?>\n<OFX>')
    assert ofx.detect(b"\r\n\r\n<OFX>\r\n<SIGNONMSGSRSV1>")
    assert not ofx.detect(b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">')
    assert not ofx.detect(b"01,SENDER,RECEIVER,230105,1200,FILE1,,,2/\n")


VALID = sgml(trn(extra="<NAME>A<MEMO>B") + trn(amount="3,50"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.sampled_from(list("<>/!?[]&;0A \n"))), max_size=6),
       st.integers(1, len(VALID)), st.booleans())
def test_damaged_input_raises_only_bank_parse_error(tmp_path: Path, edits, cut, as_xml) -> None:
    text = list(VALID if not as_xml else XML_OFX.format(doctype="", name="X"))
    for at, char in edits:
        text[at % len(text)] = char
    path = write(tmp_path, "".join(text)[:cut])
    with contextlib.suppress(BankParseError):
        list(ofx.parse(path))


@pytest.mark.parametrize("account", ["<BANKACCTFROM><BANKID>1<ACCTID></BANKACCTFROM>",
                                     "<BANKACCTFROM><BANKID>1<ACCTID>   <ACCTTYPE>CHECKING</BANKACCTFROM>",
                                     "<BANKACCTFROM><BANKID>1</BANKACCTFROM>"])
def test_empty_account_id_is_read_as_no_account(tmp_path: Path, account: str) -> None:
    [(statement, [tx])] = grouped(ofx.parse(write(tmp_path, sgml(trn(), account=account))))
    assert statement.account_number is None and statement.account_iban is None and statement.account is None
    assert statement.extra["account_missing"] == "BANKACCTFROM/ACCTID is missing or empty"
    assert statement.extra["bank_id"] == "1" and tx.amount == Decimal("-1.00")


def test_empty_account_id_through_bank_load_quarantines_the_entries(tmp_path: Path, monkeypatch, capsys) -> None:
    """The load step's path for statements naming no account: entries quarantined with the reason, nothing
    loaded, the run says why."""
    from ledgerlink.store import Store
    from tests.fixtures.cli import run_cli

    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("LEDGERLINK_STORE_URL", url)
    path = write(tmp_path, sgml(trn("-1.00") + trn("2.50", extra="<NAME>Client"),
                                account="<BANKACCTFROM><BANKID>1<ACCTID></BANKACCTFROM>"))
    ran = run_cli(capsys, "bank", "load", "bank_statements_folder", str(path))
    assert ran.returncode == 0, ran.stderr
    assert "names no account" in ran.stdout
    store = Store(url)
    assert store.count_records("bank_transaction") == 0 and store.count_records("bank_statement") == 0
    entries = store.list_quarantine(feed="bank_statements_folder")
    assert len(entries) == 2
    assert all("account" in json.dumps(e["errors"]) for e in entries)


def test_entries_written_on_one_line_have_distinct_positions(tmp_path: Path) -> None:
    [(_, txs)] = grouped(ofx.parse(write(tmp_path, sgml(trn("-1.00") + trn("-2.00") + trn("-3.00")))))
    assert [t.position for t in txs] == ["<STMTTRN> at line 15", "<STMTTRN> at line 15, entry 2 on the line",
                                         "<STMTTRN> at line 15, entry 3 on the line"]
