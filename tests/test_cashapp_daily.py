"""The morning cash application end to end: receivables synced from a live Tryton (its own copy), a camt.053
of incoming payments loaded through the bank feed, the cash_application DAG run with dag.test(): the sure
payment posted in Tryton once (a second run posts nothing), the unsure one in the worklist; a person's
resolution posts it and teaches the payer's IBAN, which the next payment from it is matched by."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal

import pytest

from connectors.erp.tryton import TrytonClient, TrytonSource
from ledgerlink.cashapp.flow import FEED, match_incoming, posting_key, resolve
from ledgerlink.config import BUNDLED_MAPPINGS_DIR
from ledgerlink.erp.sync import sync
from ledgerlink.pipeline.extract import tryton_config
from ledgerlink.store import Store
from sandbox.tryton import setup as tryton_setup
from tests.fixtures.camt import camt053, entry, load_bank_file
from tests.fixtures.tryton import client_config

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

DAY = dt.date.fromisoformat(tryton_setup.settings()["today"]) + dt.timedelta(days=1)
MAPPINGS = BUNDLED_MAPPINGS_DIR / "tryton"
STRANGER_IBAN = "DE89370400440532013000"  # an account no customer is known to pay from


def open_receivables(client: TrytonClient) -> list[dict]:
    """Posted EUR customer invoices with nothing paid yet, oldest first."""
    rows = client.search_read("account.invoice", [("type", "=", "out"), ("state", "=", "posted"),
                                                  ("currency.code", "=", "EUR")], 0, None, [("id", "ASC")],
                              ["number", "reference", "party.code", "party.name", "total_amount", "amount_to_pay"])
    return [r for r in rows if r["amount_to_pay"] == r["total_amount"]]


def tagged(client: TrytonClient, key: str) -> list[dict]:
    moves = client.search_read("account.move", [("description", "like", f"%[ll:{key}]%")], 0, None, None, ["state"])
    return moves


def sync_receivables(store: Store) -> None:
    with TrytonSource(tryton_config("ledgerlink_tryton")) as source:
        sync(store, "tryton_customers", source, "customers", MAPPINGS / "tryton_customer.yaml")
        sync(store, "tryton_customer_invoices", source, "customer_invoices", MAPPINGS / "tryton_customer_invoice.yaml")


def run_dag() -> str:
    from ledgerlink.airflow.cashapp import build_cash_application_dag

    return str(build_cash_application_dag().test().state)


def test_the_morning_run_posts_the_sure_payments_and_the_worklist_teaches(
        ledger, airflow_db, store, store_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGERLINK_STORE_URL", store_url)
    client = TrytonClient(client_config(ledger))
    receivables = open_receivables(client)
    by_customer: dict[str, list[dict]] = {}
    for r in receivables:
        by_customer.setdefault(r["party."]["code"], []).append(r)
    second, third = next(rows for rows in by_customer.values() if len(rows) >= 2)[:2]  # one customer's two
    first = next(r for r in receivables if r["party."]["code"] != second["party."]["code"])
    assert first["reference"].startswith("RF"), "the sandbox's customer invoices carry RF references"
    sync_receivables(store)

    # One payment quotes its invoice's RF reference; another comes from an unknown account, no reference.
    statement = camt053(DAY, Decimal("1000.00"), [
        (entry(first["total_amount"], DAY, "B-1", text=f"Betaling {first['reference']}", iban="NL02ABNA0123456789",
               name=first["party."]["name"]), first["total_amount"]),
        (entry(second["total_amount"], DAY, "B-2", text="payment", iban=STRANGER_IBAN, name="J. Doe Holding"),
         second["total_amount"])])
    load_bank_file(store, tmp_path, "day1.xml", statement)

    assert run_dag().endswith("success")
    matches = {m.bank_reference: m for m in store.cashapp.worklist(status=None)}
    sure, unsure = matches["B-1"], matches["B-2"]
    assert (sure.decision, sure.status, sure.party_id) == ("auto", "applied", first["party."]["code"])
    assert [a["invoice_number"] for a in sure.allocations] == [first["number"]]
    key = posting_key(sure.entry_key, sure.allocations[0]["key"])
    assert len(tagged(client, key)) == 1
    (paid,) = client.read("account.invoice", [first["id"]], ["state", "amount_to_pay"])
    assert (paid["state"], paid["amount_to_pay"]) == ("paid", Decimal("0.00"))
    assert unsure.status == "open" and unsure.decision in ("suggest", "exception")

    # The next morning: nothing new, nothing posted twice.
    assert run_dag().endswith("success")
    assert len(tagged(client, key)) == 1 and len(store.cashapp.worklist(status=None)) == 2

    # A person says whose payment B-2 is and what it pays; the payer's IBAN is learned.
    resolved = resolve(store, unsure.id, party_id=second["party."]["code"],
                       allocations=[(second["number"], second["total_amount"])], actor="cli:maria")
    assert resolved.status == "applying"
    assert [(r.kind, r.value) for r in store.cashapp.learned_rules() if r.kind == "iban"] == [("iban", STRANGER_IBAN)]
    assert run_dag().endswith("success")
    (second_now,) = client.read("account.invoice", [second["id"]], ["state"])
    assert second_now["state"] == "paid" and store.cashapp.get(unsure.id).status == "applied"

    # The learned IBAN now places a payment of the same customer, by its amount alone.
    sync_receivables(store)
    later = camt053(DAY + dt.timedelta(days=1), Decimal("1000.00"), [
        (entry(third["total_amount"], DAY + dt.timedelta(days=1), "B-3", iban=STRANGER_IBAN, name="J. Doe Holding"),
         third["total_amount"])])
    load_bank_file(store, tmp_path, "day2.xml", later)
    match_incoming(store)
    (b3,) = [m for m in store.cashapp.worklist(status=None) if m.bank_reference == "B-3"]
    assert b3.party_id == second["party."]["code"]
    assert [a["invoice_number"] for a in b3.allocations] == [third["number"]]
    assert store.verify_audit_chain().ok
    assert store.get_feed_state(FEED).cursor is not None


def test_worklist_commands(ledger, store, store_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGERLINK_STORE_URL", store_url)
    client = TrytonClient(client_config(ledger))
    item = open_receivables(client)[0]
    sync_receivables(store)
    load_bank_file(store, tmp_path, "day1.xml", camt053(DAY, Decimal("0"), [
        (entry(Decimal("12.34"), DAY, "B-9", text="refund?", iban=STRANGER_IBAN, name="Unknown Ltd"), Decimal("12.34"))]))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ledgerlink.cli", "cashapp", *args], capture_output=True,
                              text=True, timeout=300)

    ran = cli("run", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["payments"] == 1
    listed = [json.loads(line) for line in cli("worklist", "--json").stdout.splitlines()]
    (open_item,) = listed
    assert open_item["counterparty"]["iban"].startswith("DE89") and STRANGER_IBAN not in json.dumps(listed)
    bad = cli("resolve", str(open_item["id"]), "--party", item["party."]["code"], "--allocate", "INV-NOPE=1.00")
    assert bad.returncode == 2 and "INV-NOPE is not an open invoice" in bad.stderr and bad.stderr.count("\n") == 1
    malformed = cli("resolve", str(open_item["id"]), "--party", "x", "--allocate", "no-amount")
    assert malformed.returncode == 2 and "INVOICE=AMOUNT" in malformed.stderr
    rejected = cli("reject", str(open_item["id"]), "--reason", "not a customer")
    assert rejected.returncode == 0 and "rejected" in rejected.stdout
    assert cli("worklist").stdout.strip() == "no open matches"
    assert cli("unapplied").stdout.strip() == "no unapplied cash"
