"""How a payment amount settles a set of open items: exactly, within the tolerance, with an
early-payment discount, with an excess, or partly. And which of a payer's open items add up to a
payment. Pure arithmetic on Decimals in the items' currency; the engine decides what to try.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from ledgerlink.cashapp.model import OpenItem
from ledgerlink.cashapp.rules import Rules
from ledgerlink.model.money import currency_exponent, exact_sum

EXACT, TOLERANCE, DISCOUNT, OVER, PARTIAL = "exact", "tolerance", "discount", "over", "partial"


# Named tuples: made for every payment, and cheaper to make than frozen dataclasses.
class Share(NamedTuple):
    """What a plan applies to one item: ``amount`` off its open amount, of which ``discount`` is granted."""

    item: int  # the engine's number for the item
    amount: Decimal
    discount: Decimal = Decimal(0)


class Plan(NamedTuple):
    """``outcome`` and the shares, oldest item first. ``difference`` is paid minus settled (both in the
    items' currency, discounts counted as settled by the discount): the excess of an overpayment, the
    amount written off within the tolerance, nothing for a partial payment."""

    outcome: str
    shares: tuple[Share, ...]
    difference: Decimal
    settled: Decimal  # what the items go down by
    open_total: Decimal  # what was open on the items

    @property
    def discount(self) -> Decimal:
        return exact_sum(s.discount for s in self.shares)


def discount_due(item: OpenItem, open_amount: Decimal, value_date: dt.date, rules: Rules) -> Decimal:
    """The early-payment discount ``item`` may take when paid on ``value_date`` (0 when none): only for
    an item still open at its full amount, paid within the discount period from its issue date."""
    terms = rules.discount
    if terms is None or item.issue_date is None or open_amount != item.amount_open:
        return Decimal(0)
    if (value_date - item.issue_date).days > terms.days + terms.grace_days:
        return Decimal(0)
    quantum = Decimal(1).scaleb(-currency_exponent(item.currency))
    return (open_amount * terms.percent / 100).quantize(quantum, rounding=ROUND_HALF_UP)


def plan(paid: Decimal, items: list[tuple[int, Decimal, OpenItem]], value_date: dt.date, rules: Rules,
         *, foreign: bool = False) -> Plan:
    """How ``paid`` settles ``items`` ((index, open amount, item), oldest first, one currency)."""
    currency = items[0][2].currency
    total = exact_sum((open_ for _, open_, _ in items))
    if paid == total:
        return Plan(EXACT, tuple(Share(i, open_) for i, open_, _ in items), Decimal(0), total, total)
    tolerance = rules.tolerance(total, currency, foreign=foreign)
    discounts = [discount_due(item, open_, value_date, rules) for _, open_, item in items]
    total_discount = exact_sum(discounts)
    if total_discount:
        due = total - total_discount
        # the discount explains the payment when it fits at least as well as the full amount does
        if abs(paid - due) <= rules.tolerance(due, currency, foreign=foreign) and abs(paid - due) <= abs(paid - total):
            shares = tuple(Share(i, open_, d) for (i, open_, _), d in zip(items, discounts, strict=True))
            return Plan(DISCOUNT, shares, paid - due, total, total)
    if abs(paid - total) <= tolerance:
        return Plan(TOLERANCE, tuple(Share(i, open_) for i, open_, _ in items), paid - total, total, total)
    if paid > total:
        return Plan(OVER, tuple(Share(i, open_) for i, open_, _ in items), paid - total, total, total)
    parts = []
    left = paid
    for i, open_, _ in items:
        if left <= 0:
            break
        part = min(open_, left)
        parts.append(Share(i, part))
        left -= part
    return Plan(PARTIAL, tuple(parts), Decimal(0), paid, total)


def combinations(amounts: list[int], target: int, tolerance: int, *, limit: int = 64) -> list[tuple[int, ...]]:
    """Sets of at least two positions of ``amounts`` (minor units, oldest first) whose sum is within
    ``tolerance`` of ``target``, best first: the closest sum, then the oldest items. Meet in the middle:
    the subset sums of each half (2^(n/2) each), one sorted and searched for every sum of the other, so
    20 items cost about a thousand look-ups, not a million sums. At most ``limit`` sets are collected."""
    n = len(amounts)
    half = n // 2
    left = _subset_sums(amounts[:half])
    right = sorted(_subset_sums(amounts[half:]))
    right_sums = [s for s, _ in right]
    found: list[tuple[int, tuple[int, ...]]] = []
    for left_sum, left_mask in left:
        lo = bisect_left(right_sums, target - tolerance - left_sum)
        hi = bisect_right(right_sums, target + tolerance - left_sum)
        for right_sum, right_mask in right[lo:hi]:
            mask = left_mask | (right_mask << half)
            if mask.bit_count() >= 2:
                positions = tuple(j for j in range(n) if mask >> j & 1)
                found.append((abs(left_sum + right_sum - target), positions))
        if len(found) >= limit:
            break
    found.sort()
    return [positions for _, positions in found]


def _subset_sums(amounts: list[int]) -> list[tuple[int, int]]:
    sums = [(0, 0)]
    for j, amount in enumerate(amounts):
        bit = 1 << j
        sums += [(s + amount, mask | bit) for s, mask in sums]
    return sums
