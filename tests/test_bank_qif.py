"""QIF parser: the sample corpus, a two-account file with splits, date orders, amounts and the
settings a QIF file needs (currency, account, date order), through the parser, the CLI and a feed."""

from __future__ import annotations

import contextlib
import logging
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.bank import FeedSettings, detect_format, grouped, parse, qif
from connectors.bank.model import BankParseError
from ledgerlink.errors import ConfigError
from ledgerlink.pipeline.feeds import get_feed, load_feeds
from tests.fixtures.cli import run_cli
from tests.fixtures.corpus import CORPUS_DIR, corpus_params, requires_corpus

FIXTURES = Path(__file__).parent / "fixtures" / "bank"
USD = FeedSettings(currency="USD")


def write(tmp_path: Path, text: str, name: str = "in.qif") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("path", "expect"), corpus_params("qif"))
def test_corpus_file(path: Path, expect: str) -> None:
    assert detect_format(path) == "qif"
    statements = grouped(parse(path, USD))
    for statement, transactions in statements:
        assert statement.format == "qif" and statement.currency == "USD" and transactions
        assert statement.from_date and statement.to_date and statement.from_date <= statement.to_date
        for tx in transactions:
            assert isinstance(tx.amount, Decimal) and tx.currency == "USD" and tx.booking_date
            assert tx.position and tx.position.startswith("line ")
            split = [b.amount for b in tx.batch if b.amount is not None]
            assert not split or sum(split) == tx.amount


@requires_corpus
@pytest.mark.parametrize(("name", "order"), [("test_qif.qif", "MDY"), ("test_qif_dmy.qif", "DMY"),
                                             ("test_qif_ymd.qif", "YMD")])
def test_corpus_date_orders_are_judged_from_the_dates(name: str, order: str) -> None:
    [(statement, txs)] = grouped(parse(CORPUS_DIR / "qif" / "oca-bsi" / name, USD))
    assert statement.extra["date_order"] == order
    assert [(t.booking_date, t.amount, t.counterparty_name) for t in txs][:2] == [
        (date(2013, 8, 12), Decimal("-1000.00"), "Delta PC"), (date(2013, 8, 15), Decimal("-75.46"), "Walts Drugs")]


@requires_corpus
def test_corpus_splits_transfers_and_skipped_sections(caplog) -> None:
    caplog.set_level(logging.INFO, logger="connectors.bank.qif")
    [(statement, txs)] = grouped(parse(CORPUS_DIR / "qif" / "quiffen" / "test.qif", USD))
    assert statement.account is None and len(txs) == 6
    opening, mobile = txs[0], txs[1]
    assert (opening.booking_date, opening.amount, opening.counterparty_account) == (date(2020, 2, 10), 0, "TestExport")
    assert [(b.amount, b.remittance_text) for b in mobile.batch] == [
        (Decimal("-15.00"), "Bills:Cell Phone/Test class; sign up credit"),
        (Decimal("82.50"), "Bills:Cell Phone/Test class; new account")]
    assert txs[4].customer_reference == "123" and txs[4].remittance_text == "non split transaction"
    assert "cat (2 records)" in caplog.text and "invst (1 records)" in caplog.text


@requires_corpus
def test_corpus_apostrophe_year_is_quicken_month_first() -> None:
    [(_, [tx])] = grouped(parse(CORPUS_DIR / "qif" / "quiffen" / "test_split.qif", USD))
    assert tx.booking_date == date(2000, 1, 1) and tx.amount == Decimal("-10.00")


def test_two_accounts_card_register_thousands_and_splits() -> None:
    path = FIXTURES / "qif_two_accounts_dmy.qif"
    # an account setting names one account: with two in the file, their own names are used
    (giro, giro_txs), (visa, visa_txs) = grouped(parse(path, FeedSettings(currency="EUR", account="DE89370400440532013000")))
    assert (giro.account_number, giro.extra["account_type"], visa.account_number, visa.extra["account_type"]) == (
        "Giro", "Bank", "Visa", "CCard")
    assert giro.closing_balance and giro.closing_balance.amount == Decimal("1234.56")
    assert giro.closing_balance.date == date(2026, 3, 31) and giro.extra["date_order"] == "DMY"
    rent, salary = giro_txs
    assert (rent.booking_date, rent.amount, rent.customer_reference, rent.counterparty_account, rent.remittance_text) == (
        date(2026, 3, 28), Decimal("-1000.00"), "1001", "Visa", "Miete März")
    assert salary.amount == Decimal("2234.56") and [b.amount for b in salary.batch] == [Decimal("2000.00"),
                                                                                         Decimal("234.56")]
    assert [(t.booking_date, t.amount) for t in visa_txs] == [(date(2026, 3, 15), Decimal("-45.90")),
                                                              (date(2026, 3, 20), Decimal("1000.00"))]


