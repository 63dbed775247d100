"""Bank reconciliation (ledgerlink/cashapp/reconcile.py) on statements loaded through the bank feed and ledger
entries in the store, and `ledgerlink reconcile bank`. The store runs on SQLite and PostgreSQL; the live
Tryton's side is in tests/test_payments_e2e.py."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from ledgerlink.cashapp.reconcile import ReconcileError, reconcile_bank, reconcile_banks
from ledgerlink.errors import ConfigError
from ledgerlink.payments.settings import PaymentSettings
from ledgerlink.store import StagedRecord, Store
from tests.fixtures.camt import ACCOUNT, camt053, entry, load_bank_file
from tests.fixtures.cli import Ran, run_cli

D1 = dt.date(2026, 10, 5)
D2, D3, D4 = (D1 + dt.timedelta(days=n) for n in (1, 2, 3))
OPENING = Decimal("10000.00")
SETTINGS = PaymentSettings("ledgerlink_tryton", bank_accounts={ACCOUNT: "1000"}, window_days=3)


def ledger_entry(line_id: int, day: dt.date, amount: str, description: str = "", account: str = "1000") -> StagedRecord:
    payload = {"entry_id": f"tryton:account.move.line,{line_id}", "ledger_account": account, "date": day.isoformat(),
               "amount": amount, "currency": "EUR", "journal": "CASH", "move_number": str(line_id),
               **({"description": description} if description else {})}
    return StagedRecord.build(json.dumps({"entry_id": payload["entry_id"]}), payload)


def load_ledger(store: Store, *entries: StagedRecord) -> None:
    run = store.start_run("tryton_ledger_lines", "ledger_entry")
    store.load(run, "tryton_ledger_lines", "ledger_entry", list(entries))
    store.finish_run(run, "succeeded")


@pytest.fixture
def books(store: Store, tmp_path) -> Store:
    """Two statement days and the ledger's side of them:

    D1  bank: -1200.00 E2E-0077 (ledger D1, names E2E-0077: reference), -75.25 charges (ledger D2: amount and date)
    D2  bank: -42.00 fee (not in the ledger); +500.00 from a customer (ledger D2)
        ledger: -300.00 cheque (not on the statement), -999.00 on another ledger account (not ours)
    The ledger's balance before D1 is the statement's opening balance (two older lines)."""
    load_ledger(store,
                ledger_entry(1, D1 - dt.timedelta(days=40), "12000.00", "Opening deposit"),
                ledger_entry(2, D1 - dt.timedelta(days=3), "-2000.00", "Rent September"),
                ledger_entry(10, D1, "-1200.00", "Payment F-77 E2E-0077"),
                ledger_entry(11, D2, "-75.25", "Bank charges"),
                ledger_entry(12, D2, "500.00", "Customer C-9"),
                ledger_entry(13, D2, "-300.00", "Cheque 1001"),
                ledger_entry(14, D2, "-999.00", "Petty cash", account="1010"))
    load_bank_file(store, tmp_path, "d1.xml", camt053(D1, OPENING, [
        (entry("-1200.00", D1, "B1", e2e="E2E-0077", text="F-77"), Decimal("-1200.00")),
        (entry("-75.25", D1, "B2", text="Charges"), Decimal("-75.25"))]))
    load_bank_file(store, tmp_path, "d2.xml", camt053(D2, OPENING - Decimal("1275.25"), [
        (entry("-42.00", D2, "B3", text="Fee"), Decimal("-42.00")),
        (entry("500.00", D2, "B4", text="C-9", name="Customer"), Decimal("500.00"))]))
    return store


def test_lines_are_matched_by_reference_then_amount_and_date(books):
    report = reconcile_bank(books, ACCOUNT, D4, settings=SETTINGS)
    pairs = sorted((m["bank"]["bank_reference"], m["rule"], m["ledger"]["entry_id"], m["days_apart"])
                   for m in report["matched"])
    assert pairs == [("B1", "reference", "tryton:account.move.line,10", 0),
                     ("B2", "amount_and_date", "tryton:account.move.line,11", 1),
                     ("B4", "amount_and_date", "tryton:account.move.line,12", 0)]
    assert [(i["amount"], i["age_days"], i["bank_reference"]) for i in report["unreconciled_bank"]] == [
        ("-42.00", 2, "B3")]
    assert [(i["amount"], i["age_days"], i["description"]) for i in report["unreconciled_ledger"]] == [
        ("-300.00", 2, "Cheque 1001")]
    assert report["summary"] == {"bank_lines": 4, "ledger_lines": 4, "matched": 3, "unreconciled_bank": 1,
                                 "unreconciled_ledger": 1, "balance_differences": 2}
    assert not report["zero_differences"]
    assert (report["since"], report["as_of"], report["ledger_account"], report["currency"]) == (
        D1.isoformat(), D4.isoformat(), "1000", "EUR")
    assert report["account"] == "NL91****4300"  # masked, as everywhere in output


def test_statement_balance_against_the_ledger_balance_per_day(books):
    report = reconcile_bank(books, ACCOUNT, D4, settings=SETTINGS)
    assert report["balances"] == [
        # the ledger booked the charges a day later: the bank's closing balance and the ledger's differ by it
        {"date": D1.isoformat(), "bank_movement": "-1275.25", "ledger_movement": "-1200.00",
         "ledger_balance": "8800.00", "statement_balance": "8724.75", "difference": "-75.25"},
        # the charges booked, the fee missing in the ledger, the cheque missing on the statement
        {"date": D2.isoformat(), "bank_movement": "458.00", "ledger_movement": "124.75",
         "ledger_balance": "8924.75", "statement_balance": "9182.75", "difference": "258.00"}]
    assert report["summary"]["balance_differences"] == 2


def test_as_of_a_day_everything_agreed(store, tmp_path):
    load_ledger(store, ledger_entry(1, D1 - dt.timedelta(days=1), "100.00", "Deposit"),
                ledger_entry(2, D1, "-40.00", "Payment REF-123456"))
    load_bank_file(store, tmp_path, "d1.xml", camt053(D1, Decimal("100.00"), [
        (entry("-40.00", D1, "B1", e2e="REF-123456"), Decimal("-40.00"))]))
    report = reconcile_bank(store, ACCOUNT, D1, settings=SETTINGS)
    assert report["zero_differences"] and report["matched"][0]["rule"] == "reference"
    assert report["balances"][0]["difference"] == "0.00"


def test_lines_further_apart_than_the_window_stay_unreconciled(store, tmp_path):
    load_ledger(store, ledger_entry(1, D1 + dt.timedelta(days=5), "-40.00", "Payment"))
    load_bank_file(store, tmp_path, "d1.xml", camt053(D1, Decimal("0.00"), [(entry("-40.00", D1, "B1"), Decimal("-40.00"))]))
    as_of = D1 + dt.timedelta(days=6)
    narrow = reconcile_bank(store, ACCOUNT, as_of, settings=SETTINGS)
    assert not narrow["matched"] and len(narrow["unreconciled_bank"]) == len(narrow["unreconciled_ledger"]) == 1
    assert narrow["unreconciled_bank"][0]["age_days"] == 6 and narrow["unreconciled_ledger"][0]["age_days"] == 1
    wide = reconcile_bank(store, ACCOUNT, as_of, ledger_account="1000", window_days=5)
    assert [m["days_apart"] for m in wide["matched"]] == [5]
    # as of the bank's day the ledger line is not there yet
    early = reconcile_bank(store, ACCOUNT, D1, settings=SETTINGS)
    assert len(early["unreconciled_bank"]) == 1 and not early["unreconciled_ledger"]


def test_each_account_of_the_settings_gets_its_report(books):
    settings = PaymentSettings("ledgerlink_tryton", bank_accounts={ACCOUNT: "1000", "BE68539007547034": "1010"})
    ours, other = reconcile_banks(books, D4, settings=settings)
    assert ours["ledger_account"] == "1000" and ours["summary"]["matched"] == 3
    assert other["error"].startswith("no statement of bank account BE68****7034") and not other["zero_differences"]


def test_what_cannot_be_reconciled_says_why(books):
    with pytest.raises(ConfigError, match=r"bank account DE89\*\*\*\*3000 has no ledger account"):
        reconcile_bank(books, "DE89370400440532013000", D4, settings=SETTINGS)
    with pytest.raises(ReconcileError, match="no statement of bank account"):
        reconcile_bank(books, "DE89370400440532013000", D4, ledger_account="1000", window_days=3)
    with pytest.raises(ReconcileError, match="must not be negative"):
        reconcile_bank(books, ACCOUNT, D4, ledger_account="1000", window_days=-1)


# -- the command line ----------------------------------------------------------------------------------------


@pytest.fixture
def cli(store_url, monkeypatch, capsys):
    monkeypatch.setenv("LEDGERLINK_STORE_URL", store_url)
    monkeypatch.setenv("LEDGERLINK_CONN_LEDGERLINK_TRYTON", json.dumps({
        "conn_type": "ledgerlink_tryton", "host": "127.0.0.1", "schema": "ledgerlink", "login": "admin",
        "password": "not-used", "extra": {"bank_accounts": {"NL91 ABNA 0417 1643 00": "1000"}}}))
    monkeypatch.delenv("LEDGERLINK_PAYMENTS_CONN", raising=False)

    def run(*args: str) -> Ran:
        return run_cli(capsys, "reconcile", "bank", *args)

    return run


def test_cli_report_and_exit_codes(books, cli):
    differing = cli(ACCOUNT, "--as-of", D4.isoformat(), "--json")
    assert differing.returncode == 1, differing.stderr
    report = json.loads(differing.stdout)
    assert set(report) >= {"kind", "account", "ledger_account", "currency", "as_of", "since", "window_days",
                           "zero_differences", "summary", "matched", "unreconciled_bank", "unreconciled_ledger",
                           "balances"}
    assert report["kind"] == "bank_reconciliation" and report["summary"]["matched"] == 3
    text = cli("NL91 ABNA 0417 1643 00", "--as-of", D4.isoformat())
    assert text.returncode == 1 and "on the statement, not in the ledger:" in text.stdout
    assert "Cheque 1001" in text.stdout and text.stdout.rstrip().endswith("DIFFERENCES")
    assert ACCOUNT not in text.stdout
    agreed = cli(ACCOUNT, "--as-of", (D1 - dt.timedelta(days=1)).isoformat(), "--json", "--window", "0")
    assert agreed.returncode == 0 and json.loads(agreed.stdout)["zero_differences"]


@pytest.mark.parametrize("args, message", [
    ((ACCOUNT, "--as-of", "2026-02-30"), "--as-of: not a date (YYYY-MM-DD): '2026-02-30'"),
    ((ACCOUNT, "--as-of", "2026-10-09", "--window", "three"), "--window: not a whole number of days"),
    (("DE89370400440532013000", "--as-of", "2026-10-09"), "bank account DE89****3000 has no ledger account"),
    (("DE89370400440532013000", "--as-of", "2026-10-09", "--ledger-account", "1000"),
     "no statement of bank account DE89****3000"),
])
def test_cli_bad_input_is_one_line_and_exit_2(books, cli, args, message):
    out = cli(*args)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"ledgerlink: {message}") and out.stderr.count("\n") == 1

