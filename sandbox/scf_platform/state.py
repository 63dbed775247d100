"""The platform's state and lifecycle engine, independent of HTTP.

Per invoice: uploaded -> approved -> offered -> accepted -> funded -> paid, or rejected (rules checked
at approval, or bad data at upload) or expired (offer not accepted in time). Transitions are
scheduled in simulated time and applied in time order, so ``changed_at`` never decreases along the
change sequence; the status listing pages over that sequence.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from ledgerlink.model.identifiers import is_iban
from ledgerlink.model.money import MoneyError, currency_exponent, format_amount

from .clock import SimClock

STATUSES = ("uploaded", "approved", "offered", "accepted", "funded", "paid", "rejected", "expired")
FINAL = frozenset({"paid", "rejected", "expired"})


class PlatformError(Exception):
    """A refusal the API turns into an error response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Party:
    """Who an API key belongs to: the buyer (uploads invoices) or a supplier (accepts offers)."""

    kind: Literal["buyer", "supplier"]
    id: str


@dataclass
class ScfConfig:
    api_keys: dict[str, Party] = field(
        default_factory=lambda: {
            "sk_test_buyer": Party("buyer", "BUYER-1"),
            "sk_test_supplier_s1": Party("supplier", "S1"),
        }
    )
    onboarded_suppliers: frozenset[str] | None = None  # None: every supplier is onboarded
    auto_accept_suppliers: frozenset[str] = frozenset()
    max_amount: Decimal = Decimal("500000.00")
    min_days_to_due: int = 7
    annual_rate: Decimal = Decimal("0.0450")
    supplier_rates: dict[str, Decimal] = field(default_factory=dict)
    day_count_basis: int = 360  # ACT/360, as money markets price short-term discounting
    approve_after: timedelta = timedelta(hours=2)
    offer_after: timedelta = timedelta(hours=1)
    offer_valid_for: timedelta = timedelta(hours=48)
    fund_after: timedelta = timedelta(hours=24)
    idempotency_ttl: timedelta = timedelta(hours=24)
    max_batch_size: int = 500


@dataclass
class Offer:
    annual_rate: Decimal
    days: int
    discount_rate: Decimal  # annual_rate * days / basis
    discount_amount: Decimal
    offered_amount: Decimal
    offered_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class StatusChange:
    seq: int
    invoice_id: str
    status: str
    previous_status: str | None
    at: datetime
    reason: str | None = None

    @property
    def change_id(self) -> str:
        return f"chg_{self.seq:08d}"


@dataclass
class Invoice:
    id: str
    batch_id: str
    buyer_id: str
    buyer_reference: str
    supplier_id: str
    invoice_number: str
    currency: str
    amount: Decimal
    due_date: date
    iban: str
    created_at: datetime
    status: str = "uploaded"
    status_reason: str | None = None
    updated_at: datetime | None = None
    offer: Offer | None = None
    funded_amount: Decimal | None = None
    funded_at: datetime | None = None
    paid_at: datetime | None = None
    next_at: datetime | None = None
    history: list[StatusChange] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        offer = None
        if self.offer is not None:
            o = self.offer
            offer = {
                "annual_rate": format_amount(o.annual_rate),
                "days": o.days,
                "discount_rate": format_amount(o.discount_rate),
                "discount_amount": format_amount(o.discount_amount),
                "offered_amount": format_amount(o.offered_amount),
                "offered_at": _iso(o.offered_at),
                "expires_at": _iso(o.expires_at),
            }
        return {
            "id": self.id,
            "batch_id": self.batch_id,
            "buyer_reference": self.buyer_reference,
            "supplier_id": self.supplier_id,
            "invoice_number": self.invoice_number,
            "currency": self.currency,
            "amount": format_amount(self.amount),
            "due_date": self.due_date.isoformat(),
            "iban": self.iban,
            "status": self.status,
            "status_reason": self.status_reason,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at or self.created_at),
            "offer": offer,
            "funded_amount": format_amount(self.funded_amount) if self.funded_amount is not None else None,
            "funded_at": _iso(self.funded_at) if self.funded_at else None,
            "paid_at": _iso(self.paid_at) if self.paid_at else None,
            "history": [
                {"status": c.status, "at": _iso(c.at), "reason": c.reason, "change_id": c.change_id}
                for c in self.history
            ],
        }


