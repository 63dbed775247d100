"""Bank reconciliation: a bank account's statement lines against its ledger account's entries, as of a day.

    report = reconcile_bank(store, "NL91ABNA0417164300", dt.date(2026, 11, 30))
    reports = reconcile_banks(store, dt.date(2026, 11, 30))      # every bank account of the settings

Both sides come from the store: the account's ``bank_transaction`` records (booked entries) and
``bank_statement`` records (the bank's closing balances), and the ``ledger_entry`` records of the
ledger account the settings give the bank account (``ledgerlink.payments.settings``; Tryton's
lines come in through the feed ``tryton_ledger_lines``). Lines are matched one to one, on the same
amount within ``window_days`` of each other:

1. ``reference``: the ledger line says which bank entry it books (a ledger writeback ledgerlink made
   for that entry carries its key, ``[ll:<key>]``), or its text names one of the entry's references
   (end-to-end id, bank reference, structured or customer reference);
2. ``amount_and_date``: no reference, the closest date (then the oldest line).

What stays unmatched is listed on its side with its age in days at ``as_of``. Each day the bank
gives a closing balance for is compared with the ledger account's balance at the end of that day
(every ledger line up to it). The report is JSON-ready; ``zero_differences`` is false when anything
is unmatched or a balance differs. Nothing here prints: the CLI and the daily DAG present it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledgerlink.errors import LedgerlinkError
from ledgerlink.model.money import exact_sum, format_amount
from ledgerlink.payments.flow import KINDS as WRITEBACK_KINDS
from ledgerlink.payments.settings import PaymentSettings, compact_account, payment_settings
from ledgerlink.redact import mask_account, mask_accounts_in_text
from ledgerlink.store import Store

_TAG = re.compile(r"\[ll:([A-Za-z0-9._:@/+=-]+)\]")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")
MIN_REFERENCE = 6  # shorter references ("1", "REF") name nothing
_NO_REFERENCE = frozenset({"NOTPROVIDED", "NONREF", "NONE"})  # what banks write where there is none


class ReconcileError(LedgerlinkError):
    """The reconciliation cannot be made as asked (no such account in the store, no ledger account)."""


@dataclass
class _Line:
    side: str  # bank | ledger
    key: str  # the record's natural key (a bank entry's names its account) or the ledger's line id
    entry_id: str
    date: dt.date
    amount: Decimal
    text: str
    references: frozenset[str] = frozenset()
    links: frozenset[str] = frozenset()  # ledger: bank entry keys its writebacks name
    detail: dict[str, Any] = field(default_factory=dict)
    match: _Line | None = None
    rule: str | None = None  # how it was matched

    def as_json(self, as_of: dt.date) -> dict[str, Any]:
        return {"side": self.side, "entry_id": self.entry_id, "date": self.date.isoformat(),
                "amount": format_amount(self.amount), "age_days": (as_of - self.date).days, **self.detail}


def _norm(text: str | None) -> str:
    return _NON_ALNUM.sub("", text or "").upper()


def reconcile_bank(store: Store, account: str, as_of: dt.date, *, ledger_account: str | None = None,
                   window_days: int | None = None, settings: PaymentSettings | None = None) -> dict[str, Any]:
    """The reconciliation report of one bank account (IBAN or number) as of the end of ``as_of``.

    ``ledger_account`` and ``window_days`` default to the settings'."""
    account = compact_account(account)
    if not account:
        raise ReconcileError("no bank account given")
    if ledger_account is None or window_days is None:
        settings = settings or payment_settings()
        ledger_account = ledger_account or settings.ledger_account(account)
        window_days = settings.window_days if window_days is None else window_days
    if window_days < 0:
        raise ReconcileError(f"the matching window must not be negative (got {window_days} days)")
    statements = [r["payload"] for r in store.current_records("bank_statement") if _is_account(r["payload"], account)]
    entries = [r for r in store.current_records("bank_transaction")
               if _is_account(r["payload"], account) and r["payload"].get("status", "booked") == "booked"]
    if not statements and not entries:
        raise ReconcileError(f"no statement of bank account {mask_account(account)} in the store")
    currency = _account_currency(statements, entries)
    since = _first_day(statements, entries)
    bank = [line for line in (_bank_line(r) for r in entries) if line.date <= as_of]
    links = _writeback_links(store)
    ledger = [line for line in (_ledger_line(r["payload"], currency, links) for r in store.current_records("ledger_entry")
                                if r["payload"].get("ledger_account") == ledger_account) if line.date <= as_of]
    window = dt.timedelta(days=window_days)
    _match(bank, ledger, window, by_reference=True)
    _match(bank, ledger, window, by_reference=False)
    matched = [{"rule": b.rule, "days_apart": abs((b.match.date - b.date).days), "bank": b.as_json(as_of),
                "ledger": b.match.as_json(as_of)}
               for b in sorted(bank, key=lambda x: (x.date, x.key)) if b.match is not None]
    open_bank = [b.as_json(as_of) for b in sorted(bank, key=lambda x: (x.date, x.key)) if b.match is None]
    open_ledger = [g.as_json(as_of) for g in sorted(ledger, key=lambda x: (x.date, x.key))
                   if g.match is None and g.date >= since]
    balances = _balances(statements, bank, ledger, since, as_of)
    differing = [b for b in balances if "difference" in b and Decimal(b["difference"]) != 0]
    return {
        "kind": "bank_reconciliation", "account": mask_account(account), "ledger_account": ledger_account,
        "currency": currency, "as_of": as_of.isoformat(), "since": since.isoformat(), "window_days": window_days,
        "zero_differences": not (open_bank or open_ledger or differing),
        "summary": {"bank_lines": len(bank), "ledger_lines": len([g for g in ledger if g.date >= since]),
                    "matched": len(matched), "unreconciled_bank": len(open_bank),
                    "unreconciled_ledger": len(open_ledger), "balance_differences": len(differing)},
        "matched": matched, "unreconciled_bank": open_bank, "unreconciled_ledger": open_ledger,
        "balances": balances,
    }


