"""Outgoing payment statuses from the bank entries in the store (ledgerlink/payments/flow.py): each entry looked
at once, statuses versioned per invoice, ledger writebacks enqueued in the same transaction and sent through
the outbox. The store runs on SQLite and PostgreSQL; the ledger here is a stand-in that keeps what it was
asked to apply (the live Tryton runs in tests/test_payments_e2e.py)."""

from __future__ import annotations

import datetime as dt
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.erp.base import ErpError
from connectors.erp.tryton import TrytonUnreachable
from ledgerlink.bank.canonical import transaction_from_payload
from ledgerlink.payments.flow import (
    ENTITY,
    FEED,
    PAY_KIND,
    UNDO_KIND,
    send_payment_writebacks,
    status_key,
    unmatched_payments,
    update_payment_statuses,
    writeback_key,
)
from ledgerlink.store import Outbox, OutboxPolicy, StagedRecord, Store
from tests.fixtures.camt import camt053, camt054, entry, load_bank_file
from tests.fixtures.cli import Ran, run_cli

DAY = dt.date(2026, 11, 2)
VENDOR_IBAN = "NL02ABNA0123456789"
INVOICES = {"F-1001": ("V1", "1000.00", VENDOR_IBAN), "F-2002": ("V2", "250.00", None),
            "F-3003": ("V2", "80.00", None)}


def invoice_key(vendor: str, number: str) -> str:
    return json.dumps({"vendor_id": vendor, "invoice_number": number}, separators=(",", ":"))


def load_invoices(store: Store) -> None:
    run = store.start_run("invoices_test", "invoice")
    store.load(run, "invoices_test", "invoice", [
        StagedRecord.build(invoice_key(vendor, number), {
            "invoice_number": number, "direction": "payable", "vendor_id": vendor, "currency": "EUR",
            "amount_incl_tax": amount, "status": "approved", **({"vendor_iban": iban} if iban else {})})
        for number, (vendor, amount, iban) in INVOICES.items()])
    store.finish_run(run, "succeeded")


def pay(amount: str, ref: str, text: str, day: dt.date = DAY, **kw) -> tuple[str, Decimal]:
    return entry(f"-{amount}", day, ref, text=text, **kw), -Decimal(amount)


def statement(store: Store, folder: Path, day: dt.date, *entries: tuple[str, Decimal]) -> None:
    load_bank_file(store, folder, f"stmt-{day}.xml", camt053(day, Decimal("5000.00"), list(entries)))


def returned(store: Store, folder: Path, day: dt.date, amount: str, text: str, reason: str = "AC04") -> None:
    load_bank_file(store, folder, f"ret-{day}-{text}.xml", camt054(day, [
        entry(amount, day, f"R-{text}", text=text, iban=VENDOR_IBAN, ret=reason)]))


def status_of(store: Store, vendor: str, number: str) -> list[dict]:
    return [v["payload"] for v in store.record_versions(ENTITY, status_key(vendor, number))]


@pytest.fixture
def flow_store(store: Store) -> Store:
    load_invoices(store)
    return store


def test_a_stored_entry_reads_back_as_the_parser_gave_it(flow_store, tmp_path):
    statement(flow_store, tmp_path, DAY, pay("1000.00", "B1", "Invoice F-1001", e2e="E2E-1", iban=VENDOR_IBAN))
    (record,) = flow_store.current_records("bank_transaction")
    tx = transaction_from_payload(record["payload"])
    assert (tx.amount, tx.booking_date, tx.end_to_end_id, tx.counterparty_iban) == (
        Decimal("-1000.00"), DAY, "E2E-1", VENDOR_IBAN)