@dataclass
class IdempotencyEntry:
    fingerprint: str
    created_at: datetime
    done: bool = False
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_amount_text(text: Any) -> Decimal:
    if not isinstance(text, str):
        raise ValueError("amount must be a string such as '1234.50'")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"amount {text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"amount {text!r} is not a number")
    return value


class PlatformState:
    """Everything the platform knows. All access goes through ``lock``; tests may read freely."""

    def __init__(self, config: ScfConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.invoices: dict[str, Invoice] = {}
        self.batches: dict[str, list[str]] = {}
        self.changes: list[StatusChange] = []
        self.idempotency: dict[tuple[str, str], IdempotencyEntry] = {}
        self.change_listeners: list[Callable[[StatusChange, Invoice], None]] = []
        self._ids = itertools.count(1)
        self._batch_ids = itertools.count(1)
        self._schedule: list[tuple[datetime, int, str]] = []
        self._tiebreak = itertools.count()

    # ----------------------------------------------------------------------------- queries
    def invoices_by_number(self, invoice_number: str, supplier_id: str | None = None) -> list[Invoice]:
        with self.lock:
            return [
                inv
                for inv in self.invoices.values()
                if inv.invoice_number == invoice_number
                and (supplier_id is None or inv.supplier_id == supplier_id)
            ]

    def get_invoice(self, party: Party, invoice_id: str) -> Invoice:
        with self.lock:
            self.catch_up()
            inv = self.invoices.get(invoice_id)
            if inv is None or not self._may_see(party, inv):
                raise PlatformError(404, "invoice_not_found", f"no invoice {invoice_id!r}")
            return inv

    @staticmethod
    def _may_see(party: Party, inv: Invoice) -> bool:
        return inv.buyer_id == party.id if party.kind == "buyer" else inv.supplier_id == party.id

    def list_changes(
        self, party: Party, since: datetime | None, after_seq: int, limit: int
    ) -> tuple[list[tuple[StatusChange, Invoice]], int, bool]:
        """Changes visible to ``party`` with seq > after_seq (and at >= since), in seq order.
        Returns (items, last seq covered, has_more)."""
        with self.lock:
            self.catch_up()
            items: list[tuple[StatusChange, Invoice]] = []
            last = after_seq
            # seq n is changes[n - 1]
            for change in itertools.islice(self.changes, max(after_seq, 0), None):
                if len(items) >= limit:
                    return items, last, True
                last = change.seq
                inv = self.invoices[change.invoice_id]
                if not self._may_see(party, inv) or (since is not None and change.at < since):
                    continue
                items.append((change, inv))
            return items, last, False

    # ----------------------------------------------------------------------------- commands
    def submit_batch(
        self, party: Party, items: Iterable[dict[str, Any]], source: str = "api"
    ) -> tuple[str, list[dict[str, Any]]]:
        """Store a batch; each item is accepted as ``uploaded`` or refused as ``rejected`` with a reason."""
        if party.kind != "buyer":
            raise PlatformError(403, "forbidden", "only the buyer's API key may upload invoices")
        rows = list(items)
        if not rows:
            raise PlatformError(400, "empty_batch", "a batch needs at least one invoice")
        if len(rows) > self.config.max_batch_size:
            raise PlatformError(
                400, "batch_too_large", f"a batch holds at most {self.config.max_batch_size} invoices"
            )
        with self.lock:
            self.catch_up()
            now = self.clock.now()
            batch_id = f"bat_{next(self._batch_ids):06d}"
            results = []
            ids = []
            for index, row in enumerate(rows):
                inv, reason = self._new_invoice(batch_id, party, row, now)
                self.invoices[inv.id] = inv
                ids.append(inv.id)
                if reason is None:
                    self._change(inv, "uploaded", now)
                    self._schedule_at(inv, now + self.config.approve_after)
                else:
                    self._change(inv, "rejected", now, reason)
                results.append(
                    {
                        "index": index,
                        "id": inv.id,
                        "buyer_reference": inv.buyer_reference,
                        "invoice_number": inv.invoice_number,
                        "status": inv.status,
                        "reason": inv.status_reason,
                    }
                )
            self.batches[batch_id] = ids
            return batch_id, results

    def _new_invoice(
        self, batch_id: str, party: Party, row: dict[str, Any], now: datetime
    ) -> tuple[Invoice, str | None]:
        reason = None
        currency = str(row.get("currency") or "")
        try:
            amount = parse_amount_text(row.get("amount"))
            exponent = currency_exponent(currency)
            if amount <= 0:
                raise ValueError(f"amount {row.get('amount')} must be positive")
            if amount != amount.quantize(Decimal(1).scaleb(-exponent)):
                raise ValueError(
                    f"amount {row.get('amount')} has more than {exponent} decimals for {currency}"
                )
        except (ValueError, MoneyError) as exc:
            amount = Decimal(0)
            reason = str(exc)
        try:
            due = date.fromisoformat(str(row.get("due_date")))
        except ValueError:
            due = now.date()
            reason = reason or f"due_date {row.get('due_date')!r} is not a date (YYYY-MM-DD)"
        iban = str(row.get("iban") or "").replace(" ", "").upper()
        if reason is None and not is_iban(iban):
            reason = "iban is not a valid IBAN"
        if reason is None and due <= now.date():
            reason = f"due date {due.isoformat()} is not in the future"
        for key in ("buyer_reference", "supplier_id", "invoice_number"):
            if reason is None and not str(row.get(key) or "").strip():
                reason = f"{key} is missing"
        inv = Invoice(
            id=f"inv_{next(self._ids):06d}",
            batch_id=batch_id,
            buyer_id=party.id,
            buyer_reference=str(row.get("buyer_reference") or ""),
            supplier_id=str(row.get("supplier_id") or ""),
            invoice_number=str(row.get("invoice_number") or ""),
            currency=currency,
            amount=amount,
            due_date=due,
            iban=iban,
            created_at=now,
        )
        return inv, reason

    def accept(self, party: Party, invoice_id: str) -> Invoice:
        with self.lock:
            self.catch_up()
            inv = self.invoices.get(invoice_id)
            if inv is None or not self._may_see(party, inv):
                raise PlatformError(404, "invoice_not_found", f"no invoice {invoice_id!r}")
            if party.kind != "supplier":
                raise PlatformError(403, "forbidden", "only the supplier may accept an offer")
            if inv.status == "expired":
                raise PlatformError(409, "offer_expired", f"the offer for {invoice_id} expired")
            if inv.status != "offered":
                raise PlatformError(
                    409, "invalid_status", f"invoice {invoice_id} is {inv.status}, not offered"
                )
            now = self.clock.now()
            self._change(inv, "accepted", now)
            self._schedule_at(inv, now + self.config.fund_after)
            return inv

    # ----------------------------------------------------------------------------- lifecycle
    def catch_up(self) -> None:
        """Apply every transition due at or before the clock's time, oldest first."""
        with self.lock:
            now = self.clock.now()
            while self._schedule and self._schedule[0][0] <= now:
                at, _, invoice_id = heapq.heappop(self._schedule)
                inv = self.invoices[invoice_id]
                if inv.next_at != at or inv.status in FINAL:
                    continue  # superseded (e.g. accepted before the offer expired)
                inv.next_at = None
                self._advance(inv, at)

    def _advance(self, inv: Invoice, at: datetime) -> None:
        cfg = self.config
        if inv.status == "uploaded":
            reason = self._rule_violation(inv, at)
            if reason:
                self._change(inv, "rejected", at, reason)
            else:
                self._change(inv, "approved", at)
                self._schedule_at(inv, at + cfg.offer_after)
        elif inv.status == "approved":
            inv.offer = self._make_offer(inv, at)
            self._change(inv, "offered", at)
            if inv.supplier_id in cfg.auto_accept_suppliers:
                self._change(inv, "accepted", at, "accepted automatically (supplier programme)")
                self._schedule_at(inv, at + cfg.fund_after)
            else:
                self._schedule_at(inv, inv.offer.expires_at)
        elif inv.status == "offered":
            self._change(inv, "expired", at, "offer not accepted in time")
        elif inv.status == "accepted":
            assert inv.offer is not None
            inv.funded_amount = inv.offer.offered_amount
            inv.funded_at = at
            self._change(inv, "funded", at)
            maturity = datetime.combine(inv.due_date, time(0, 0), tzinfo=UTC)
            self._schedule_at(inv, max(maturity, at))
        elif inv.status == "funded":
            inv.paid_at = at
            self._change(inv, "paid", at, "paid by the buyer at maturity")

    def _rule_violation(self, inv: Invoice, at: datetime) -> str | None:
        cfg = self.config
        onboarded = cfg.onboarded_suppliers
        if onboarded is not None and inv.supplier_id not in onboarded:
            return f"supplier {inv.supplier_id} is not onboarded"
        if inv.amount > cfg.max_amount:
            return f"amount {format_amount(inv.amount)} is over the limit of {format_amount(cfg.max_amount)}"
        days = (inv.due_date - at.date()).days
        if days < cfg.min_days_to_due:
            due = inv.due_date.isoformat()
            return f"due date {due} is {days} days away; at least {cfg.min_days_to_due} needed"
        return None

    def _make_offer(self, inv: Invoice, at: datetime) -> Offer:
        cfg = self.config
        rate = cfg.supplier_rates.get(inv.supplier_id, cfg.annual_rate)
        days = max((inv.due_date - at.date()).days, 0)
        quantum = Decimal(1).scaleb(-currency_exponent(inv.currency))
        discount_rate = (rate * days / cfg.day_count_basis).quantize(Decimal("0.000001"), ROUND_HALF_UP)
        discount = (inv.amount * rate * days / cfg.day_count_basis).quantize(quantum, ROUND_HALF_UP)
        return Offer(
            annual_rate=rate,
            days=days,
            discount_rate=discount_rate,
            discount_amount=discount,
            offered_amount=inv.amount - discount,
            offered_at=at,
            expires_at=at + cfg.offer_valid_for,
        )

    def _schedule_at(self, inv: Invoice, at: datetime) -> None:
        inv.next_at = at
        heapq.heappush(self._schedule, (at, next(self._tiebreak), inv.id))

    def _change(self, inv: Invoice, status: str, at: datetime, reason: str | None = None) -> None:
        change = StatusChange(
            len(self.changes) + 1, inv.id, status, inv.history[-1].status if inv.history else None, at, reason
        )
        self.changes.append(change)
        inv.history.append(change)
        inv.status = status
        inv.status_reason = reason
        inv.updated_at = at
        for listener in self.change_listeners:
            listener(change, inv)

    # ----------------------------------------------------------------------------- idempotency
    def idempotency_begin(
        self, scope: str, key: str, fingerprint: str
    ) -> tuple[str, IdempotencyEntry | None]:
        """'new' (key reserved), 'replay' (finished, same request), 'mismatch' or 'in_progress'."""
        with self.lock:
            now = self.clock.now()
            entry = self.idempotency.get((scope, key))
            if entry is not None and now - entry.created_at >= self.config.idempotency_ttl:
                entry = None
            if entry is None:
                self.idempotency[(scope, key)] = IdempotencyEntry(fingerprint, now)
                return "new", None
            if entry.fingerprint != fingerprint:
                return "mismatch", entry
            if not entry.done:
                return "in_progress", entry
            return "replay", entry

    def idempotency_finish(
        self, scope: str, key: str, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        with self.lock:
            entry = self.idempotency[(scope, key)]
            entry.done, entry.status, entry.headers, entry.body = True, status, headers, body

    def idempotency_release(self, scope: str, key: str) -> None:
        with self.lock:
            self.idempotency.pop((scope, key), None)