def reconcile_banks(store: Store, as_of: dt.date, *, settings: PaymentSettings | None = None) -> list[dict[str, Any]]:
    """A report per bank account of the settings (in their order); an account that cannot be reconciled
    gets ``{"account", "ledger_account", "error"}`` instead, so one account never hides the others."""
    settings = settings or payment_settings()
    reports = []
    for account, code in settings.bank_accounts.items():
        try:
            reports.append(reconcile_bank(store, account, as_of, ledger_account=code,
                                          window_days=settings.window_days))
        except LedgerlinkError as exc:
            reports.append({"kind": "bank_reconciliation", "account": mask_account(account), "ledger_account": code,
                            "as_of": as_of.isoformat(), "zero_differences": False, "error": str(exc)})
    return reports


# -- the two sides ---------------------------------------------------------------------------------------


def _is_account(payload: dict[str, Any], account: str) -> bool:
    return account in {compact_account(payload.get(k) or "") for k in ("account", "account_iban", "account_number")}


def _account_currency(statements: list[dict[str, Any]], entries: list[dict[str, Any]]) -> str:
    found = {s["currency"] for s in statements if s.get("currency")} | {r["payload"]["currency"] for r in entries}
    if len(found) != 1:
        raise ReconcileError(f"the statements of this bank account are in {', '.join(sorted(found)) or 'no currency'}: "
                             "reconcile one currency at a time")
    return found.pop()


def _first_day(statements: list[dict[str, Any]], entries: list[dict[str, Any]]) -> dt.date:
    """The first day the bank's statements cover: ledger lines before it are the opening balance."""
    days = [s.get("opening_date") or s.get("from_date") or s.get("closing_date") for s in statements]
    days += [r["payload"]["booking_date"] for r in entries]
    return min(dt.date.fromisoformat(d) for d in days if d)


def _bank_line(record: dict[str, Any]) -> _Line:
    p = record["payload"]
    refs = [p.get(k) for k in ("end_to_end_id", "bank_reference", "structured_reference", "customer_reference")]
    refs += [b.get(k) for b in p.get("batch") or [] for k in ("end_to_end_id", "structured_reference")]
    detail = {k: mask_accounts_in_text(p[k]) for k in ("bank_reference", "end_to_end_id", "structured_reference",
                                                       "counterparty_name", "remittance_text") if p.get(k)}
    references = frozenset(r for r in map(_norm, refs) if len(r) >= MIN_REFERENCE and r not in _NO_REFERENCE)
    return _Line("bank", record["natural_key"], p.get("entry_id") or record["natural_key"],
                 dt.date.fromisoformat(p["booking_date"]), Decimal(p["amount"]), p.get("remittance_text") or "",
                 references, detail=detail)