def test_each_bank_entry_is_looked_at_once_and_unmatched_debits_are_listed(flow_store, tmp_path):
    store = flow_store
    statement(store, tmp_path, DAY, pay("1000.00", "B1", "Invoice F-1001"), pay("42.00", "B2", "Stationery"))
    first = update_payment_statuses(store, actor="tester")
    assert (first.entries, dict(first.by_status), first.enqueued) == (2, {"paid": 1, "unmatched": 1}, 1)
    (paid,) = status_of(store, "V1", "F-1001")
    assert paid == {"invoice_number": "F-1001", "direction": "payable", "source": "bank", "vendor_id": "V1",
                    "currency": "EUR", "status": "paid", "amount_paid": "1000.00", "amount_open": "0.00",
                    "payment_date": DAY.isoformat(), "bank_reference": "B1", "payment_reference": "B1"}
    (unmatched,) = first.unmatched
    assert unmatched["amount"] == "-42.00" and unmatched["bank_reference"] == "B2"
    assert unmatched["message"].startswith("debit of -42.00 EUR: no payable invoice fits")
    (request,) = store.outbox.entries(kind=PAY_KIND)
    entry_key = json.loads(request.payload["bank_transaction"])["entry_id"]
    assert request.payload["amount"] == "1000.00" and request.payload["date"] == DAY.isoformat()
    assert entry_key and request.idempotency_key.startswith("pay-")
    # the run keeps the findings; a second update finds nothing new and writes nothing
    (run,) = store.list_runs(feed=FEED)
    assert [f["kind"] for f in run["drift"]] == ["unmatched_payment"] and run["status"] == "succeeded"
    assert update_payment_statuses(store).entries == 0
    assert len(store.list_runs(feed=FEED)) == 1

    # the same statement again (nothing new) and the next day's: only the new entries are looked at
    statement(store, tmp_path, DAY + dt.timedelta(days=1), pay("250.00", "B3", "Invoice F-2002",
                                                               day=DAY + dt.timedelta(days=1)))
    second = update_payment_statuses(store)
    assert (second.entries, dict(second.by_status)) == (1, {"paid": 1})
    assert len(store.outbox.entries(kind=PAY_KIND)) == 2
    assert [f["kind"] for f in unmatched_payments(store)] == ["unmatched_payment"]


def test_a_return_after_the_payment_moves_the_invoice_back_and_undoes_the_payment(flow_store, tmp_path):
    store = flow_store
    statement(store, tmp_path, DAY, pay("1000.00", "B1", "Invoice F-1001", e2e="E2E-1", iban=VENDOR_IBAN))
    back = DAY + dt.timedelta(days=3)
    returned(store, tmp_path, back, "1000.00", "F-1001")
    # both in one update: two versions of the invoice's status, in the order the bank booked them
    result = update_payment_statuses(store, actor="tester")
    assert dict(result.by_status) == {"paid": 1, "returned": 1}
    paid, back_again = status_of(store, "V1", "F-1001")
    assert paid["status"] == "paid"
    assert back_again == {**{k: paid[k] for k in ("invoice_number", "direction", "source", "vendor_id", "currency",
                                                  "payment_date", "payment_reference")},
                          "status": "returned", "amount_paid": "0.00", "amount_open": "1000.00",
                          "amount_returned": "1000.00", "return_date": back.isoformat(), "return_reason": "AC04",
                          "bank_reference": "R-F-1001"}
    (payment,) = store.outbox.entries(kind=PAY_KIND)
    (undo,) = store.outbox.entries(kind=UNDO_KIND)
    assert undo.payload["payment_key"] == payment.idempotency_key
    assert (undo.payload["reason"], undo.payload["date"], undo.payload["status"]) == ("AC04", back.isoformat(),
                                                                                      "returned")
    audit = [(e["action"], e["details"]["from"], e["details"]["to"], e["details"]["writeback"], e["actor"])
             for e in store.audit_entries(None, action_prefix="payments.", oldest_first=True)
             if e["action"] != "payments.statuses"]
    assert audit == [("payments.paid", None, "paid", payment.idempotency_key, "tester"),
                     ("payments.returned", "paid", "returned", undo.idempotency_key, "tester")]
    assert store.verify_audit_chain().ok


