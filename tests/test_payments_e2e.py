"""Payments back to the ledger, end to end against a live Tryton (its own copy of the seeded database) and the
store on SQLite and PostgreSQL: a supplier invoice paid in a camt.053 debit is recorded in Tryton once, even
when the answer is lost and the sender runs again; its return (camt.054, AC04) undoes the payment and opens
the invoice again; debits that fit no invoice are listed; and the bank account is reconciled against the
ledger lines synced back from Tryton.

Dates follow the sandbox's date (sandbox/tryton/sandbox.ini, inside its fiscal years): the statements are of
the days after it, when the seeded ledger has no activity of its own."""

from __future__ import annotations

import datetime as dt
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connectors.erp.tryton import TrytonClient, TrytonSource
from connectors.erp.tryton_writeback import TrytonWriteback
from ledgerlink.cashapp.reconcile import reconcile_bank
from ledgerlink.config import BUNDLED_MAPPINGS_DIR
from ledgerlink.erp.sync import sync
from ledgerlink.payments.flow import (
    ENTITY,
    PAY_KIND,
    UNDO_KIND,
    send_payment_writebacks,
    status_key,
    update_payment_statuses,
)
from ledgerlink.payments.settings import payment_settings
from ledgerlink.pipeline.extract import tryton_config
from ledgerlink.store import Outbox, OutboxPolicy
from sandbox.tryton import setup as tryton_setup
from tests.fixtures.camt import ACCOUNT, camt053, camt054, entry, load_bank_file
from tests.fixtures.tryton import LosesAnswer, client_config

pytestmark = pytest.mark.integration

SANDBOX_TODAY = dt.date.fromisoformat(tryton_setup.settings()["today"])
D1, D2, D3, D4 = (SANDBOX_TODAY + dt.timedelta(days=n) for n in (1, 2, 3, 4))
MAPPINGS = BUNDLED_MAPPINGS_DIR / "tryton"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now


def open_invoice(client: TrytonClient) -> dict:
    """A posted EUR supplier invoice with nothing paid yet."""
    rows = client.search_read("account.invoice", [("type", "=", "in"), ("state", "=", "posted"),
                                                  ("currency.code", "=", "EUR")], 0, None, [("id", "ASC")],
                              ["reference", "party.code", "total_amount", "amount_to_pay"])
    return next(r for r in rows if r["amount_to_pay"] == r["total_amount"] > Decimal("100"))


def cash_balance_before(client: TrytonClient, day: dt.date) -> Decimal:
    lines = client.search_read("account.move.line", [("account.code", "=", "1000"), ("move.state", "=", "posted"),
                                                     ("date", "<", day)], 0, None, None, ["debit", "credit"])
    return sum((ln["debit"] - ln["credit"] for ln in lines), Decimal(0))


def tagged(client: TrytonClient, key: str) -> list[dict]:
    """The moves in Tryton carrying the writeback key ``key``."""
    moves = client.search_read("account.move", [("description", "like", f"%[ll:{key}]%")], 0, None, None,
                               ["state", "date", "origin", "description"])
    return [m for m in moves if f"[ll:{key}]" in m["description"]]


