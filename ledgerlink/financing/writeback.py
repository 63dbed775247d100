"""Financing results written back to the Tryton ledger, and the three-way reconciliation.

    result = book_new_statuses(store, TrytonWriteback(tryton_client), rates, funder_party="Demo Bank N.V.")
    report = ledger_reconciliation(store, scf_client, tryton_client, funder_party="Demo Bank N.V.")

``book_new_statuses`` books every ``financing_request`` that reached ``funded`` (the funding step) or
``paid`` (funding, then maturity) and whose step is not yet among the bookings kept in the audit
log (:func:`ledgerlink.financing.ledger.recorded_bookings`): a second run books nothing. The Tryton
invoice of a request is the posted supplier invoice of the vendor (party code) whose ``reference``
is the invoice number, as the ``tryton_supplier_invoices`` feed maps them. Booking keys are
``<vendor_id>/<invoice_number>``: invoice numbers are the vendors' own and repeat across vendors.

A step whose booking fails (ERP unreachable, no such invoice) is reported in ``failed`` and booked
by the next run; each Tryton move is written in one Tryton transaction and carries its key, so a
step interrupted between its moves is finished, not repeated, by the rerun. After an ERP error the
remaining requests are left to the next run rather than each waiting out the retries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from connectors.erp.base import ErpError
from connectors.erp.tryton import TrytonClient
from connectors.financing.rest import ScfClient
from connectors.fx.ecb import EcbRates
from ledgerlink.erp.writeback import Writeback
from ledgerlink.errors import LedgerlinkError
from ledgerlink.financing.ledger import (
    Booking,
    FinancingEvent,
    LedgerAccounts,
    LedgerError,
    book_financing_event,
    load_accounts,
    recorded_bookings,
)
from ledgerlink.financing.status import ENTITY, FUNDED_STATUSES
from ledgerlink.model.money import exact_sum
from ledgerlink.store.store import DEFAULT_ACTOR, Store

log = logging.getLogger("ledgerlink.financing")


def booking_key(request: Mapping[str, Any]) -> str:
    return f"{request['vendor_id']}/{request['invoice_number']}"


def steps_for(status: str) -> tuple[str, ...]:
    if status == "paid":
        return ("funding", "maturity")
    if status == "funded":
        return ("funding",)
    return ()


@dataclass
class BookingResult:
    booked: dict[str, int] = field(default_factory=lambda: {"funding": 0, "maturity": 0})
    already_booked: int = 0     # steps found among the recorded bookings: Tryton not called
    replayed: int = 0           # booked now, but every move was already in Tryton (an earlier run died)
    not_attempted: int = 0      # left to the next run after an ERP error
    failed: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"booked": dict(self.booked), "already_booked": self.already_booked, "replayed": self.replayed,
                "not_attempted": self.not_attempted, "failed": list(self.failed)}


def find_invoice(client: TrytonClient, party_code: str, invoice_number: str, *,
                 direction: str = "payable") -> dict[str, Any]:
    """The posted (or paid) Tryton invoice behind a canonical invoice: a supplier invoice by the vendor's
    number (Tryton's ``reference``), a customer invoice (``receivable``) by Tryton's own ``number``."""
    kind, number_field = ("out", "number") if direction == "receivable" else ("in", "reference")
    rows = client.search_read("account.invoice", [
        ("type", "=", kind), (number_field, "=", invoice_number), ("party.code", "=", party_code),
        ("state", "in", ["posted", "paid"])], 0, 2, [("id", "ASC")],
        ["number", "reference", "state", "party", "currency.code", "total_amount", "amount_to_pay",
         "alternative_payees"])
    if len(rows) != 1:
        what = "customer" if direction == "receivable" else "supplier"
        raise LedgerError(f"invoice {invoice_number} of {what} {party_code}: "
                          + (f"no posted {what} invoice in Tryton" if not rows else "more than one in Tryton"))
    return rows[0]


def party_id(client: TrytonClient, party: int | str) -> int:
    """A Tryton party by id, code or name."""
    if isinstance(party, int) and not isinstance(party, bool):
        return party
    rows = client.search_read("party.party", ["OR", ("code", "=", party), ("name", "=", party)], 0, 2, None, ["id"])
    if len(rows) != 1:
        raise LedgerError(f"funder party {party!r}: {'not found' if not rows else 'more than one'} in Tryton")
    return int(rows[0]["id"])


def _client(writeback: Writeback) -> TrytonClient:
    client = getattr(writeback, "client", None)
    if client is None:
        raise LedgerError("the writeback has no Tryton client to look invoices up with")
    return client


def book_new_statuses(store: Store, writeback: Writeback, rates: EcbRates, *, funder_party: int | str,
                      accounts: LedgerAccounts | None = None, actor: str = DEFAULT_ACTOR) -> BookingResult:
    """Book the funding and maturity steps of funded and paid requests not booked yet."""
    accounts = accounts or load_accounts()
    result = BookingResult()
    done = {(b.invoice_key, b.step) for b in recorded_bookings(store)}
    todo: list[tuple[dict[str, Any], str]] = []
    for record in sorted(store.current_records(ENTITY), key=lambda r: r["natural_key"]):
        request = record["payload"]
        for step in steps_for(request["status"]):
            if (booking_key(request), step) in done:
                result.already_booked += 1
            else:
                todo.append((request, step))
    if not todo:
        return result
    client = _client(writeback)
    funder_id: int | None = None
    invoices: dict[str, int] = {}
    for n, (request, step) in enumerate(todo):
        key = booking_key(request)
        try:
            if funder_id is None:
                funder_id = party_id(client, funder_party)
            if key not in invoices:
                invoices[key] = int(find_invoice(client, request["vendor_id"], request["invoice_number"])["id"])
            event = FinancingEvent.from_request(request, step, invoice_id=invoices[key], funder_party_id=funder_id)
            event = FinancingEvent(**{**event.__dict__, "key": key})
            booking = book_financing_event(store, writeback, rates, event, accounts=accounts, actor=actor)
        except ErpError as exc:
            result.failed.append({"request_id": request["request_id"], "key": key, "step": step, "error": str(exc)})
            result.not_attempted = len(todo) - n - 1
            log.error("ledger booking %s %s failed, the ERP is not answering; %d step(s) left for the next run: %s",
                      key, step, result.not_attempted, exc)
            break
        except LedgerlinkError as exc:
            result.failed.append({"request_id": request["request_id"], "key": key, "step": step, "error": str(exc)})
            log.error("ledger booking %s %s failed: %s", key, step, exc)
            continue
        result.booked[step] += 1
        result.replayed += int(booking.replayed)
    log.info("ledger booking: %s", result.as_dict())
    return result


# -- reconciliation -----------------------------------------------------------------------------

def _tagged(client: TrytonClient, key: str) -> list[dict[str, Any]]:
    marker = f"[ll:{key}]"
    moves = client.search_read("account.move", [("description", "like", f"%{marker}%")], 0, None, [("id", "ASC")],
                               ["state", "date", "description", "lines", "origin"])
    moves = [m for m in moves if marker in (m.get("description") or "")]
    for move in moves:
        move["entries"] = client.read("account.move.line", list(move["lines"]),
                                      ["account.code", "debit", "credit", "party", "amount_second_currency"])
    return moves


def _amount(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def ledger_reconciliation(store: Store, client: ScfClient, tryton_client: TrytonClient, *,
                          funder_party: int | str, accounts: LedgerAccounts | None = None) -> dict[str, Any]:
    """ledgerlink, the platform and the Tryton ledger compared per financed invoice.

    For each request funded or paid in ledgerlink or on the platform: the platform's status and
    amounts (amount, discount, funded amount) against the synced request; in Tryton, the invoice's
    lines to pay delegated to the funder for the invoice amount (one posted delegation move, the
    funder among the alternative payees), the discount entry as booked (one posted move), and for a
    paid request the funder paid at maturity with the FX result as booked; no maturity entry for a
    request that is not paid. ``zero_differences`` when nothing differs.
    """
    accounts = accounts or load_accounts()
    funder_id = party_id(tryton_client, funder_party)
    bookings: dict[tuple[str, str], Booking] = {(b.invoice_key, b.step): b for b in recorded_bookings(store)}
    differences: list[dict[str, Any]] = []
    checked = 0
    for record in sorted(store.current_records(ENTITY), key=lambda r: r["natural_key"]):
        ours = record["payload"]
        key = booking_key(ours)
        platform = client.get_invoice(ours["platform_reference"]) if ours.get("platform_reference") else None
        theirs = (platform or {}).get("status")
        if ours["status"] not in FUNDED_STATUSES and theirs not in FUNDED_STATUSES \
                and not any(k == key for k, _ in bookings):
            continue
        checked += 1
        ref = {"key": key, "request_id": ours["request_id"], "platform_id": ours.get("platform_reference")}

        differ = partial(_differ, differences, ref)
        if platform is None:
            differ("missing_on_platform")
        else:
            if theirs != ours["status"]:
                differ("status", ledgerlink=ours["status"], platform=theirs)
            pairs = (("amount", ours.get("amount"), platform.get("amount")),
                     ("discount_amount", ours.get("discount_amount"), (platform.get("offer") or {}).get("discount_amount")),
                     ("funded_amount", ours.get("funded_amount"), platform.get("funded_amount")))
            for name, mine, other in pairs:
                if _amount(mine) != _amount(other):
                    differ(name, ledgerlink=mine, platform=other)
        try:
            invoice = find_invoice(tryton_client, ours["vendor_id"], ours["invoice_number"])
        except LedgerError as exc:
            differ("invoice_not_in_ledger", error=str(exc))
            continue
        _check_ledger(tryton_client, ours, key, invoice, funder_id, bookings, accounts, differ)
    return {"zero_differences": not differences, "checked": checked, "differences": differences}


def _differ(differences: list[dict[str, Any]], ref: dict[str, Any], kind: str, **details: Any) -> None:
    differences.append({**ref, "difference": kind, **details})


def _check_ledger(tryton: TrytonClient, ours: Mapping[str, Any], key: str, invoice: Mapping[str, Any],
                  funder_id: int, bookings: Mapping[tuple[str, str], Booking], accounts: LedgerAccounts,
                  differ: Any) -> None:
    funded = ours["status"] in FUNDED_STATUSES
    amount = Decimal(ours["amount"])
    base = accounts.base_currency
    delegations = _tagged(tryton, f"ledger:{key}:funded")
    if not funded:
        if delegations:
            differ("delegated_but_not_funded", moves=[m["id"] for m in delegations])
        return
    if len(delegations) != 1 or delegations[0]["state"] != "posted":
        differ("delegation", expected="one posted move", found=[(m["id"], m["state"]) for m in delegations])
    else:
        lines = [ln for ln in delegations[0]["entries"] if ln.get("party") == funder_id]
        if ours["currency"] == base:
            delegated = exact_sum(ln["credit"] - ln["debit"] for ln in lines)
        else:
            delegated = -exact_sum(ln.get("amount_second_currency") or Decimal(0) for ln in lines)
        if delegated != amount:
            differ("delegated_amount", ledgerlink=format(amount, "f"), ledger=format(delegated, "f"))
    if funder_id not in (invoice.get("alternative_payees") or []):
        differ("funder_not_payee", invoice_id=invoice["id"])

    funding = bookings.get((key, "funding"))
    discount = Decimal(ours.get("discount_amount") or 0)
    discounts = _tagged(tryton, f"ledger:{key}:discount")
    if funding is None:
        differ("funding_not_booked")
    elif funding.discount != discount:
        differ("discount_booked", ledgerlink=format(discount, "f"), booked=format(funding.discount, "f"))
    if discount > 0:
        if len(discounts) != 1 or discounts[0]["state"] != "posted":
            differ("discount_entry", expected="one posted move", found=[(m["id"], m["state"]) for m in discounts])
        elif funding is not None:
            on_funder = [ln for ln in discounts[0]["entries"]
                         if ln["account."]["code"] == accounts["funder_payable"] and ln.get("party") == funder_id]
            booked = exact_sum(ln["debit"] + ln["credit"] for ln in on_funder)
            if booked != funding.discount_base:
                differ("discount_amount_in_ledger", booked=format(funding.discount_base, "f"),
                       ledger=format(booked, "f"))
    elif discounts:
        differ("discount_entry_without_discount", moves=[m["id"] for m in discounts])

    maturities = _tagged(tryton, f"ledger:{key}:maturity")
    if ours["status"] != "paid":
        if maturities:
            differ("maturity_booked_but_not_paid", moves=[m["id"] for m in maturities])
        return
    maturity = bookings.get((key, "maturity"))
    if len(maturities) != 1 or maturities[0]["state"] != "posted":
        differ("maturity_entry", expected="one posted move", found=[(m["id"], m["state"]) for m in maturities])
        return
    if maturity is None:
        differ("maturity_not_booked")
        return
    entries = maturities[0]["entries"]
    paid = exact_sum(ln["debit"] for ln in entries
                     if ln["account."]["code"] == accounts["funder_payable"] and ln.get("party") == funder_id)
    bank = exact_sum(ln["credit"] for ln in entries if ln["account."]["code"] == accounts["bank"])
    fx = exact_sum(ln["credit"] - ln["debit"] for ln in entries
                   if ln["account."]["code"] in (accounts["fx_gain"], accounts["fx_loss"]))
    if paid != maturity.owed_base:
        differ("funder_paid", booked=format(maturity.owed_base, "f"), ledger=format(paid, "f"))
    if bank != maturity.settled_base:
        differ("bank", booked=format(maturity.settled_base or 0, "f"), ledger=format(bank, "f"))
    if fx != maturity.fx_result_base:
        differ("fx_result", booked=format(maturity.fx_result_base, "f"), ledger=format(fx, "f"))