def test_the_idempotency_keys_come_from_the_bank_entry_and_the_invoice(flow_store, tmp_path):
    statement(flow_store, tmp_path, DAY, pay("1000.00", "B1", "Invoice F-1001"))
    update_payment_statuses(flow_store)
    (entry_record,) = flow_store.current_records("bank_transaction")
    (request,) = flow_store.outbox.entries(kind=PAY_KIND)
    assert request.idempotency_key == writeback_key("pay", entry_record["natural_key"], invoice_key("V1", "F-1001"))
    assert len(request.idempotency_key) <= 128


def test_what_does_not_fit_is_left_for_a_person(flow_store, tmp_path):
    store = flow_store
    statement(store, tmp_path, DAY, pay("100.00", "B1", "Invoice F-2002"), pay("150.00", "B2", "Invoice F-2002 rest"),
              pay("80.00", "B3", "Invoice F-3003"), pay("80.00", "B4", "Invoice F-3003 again"))
    returned(store, tmp_path, DAY + dt.timedelta(days=1), "1000.00", "F-1001")
    result = update_payment_statuses(store)
    assert [s["status"] for s in status_of(store, "V2", "F-2002")] == ["partially_paid", "paid"]
    assert [s["amount_paid"] for s in status_of(store, "V2", "F-2002")] == ["100.00", "250.00"]
    assert [s["status"] for s in status_of(store, "V2", "F-3003")] == ["paid", "paid"]
    assert [s["status"] for s in status_of(store, "V1", "F-1001")] == ["returned"]
    kinds = sorted(f["kind"] for f in result.findings)
    assert kinds == ["overpaid", "return_without_payment"]
    # writebacks only for what the ledger can take: two payments of F-2002 and the first of F-3003
    assert len(store.outbox.entries(kind=PAY_KIND)) == 3 and not store.outbox.entries(kind=UNDO_KIND)


# -- sending: a stand-in ledger ------------------------------------------------------------------------


class _Client:
    """Answers find_invoice's search for a supplier invoice by vendor code and reference."""

    def search_read(self, model, domain, offset=0, limit=None, order=None, fields=None, context=None):
        clauses = {c[0]: c[2] for c in domain if isinstance(c, tuple)}
        number, vendor = clauses["reference"], clauses["party.code"]
        if number not in INVOICES or INVOICES[number][0] != vendor:
            return []
        return [{"id": 100 + list(INVOICES).index(number), "reference": number, "currency.": {"code": "EUR"}}]


class StandInLedger:
    """Applies each key once, like the Tryton primitives; can lose the answer after applying, fail, or be down."""

    def __init__(self) -> None:
        self.client = _Client()
        self.applied: dict[str, tuple] = {}
        self.lose_answer = self.down = False
        self.refuse: str | None = None

    def _do(self, key: str, what: tuple) -> dict:
        if self.down:
            raise TrytonUnreachable("tryton http://127.0.0.1:9/db/ call: cannot connect, gave up after 2 attempt(s)")
        if self.refuse:
            raise ErpError(self.refuse)
        replayed = key in self.applied
        self.applied.setdefault(key, what)
        if self.lose_answer:
            self.lose_answer = False
            raise ErpError("tryton http://127.0.0.1:9/db/ wizard: no answer within 20 s")
        return {"key": key, "move": {"move_id": len(self.applied), "move_number": str(len(self.applied))},
                "replayed": replayed}

    def record_payment(self, key, invoice_id, amount, date, journal):
        return self._do(key, ("pay", invoice_id, amount, date, journal))

    def undo_payment(self, key, invoice_id, payment_key, date, description=None):
        return self._do(key, ("undo", invoice_id, payment_key, date))


