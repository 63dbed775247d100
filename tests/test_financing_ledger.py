"""Booking financed invoices to the ledger (ledgerlink/financing/ledger.py): plans without a server,
then against a real trytond on the test's own copy of the seeded sandbox, with the accounts of
ledgerlink/financing/accounts.yaml created in it. Expected amounts are computed here from the rates
of sandbox/ecb/eurofxref-hist-sample.csv written out literally."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from connectors.erp.tryton import TrytonClient, TrytonConfig
from connectors.erp.tryton_writeback import TrytonWriteback
from connectors.fx import EcbRates
from ledgerlink.errors import ConfigError
from ledgerlink.financing.ledger import (
    FinancingEvent,
    LedgerAccounts,
    LedgerError,
    book_financing_event,
    financed_positions,
    load_accounts,
    parse_accounts,
    plan_funding,
    plan_maturity,
    rate_between,
)
from ledgerlink.store import Store
from sandbox.tryton.server import TrytonServer
from tests.fixtures.tryton import client_config, private_ledger

integration = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
RATES = EcbRates.load(ROOT / "sandbox" / "ecb" / "eurofxref-hist-sample.csv")
CENT = Decimal("0.01")
# 1 EUR = ... USD in the sample file
USD_2026_11_02, USD_2026_11_27, USD_2026_12_31 = Decimal("1.1105"), Decimal("1.1115"), Decimal("1.0990")


def eur(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount / rate).quantize(CENT, rounding=ROUND_HALF_UP)


def event(step: str = "funding", **overrides) -> FinancingEvent:
    values = {"key": "INV-1", "invoice_id": 1, "vendor": "V1", "currency": "USD", "amount": Decimal("10000.00"),
              "funder_party_id": 2, "funding_date": dt.date(2026, 11, 2), "maturity_date": dt.date(2026, 11, 28),
              "discount": Decimal("50.00"), **overrides}
    return FinancingEvent(step=step, **values)


# -- no server ----------------------------------------------------------------------------------

def test_the_default_accounts_file():
    accounts = load_accounts()
    assert accounts.base_currency == "EUR" and accounts.journal == "MISC" and accounts.discount == "income"
    assert accounts["fx_gain"] == "8600" and accounts["funder_payable"] == "1600"


@pytest.mark.parametrize("doc, message", [
    ({"accounts": {"payable": "1"}}, "missing funder_payable, financing_cost"),
    ({"accounts": {**load_accounts().accounts, "suspense": "9"}}, "unknown suspense"),
    ({"accounts": load_accounts().accounts, "discount": "both"}, "discount must be 'income' or 'cost'"),
    ({"accounts": load_accounts().accounts, "base_currency": "EURO"}, "not an ISO 4217"),
    ([], "expected a mapping"),
])
def test_bad_accounts_files(doc, message):
    with pytest.raises(ConfigError, match=message):
        parse_accounts(doc, "accounts.yaml")


def test_bad_events_are_refused():
    with pytest.raises(LedgerError, match="step 'paid'"):
        event("paid")
    with pytest.raises(LedgerError, match="key must be"):
        event(key="has space")
    with pytest.raises(LedgerError, match="more than 2 decimals"):
        event(amount=Decimal("1.001"))
    with pytest.raises(LedgerError, match="float"):
        event(amount=1.5)
    with pytest.raises(LedgerError, match="more than the discount"):
        event(discount=Decimal("10000.00"))
    with pytest.raises(LedgerError, match="before funding"):
        event(maturity_date=dt.date(2026, 11, 1))


def test_funding_plan_books_the_discount_at_the_funding_rate():
    accounts = load_accounts()
    rate = rate_between(RATES, "USD", "EUR", dt.date(2026, 11, 2))
    plan = plan_funding(event(), accounts, rate)
    d = eur(Decimal("50.00"), USD_2026_11_02)
    assert plan.amount_base == eur(Decimal("10000.00"), USD_2026_11_02) and plan.discount_base == d
    assert plan.owed == Decimal("9950.00") and plan.owed_base == plan.amount_base - d
    (entry,) = plan.entries
    assert entry.key == "ledger:INV-1:discount" and entry.date == dt.date(2026, 11, 2)
    assert [line[:4] for line in entry.lines] == [("1600", d, 0, 2), ("8500", 0, d, None)]
    assert "1 EUR = 1.1105 USD (ECB eurofxref-hist-sample.csv 2026-11-02)" in entry.description
    cost = LedgerAccounts(accounts.accounts, discount="cost")
    (entry,) = plan_funding(event(), cost, rate).entries
    assert [line[:4] for line in entry.lines] == [("6500", d, 0, None), ("1600", 0, d, 2)]
    assert plan_funding(event(), cost, rate).owed == Decimal("10050.00")
    assert not plan_funding(event(discount=Decimal(0)), accounts, rate).entries


def test_maturity_plan_books_the_fx_result():
    accounts = load_accounts()
    funding = rate_between(RATES, "USD", "EUR", dt.date(2026, 11, 2))
    settlement = rate_between(RATES, "USD", "EUR", dt.date(2026, 11, 28))
    assert settlement.rate_date == dt.date(2026, 11, 27)
    plan = plan_maturity(event("maturity"), accounts, funding, settlement)
    carried = eur(Decimal("10000.00"), USD_2026_11_02) - eur(Decimal("50.00"), USD_2026_11_02)
    paid = eur(Decimal("9950.00"), USD_2026_11_27)
    assert plan.fx_result_base == carried - paid > 0
    (entry,) = plan.entries
    assert [line[:4] for line in entry.lines] == [("1600", carried, 0, 2), ("1000", 0, paid, None),
                                                 ("8600", 0, carried - paid, None)]
    eur_plan = plan_maturity(event("maturity", currency="EUR"), accounts,
                             rate_between(RATES, "EUR", "EUR", dt.date(2026, 11, 2)),
                             rate_between(RATES, "EUR", "EUR", dt.date(2026, 11, 28)))
    assert [line[:4] for line in eur_plan.entries[0].lines] == [("1600", Decimal("9950.00"), 0, 2),
                                                                ("1000", 0, Decimal("9950.00"), None)]


def test_positions_from_events():
    events = [event(), event("maturity"), event(key="INV-2", amount=Decimal("2000.00"), discount=Decimal(0)),
              event(key="INV-3", currency="EUR", vendor="V2", amount=Decimal("500.00"), discount=Decimal("5.00"))]
    report = financed_positions(events, RATES)
    v1, v2 = report["rows"]
    assert (v1["vendor"], v1["currency"], v1["invoices"], v1["matured"]) == ("V1", "USD", 2, 1)
    assert v1["volume"] == Decimal("12000.00")
    assert v1["volume_base"] == eur(Decimal("10000.00"), USD_2026_11_02) + eur(Decimal("2000.00"), USD_2026_11_02)
    assert v2["volume_base"] == Decimal("500.00") and v2["discount_income_base"] == Decimal("5.00")
    totals = report["totals"]
    assert totals["volume_base"] == v1["volume_base"] + v2["volume_base"]
    assert totals["fx_result_base"] == v1["fx_result_base"] > 0
    assert totals["invoices"] == 3 and totals["matured"] == 1


def test_maturity_needs_the_funding_booked(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with pytest.raises(LedgerError, match="book the funding step first"):
            book_financing_event(store, None, RATES, event("maturity"))  # type: ignore[arg-type]
    finally:
        store.close()


# -- a real Tryton ------------------------------------------------------------------------------

ACCOUNT_CODES = {"Main Cash": "1000", "Main Payable": "1600"}
NEW_ACCOUNTS = {"Main Expense": [("Financing Cost", "6500"), ("FX Loss", "6600")],
                "Main Revenue": [("Discount Income", "8500"), ("FX Gain", "8600")]}


@pytest.fixture(scope="module")
def server(tryton_server: TrytonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    with private_ledger(tmp_path_factory.mktemp("tryton-ledger"), ACCOUNT_CODES, NEW_ACCOUNTS) as own:
        yield own


def config(server: TrytonServer) -> TrytonConfig:
    return client_config(server)


@pytest.fixture
def client(server: TrytonServer) -> Iterator[TrytonClient]:
    with TrytonClient(config(server)) as c:
        yield c


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield s
    finally:
        s.close()


def take_invoice(client: TrytonClient, currency: str, skip: int = 0) -> dict:
    rows = client.search_read("account.invoice", [("type", "=", "in"), ("state", "=", "posted"),
                                                  ("currency.code", "=", currency)], 0, None, [("id", "ASC")],
                              ["number", "party", "party.name", "amount_to_pay", "total_amount", "alternative_payees"])
    rows = [r for r in rows if r["amount_to_pay"] == r["total_amount"] > Decimal("100")]
    assert len(rows) > skip, f"no open posted {currency} supplier invoice left in the seed data"
    return rows[skip]


def funder(client: TrytonClient) -> int:
    (row,) = client.search_read("party.party", [("name", "=", "Demo Bank N.V.")], 0, 1, None, ["id"])
    return row["id"]


def tagged(client: TrytonClient, key: str) -> list[dict]:
    """The posted moves tagged with ``key``, with their lines as (account code, debit, credit, party)."""
    moves = client.search_read("account.move", [("description", "like", f"%[ll:{key}]%")], 0, None, None,
                               ["state", "date", "description", "lines"])
    for move in moves:
        lines = client.read("account.move.line", move["lines"], ["account.code", "debit", "credit", "party"])
        move["entries"] = sorted(((ln["account."]["code"], ln["debit"], ln["credit"], ln["party"]) for ln in lines),
                                 key=lambda x: (x[0], x[1], x[2]))
    return moves


def assert_balanced(move: dict) -> None:
    assert move["state"] == "posted"
    assert sum((e[1] for e in move["entries"]), Decimal(0)) == sum((e[2] for e in move["entries"]), Decimal(0))


def financed(client, inv, step, **overrides) -> FinancingEvent:
    return FinancingEvent(step=step, key=f"T-{inv['number']}", invoice_id=inv["id"], vendor=inv["party."]["name"],
                          currency=overrides.pop("currency"), amount=inv["amount_to_pay"],
                          funder_party_id=funder(client), **overrides)


@integration
def test_eur_invoice_funded_with_a_discount(client, store):
    inv, bank = take_invoice(client, "EUR"), funder(client)
    ev = financed(client, inv, "funding", currency="EUR", discount=Decimal("12.34"),
                  funding_date=dt.date(2026, 11, 2), maturity_date=dt.date(2026, 11, 27))
    booking = book_financing_event(store, TrytonWriteback(client), RATES, ev)
    assert not booking.replayed and booking.discount_base == Decimal("12.34")
    # the payable now owed to the funder
    (row,) = client.read("account.invoice", [inv["id"]], ["alternative_payees", "amount_to_pay"])
    assert bank in row["alternative_payees"] and row["amount_to_pay"] == inv["amount_to_pay"]
    (delegation,) = tagged(client, f"ledger:{ev.key}:funded")
    assert_balanced(delegation)
    assert sum((e[2] for e in delegation["entries"] if e[3] == bank), Decimal(0)) == inv["amount_to_pay"]
    # the discount, in EUR
    (discount,) = tagged(client, f"ledger:{ev.key}:discount")
    assert_balanced(discount)
    assert discount["date"] == dt.date(2026, 11, 2)
    assert discount["entries"] == [("1600", Decimal("12.34"), 0, bank), ("8500", 0, Decimal("12.34"), None)]

    again = book_financing_event(store, TrytonWriteback(client), RATES, ev)
    assert again.replayed and again.entries == booking.entries
    assert len(tagged(client, f"ledger:{ev.key}:funded")) == len(tagged(client, f"ledger:{ev.key}:discount")) == 1

    maturity = book_financing_event(store, TrytonWriteback(client), RATES,
                                    FinancingEvent(**{**ev.__dict__, "step": "maturity"}))
    (paid,) = tagged(client, f"ledger:{ev.key}:maturity")
    owed = inv["amount_to_pay"] - Decimal("12.34")
    assert paid["entries"] == [("1000", 0, owed, None), ("1600", owed, 0, bank)]
    assert maturity.fx_result_base == 0


@integration
def test_usd_invoice_funded_then_paid_at_another_rate_books_an_fx_gain(client, store):
    inv, bank = take_invoice(client, "USD"), funder(client)
    a, d = inv["amount_to_pay"], Decimal("25.00")
    ev = financed(client, inv, "funding", currency="USD", discount=d, funding_date=dt.date(2026, 11, 2),
                  maturity_date=dt.date(2026, 11, 28))
    wb = TrytonWriteback(client)
    funding = book_financing_event(store, wb, RATES, ev)
    assert funding.funding_rate.rate == USD_2026_11_02 and funding.funding_rate.rate_date == dt.date(2026, 11, 2)
    (row,) = client.read("account.invoice", [inv["id"]], ["alternative_payees"])
    assert bank in row["alternative_payees"]
    (discount,) = tagged(client, f"ledger:{ev.key}:discount")
    assert_balanced(discount)
    d_eur = eur(d, USD_2026_11_02)
    assert discount["entries"] == [("1600", d_eur, 0, bank), ("8500", 0, d_eur, None)]
    assert "1 EUR = 1.1105 USD (ECB eurofxref-hist-sample.csv 2026-11-02)" in discount["description"]

    mat = FinancingEvent(**{**ev.__dict__, "step": "maturity"})
    first = book_financing_event(store, wb, RATES, mat)
    second = book_financing_event(store, wb, RATES, mat)
    assert not first.replayed and second.replayed
    (paid,) = tagged(client, f"ledger:{ev.key}:maturity")
    assert_balanced(paid)
    carried = eur(a, USD_2026_11_02) - d_eur
    settled = eur(a - d, USD_2026_11_27)  # Saturday 2026-11-28: Friday's rate
    gain = carried - settled
    assert gain > 0 and first.fx_result_base == gain
    assert paid["date"] == dt.date(2026, 11, 28)
    assert paid["entries"] == sorted([("1600", carried, 0, bank), ("1000", 0, settled, None), ("8600", 0, gain, None)],
                                     key=lambda x: (x[0], x[1], x[2]))
    assert "settled at 1 EUR = 1.1115 USD (ECB eurofxref-hist-sample.csv 2026-11-27)" in paid["description"]

    actions = [(e["action"], e["details"].get("outcome") or e["details"].get("replayed"))
               for e in reversed(store.audit_entries(20))]
    assert actions.count(("erp.writeback.post_journal_entry", "replayed")) == 1
    assert ("financing.ledger.maturity", True) in actions
    assert store.verify_audit_chain().ok


@integration
def test_usd_financing_cost_and_an_fx_loss_then_the_positions_report(client, store):
    first, second, bank = take_invoice(client, "USD", skip=1), take_invoice(client, "EUR", skip=1), funder(client)
    cost = LedgerAccounts(load_accounts().accounts, discount="cost")
    wb = TrytonWriteback(client)
    usd = financed(client, first, "funding", currency="USD", discount=Decimal("40.00"),
                   funding_date=dt.date(2026, 11, 27), maturity_date=dt.date(2026, 12, 31))
    eur_ev = financed(client, second, "funding", currency="EUR", discount=Decimal("3.00"),
                      funding_date=dt.date(2026, 11, 27), maturity_date=dt.date(2026, 12, 31))
    events = [usd, FinancingEvent(**{**usd.__dict__, "step": "maturity"}), eur_ev]
    for ev in events:
        book_financing_event(store, wb, RATES, ev, accounts=cost)
    book_financing_event(store, wb, RATES, events[1], accounts=cost)  # again: books nothing new

    d_eur = eur(Decimal("40.00"), USD_2026_11_27)
    (discount,) = tagged(client, f"ledger:{usd.key}:discount")
    assert discount["entries"] == [("1600", 0, d_eur, bank), ("6500", d_eur, 0, None)]
    owed = first["amount_to_pay"] + Decimal("40.00")
    carried = eur(first["amount_to_pay"], USD_2026_11_27) + d_eur
    settled = eur(owed, USD_2026_12_31)
    loss = settled - carried
    (paid,) = tagged(client, f"ledger:{usd.key}:maturity")
    assert_balanced(paid)
    assert loss > 0
    assert paid["entries"] == [("1000", 0, settled, None), ("1600", carried, 0, bank), ("6600", loss, 0, None)]

    report = financed_positions(store)
    rows = {(r["vendor"], r["currency"]): r for r in report["rows"]}
    usd_row = rows[(usd.vendor, "USD")]
    assert usd_row["volume"] == first["amount_to_pay"] and usd_row["matured"] == 1
    assert usd_row["volume_base"] == eur(first["amount_to_pay"], USD_2026_11_27)
    assert usd_row["financing_cost_base"] == d_eur and usd_row["fx_result_base"] == -loss
    eur_row = rows[(eur_ev.vendor, "EUR")]
    assert eur_row["volume_base"] == second["amount_to_pay"] and eur_row["financing_cost_base"] == Decimal("3.00")
    totals = report["totals"]
    assert totals["invoices"] == 2 and totals["matured"] == 1
    assert totals["volume_base"] == usd_row["volume_base"] + eur_row["volume_base"]
    assert totals["financing_cost_base"] == d_eur + Decimal("3.00") and totals["fx_result_base"] == -loss
    # the same figures planned from the events alone
    assert financed_positions(events, RATES, accounts=cost) == report
