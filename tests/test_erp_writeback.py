"""Tryton writeback primitives (connectors/erp/tryton_writeback.py) against a real trytond, and their
audit trail (ledgerlink/erp/writeback.py).

The tests write to Tryton, so they run on their own copy of the seeded database and their own trytond
(started after the session's ``tryton_server``, which skips where the sandbox is not built), leaving the
invoices other tests count untouched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.erp.base import ErpError
from connectors.erp.tryton import TrytonClient, TrytonConfig
from connectors.erp.tryton_writeback import TrytonWriteback, check_balanced
from ledgerlink.erp.writeback import apply_writeback
from ledgerlink.store import Store
from sandbox.tryton.server import TrytonServer
from tests.fixtures.tryton import LosesAnswer, client_config, private_ledger

integration = pytest.mark.integration
TODAY = dt.date(2026, 11, 30)  # payment and entry date: the sandbox's date, after every seeded invoice
ACCOUNT_CODES = {"Main Cash": "1000", "Main Payable": "1600", "Main Expense": "6000"}


@pytest.fixture(scope="module")
def server(tryton_server: TrytonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    with private_ledger(tmp_path_factory.mktemp("tryton-writeback"), ACCOUNT_CODES) as own:
        yield own


def config(server: TrytonServer, **overrides) -> TrytonConfig:
    return client_config(server, **overrides)


@pytest.fixture
def client(server: TrytonServer) -> Iterator[TrytonClient]:
    with TrytonClient(config(server)) as c:
        yield c


@pytest.fixture
def wb(client: TrytonClient) -> TrytonWriteback:
    return TrytonWriteback(client)


class _Invoices:
    """Posted EUR supplier invoices with something to pay, each handed out once per module."""

    def __init__(self) -> None:
        self.used: set[int] = set()

    def take(self, client: TrytonClient) -> dict:
        rows = client.search_read("account.invoice", [("type", "=", "in"), ("state", "=", "posted"),
                                                      ("currency.code", "=", "EUR")], 0, None, [("id", "ASC")],
                                  ["number", "party", "amount_to_pay", "lines_to_pay", "account"])
        for row in rows:
            if row["id"] not in self.used and row["amount_to_pay"] > Decimal("100"):
                self.used.add(row["id"])
                return row
        raise AssertionError("no open posted supplier invoice left in the seed data")


@pytest.fixture(scope="module")
def invoices() -> _Invoices:
    return _Invoices()


def invoice(client: TrytonClient, invoice_id: int) -> dict:
    (row,) = client.search_read("account.invoice", [("id", "=", invoice_id)], 0, 1, None,
                                ["state", "amount_to_pay", "alternative_payees", "lines_to_pay", "party"])
    return row


def tagged_moves(client: TrytonClient, key: str) -> list[dict]:
    return client.search_read("account.move", [("description", "like", f"%[ll:{key}]%")], 0, None, None,
                              ["state", "origin", "lines"])


def funder(client: TrytonClient) -> int:
    (row,) = client.search_read("party.party", [("name", "=", "Demo Bank N.V.")], 0, 1, None, ["id"])
    return row["id"]


# -- no server ----------------------------------------------------------------------------------

class _NoCalls(TrytonClient):
    def __init__(self) -> None:
        super().__init__(TrytonConfig(url="http://127.0.0.1:9/", database="db", login="admin", password="x"))

    def call(self, method, *params):
        raise AssertionError(f"Tryton was called: {method}")


@pytest.mark.parametrize("lines, reason", [
    ([("1000", Decimal("10.00"), 0, None, "a"), ("6000", 0, Decimal("9.99"), None, "b")], "unbalanced"),
    ([("1000", Decimal("10.00"), 0, None, "a")], "at least two lines"),
    ([("1000", 10.0, 0, None, "a"), ("6000", 0, 10.0, None, "b")], "float"),
    ([("1000", Decimal("-5"), 0, None, "a"), ("6000", 0, Decimal("-5"), None, "b")], "negative"),
    ([("1000", Decimal("5"), Decimal("5"), None, "a"), ("6000", 0, 0, None, "b")], "exactly one"),
])
def test_bad_journal_entries_are_refused_before_tryton(lines, reason):
    with pytest.raises(ErpError, match=reason) as err:
        TrytonWriteback(_NoCalls()).post_journal_entry("je-bad", "MISC", TODAY, lines, "bad")
    assert str(err.value).startswith("tryton writeback post_journal_entry: ")


def test_invalid_keys_are_refused():
    for key in ("", "has space", "x]y", "k" * 129):
        with pytest.raises(ErpError, match="idempotency key"):
            TrytonWriteback(_NoCalls()).add_note(key, 1, "text")


def test_balanced_lines_become_exact_amounts():
    checked = check_balanced([("1000", "12.50", None, None, ""), ("6000", 0, 12, None, ""), ("6000", 0, "0.50", 3, "")])
    assert [(c[1], c[2]) for c in checked] == [(Decimal("12.50"), 0), (0, Decimal("12")), (0, Decimal("0.50"))]


# -- notes --------------------------------------------------------------------------------------

@integration
def test_add_note_once_per_key(client, wb, invoices):
    inv = invoices.take(client)
    resource = f"account.invoice,{inv['id']}"
    first = wb.add_note("note-1", inv["id"], "Financing requested")
    again = wb.add_note("note-1", inv["id"], "Financing requested")
    other = wb.add_note("note-2", inv["id"], "Financing approved")
    notes = client.search_read("ir.note", [("resource", "=", resource)], 0, None, [("id", "ASC")], ["message"])
    assert [n["message"] for n in notes] == ["Financing requested\n[ll:note-1]", "Financing approved\n[ll:note-2]"]
    assert first["note_id"] == notes[0]["id"] and not first["replayed"]
    assert again == {**first, "replayed": True}
    assert other["note_id"] == notes[1]["id"] and not other["replayed"]


@integration
def test_add_note_falls_back_to_the_invoice_comment(client, wb, invoices):
    inv = invoices.take(client)
    wb._has_note = False  # as on a Tryton without ir.note
    wb.add_note("comment-1", inv["id"], "Sent to funder")
    assert wb.add_note("comment-1", inv["id"], "Sent to funder")["replayed"]
    (row,) = client.read("account.invoice", [inv["id"]], ["comment"])
    assert row["comment"].count("[ll:comment-1]") == 1 and "Sent to funder" in row["comment"]


@integration
def test_add_note_to_a_missing_invoice(wb):
    with pytest.raises(ErpError, match=r"^tryton writeback add_note invoice 999999: no such invoice"):
        wb.add_note("note-missing", 999999, "text")


# -- financing ----------------------------------------------------------------------------------

@integration
def test_mark_financed_delegates_the_payable_to_the_funder_once(client, wb, invoices):
    inv, bank = invoices.take(client), funder(client)
    lines = client.read("account.move.line", inv["lines_to_pay"], ["reconciliation", "credit", "account", "party"])
    open_credit = sum((ln["credit"] for ln in lines if ln["reconciliation"] is None), Decimal(0))

    result = wb.mark_financed("fin-1", inv["id"], bank, description="Financed by Demo Bank")
    assert not result["replayed"]
    move = result["move"]
    assert move["state"] == "posted" and move["origin"] == f"account.invoice,{inv['id']}"
    assert move["total_debit"] == move["total_credit"] == str(open_credit)
    assert move["description"] == "Financed by Demo Bank [ll:fin-1]"
    # the vendor's lines are settled by the move; the same amounts are now owed to the funder
    delegated = client.read("account.move.line", result["delegated_line_ids"],
                            ["party", "account", "credit", "reconciliation", "move_state"])
    assert {d["party"] for d in delegated} == {bank}
    assert {d["account"] for d in delegated} == {inv["account"]}
    assert sum((d["credit"] for d in delegated), Decimal(0)) == open_credit
    assert all(d["reconciliation"] is None and d["move_state"] == "posted" for d in delegated)
    assert all(ln["reconciliation"] is not None
               for ln in client.read("account.move.line", [ln["id"] for ln in lines], ["reconciliation"]))
    # Tryton counts the delegated lines among the invoice's lines to pay
    assert set(result["delegated_line_ids"]) <= set(invoice(client, inv["id"])["lines_to_pay"])
    after = invoice(client, inv["id"])
    assert after["state"] == "posted" and bank in after["alternative_payees"]
    assert after["amount_to_pay"] == inv["amount_to_pay"]  # delegated, not paid

    assert wb.mark_financed("fin-1", inv["id"], bank) == {**result, "replayed": True}
    assert len(tagged_moves(client, "fin-1")) == 1
    with pytest.raises(ErpError, match=rf"mark_financed invoice {inv['id']}: no open lines to pay"):
        wb.mark_financed("fin-1b", inv["id"], bank)


@integration
def test_mark_financed_with_another_key_applies_to_another_invoice(client, wb, invoices):
    bank = funder(client)
    first, second = invoices.take(client), invoices.take(client)
    a = wb.mark_financed("fin-2a", first["id"], bank)
    b = wb.mark_financed("fin-2b", second["id"], bank)
    assert a["move"]["move_id"] != b["move"]["move_id"]
    with pytest.raises(ErpError, match="already used"):
        wb.mark_financed("fin-2a", second["id"], bank)


@integration
def test_mark_financed_refuses_a_customer_invoice(client, wb):
    (out,) = client.search_read("account.invoice", [("type", "=", "out"), ("state", "=", "posted")], 0, 1, None,
                                ["id"])
    with pytest.raises(ErpError, match="not a supplier invoice"):
        wb.mark_financed("fin-out", out["id"], funder(client))


# -- payments -----------------------------------------------------------------------------------

@integration
def test_partial_payment_reduces_the_amount_to_pay_once_per_key(client, wb, invoices):
    inv = invoices.take(client)
    result = wb.record_payment("pay-1", inv["id"], Decimal("100.00"), TODAY, "CASH")
    assert not result["replayed"]
    assert result["move"]["state"] == "posted" and result["move"]["total_debit"] == "100.00"
    assert invoice(client, inv["id"])["amount_to_pay"] == inv["amount_to_pay"] - Decimal("100.00")

    assert wb.record_payment("pay-1", inv["id"], Decimal("100.00"), TODAY, "CASH") == {**result, "replayed": True}
    assert invoice(client, inv["id"])["amount_to_pay"] == inv["amount_to_pay"] - Decimal("100.00")
    assert len(tagged_moves(client, "pay-1")) == 1

    wb.record_payment("pay-2", inv["id"], Decimal("0.50"), TODAY, "CASH")
    assert invoice(client, inv["id"])["amount_to_pay"] == inv["amount_to_pay"] - Decimal("100.50")


@integration
def test_full_payment_marks_the_invoice_paid(client, wb, invoices):
    inv = invoices.take(client)
    result = wb.record_payment("pay-full", inv["id"], inv["amount_to_pay"], TODAY, "Bank transfer")
    after = invoice(client, inv["id"])
    assert after["state"] == "paid" and after["amount_to_pay"] == 0
    assert result["move"]["total_debit"] == str(inv["amount_to_pay"])
    assert wb.record_payment("pay-full", inv["id"], inv["amount_to_pay"], TODAY, "CASH")["replayed"]
    with pytest.raises(ErpError, match="is paid, not posted"):
        wb.record_payment("pay-full-2", inv["id"], Decimal("1.00"), TODAY, "CASH")


@integration
def test_overpayment_and_unknown_journal_are_refused(client, wb, invoices):
    inv = invoices.take(client)
    with pytest.raises(ErpError, match="more than the amount to pay"):
        wb.record_payment("pay-over", inv["id"], inv["amount_to_pay"] + 1, TODAY, "CASH")
    with pytest.raises(ErpError, match="no invoice payment method for journal 'NOPE'"):
        wb.record_payment("pay-nojournal", inv["id"], Decimal("1.00"), TODAY, "NOPE")
    assert not tagged_moves(client, "pay-over") and not tagged_moves(client, "pay-nojournal")


@integration
def test_a_retry_after_a_lost_answer_does_not_pay_twice(server, client, invoices):
    inv = invoices.take(client)
    # the wizard's second step (choice -> pay) writes the payment; its answer is lost
    with LosesAnswer(config(server), "wizard.account.invoice.pay.execute", nth=2) as lossy:
        wb = TrytonWriteback(lossy)
        with pytest.raises(ErpError, match=rf"record_payment invoice {inv['id']}: .*no answer"):
            wb.record_payment("pay-lost", inv["id"], inv["amount_to_pay"], TODAY, "CASH")
        assert wb.record_payment("pay-lost", inv["id"], inv["amount_to_pay"], TODAY, "CASH")["replayed"]
    assert len(tagged_moves(client, "pay-lost")) == 1
    assert invoice(client, inv["id"])["state"] == "paid"


@integration
def test_a_retry_after_a_lost_delegation_answer_does_not_delegate_twice(server, client, invoices):
    inv, bank = invoices.take(client), funder(client)
    with LosesAnswer(config(server), "wizard.account.move.line.delegate.execute", nth=1) as lossy:
        wb = TrytonWriteback(lossy)
        with pytest.raises(ErpError, match="no answer"):
            wb.mark_financed("fin-lost", inv["id"], bank)
        assert wb.mark_financed("fin-lost", inv["id"], bank)["replayed"]
    assert len(tagged_moves(client, "fin-lost")) == 1


# -- undoing a payment --------------------------------------------------------------------------

RETURNED_ON = TODAY + dt.timedelta(days=1)  # still in the seeded fiscal years


def cash_lines(client: TrytonClient, key: str) -> list[tuple[str, str]]:
    """(debit, credit) of the cash lines of the moves tagged with ``key``."""
    moves = tagged_moves(client, key)
    lines = client.read("account.move.line", [i for m in moves for i in m["lines"]], ["account.code", "debit", "credit"])
    return [(str(ln["debit"]), str(ln["credit"])) for ln in lines if ln["account."]["code"] == "1000"]


@integration
def test_undo_payment_opens_the_paid_invoice_again_once_per_key(client, wb, invoices):
    inv = invoices.take(client)
    paid = wb.record_payment("pay-ret", inv["id"], inv["amount_to_pay"], TODAY, "CASH")
    assert invoice(client, inv["id"])["state"] == "paid"

    undone = wb.undo_payment("undo-ret", inv["id"], "pay-ret", RETURNED_ON, "Returned AC04")
    assert not undone["replayed"] and undone["payment_move_id"] == paid["move"]["move_id"]
    assert (undone["invoice_state"], undone["amount_to_pay"]) == ("posted", str(inv["amount_to_pay"]))
    move = undone["move"]
    assert move["state"] == "posted" and move["date"] == RETURNED_ON.isoformat() and move["journal"] == "CASH"
    assert move["origin"] == f"account.move,{paid['move']['move_id']}"
    assert move["description"] == "Returned AC04 [ll:undo-ret]"
    # the money is back on the bank account, the payable owed again
    assert cash_lines(client, "undo-ret") == [(str(inv["amount_to_pay"]), "0")]
    after = invoice(client, inv["id"])
    assert after["state"] == "posted" and after["amount_to_pay"] == inv["amount_to_pay"]
    lines = client.read("account.move.line", after["lines_to_pay"], ["reconciliation"])
    assert all(ln["reconciliation"] is None for ln in lines)

    again = wb.undo_payment("undo-ret", inv["id"], "pay-ret", RETURNED_ON, "Returned AC04")
    assert again["replayed"] and again["move"] == move
    assert len(tagged_moves(client, "undo-ret")) == 1
    # paid again later: the invoice takes a new payment
    wb.record_payment("pay-ret-2", inv["id"], inv["amount_to_pay"], RETURNED_ON, "CASH")
    assert invoice(client, inv["id"])["state"] == "paid"


@integration
def test_undo_a_partial_payment(client, wb, invoices):
    inv = invoices.take(client)
    wb.record_payment("pay-part", inv["id"], Decimal("40.00"), TODAY, "CASH")
    undone = wb.undo_payment("undo-part", inv["id"], "pay-part", RETURNED_ON)
    assert undone["amount_to_pay"] == str(inv["amount_to_pay"])
    assert invoice(client, inv["id"])["amount_to_pay"] == inv["amount_to_pay"]


@integration
def test_undo_payment_after_a_lost_answer_is_finished_not_repeated(server, client, invoices):
    inv = invoices.take(client)
    TrytonWriteback(client).record_payment("pay-ret-lost", inv["id"], inv["amount_to_pay"], TODAY, "CASH")
    # the reversal is created, then the answer is lost: the retry posts it and reopens the invoice
    with LosesAnswer(config(server), "model.account.move.create", nth=1) as lossy:
        wb = TrytonWriteback(lossy)
        with pytest.raises(ErpError, match=rf"undo_payment invoice {inv['id']}: .*no answer"):
            wb.undo_payment("undo-lost", inv["id"], "pay-ret-lost", RETURNED_ON)
        assert [m["state"] for m in tagged_moves(client, "undo-lost")] == ["draft"]
        assert invoice(client, inv["id"])["state"] == "paid"
        result = wb.undo_payment("undo-lost", inv["id"], "pay-ret-lost", RETURNED_ON)
    assert result["replayed"] and result["invoice_state"] == "posted"
    assert [m["state"] for m in tagged_moves(client, "undo-lost")] == ["posted"]


@integration
def test_undo_of_a_payment_that_is_not_there_is_refused(client, wb, invoices):
    inv = invoices.take(client)
    with pytest.raises(ErpError, match=rf"undo_payment invoice {inv['id']}: no payment recorded with key 'pay-none'"):
        wb.undo_payment("undo-none", inv["id"], "pay-none", RETURNED_ON)
    other = invoices.take(client)
    wb.record_payment("pay-other", other["id"], Decimal("5.00"), TODAY, "CASH")
    with pytest.raises(ErpError, match="already used for move"):  # a payment of another invoice
        wb.undo_payment("undo-other", inv["id"], "pay-other", RETURNED_ON)
    assert not tagged_moves(client, "undo-none") and not tagged_moves(client, "undo-other")


# -- journal entries ----------------------------------------------------------------------------

ENTRY = [("6000", Decimal("250.00"), 0, None, "Bank fees Q3"), ("1000", 0, Decimal("250.00"), None, "Bank fees Q3")]


@integration
def test_journal_entry_is_posted_and_balanced_once_per_key(client, wb):
    result = wb.post_journal_entry("je-1", "MISC", TODAY, ENTRY, "Bank fees")
    move = result["move"]
    assert not result["replayed"] and move["state"] == "posted" and move["post_number"]
    assert move["total_debit"] == move["total_credit"] == "250.00"
    assert [(ln["account"], ln["debit"], ln["credit"]) for ln in move["lines"]] == [
        ("6000", "250.00", "0"), ("1000", "0", "250.00")]
    assert wb.post_journal_entry("je-1", "MISC", TODAY, ENTRY, "Bank fees") == {**result, "replayed": True}
    assert len(tagged_moves(client, "je-1")) == 1
    other = wb.post_journal_entry("je-2", "MISC", TODAY, ENTRY, "Bank fees")
    assert other["move"]["move_id"] != move["move_id"]
    assert len(tagged_moves(client, "je-2")) == 1


@integration
def test_a_key_used_by_a_payment_is_not_taken_for_a_journal_entry(client, wb, invoices):
    inv = invoices.take(client)
    wb.record_payment("shared-key", inv["id"], Decimal("1.00"), TODAY, "CASH")
    with pytest.raises(ErpError, match="already used for move"):
        wb.post_journal_entry("shared-key", "MISC", TODAY, ENTRY, "Bank fees")


@integration
def test_journal_entry_with_a_party_on_the_payable_account(client, wb):
    vendor = client.search_read("party.party", [("categories.name", "=", "Supplier")], 0, 1, None, ["id"])[0]["id"]
    result = wb.post_journal_entry("je-party", 5, TODAY, [
        ("6000", Decimal("99.99"), 0, None, "Accrual"), ("1600", 0, Decimal("99.99"), vendor, "Accrual")])
    assert [ln["party_id"] for ln in result["move"]["lines"]] == [None, vendor]


@integration
def test_a_draft_left_by_a_crash_is_posted_not_duplicated(client, wb):
    """A crash between creating the move and posting it leaves a draft with the key: the retry posts it."""
    (period,) = client.search_read("account.period", [("start_date", "<=", TODAY), ("end_date", ">=", TODAY),
                                                      ("type", "=", "standard")], 0, 1, None, ["id"])
    (journal,) = client.search_read("account.journal", [("code", "=", "MISC")], 0, 1, None, ["id"])
    accounts = {a["code"]: a["id"] for a in client.search_read("account.account", [("code", "!=", None)], 0, None,
                                                               None, ["code"])}
    draft_id, = client.call("model.account.move.create", [{
        "journal": journal["id"], "date": TODAY, "period": period["id"], "description": "Fees [ll:je-crash]",
        "lines": [("create", [{"account": accounts["6000"], "debit": Decimal("7.00"), "credit": Decimal(0)},
                              {"account": accounts["1000"], "debit": Decimal(0), "credit": Decimal("7.00")}])]}],
        {"company": 1})
    result = wb.post_journal_entry("je-crash", "MISC", TODAY, [
        ("6000", Decimal("7.00"), 0, None, ""), ("1000", 0, Decimal("7.00"), None, "")], "Fees")
    assert result["replayed"] and result["move"]["move_id"] == draft_id and result["move"]["state"] == "posted"
    assert len(tagged_moves(client, "je-crash")) == 1


@integration
def test_unknown_account_is_refused_and_nothing_created(client, wb):
    with pytest.raises(ErpError, match="account '9999': not found"):
        wb.post_journal_entry("je-noacc", "MISC", TODAY, [("9999", 1, 0, None, ""), ("1000", 0, 1, None, "")])
    assert not tagged_moves(client, "je-noacc")


# -- the server down ----------------------------------------------------------------------------

@integration
def test_server_down_is_a_clear_error_and_nothing_is_half_applied(server, client, invoices):
    inv = invoices.take(client)
    wb = TrytonWriteback(TrytonClient(config(server, retries=1, timeout=3)))
    wb.client.login()
    server.stop()
    try:
        for call, where in (
            (lambda: wb.record_payment("down-pay", inv["id"], Decimal("10.00"), TODAY, "CASH"),
             f"tryton writeback record_payment invoice {inv['id']}: "),
            (lambda: wb.post_journal_entry("down-je", "MISC", TODAY, ENTRY, "Fees"),
             "tryton writeback post_journal_entry: "),
            (lambda: wb.add_note("down-note", inv["id"], "text"), f"tryton writeback add_note invoice {inv['id']}: "),
        ):
            with pytest.raises(ErpError) as err:
                call()
            assert str(err.value).startswith(where) and "cannot connect" in str(err.value)
            assert server.password not in str(err.value)
    finally:
        server.start()
    assert not tagged_moves(client, "down-pay") and not tagged_moves(client, "down-je")
    assert invoice(client, inv["id"])["amount_to_pay"] == inv["amount_to_pay"]
    assert not wb.record_payment("down-pay", inv["id"], Decimal("10.00"), TODAY, "CASH")["replayed"]
    assert len(tagged_moves(client, "down-pay")) == 1


# -- audit --------------------------------------------------------------------------------------

@integration
def test_apply_writeback_audits_applied_replayed_and_failed(tmp_path: Path, client, wb, invoices):
    inv = invoices.take(client)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        params = {"invoice_id": inv["id"], "amount": Decimal("12.34"), "date": TODAY, "journal": "CASH"}
        first = apply_writeback(store, wb, "record_payment", "audit-pay", actor="tester", **params)
        again = apply_writeback(store, wb, "record_payment", "audit-pay", actor="tester", **params)
        assert again == {**first, "replayed": True}
        assert len(tagged_moves(client, "audit-pay")) == 1
        entry = apply_writeback(store, wb, "post_journal_entry", "audit-je", journal="MISC", date=TODAY,
                                lines=ENTRY, description="Fees")
        with pytest.raises(ErpError, match="unbalanced"):
            apply_writeback(store, wb, "post_journal_entry", "audit-bad", journal="MISC", date=TODAY,
                            lines=ENTRY[:1] + [("1000", 0, Decimal("1"), None, "")], description="Bad")

        entries = list(reversed(store.audit_entries(10)))
        assert [(e["action"], e["details"]["outcome"]) for e in entries] == [
            ("erp.writeback.record_payment", "applied"), ("erp.writeback.record_payment", "replayed"),
            ("erp.writeback.post_journal_entry", "applied"), ("erp.writeback.post_journal_entry", "failed")]
        assert entries[0]["subject"] == f"tryton:account.invoice,{inv['id']}" and entries[0]["actor"] == "tester"
        assert entries[0]["details"]["key"] == "audit-pay"
        assert entries[0]["details"]["params"]["amount"] == "12.34"
        assert entries[0]["details"]["result"]["move"]["move_id"] == first["move"]["move_id"]
        assert entries[2]["subject"] == f"tryton:account.move,{entry['move']['move_id']}"
        assert "unbalanced" in entries[3]["details"]["error"]
        assert store.verify_audit_chain().ok
    finally:
        store.close()