class Clock:
    """The outbox's clock, a minute ahead of the entries enqueued now, moved on by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now

    def later(self, hours: float) -> None:
        self.now += timedelta(hours=hours)


@pytest.fixture
def box(flow_store) -> tuple[Outbox, Clock]:
    clock = Clock()
    return Outbox(flow_store, OutboxPolicy(max_attempts=3, base_delay=60, jitter=0, connection_attempt_cap=1), clock=clock), clock


def send(store: Store, ledger: StandInLedger, box: Outbox):
    return send_payment_writebacks(store, ledger, journal="CASH", box=box, worker="w1", actor="tester")


def test_a_lost_answer_is_retried_and_applied_once(flow_store, tmp_path, box):
    outbox, clock = box
    statement(flow_store, tmp_path, DAY, pay("1000.00", "B1", "Invoice F-1001"))
    update_payment_statuses(flow_store)
    ledger = StandInLedger()
    ledger.lose_answer = True
    first = send(flow_store, ledger, outbox)
    assert (first.claimed, first.applied, first.retry) == (1, 0, 1)
    assert send(flow_store, ledger, outbox).claimed == 0  # waits out its backoff
    clock.later(1)
    second = send(flow_store, ledger, outbox)
    assert (second.applied, second.replayed) == (1, 1)
    assert send(flow_store, ledger, outbox).claimed == 0
    (entry_,) = flow_store.outbox.entries(kind=PAY_KIND)
    assert entry_.status == "sent" and entry_.response["replayed"] is True
    assert list(ledger.applied.values()) == [("pay", 100, Decimal("1000.00"), DAY, "CASH")]
    actions = [e["action"] for e in flow_store.audit_entries(None, oldest_first=True)
               if e["action"].startswith(("outbox.", "erp.writeback"))]
    assert actions == ["outbox.enqueue", "outbox.claim", "erp.writeback.record_payment", "outbox.retry",
                       "outbox.claim", "erp.writeback.record_payment", "outbox.sent"]


def test_an_undo_waits_for_its_payment_and_never_runs_before_it(flow_store, tmp_path, box):
    outbox, clock = box
    statement(flow_store, tmp_path, DAY, pay("1000.00", "B1", "Invoice F-1001"))
    returned(flow_store, tmp_path, DAY + dt.timedelta(days=2), "1000.00", "F-1001")
    update_payment_statuses(flow_store)
    ledger = StandInLedger()
    ledger.refuse = "tryton writeback record_payment invoice 100: the invoice is draft, not posted"
    first = send(flow_store, ledger, outbox)  # the payment fails; its undo is not tried before it
    assert (first.claimed, first.retry, first.applied) == (2, 2, 0) and not ledger.applied
    (undo,) = flow_store.outbox.entries(kind=UNDO_KIND)
    assert "waits for the payment it undoes" in undo.last_error
    ledger.refuse = None
    clock.later(1)
    second = send(flow_store, ledger, outbox)
    assert second.applied == 2
    assert [what[0] for what in ledger.applied.values()] == ["pay", "undo"]


def test_an_undo_of_a_dead_payment_is_a_dead_letter_listed_by_the_cli(flow_store, tmp_path, box, cli):
    outbox, clock = box
    statement(flow_store, tmp_path, DAY, pay("1000.00", "B1", "Invoice F-1001"))
    returned(flow_store, tmp_path, DAY + dt.timedelta(days=2), "1000.00", "F-1001")
    update_payment_statuses(flow_store)
    ledger = StandInLedger()
    ledger.refuse = "tryton writeback record_payment invoice 100: amount 1000.00 is more than the amount to pay 0"
    for _ in range(3):
        send(flow_store, ledger, outbox)
        clock.later(2)
    statuses = {e.kind: e.status for e in flow_store.outbox.entries()}
    assert statuses == {PAY_KIND: "dead", UNDO_KIND: "dead"}
    out = cli("payments", "outbox", "--dead", "--json")
    assert out.returncode == 0, out.stderr
    dead = [json.loads(line) for line in out.stdout.splitlines()]
    assert [d["kind"] for d in dead] == [PAY_KIND, UNDO_KIND]
    assert "more than the amount to pay" in dead[0]["last_error"] and "dead letter" in dead[1]["last_error"]
    text = cli("payments", "outbox", "--dead")
    assert text.returncode == 0 and text.stdout.count("dead") >= 2 and "last error:" in text.stdout
    replay = cli("payments", "replay", str(dead[0]["id"]), str(dead[1]["id"]))
    assert replay.returncode == 0 and "replayed 2" in replay.stdout
    assert {e.status for e in flow_store.outbox.entries()} == {"pending"}


def test_a_ledger_that_does_not_answer_holds_everything_back(flow_store, tmp_path, box):
    outbox, _ = box
    statement(flow_store, tmp_path, DAY, pay("1000.00", "B1", "Invoice F-1001"), pay("250.00", "B2", "F-2002"))
    update_payment_statuses(flow_store)
    ledger = StandInLedger()
    ledger.down = True
    result = send(flow_store, ledger, outbox)
    assert (result.claimed, result.retry, result.dead) == (2, 2, 0)
    assert all(e.status == "pending" and e.attempts == 1 for e in flow_store.outbox.entries())


def test_the_journal_comes_from_the_settings(flow_store, monkeypatch):
    from ledgerlink.errors import ConfigError

    monkeypatch.delenv("LEDGERLINK_PAYMENTS_JOURNAL", raising=False)
    monkeypatch.setenv("LEDGERLINK_PAYMENTS_CONN", "payments_test_ledger")
    with pytest.raises(ConfigError, match="bank_journal of connection 'payments_test_ledger'"):
        send_payment_writebacks(flow_store, StandInLedger())
    monkeypatch.setenv("LEDGERLINK_PAYMENTS_JOURNAL", "BANK-EUR")
    assert send_payment_writebacks(flow_store, StandInLedger()).claimed == 0


# -- the command line --------------------------------------------------------------------------------------


@pytest.fixture
def cli(store_url, monkeypatch, capsys):
    """``ledgerlink ARGS...`` on the test's store, in this process: its exit code and output."""
    monkeypatch.setenv("LEDGERLINK_STORE_URL", store_url)

    def run(*args: str) -> Ran:
        return run_cli(capsys, *args)

    return run


