"""Booking financed invoices to the ledger, in the company's base currency.

A financed invoice (amount A in its currency, discount D agreed with the funder) is booked in two
steps, each an audited writeback (:func:`ledgerlink.erp.writeback.apply_writeback`) with a key made
of the invoice key and the step, so booking a step again books nothing new:

funding (``<key>:funded``, ``<key>:discount``)
    ``mark_financed``: the vendor's payable is delegated to the funder (Tryton books it at its own
    rate and dates it today). With a discount, a journal entry on the funding date, in the base
    currency at the reference rate of that date (the rate captured at funding):

    * ``discount: income``  Dr funder payable / Cr discount income  D at the funding rate
      (the funder is then owed A - D);
    * ``discount: cost``    Dr financing cost / Cr funder payable   D at the funding rate
      (the funder is then owed A + D).

maturity (``<key>:maturity``)
    one journal entry on the maturity date paying the funder what it is owed (O): Dr funder payable
    O at the funding rate, Cr bank O at the settlement rate and, for an invoice not in the base
    currency, the difference to FX gain (Cr) or FX loss (Dr).

Each entry's description and lines name the rate, its date and its source. The booking (plan and
captured rates) is kept in the audit log as ``financing.ledger.<step>``; a maturity booking uses the
funding rate kept there, and a repeated booking reuses the rates it captured the first time.

    booking = book_financing_event(store, TrytonWriteback(client), EcbRates.load(path), event)
    financed_positions(store)            # or (events, rates): per vendor and currency, and totals
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from connectors.fx.ecb import EcbRates, FxRate, apply_rate
from ledgerlink.erp.writeback import Writeback, apply_writeback
from ledgerlink.errors import ConfigError, LedgerlinkError, yaml_problem
from ledgerlink.model.money import Money, MoneyError, exact_sum, is_currency
from ledgerlink.store.store import DEFAULT_ACTOR, Store

DEFAULT_ACCOUNTS = Path(__file__).resolve().parent / "accounts.yaml"
ACCOUNTS_ENV = "LEDGERLINK_FINANCING_ACCOUNTS"
ROLES = ("payable", "funder_payable", "financing_cost", "discount_income", "fx_gain", "fx_loss", "bank")
STEPS = ("funding", "maturity")
ACTION_PREFIX = "financing.ledger."
_KEY_RE = re.compile(r"^[A-Za-z0-9._@/+=-]{1,100}$")


class LedgerError(LedgerlinkError):
    """A financing event cannot be booked; the message names the invoice and why."""


# -- configuration ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LedgerAccounts:
    accounts: Mapping[str, str]
    journal: str = "MISC"
    base_currency: str = "EUR"
    discount: str = "income"

    def __getitem__(self, role: str) -> str:
        return self.accounts[role]


def parse_accounts(doc: Any, name: str = "<accounts>") -> LedgerAccounts:
    if not isinstance(doc, dict):
        raise ConfigError(f"{name}: expected a mapping with 'accounts'")
    unknown = set(doc) - {"accounts", "journal", "base_currency", "discount"}
    if unknown:
        raise ConfigError(f"{name}: unknown keys {', '.join(sorted(unknown))}")
    accounts = doc.get("accounts")
    if not isinstance(accounts, dict):
        raise ConfigError(f"{name}: 'accounts' must map roles to account codes")
    missing = [r for r in ROLES if not str(accounts.get(r) or "").strip()]
    extra = sorted(set(accounts) - set(ROLES))
    if missing or extra:
        raise ConfigError(f"{name}: accounts " + "; ".join(
            part for part in (f"missing {', '.join(missing)}" if missing else "",
                              f"unknown {', '.join(extra)}" if extra else "") if part))
    base = str(doc.get("base_currency", "EUR"))
    if not is_currency(base):
        raise ConfigError(f"{name}: base_currency {base!r} is not an ISO 4217 currency code")
    discount = str(doc.get("discount", "income"))
    if discount not in ("income", "cost"):
        raise ConfigError(f"{name}: discount must be 'income' or 'cost', not {discount!r}")
    return LedgerAccounts({r: str(accounts[r]).strip() for r in ROLES}, str(doc.get("journal", "MISC")), base,
                          discount)


@cache
def _load_file(path: str) -> LedgerAccounts:
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        line, problem = yaml_problem(exc)
        raise ConfigError(f"{path}:{line}: not valid YAML: {problem}") from None
    return parse_accounts(doc, path)


def load_accounts(path: Path | str | None = None) -> LedgerAccounts:
    """The accounts file: ``path``, else ``$LEDGERLINK_FINANCING_ACCOUNTS``, else accounts.yaml here."""
    return _load_file(str(path or os.environ.get(ACCOUNTS_ENV) or DEFAULT_ACCOUNTS))


# -- events -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FinancingEvent:
    """One step of a financed invoice. ``key`` (the invoice number, say) names the invoice in the
    idempotency keys; ``invoice_id`` and ``funder_party_id`` are the ERP's ids."""

    step: str
    key: str
    invoice_id: int
    vendor: str
    currency: str
    amount: Decimal
    funder_party_id: int
    funding_date: dt.date
    maturity_date: dt.date
    discount: Decimal = Decimal(0)
    funded_amount: Decimal | None = None

    def __post_init__(self) -> None:
        where = f"financing event {self.key!r}"
        if self.step not in STEPS:
            raise LedgerError(f"{where}: step {self.step!r} is not one of {', '.join(STEPS)}")
        if not isinstance(self.key, str) or not _KEY_RE.match(self.key):
            raise LedgerError(f"{where}: the key must be 1-100 letters, digits or ._@/+=-")
        for name in ("amount", "discount", "funded_amount"):
            value = getattr(self, name)
            if value is None and name == "funded_amount":
                continue
            try:
                money = Money(value, self.currency)
            except (MoneyError, InvalidOperation, TypeError) as exc:
                raise LedgerError(f"{where}: {name}: {exc}") from None
            if money.amount < 0:
                raise LedgerError(f"{where}: {name} {money.amount} must not be negative")
            object.__setattr__(self, name, money.amount)
        if self.amount <= 0 or self.discount >= self.amount:
            raise LedgerError(f"{where}: the amount must be positive and more than the discount")
        for name in ("funding_date", "maturity_date"):
            value = getattr(self, name)
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                raise LedgerError(f"{where}: {name} must be a date, got {value!r}")
        if self.maturity_date < self.funding_date:
            raise LedgerError(f"{where}: maturity {self.maturity_date} is before funding {self.funding_date}")

    @classmethod
    def from_request(cls, request: Mapping[str, Any], step: str, *, invoice_id: int, funder_party_id: int,
                     maturity_date: dt.date | None = None) -> FinancingEvent:
        """From a canonical financing_request record (``connectors.financing.rest.to_financing_request``)."""
        try:
            return cls(step=step, key=request["invoice_number"], invoice_id=invoice_id,
                       vendor=request["vendor_id"], currency=request["currency"], amount=Decimal(request["amount"]),
                       funder_party_id=funder_party_id, funding_date=dt.date.fromisoformat(request["funded_date"]),
                       maturity_date=maturity_date or dt.date.fromisoformat(request["maturity_date"]),
                       discount=Decimal(request.get("discount_amount") or 0),
                       funded_amount=Decimal(request["funded_amount"]) if request.get("funded_amount") else None)
        except (KeyError, ValueError, InvalidOperation) as exc:
            raise LedgerError(f"financing request {request.get('request_id')!r}: cannot book it: {exc!r}") from None


