"""Financing end to end against a live Tryton and the platform simulator: Tryton supplier invoices
synced by the feed code, decided, pushed, funded and paid on the simulated clock, the results booked
back to Tryton (ledgerlink/financing/writeback.py), and the three-way reconciliation. Each test has
its own copy of the seeded Tryton, with the account codes of ledgerlink/financing/accounts.yaml.

Everything happens on fixed dates inside the sandbox's fiscal years (2024-2028) and the ECB sample:
the platform's clock starts on 2026-11-02 and the invoices financed are due in November or December
2026."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from connectors.erp.tryton import TrytonClient, TrytonConfig, TrytonSource
from connectors.erp.tryton_writeback import TrytonWriteback
from connectors.financing import ScfClient
from connectors.fx import EcbRates
from ledgerlink.erp.sync import sync
from ledgerlink.financing.decide import decide_and_enqueue
from ledgerlink.financing.ledger import rate_between, recorded_bookings
from ledgerlink.financing.push import send_pending
from ledgerlink.financing.report import reconciliation
from ledgerlink.financing.rules import parse_rules
from ledgerlink.financing.status import sync_statuses
from ledgerlink.financing.writeback import book_new_statuses, booking_key, ledger_reconciliation
from ledgerlink.store import Store
from ledgerlink.store.outbox import Outbox
from sandbox.scf_platform import Party, ScfConfig, ScfPlatform, SimClock
from sandbox.tryton.server import TrytonServer
from tests.fixtures.tryton import client_config, private_ledger

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
RATES = EcbRates.load(ROOT / "sandbox" / "ecb" / "eurofxref-hist-sample.csv")
BUYER_KEY = "sk_test_buyer_e2e_7d21"
FUNDER = "Demo Bank N.V."
START = dt.date(2026, 11, 2)        # the platform's clock, and "today" for the eligibility rules
LAST_DUE = dt.date(2026, 12, 31)
CENT = Decimal("0.01")
ACCOUNT_CODES = {"Main Cash": "1000", "Main Payable": "1600"}
NEW_ACCOUNTS = {"Main Expense": [("Financing Cost", "6500"), ("FX Loss", "6600")],
                "Main Revenue": [("Discount Income", "8500"), ("FX Gain", "8600")]}


def config(server: TrytonServer) -> TrytonConfig:
    return client_config(server)


@pytest.fixture
def tryton(tryton_server: TrytonServer, tmp_path: Path) -> Iterator[TrytonServer]:
    with private_ledger(tmp_path, ACCOUNT_CODES, NEW_ACCOUNTS) as own:
        yield own


@pytest.fixture
def tc(tryton: TrytonServer) -> Iterator[TrytonClient]:
    with TrytonClient(config(tryton)) as c:
        yield c


def pick_invoices(client: TrytonClient) -> list[dict]:
    """One fully open posted supplier invoice in EUR and one in USD, of two vendors, due in 2026 with
    one line to pay (Net 30 or Net 60)."""
    rows = client.search_read("account.invoice", [("type", "=", "in"), ("state", "=", "posted"),
                                                  ("currency.code", "in", ["EUR", "USD"])], 0, None, [("id", "ASC")],
                              ["reference", "party", "party.code", "currency.code", "total_amount", "amount_to_pay",
                               "payment_term.name", "lines_to_pay"])
    chosen: list[dict] = []
    for currency in ("EUR", "USD"):
        for row in rows:
            if row["currency."]["code"] != currency or row["party."]["code"] in {c["party."]["code"] for c in chosen}:
                continue
            if row["amount_to_pay"] != row["total_amount"] or len(row["lines_to_pay"]) != 1:
                continue
            if row["payment_term."]["name"] not in ("Net 30", "Net 60"):
                continue
            (line,) = client.read("account.move.line", row["lines_to_pay"], ["maturity_date"])
            if START + dt.timedelta(days=10) <= line["maturity_date"] <= LAST_DUE:
                chosen.append({**row, "due_date": line["maturity_date"]})
                break
    assert [c["currency."]["code"] for c in chosen] == ["EUR", "USD"], "no suitable invoices in the seed data"
    return chosen


def rules_for(invoices: list[dict]) -> str:
    # Each currency's range is the chosen invoice's amount: exactly those two are eligible.
    amounts = {inv["currency."]["code"]: format(inv["total_amount"], "f") for inv in invoices}
    vendors = ", ".join(f'"{inv["party."]["code"]}"' for inv in invoices)
    ranges = "\n".join(f'  {c}: {{min: "{a}", max: "{a}"}}' for c, a in amounts.items())
    return (f'version: 1\nrevision: "e2e"\nplatform: scf-e2e\npilot_vendors: [{vendors}]\ncurrencies:\n{ranges}\n'
            f"days_to_due: {{min: 10, max: {(LAST_DUE - START).days}}}\npayment_terms: [Net 30, Net 60]\n")


@dataclass
class Flow:
    store: Store
    platform: ScfPlatform
    scf: ScfClient
    tryton: TrytonClient
    writeback: TrytonWriteback
    invoices: list[dict]

    def book(self):
        return book_new_statuses(self.store, self.writeback, RATES, funder_party=FUNDER)

    def reconcile(self):
        return ledger_reconciliation(self.store, self.scf, self.tryton, funder_party=FUNDER)


@pytest.fixture
def flow(tryton: TrytonServer, tc: TrytonClient, tmp_path: Path) -> Iterator[Flow]:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    invoices = pick_invoices(tc)
    vendors = frozenset(inv["party."]["code"] for inv in invoices)
    scf_config = ScfConfig(api_keys={BUYER_KEY: Party("buyer", "BUYER-1")}, auto_accept_suppliers=vendors)
    clock = SimClock(datetime.combine(START, dt.time(9, 0), tzinfo=UTC))
    with ScfPlatform(scf_config, clock=clock, background_webhooks=False) as platform:
        scf = ScfClient(platform.url, BUYER_KEY, timeout=5.0, max_attempts=3, backoff=0.01, backoff_max=0.02,
                        max_retry_after=0.05, sleep=lambda _s: None, platform="scf-e2e")
        try:
            # the Tryton feeds' own code: vendors and supplier invoices into the store
            with TrytonSource(config(tryton)) as source:
                vendors_run = sync(store, "tryton_vendors", source, "vendors",
                                   ROOT / "mappings" / "tryton" / "tryton_vendor.yaml")
                invoices_run = sync(store, "tryton_supplier_invoices", source, "supplier_invoices",
                                    ROOT / "mappings" / "tryton" / "tryton_supplier_invoice.yaml")
            assert vendors_run.inserted > 0 and invoices_run.inserted > 0
            # Tryton keeps IBANs on the vendor only: sending takes the vendor master's IBAN.
            assert not any(r["payload"].get("vendor_iban") for r in store.current_records("invoice"))
            decided = decide_and_enqueue(store, None, START, "e2e", rules=parse_rules(rules_for(invoices), "r.yaml"))
            assert decided.enqueued == 2
            sent = send_pending(store, scf, "w1", 100, box=Outbox(store))
            assert sent.sent == 2
            yield Flow(store, platform, scf, tc, TrytonWriteback(tc), invoices)
        finally:
            scf.close()
            store.close()


def funder_id(client: TrytonClient) -> int:
    (row,) = client.search_read("party.party", [("name", "=", FUNDER)], 0, 1, None, ["id"])
    return row["id"]


def tagged(client: TrytonClient, key: str) -> list[dict]:
    moves = client.search_read("account.move", [("description", "like", f"%[ll:{key}]%")], 0, None, None,
                               ["state", "date", "description", "lines"])
    for move in moves:
        lines = client.read("account.move.line", move["lines"], ["account.code", "debit", "credit", "party",
                                                                 "amount_second_currency"])
        move["entries"] = sorted(((ln["account."]["code"], ln["debit"], ln["credit"], ln["party"]) for ln in lines),
                                 key=lambda x: (x[0], x[1], x[2]))
        move["funder_second"] = [ln["amount_second_currency"] for ln in lines]
    return moves


def all_tagged(client: TrytonClient) -> list[dict]:
    return client.search_read("account.move", [("description", "like", "%[ll:ledger:%")], 0, None, None,
                              ["state", "description"])


def requests(store: Store) -> dict[str, dict]:
    return {r["payload"]["invoice_number"]: r["payload"] for r in store.current_records("financing_request")}


def base(amount: Decimal, currency: str, on: dt.date) -> Decimal:
    if currency == "EUR":
        return amount
    rate = rate_between(RATES, currency, "EUR", on).rate  # 1 EUR = rate USD
    return (amount / rate).quantize(CENT, rounding=ROUND_HALF_UP)


def advance_and_sync(flow: Flow, days: float) -> dict[str, int]:
    flow.platform.clock.advance(days=days)
    return sync_statuses(flow.store, flow.scf).by_status


def test_funded_and_paid_invoices_are_booked_to_tryton_once(flow: Flow):
    store, tc, bank = flow.store, flow.tryton, funder_id(flow.tryton)
    assert advance_and_sync(flow, 1.5) == {"funded": 2}
    first = flow.book()
    assert first.booked == {"funding": 2, "maturity": 0} and not first.failed and first.replayed == 0
    assert flow.reconcile()["zero_differences"]

    reqs = requests(store)
    for inv in flow.invoices:
        req = reqs[inv["reference"]]
        key, currency = booking_key(req), inv["currency."]["code"]
        funded_on = dt.date.fromisoformat(req["funded_date"])
        assert funded_on == START + dt.timedelta(days=1)
        (row,) = tc.read("account.invoice", [inv["id"]], ["alternative_payees", "amount_to_pay"])
        assert bank in row["alternative_payees"]
        (delegation,) = tagged(tc, f"ledger:{key}:funded")
        assert delegation["state"] == "posted"
        credited = sum((e[2] - e[1] for e in delegation["entries"] if e[3] == bank), Decimal(0))
        assert credited > 0
        if currency == "EUR":
            assert credited == inv["total_amount"]
        discount = Decimal(req["discount_amount"])
        assert discount > 0 and Decimal(req["funded_amount"]) + discount == inv["total_amount"]
        (entry,) = tagged(tc, f"ledger:{key}:discount")
        d = base(discount, currency, funded_on)
        assert entry["state"] == "posted" and entry["date"] == funded_on
        assert entry["entries"] == [("1600", d, 0, bank), ("8500", 0, d, None)]
        assert not tagged(tc, f"ledger:{key}:maturity")

    assert advance_and_sync(flow, 60) == {"paid": 2}
    second = flow.book()
    assert second.booked == {"funding": 0, "maturity": 2} and second.already_booked == 2 and not second.failed
    reqs = requests(store)
    fx_results = {}
    for inv in flow.invoices:
        req = reqs[inv["reference"]]
        key, currency = booking_key(req), inv["currency."]["code"]
        funded_on, due = dt.date.fromisoformat(req["funded_date"]), dt.date.fromisoformat(req["maturity_date"])
        assert due == inv["due_date"]
        owed = Decimal(req["funded_amount"])
        carried = base(inv["total_amount"], currency, funded_on) - base(Decimal(req["discount_amount"]), currency,
                                                                         funded_on)
        settled = base(owed, currency, due)
        (paid,) = tagged(tc, f"ledger:{key}:maturity")
        assert paid["state"] == "posted" and paid["date"] == due
        expected = [("1000", 0, settled, None), ("1600", carried, 0, bank)]
        fx = carried - settled
        if fx > 0:
            expected.append(("8600", 0, fx, None))
        elif fx < 0:
            expected.append(("6600", -fx, 0, None))
        assert paid["entries"] == sorted(expected, key=lambda x: (x[0], x[1], x[2]))
        fx_results[currency] = fx
    assert fx_results["EUR"] == 0
    assert fx_results["USD"] != 0  # the USD rate moved between funding and maturity in the sample
    usd = next(b for b in recorded_bookings(store) if b.currency == "USD" and b.step == "maturity")
    assert usd.fx_result_base == fx_results["USD"] and usd.funding_rate.rate_date <= usd.settlement_rate.rate_date

    # booking again books nothing; the ledger holds one move per step
    moves = all_tagged(tc)
    third = flow.book()
    assert third.booked == {"funding": 0, "maturity": 0} and third.already_booked == 4 and not third.failed
    assert all_tagged(tc) == moves and len(moves) == 6 and {m["state"] for m in moves} == {"posted"}

    report = flow.reconcile()
    assert report == {"zero_differences": True, "checked": 2, "differences": []}
    assert reconciliation(store, flow.scf)["zero_differences"]
    assert store.verify_audit_chain().ok


def test_reconciliation_lists_what_differs(flow: Flow):
    assert advance_and_sync(flow, 1.5) == {"funded": 2}
    # funded on the platform and in ledgerlink, nothing booked yet
    report = flow.reconcile()
    kinds = sorted(d["difference"] for d in report["differences"])
    assert not report["zero_differences"] and report["checked"] == 2
    assert kinds == sorted(["delegation", "funder_not_payee", "funding_not_booked", "discount_entry"] * 2)
    flow.book()
    assert flow.reconcile()["zero_differences"]
    # the platform pays out, ledgerlink has not synced: a status difference, nothing booked at maturity
    flow.platform.clock.advance(days=60)
    report = flow.reconcile()
    assert {(d["difference"], d["ledgerlink"], d["platform"]) for d in report["differences"]} == {
        ("status", "funded", "paid")}


class StopsErp:
    """A Tryton client whose server is stopped just before the n-th journal entry is created."""

    def __init__(self, client: TrytonClient, server: TrytonServer, at: int = 1) -> None:
        self._client, self._server, self._left = client, server, at

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def call(self, method: str, *params):
        if method == "model.account.move.create":
            self._left -= 1
            if self._left == 0:
                self._server.stop()
        return self._client.call(method, *params)

    def search_read(self, model, domain, offset=0, limit=None, order=None, fields=None, context=None):
        return self.call(f"model.{model}.search_read", domain, offset, limit, order, fields, context or {})

    def read(self, model, ids, fields, context=None):
        return self.call(f"model.{model}.read", ids, fields, context or {}) if ids else []


def test_erp_stopped_during_booking_then_the_rerun_completes(flow: Flow, tryton: TrytonServer):
    store, tc = flow.store, flow.tryton
    assert advance_and_sync(flow, 61.5) == {"paid": 2}
    failing = TrytonWriteback(StopsErp(tc, tryton))  # type: ignore[arg-type]
    result = book_new_statuses(store, failing, RATES, funder_party=FUNDER)
    # the first step stopped between its delegation and its discount entry; the rest waits
    assert result.booked == {"funding": 0, "maturity": 0} and result.not_attempted == 3
    (failure,) = result.failed
    assert failure["step"] == "funding" and "post_journal_entry" in failure["error"]
    assert recorded_bookings(store) == []
    audit = [e for e in store.audit_entries(100) if e["action"] == "erp.writeback.post_journal_entry"]
    assert [e["details"]["outcome"] for e in audit] == ["failed"]

    tryton.restart()
    moves = all_tagged(tc)
    # each move is one Tryton transaction: the delegation is there and posted, no entry half-written
    assert [(m["state"], m["description"].rsplit("[ll:", 1)[1]) for m in moves] == [
        ("posted", f"ledger:{failure['key']}:funded]")]

    rerun = flow.book()
    assert rerun.booked == {"funding": 2, "maturity": 2} and not rerun.failed and rerun.replayed == 0
    keys = {booking_key(r) for r in requests(store).values()}
    for key in keys:
        for step in ("funded", "discount", "maturity"):
            assert len(tagged(tc, f"ledger:{key}:{step}")) == 1, (key, step)
    assert len(all_tagged(tc)) == 6 and {m["state"] for m in all_tagged(tc)} == {"posted"}
    assert len(recorded_bookings(store)) == 4
    assert flow.book().already_booked == 4
    assert flow.reconcile()["zero_differences"]


def test_unknown_invoice_fails_that_request_only(flow: Flow, tc: TrytonClient):
    assert advance_and_sync(flow, 1.5) == {"funded": 2}
    eur = flow.invoices[0]
    tc.write("account.invoice", [eur["id"]], {"reference": f"{eur['reference']}-X"})
    result = flow.book()
    assert result.booked["funding"] == 1 and result.not_attempted == 0
    (failure,) = result.failed
    assert "no posted supplier invoice in Tryton" in failure["error"]


# ------------------------------------------------------------------------------------ the DAG
@pytest.mark.airflow
@pytest.mark.slow
def test_status_dag_books_to_the_ledger_when_configured(flow: Flow, tryton: TrytonServer, tmp_path, monkeypatch,
                                                        airflow_db):
    from urllib.parse import quote

    from ledgerlink.airflow.financing import build_status_dag

    monkeypatch.setenv("LEDGERLINK_STORE_URL", str(flow.store.engine.url))
    monkeypatch.setenv("LEDGERLINK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRFLOW_CONN_LEDGERLINK_SCF", f"http://:{BUYER_KEY}@127.0.0.1:{flow.platform.port}")
    monkeypatch.delenv("AIRFLOW_CONN_LEDGERLINK_TRYTON", raising=False)
    flow.platform.clock.advance(days=1.5)
    run = build_status_dag().test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"sync": "success", "report": "success", "book_ledger": "success"}
    assert recorded_bookings(flow.store) == [] and all_tagged(flow.tryton) == []  # not configured: nothing booked

    rates = quote(str(ROOT / "sandbox" / "ecb" / "eurofxref-hist-sample.csv"), safe="")
    monkeypatch.setenv("AIRFLOW_CONN_LEDGERLINK_TRYTON",
                       f"{tryton.connection_uri()}?funder_party={quote(FUNDER)}&ecb_rates={rates}")
    flow.platform.clock.advance(days=60)
    run = build_status_dag().test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"sync": "success", "report": "success", "book_ledger": "success"}
    assert len(recorded_bookings(flow.store)) == 4 and len(all_tagged(flow.tryton)) == 6
    assert flow.reconcile()["zero_differences"]