def _ledger_line(p: dict[str, Any], currency: str, links: dict[str, str]) -> _Line:
    if p.get("second_currency") == currency and p.get("amount_second_currency") is not None:
        amount = Decimal(p["amount_second_currency"])
    elif p["currency"] == currency:
        amount = Decimal(p["amount"])
    else:
        raise ReconcileError(f"ledger line {p['entry_id']} is in {p['currency']} without an amount in {currency}, "
                             "the bank account's currency")
    text = p.get("description") or ""
    detail = {k: mask_accounts_in_text(p[k]) for k in ("journal", "move_number", "description", "origin") if p.get(k)}
    bank_keys = frozenset(links[k] for k in _TAG.findall(text) if k in links)
    return _Line("ledger", p["entry_id"], p["entry_id"], dt.date.fromisoformat(p["date"]), amount, text,
                 links=bank_keys, detail=detail)


def _writeback_links(store: Store) -> dict[str, str]:
    """Ledger writeback key -> the bank entry it was made for (the payments flow's outbox entries)."""
    return {e.idempotency_key: e.payload["bank_transaction"]
            for kind in WRITEBACK_KINDS for e in store.outbox.entries(kind=kind, limit=None)
            if e.payload.get("bank_transaction")}


# -- matching ---------------------------------------------------------------------------------------------


def _refers(bank: _Line, ledger: _Line) -> bool:
    if bank.key in ledger.links:
        return True
    text = _norm(ledger.text)
    return any(ref in text for ref in bank.references)


def _match(bank: list[_Line], ledger: list[_Line], window: dt.timedelta, *, by_reference: bool) -> None:
    by_amount: dict[Decimal, list[_Line]] = defaultdict(list)
    for line in sorted(ledger, key=lambda x: (x.date, x.key)):
        by_amount[line.amount].append(line)
    for b in sorted(bank, key=lambda x: (x.date, x.key)):
        if b.match is not None:
            continue
        fits = [g for g in by_amount.get(b.amount, ()) if g.match is None and abs(g.date - b.date) <= window
                and (not by_reference or _refers(b, g))]
        if fits:
            best = min(fits, key=lambda g: (abs(g.date - b.date), g.date, g.key))
            b.match, best.match = best, b
            b.rule = best.rule = "reference" if by_reference else "amount_and_date"


# -- balances ---------------------------------------------------------------------------------------------


def _balances(statements: list[dict[str, Any]], bank: Iterable[_Line], ledger: list[_Line], since: dt.date,
              as_of: dt.date) -> list[dict[str, Any]]:
    """Per day from ``since`` to ``as_of`` on which either side moved or the bank closed a statement: the
    movements of both sides, and where the bank gives a closing balance, the ledger's balance beside it."""
    closing: dict[dt.date, Decimal] = {}
    for s in sorted(statements, key=lambda s: (s.get("created_at") or "", s.get("sequence") or "",
                                               s.get("statement_id") or "")):
        if s.get("closing_balance") is not None and s.get("closing_date"):
            closing[dt.date.fromisoformat(s["closing_date"])] = Decimal(s["closing_balance"])
    bank_moves: dict[dt.date, Decimal] = defaultdict(Decimal)
    for b in bank:
        bank_moves[b.date] = exact_sum((bank_moves[b.date], b.amount))
    ledger_moves: dict[dt.date, Decimal] = defaultdict(Decimal)
    for g in ledger:
        ledger_moves[g.date] = exact_sum((ledger_moves[g.date], g.amount))
    days = sorted(d for d in set(closing) | set(bank_moves) | set(ledger_moves) if since <= d <= as_of)
    balance = exact_sum((amount for day, amount in ledger_moves.items() if day < since))
    out = []
    for day in days:
        balance = exact_sum((balance, ledger_moves.get(day, Decimal(0))))
        row: dict[str, Any] = {"date": day.isoformat(),
                               "bank_movement": format_amount(bank_moves.get(day, Decimal(0))),
                               "ledger_movement": format_amount(ledger_moves.get(day, Decimal(0))),
                               "ledger_balance": format_amount(balance)}
        if day in closing:
            row["statement_balance"] = format_amount(closing[day])
            row["difference"] = format_amount(exact_sum((closing[day], -balance)))
        out.append(row)
    return out