def test_one_account_takes_the_configured_account(tmp_path: Path) -> None:
    path = write(tmp_path, "!Type:CCard\nD03/31/2026\nT-12.00\nPShop\n^\n")
    [(statement, _)] = grouped(parse(path, FeedSettings.of({"currency": "eur", "account": "NL91 ABNA 0417 1643 00"})))
    assert (statement.account_iban, statement.account_number, statement.currency) == ("NL91ABNA0417164300", None, "EUR")
    [(statement, _)] = grouped(parse(path, FeedSettings(currency="EUR", account="4000-1234")))
    assert (statement.account_iban, statement.account_number) == (None, "4000-1234")


def test_without_a_currency_the_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "!Type:Bank\nD03/31/2026\nT-12.00\n^\n")
    with pytest.raises(BankParseError, match=r"in\.qif: a QIF file carries no currency: set the feed's settings: currency"):
        list(parse(path))


def test_ambiguous_dates_are_refused_until_an_order_is_configured(tmp_path: Path) -> None:
    path = write(tmp_path, "!Type:Bank\nD03/04/2026\nT-12.00\n^\nD05/04/2026\nT1.00\n^\n")
    with pytest.raises(BankParseError, match=r"line 2: field D: the dates \('03/04/2026'\) read as DMY or MDY: "
                                             r"set the feed's settings: date_order"):
        list(parse(path, USD))
    [(_, txs)] = grouped(parse(path, FeedSettings(currency="USD", date_order="DMY")))
    assert [t.booking_date for t in txs] == [date(2026, 4, 3), date(2026, 4, 5)]
    [(_, txs)] = grouped(parse(path, FeedSettings(currency="USD", date_order="MDY")))
    assert [t.booking_date for t in txs] == [date(2026, 3, 4), date(2026, 5, 4)]


@pytest.mark.parametrize(("raw", "order", "expected"), [
    ("12/31/99", "MDY", date(1999, 12, 31)), ("1/ 2'05", "MDY", date(2005, 1, 2)), ("31.12.2025", "DMY", date(2025, 12, 31)),
    ("31-12-25", "DMY", date(2025, 12, 31)), ("2025-12-31", "YMD", date(2025, 12, 31)), ("2/14'2020", "MDY", date(2020, 2, 14)),
])
def test_date_variants(tmp_path: Path, raw: str, order: str, expected: date) -> None:
    path = write(tmp_path, f"!Type:Bank\nD{raw}\nT1.00\n^\n")
    [(statement, [tx])] = grouped(parse(path, FeedSettings(currency="USD", date_order=order)))
    assert tx.booking_date == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("-1,000.00", "-1000.00"), ("1.000,00", "1000.00"), ("1,234,567.8", "1234567.8"), ("12,5", "12.5"),
    ("1,000", "1000"), ("0.5", "0.5"), ("+3", "3"), ("1'000.25", "1000.25"), ("1.234.567", "1234567"),
])
def test_amounts(raw: str, expected: str) -> None:
    assert qif.parse_amount(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["$120", "1,0,0", "abc", "", "1..0", "--1"])
def test_not_amounts(raw: str) -> None:
    assert qif.parse_amount(raw) is None


@pytest.mark.parametrize(("text", "message"), [
    ("!Type:Bank\nD03/31/2026\nT$12\n^\n", r"line 3: field T: '\$12' is not an amount"),
    ("!Type:Bank\nD03/31/2026\nPShop\n^\n", r"line 2: field T \(amount\): missing in the record"),
    ("!Type:Bank\nT1.00\n^\n", r"line 2: field D \(date\): missing in the record"),
    ("!Type:Bank\nD13/31/2026\nT1.00\n^\n", r"line 2: field D: '13/31/2026' is not a date in M/D/Y order"),
    ("!Type:Bank\nD03/31/2026\nT1.00\nU2.00\n^\n", r"line 4: field U: 2.00 differs from the T amount 1.00"),
    ("!Type:Bank\nD03/31/2026\nT1.00\n", r"line 2: the last record is not ended by '\^'"),
    ("D03/31/2026\n!Type:Bank\n", r"line 1: QIF line before any"),
])
def test_bad_records_are_refused_with_their_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BankParseError, match=message):
        list(qif.parse(write(tmp_path, text), settings=FeedSettings(currency="USD", date_order="MDY")))


def test_detect_judges_content() -> None:
    assert qif.detect(b"\xef\xbb\xbf!Type:Bank\nD1/1/26\n")
    assert qif.detect(b"# exported\n\n!Account\nNGiro\n")
    assert qif.detect(b"^\n!type:ccard\n")
    assert not qif.detect(b"Date,Amount\n!Type:Bank\n")
    assert not qif.detect(b":20:STATEMENT\n:25:NL91ABNA0417164300\n")