# -- plans --------------------------------------------------------------------------------------

Line = tuple[str, Decimal, Decimal, Any, str]


@dataclass(frozen=True)
class Entry:
    key: str
    date: dt.date
    lines: list[Line]
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "date": self.date.isoformat(), "description": self.description,
                "lines": [[a, format(d, "f"), format(c, "f"), p, t] for a, d, c, p, t in self.lines]}


@dataclass(frozen=True)
class Booking:
    """What one step books, in the invoice currency and the base currency, with its rates."""

    step: str
    invoice_key: str
    invoice_id: int
    vendor: str
    currency: str
    base_currency: str
    amount: Decimal
    discount: Decimal
    discount_treatment: str
    amount_base: Decimal
    discount_base: Decimal
    owed: Decimal            # to the funder at maturity, invoice currency
    owed_base: Decimal       # its carrying value at the funding rate
    funding_rate: FxRate
    settlement_rate: FxRate | None = None
    settled_base: Decimal | None = None
    fx_result_base: Decimal = Decimal(0)   # > 0 gain, < 0 loss
    entries: list[Entry] = field(default_factory=list)
    writebacks: list[dict[str, Any]] = field(default_factory=list)
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        def text(v: Decimal | None) -> str | None:
            return None if v is None else format(v, "f")
        return {
            "step": self.step, "invoice_key": self.invoice_key, "invoice_id": self.invoice_id,
            "vendor": self.vendor, "currency": self.currency, "base_currency": self.base_currency,
            "amount": text(self.amount), "discount": text(self.discount),
            "discount_treatment": self.discount_treatment, "amount_base": text(self.amount_base),
            "discount_base": text(self.discount_base), "owed": text(self.owed), "owed_base": text(self.owed_base),
            "funding_rate": self.funding_rate.as_dict(),
            "settlement_rate": self.settlement_rate.as_dict() if self.settlement_rate else None,
            "settled_base": text(self.settled_base), "fx_result_base": text(self.fx_result_base),
            "entries": [e.as_dict() for e in self.entries], "writebacks": self.writebacks,
            "replayed": self.replayed,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Booking:
        def num(v: Any) -> Decimal | None:
            return None if v is None else Decimal(v)
        entries = [Entry(e["key"], dt.date.fromisoformat(e["date"]),
                         [(a, Decimal(db), Decimal(cr), p, t) for a, db, cr, p, t in e["lines"]], e["description"])
                   for e in d.get("entries") or []]
        return cls(d["step"], d["invoice_key"], d["invoice_id"], d["vendor"], d["currency"], d["base_currency"],
                   Decimal(d["amount"]), Decimal(d["discount"]), d["discount_treatment"], Decimal(d["amount_base"]),
                   Decimal(d["discount_base"]), Decimal(d["owed"]), Decimal(d["owed_base"]),
                   rate_from_dict(d["funding_rate"]),
                   rate_from_dict(d["settlement_rate"]) if d.get("settlement_rate") else None,
                   num(d.get("settled_base")), Decimal(d.get("fx_result_base") or 0), entries,
                   list(d.get("writebacks") or []), bool(d.get("replayed")))


def rate_from_dict(d: Mapping[str, Any]) -> FxRate:
    return FxRate(d["base"], d["quote"], Decimal(d["rate"]), dt.date.fromisoformat(d["rate_date"]), d["source"])


def rate_between(rates: EcbRates, currency: str, base: str, on_date: dt.date) -> FxRate:
    """The rate to carry ``currency`` amounts into ``base`` on ``on_date`` (identity when equal)."""
    if currency == base:
        return FxRate(base, base, Decimal(1), on_date, "identity")
    return rates.convert(Money(Decimal(1), currency), base, on_date).rate


def _to_base(amount: Decimal, currency: str, base: str, rate: FxRate) -> Decimal:
    if currency == base:
        return amount
    return apply_rate(Money(amount, currency), rate).amount


def _ref(event: FinancingEvent, step: str) -> str:
    return f"ledger:{event.key}:{step}"


def plan_funding(event: FinancingEvent, accounts: LedgerAccounts, funding_rate: FxRate) -> Booking:
    """The funding step's booking at ``funding_rate`` (pure: no ERP, no store)."""
    base, cur = accounts.base_currency, event.currency
    amount_base = _to_base(event.amount, cur, base, funding_rate)
    discount_base = _to_base(event.discount, cur, base, funding_rate)
    sign = -1 if accounts.discount == "income" else 1
    owed = event.amount + sign * event.discount
    owed_base = amount_base + sign * discount_base
    entries = []
    if discount_base > 0:
        at = f"{event.discount} {cur} at {funding_rate}" if cur != base else f"{event.discount} {cur}"
        party = event.funder_party_id
        if accounts.discount == "income":
            text = f"Early-payment discount {event.key}: {at}"
            lines: list[Line] = [(accounts["funder_payable"], discount_base, Decimal(0), party, text),
                                 (accounts["discount_income"], Decimal(0), discount_base, None, text)]
        else:
            text = f"Financing cost {event.key}: {at}"
            lines = [(accounts["financing_cost"], discount_base, Decimal(0), None, text),
                     (accounts["funder_payable"], Decimal(0), discount_base, party, text)]
        entries.append(Entry(_ref(event, "discount"), event.funding_date, lines, text))
    return Booking("funding", event.key, event.invoice_id, event.vendor, cur, base, event.amount, event.discount,
                   accounts.discount, amount_base, discount_base, owed, owed_base, funding_rate, entries=entries)


def plan_maturity(event: FinancingEvent, accounts: LedgerAccounts, funding_rate: FxRate,
                  settlement_rate: FxRate) -> Booking:
    """The maturity step's booking: the funder paid at ``settlement_rate``, the FX result against
    the carrying value at ``funding_rate``."""
    funding = plan_funding(event, accounts, funding_rate)
    base, cur = accounts.base_currency, event.currency
    settled_base = _to_base(funding.owed, cur, base, settlement_rate)
    fx = funding.owed_base - settled_base
    party = event.funder_party_id
    if cur == base:
        text = f"Funder paid {event.key}: {funding.owed} {cur}"
    else:
        text = (f"Funder paid {event.key}: {funding.owed} {cur}; carried at {funding_rate}, "
                f"settled at {settlement_rate}")
    lines: list[Line] = [(accounts["funder_payable"], funding.owed_base, Decimal(0), party, text),
                         (accounts["bank"], Decimal(0), settled_base, None, text)]
    if fx > 0:
        lines.append((accounts["fx_gain"], Decimal(0), fx, None, f"FX gain {event.key}: {fx} {base}"))
    elif fx < 0:
        lines.append((accounts["fx_loss"], -fx, Decimal(0), None, f"FX loss {event.key}: {-fx} {base}"))
    entry = Entry(_ref(event, "maturity"), event.maturity_date, lines, text)
    return Booking("maturity", event.key, event.invoice_id, event.vendor, cur, base, event.amount, event.discount,
                   accounts.discount, funding.amount_base, funding.discount_base, funding.owed, funding.owed_base,
                   funding_rate, settlement_rate, settled_base, fx, [entry])


# -- booking ------------------------------------------------------------------------------------

def recorded_bookings(store: Store, invoice_key: str | None = None) -> list[Booking]:
    """The first booking kept in the audit log per (invoice, step), oldest first."""
    subject = None if invoice_key is None else f"financing:{invoice_key}"
    seen: dict[tuple[str, str], Booking] = {}
    for entry in store.audit_entries(None, action_prefix=ACTION_PREFIX, subject=subject, oldest_first=True):
        booking = Booking.from_dict(entry["details"])
        seen.setdefault((booking.invoice_key, booking.step), booking)
    return list(seen.values())


def book_financing_event(store: Store, writeback: Writeback, rates: EcbRates, event: FinancingEvent, *,
                         accounts: LedgerAccounts | None = None, actor: str = DEFAULT_ACTOR) -> Booking:
    """Book ``event`` through audited writebacks; booking it again books nothing new (the keys are
    the invoice key and the step) and returns the booking with ``replayed`` set."""
    accounts = accounts or load_accounts()
    earlier = {b.step: b for b in recorded_bookings(store, event.key)}
    base = accounts.base_currency
    if event.step == "funding":
        captured = earlier["funding"].funding_rate if "funding" in earlier else \
            _rate(rates, event, base, event.funding_date)
        plan = plan_funding(event, accounts, captured)
        results = [apply_writeback(store, writeback, "mark_financed", _ref(event, "funded"), actor=actor,
                                   invoice_id=event.invoice_id, funder_party_id=event.funder_party_id,
                                   description=f"Financed {event.key}")]
    else:
        if "funding" not in earlier:
            raise LedgerError(f"financing event {event.key!r}: maturity before the funding was booked "
                              "(book the funding step first)")
        captured = earlier["funding"].funding_rate
        settlement = earlier["maturity"].settlement_rate if "maturity" in earlier else None
        plan = plan_maturity(event, accounts, captured,
                             settlement or _rate(rates, event, base, event.maturity_date))
        results = []
    for entry in plan.entries:
        results.append(apply_writeback(store, writeback, "post_journal_entry", entry.key, actor=actor,
                                       journal=accounts.journal, date=entry.date, lines=entry.lines,
                                       description=entry.description))
    replayed = all(r.get("replayed") for r in results)
    summary = [{"primitive": r.get("primitive"), "key": r.get("key"), "replayed": bool(r.get("replayed")),
                "move_id": (r.get("move") or {}).get("move_id")} for r in results]
    booking = Booking(**{**plan.__dict__, "writebacks": summary, "replayed": replayed})
    store.audit(f"{ACTION_PREFIX}{event.step}", f"financing:{event.key}", booking.as_dict(), actor=actor)
    return booking


def _rate(rates: EcbRates, event: FinancingEvent, base: str, on_date: dt.date) -> FxRate:
    try:
        return rate_between(rates, event.currency, base, on_date)
    except LedgerlinkError as exc:
        raise LedgerError(f"financing event {event.key!r}: no {event.currency}/{base} rate: {exc}") from None


# -- report -------------------------------------------------------------------------------------

_COLUMNS = ("volume", "volume_base", "discount", "discount_income_base", "financing_cost_base", "fx_result_base")


def _add(row: dict[str, Any], column: str, amount: Decimal) -> None:
    row[column] = exact_sum((row[column], amount))


def financed_positions(source: Store | Iterable[FinancingEvent], rates: EcbRates | None = None,
                       base: str = "EUR", accounts: LedgerAccounts | None = None) -> dict[str, Any]:
    """Financed volume, discount income or financing cost, and FX result per vendor and currency,
    with totals in ``base`` (Decimal). From the bookings kept in ``store``, or planned from
    ``events`` at ``rates`` (each invoice counted once; FX results from its maturity event)."""
    if isinstance(source, Store):
        bookings = recorded_bookings(source)
    else:
        if rates is None:
            raise LedgerError("financed_positions: rates are needed to value events")
        accounts = accounts or load_accounts()
        if accounts.base_currency != base:
            accounts = LedgerAccounts(accounts.accounts, accounts.journal, base, accounts.discount)
        bookings = []
        for event in source:
            funding_rate = _rate(rates, event, base, event.funding_date)
            if event.step == "funding":
                bookings.append(plan_funding(event, accounts, funding_rate))
            else:
                bookings.append(plan_maturity(event, accounts, funding_rate,
                                              _rate(rates, event, base, event.maturity_date)))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    counted: set[str] = set()
    for b in bookings:
        if b.base_currency != base:
            raise LedgerError(f"financed_positions: invoice {b.invoice_key} was booked in {b.base_currency}, "
                              f"not {base}")
        row = rows.setdefault((b.vendor, b.currency), {"vendor": b.vendor, "currency": b.currency, "invoices": 0,
                                                       "matured": 0, **{c: Decimal(0) for c in _COLUMNS}})
        if b.invoice_key not in counted:
            counted.add(b.invoice_key)
            row["invoices"] += 1
            _add(row, "volume", b.amount)
            _add(row, "volume_base", b.amount_base)
            _add(row, "discount", b.discount)
            _add(row, "discount_income_base" if b.discount_treatment == "income" else "financing_cost_base",
                 b.discount_base)
        if b.step == "maturity":
            row["matured"] += 1
            _add(row, "fx_result_base", b.fx_result_base)
    ordered = [rows[k] for k in sorted(rows)]
    totals = {"invoices": sum(r["invoices"] for r in ordered), "matured": sum(r["matured"] for r in ordered),
              **{c: exact_sum(r[c] for r in ordered) for c in _COLUMNS if c.endswith("_base")}}
    return {"base_currency": base, "rows": ordered, "totals": totals}