def test_paid_returned_undone_and_reconciled(ledger, store, store_url, tmp_path, capsys, monkeypatch):
    config = tryton_config("ledgerlink_tryton")
    assert config.ledger_accounts == ("1000",)
    client = TrytonClient(client_config(ledger))
    invoice = open_invoice(client)
    amount, reference, vendor = invoice["total_amount"], invoice["reference"], invoice["party."]["code"]
    with TrytonSource(config) as source:
        sync(store, "tryton_vendors", source, "vendors", MAPPINGS / "tryton_vendor.yaml")
        sync(store, "tryton_supplier_invoices", source, "supplier_invoices", MAPPINGS / "tryton_supplier_invoice.yaml")
    (vendor_record,) = [r["payload"] for r in store.current_records("vendor") if r["payload"]["vendor_id"] == vendor]
    vendor_iban = vendor_record["bank_accounts"][0]["iban"]

    # the bank's statements of two days: our payment, then two debits that are no invoice of ours
    opening = cash_balance_before(client, D1)
    load_bank_file(store, tmp_path, "d1.xml", camt053(D1, opening, [
        (entry(-amount, D1, "BNK-1", e2e="E2E-LL-0001", text=f"Invoice {reference}", iban=vendor_iban,
               name=vendor_record["name"]), -amount)]))
    load_bank_file(store, tmp_path, "d2.xml", camt053(D2, opening - amount, [
        (entry("-42.00", D2, "BNK-2", text="Account fee"), Decimal("-42.00")),
        (entry("-75.25", D2, "BNK-3", text="Card charges"), Decimal("-75.25"))]))

    first = update_payment_statuses(store, actor="e2e")
    assert dict(first.by_status) == {"paid": 1, "unmatched": 2} and first.enqueued == 1
    key = status_key(vendor, reference)
    (paid,) = [v["payload"] for v in store.record_versions(ENTITY, key)]
    assert (paid["status"], paid["amount_paid"], paid["payment_date"], paid["end_to_end_id"]) == (
        "paid", format(amount, "f"), D1.isoformat(), "E2E-LL-0001")
    assert sorted(f["amount"] for f in first.unmatched) == ["-42.00", "-75.25"]

    # the sender: the answer of the pay wizard is lost; the retry finds the payment instead of paying again
    clock = Clock()
    box = Outbox(store, OutboxPolicy(max_attempts=5, base_delay=60, jitter=0, connection_attempt_cap=1), clock=clock)
    (pay_entry,) = store.outbox.entries(kind=PAY_KIND)
    lossy = LosesAnswer(config, "wizard.account.invoice.pay.execute", nth=2)
    lost = send_payment_writebacks(store, TrytonWriteback(lossy), box=box, worker="w1", actor="e2e")
    assert (lost.claimed, lost.applied, lost.retry) == (1, 0, 1)
    assert len(tagged(client, pay_entry.idempotency_key)) == 1
    clock.now += timedelta(hours=1)
    writeback = TrytonWriteback(client)
    again = send_payment_writebacks(store, writeback, box=box, worker="w2", actor="e2e")
    assert (again.applied, again.replayed) == (1, 1)
    assert send_payment_writebacks(store, writeback, box=box, worker="w3", actor="e2e").claimed == 0
    (payment_move,) = tagged(client, pay_entry.idempotency_key)
    assert payment_move["state"] == "posted" and payment_move["date"] == D1
    (after_pay,) = client.read("account.invoice", [invoice["id"]], ["state", "amount_to_pay"])
    assert (after_pay["state"], after_pay["amount_to_pay"]) == ("paid", 0)

    # the payment comes back: closed account
    load_bank_file(store, tmp_path, "d4.xml", camt054(D4, [
        entry(amount, D4, "BNK-RET-1", e2e="E2E-LL-0001", text=f"Invoice {reference}", iban=vendor_iban,
              ret="AC04")]))
    second = update_payment_statuses(store, actor="e2e")
    assert dict(second.by_status) == {"returned": 1} and second.entries == 1
    was_paid, returned = [v["payload"] for v in store.record_versions(ENTITY, key)]
    assert was_paid == paid
    assert (returned["status"], returned["return_reason"], returned["amount_returned"], returned["return_date"]) == (
        "returned", "AC04", format(amount, "f"), D4.isoformat())
    (undo_entry,) = store.outbox.entries(kind=UNDO_KIND)
    assert undo_entry.payload["payment_key"] == pay_entry.idempotency_key
    undone = send_payment_writebacks(store, writeback, box=box, worker="w4", actor="e2e")
    assert (undone.applied, undone.replayed) == (1, 0)
    (after_return,) = client.read("account.invoice", [invoice["id"]], ["state", "amount_to_pay"])
    assert (after_return["state"], after_return["amount_to_pay"]) == ("posted", amount)
    (reversal,) = tagged(client, undo_entry.idempotency_key)
    assert reversal["date"] == D4 and reversal["origin"] == f"account.move,{payment_move['id']}"

    # both steps in the audit log: the status changes and what the ledger was asked and answered
    audit = [(e["action"], e["details"].get("to") or e["details"].get("outcome"))
             for e in store.audit_entries(None, oldest_first=True)
             if e["action"] in ("payments.paid", "payments.returned") or e["action"].startswith("erp.writeback")]
    assert audit == [("payments.paid", "paid"), ("erp.writeback.record_payment", "failed"),
                     ("erp.writeback.record_payment", "replayed"), ("payments.returned", "returned"),
                     ("erp.writeback.undo_payment", "applied")]
    assert store.verify_audit_chain().ok

    # the accountant's own bookings on the bank's ledger account: the charges a day late, a cheque not cashed
    writeback.post_journal_entry("e2e-charges", "MISC", D3, [("6000", Decimal("75.25"), 0, None, "Card charges"),
                                                              ("1000", 0, Decimal("75.25"), None, "Card charges")])
    writeback.post_journal_entry("e2e-cheque", "MISC", D2, [("6000", Decimal("300.00"), 0, None, "Cheque 1001"),
                                                             ("1000", 0, Decimal("300.00"), None, "Cheque 1001")])
    with TrytonSource(config) as source:
        synced = sync(store, "tryton_ledger_lines", source, "ledger_lines", MAPPINGS / "tryton_ledger_line.yaml")
    assert synced.status == "succeeded" and synced.quarantined == 0
    ours = [r["payload"] for r in store.current_records("ledger_entry") if r["payload"]["date"] >= D1.isoformat()]
    assert sorted((p["date"], p["amount"]) for p in ours) == sorted([
        (D1.isoformat(), format(-amount, "f")), (D2.isoformat(), "-300.00"), (D3.isoformat(), "-75.25"),
        (D4.isoformat(), format(amount, "f"))])

    report = reconcile_bank(store, ACCOUNT, D4, settings=payment_settings())
    matched = sorted((m["bank"]["bank_reference"], m["rule"], m["days_apart"]) for m in report["matched"])
    assert matched == [("BNK-1", "reference", 0), ("BNK-3", "amount_and_date", 1), ("BNK-RET-1", "reference", 0)]
    assert [(i["amount"], i["age_days"]) for i in report["unreconciled_bank"]] == [("-42.00", 2)]
    assert [(i["amount"], i["age_days"], i["description"]) for i in report["unreconciled_ledger"]] == [
        ("-300.00", 2, "Cheque 1001")]
    day1, day2 = report["balances"][:2]
    assert (day1["date"], day1["difference"]) == (D1.isoformat(), "0.00")
    assert (day2["date"], day2["difference"]) == (D2.isoformat(), "182.75")  # -42.00 - -75.25 - -300.00
    assert not report["zero_differences"]

    # the command line reads the same store
    from ledgerlink.cli import main

    monkeypatch.setenv("LEDGERLINK_STORE_URL", store_url)
    capsys.readouterr()
    assert main(["reconcile", "bank", ACCOUNT, "--as-of", D1.isoformat(), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["matched"] == 1
    assert main(["reconcile", "bank", ACCOUNT, "--as-of", D4.isoformat(), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["summary"]["unreconciled_ledger"] == 1
    assert main(["payments", "unmatched", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(f["amount"] for f in listed) == ["-42.00", "-75.25"]