def test_update_and_unmatched_on_the_command_line(flow_store, tmp_path, cli):
    statement(flow_store, tmp_path, DAY, pay("1000.00", "B1", "Invoice F-1001"), pay("42.00", "B2", "Stationery"))
    out = cli("payments", "update", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["entries"], result["by_status"], result["enqueued"], result["unmatched"]) == (
        2, {"paid": 1, "unmatched": 1}, 1, 1)
    listed = cli("payments", "unmatched", "--json")
    (finding,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert finding["kind"] == "unmatched_payment" and finding["amount"] == "-42.00"
    assert finding["run_id"] == result["runs"][0]
    text = cli("payments", "unmatched")
    assert "unmatched_payment" in text.stdout and "-42.00 EUR" in text.stdout
    again = cli("payments", "update")
    assert again.returncode == 0 and again.stdout.startswith("0 bank entries looked at")
    bad = cli("payments", "replay", "999999")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not ledger writebacks" in bad.stderr


def test_send_without_a_bank_journal_is_one_line_and_exit_2(flow_store, cli, monkeypatch):
    monkeypatch.setenv("LEDGERLINK_PAYMENTS_CONN", "payments_test_nowhere")
    monkeypatch.delenv("LEDGERLINK_PAYMENTS_JOURNAL", raising=False)
    out = cli("payments", "send")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("ledgerlink: no bank journal for recording payments: set the extra bank_journal "
                                 "of connection 'payments_test_nowhere' or $LEDGERLINK_PAYMENTS_JOURNAL")