def test_feed_settings_are_checked() -> None:
    assert FeedSettings.of({"currency": "usd", "date_order": "dmy"}) == FeedSettings(currency="USD", date_order="DMY")
    for bad, message in [({"currency": "XXY"}, "currency"), ({"date_order": "DM"}, "date_order"),
                         ({"acount": "x"}, "unknown setting 'acount'"), ({"account": "  "}, "account is empty")]:
        with pytest.raises(ValueError, match=message):
            FeedSettings.of(bad)


def _feeds(tmp_path: Path, settings: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(f"""version: 1
feeds:
  - name: qif_feed
    entity: bank_transaction
    parser: bank_statement
    source: {{connector: folder, path: {tmp_path}}}
{settings}""", encoding="utf-8")
    return path


def test_feed_settings_reach_the_parser_through_bank_load(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LEDGERLINK_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    path = write(tmp_path, "!Type:Bank\nD03/31/2026\nT-12.00\nPShop\n^\nD04/01/2026\nT100.00\nPClient\n^\n", "acct.qif")
    monkeypatch.setenv("LEDGERLINK_FEEDS", str(_feeds(tmp_path, "    settings: {currency: EUR, account: NL91ABNA0417164300}\n")))
    ran = run_cli(capsys, "bank", "load", "qif_feed", str(path))
    assert ran.returncode == 0, ran.stderr
    from ledgerlink.store import Store
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    rows = sorted((r["payload"]["account"], r["payload"]["amount"], r["payload"]["currency"])
                  for r in store.current_records("bank_transaction"))
    assert rows == [("NL91ABNA0417164300", "-12.00", "EUR"), ("NL91ABNA0417164300", "100.00", "EUR")]


def test_feed_without_currency_fails_the_load_naming_the_setting(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LEDGERLINK_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    path = write(tmp_path, "!Type:Bank\nD03/31/2026\nT-12.00\n^\n", "acct.qif")
    monkeypatch.setenv("LEDGERLINK_FEEDS", str(_feeds(tmp_path, "")))
    ran = run_cli(capsys, "bank", "load", "qif_feed", str(path))
    assert ran.returncode == 2 and "settings: currency" in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1  # one line, no traceback


def test_feeds_file_refuses_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"feed 'qif_feed': settings: currency: "):
        load_feeds(_feeds(tmp_path, "    settings: {currency: ABC}\n"))
    with pytest.raises(ConfigError, match=r"settings/date_order"):
        load_feeds(_feeds(tmp_path, "    settings: {date_order: 1}\n"))
    assert get_feed("qif_feed", _feeds(tmp_path, "    settings: {currency: EUR}\n")).settings == {"currency": "EUR"}


def test_cli_parse_takes_the_settings_as_options(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "!Type:Bank\nD03/04/2026\nT-12.00\n^\n")
    ran = run_cli(capsys, "bank", "parse", str(path), "--currency", "CHF", "--date-order", "DMY", "--account", "CH9300762011623852957")
    assert ran.returncode == 0
    assert "account CH9300762011623852957 CHF" in ran.stdout and "2026-04-03         -12.00 CHF" in ran.stdout
    ran = run_cli(capsys, "bank", "parse", str(path))
    assert ran.returncode == 2 and "settings: currency" in ran.stderr


VALID = (FIXTURES / "qif_two_accounts_dmy.qif").read_text(encoding="utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.sampled_from(list("0129/'.,-^!DTSU$ \n"))), max_size=6),
       st.integers(1, len(VALID)))
def test_damaged_input_raises_only_bank_parse_error(tmp_path: Path, edits, cut) -> None:
    text = list(VALID)
    for at, char in edits:
        text[at] = char
    path = write(tmp_path, "".join(text)[:cut], "fuzz.qif")
    with contextlib.suppress(BankParseError):
        for _statement, transactions in grouped(qif.parse(path, settings=FeedSettings(currency="EUR"))):
            assert all(isinstance(t.amount, Decimal) and t.booking_date for t in transactions)


def test_a_file_naming_no_account_loads_its_entries_into_the_quarantine(tmp_path: Path, monkeypatch, capsys) -> None:
    """Without an account setting or an !Account block the statement names no account: the load step
    quarantines its entries (and says so) instead of booking them to no account."""
    from ledgerlink.store import Store

    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("LEDGERLINK_STORE_URL", url)
    path = write(tmp_path, "!Type:Bank\nD03/31/2026\nT-12.00\n^\nD04/01/2026\nT5.00\n^\n", "noacct.qif")
    monkeypatch.setenv("LEDGERLINK_FEEDS", str(_feeds(tmp_path, "    settings: {currency: EUR}\n")))
    ran = run_cli(capsys, "bank", "load", "qif_feed", str(path))
    assert ran.returncode == 0, ran.stderr
    assert "names no account" in ran.stdout
    store = Store(url)
    assert store.count_records("bank_transaction") == 0
    assert len(store.list_quarantine(feed="qif_feed")) == 2
