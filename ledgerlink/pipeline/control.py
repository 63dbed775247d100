"""Control totals: record counts and amount sums per currency for what a run read,
loaded, quarantined and filtered. A run whose totals do not add up fails loudly."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from ledgerlink.errors import ControlTotalsError
from ledgerlink.model.money import exact_sum, format_amount

# The amount that control totals add up, per entity (None: counts only).
CONTROL_AMOUNT = {
    "invoice": "amount_incl_tax",
    "bank_transaction": "amount",
    "payment_status": "amount_paid",
    "financing_request": "amount",
    "vendor": None,
    "customer": None,
    "ledger_entry": "amount",
}
UNPARSED = "unparsed"  # bucket for rows whose amount or currency could not be read


@dataclass
class Totals:
    count: int = 0
    amounts: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    unparsed: int = 0   # rows counted but without a readable amount/currency

    def add(self, currency: str | None, amount: Decimal | None) -> None:
        self.count += 1
        if currency is None or amount is None:
            self.unparsed += 1
        else:
            self.add_amount(currency, amount)

    def add_amount(self, currency: str, amount: Decimal) -> None:
        """Add to the currency's sum exactly (a sum that would round raises decimal.Inexact)."""
        self.amounts[currency] = exact_sum((self.amounts[currency], amount))

    def add_many(self, pairs: Iterable[tuple[str | None, Decimal | None]]) -> None:
        for currency, amount in pairs:
            self.add(currency, amount)

    def __add__(self, other: Totals) -> Totals:
        out = Totals(self.count + other.count, defaultdict(Decimal), self.unparsed + other.unparsed)
        for src in (self.amounts, other.amounts):
            for cur, amt in src.items():
                out.add_amount(cur, amt)
        return out

    def as_dict(self) -> dict:
        return {"count": self.count, "unparsed_amounts": self.unparsed,
                "amounts": {c: format_amount(a) for c, a in sorted(self.amounts.items())}}

    def same_as(self, other: Totals) -> bool:
        nonzero = lambda d: {c: a for c, a in d.items() if a != 0}  # noqa: E731
        return (self.count, self.unparsed, nonzero(self.amounts)) == (other.count, other.unparsed, nonzero(other.amounts))


@dataclass
class ControlTotals:
    read: Totals = field(default_factory=Totals)
    loaded: Totals = field(default_factory=Totals)
    quarantined: Totals = field(default_factory=Totals)
    filtered: Totals = field(default_factory=Totals)

    def check(self, where: str) -> None:
        accounted = self.loaded + self.quarantined + self.filtered
        if not self.read.same_as(accounted):
            raise ControlTotalsError(
                f"{where}: control totals do not add up: read {self.read.as_dict()} != loaded "
                f"{self.loaded.as_dict()} + quarantined {self.quarantined.as_dict()} + filtered {self.filtered.as_dict()}"
            )

    def as_dict(self) -> dict:
        return {k: getattr(self, k).as_dict() for k in ("read", "loaded", "quarantined", "filtered")}
