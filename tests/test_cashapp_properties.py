"""Cash application, for any open items and payments: allocations never exceed what is open or what the
payment brings (beyond the tolerance and the discount the rules allow), and every result balances exactly
in the payment's currency and its minor units."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.fx import EcbRates
from ledgerlink.cashapp import AUTO, Matcher, OpenItem, Party, Payment, load_rules
from ledgerlink.model.money import currency_exponent

RULES = load_rules()
START = dt.date(2026, 2, 1)
IBANS = ("NL91ABNA0417164300", "NL44RABO0123456789", "DE89370400440532013000")
PARTIES = [Party("C0", "Bakkerij de Vries", (IBANS[0],)), Party("C1", "Jansen Installatietechniek", (IBANS[1],))]
# RF references with valid check digits, for the open items to carry
REFERENCES = ("RF18539007547034", "RF712348231", "RF0412345", "RF4512300", "RF3112345678")


def cents(currency: str, n: int) -> Decimal:
    return Decimal(n).scaleb(-currency_exponent(currency))


@st.composite
def open_items(draw) -> list[OpenItem]:
    out = []
    for n in range(draw(st.integers(1, 7))):
        currency = draw(st.sampled_from(["EUR", "EUR", "USD", "JPY"]))
        issued = START + dt.timedelta(days=draw(st.integers(0, 20)))
        out.append(OpenItem(f"INV-{n:04d}", draw(st.sampled_from(["C0", "C1"])), currency,
                            cents(currency, draw(st.integers(1, 300_000))), issued + dt.timedelta(days=30),
                            REFERENCES[n] if n < len(REFERENCES) and draw(st.booleans()) else None,
                            issued if draw(st.booleans()) else None))
    return out


@st.composite
def payments(draw, items: list[OpenItem]) -> list[Payment]:
    out = []
    for n in range(draw(st.integers(1, 8))):
        target = draw(st.sampled_from(items))
        currency = draw(st.sampled_from([target.currency, "EUR", "USD"]))
        unit = cents(currency, 1)
        kind = draw(st.sampled_from(["near", "discount", "random"]))
        if kind == "near" and currency == target.currency:  # the open amount, a little short or over
            amount = max(unit, target.amount_open + unit * draw(st.integers(-2000, 2000)))
        elif kind == "discount" and currency == target.currency:  # less 2 %, give or take a cent
            amount = max(unit, (target.amount_open * Decimal("0.98")).quantize(unit)
                         + unit * draw(st.integers(-1, 1)))
        else:
            amount = cents(currency, draw(st.integers(1, 600_000)))
        text = draw(st.sampled_from([None, f"factuur {target.invoice_number}", "bank charges", "thanks",
                                     f"{target.invoice_number[:-1]}9"]))
        out.append(Payment(f"B{n}", amount, currency, START + dt.timedelta(days=draw(st.integers(5, 40))),
                           counterparty_iban=draw(st.sampled_from([None, *IBANS])), remittance_text=text,
                           structured_reference=target.structured_reference if draw(st.booleans()) else None))
    return out


@st.composite
def scenarios(draw):
    items = draw(open_items())
    rate = Decimal(draw(st.integers(5_000, 20_000))).scaleb(-4)
    yen = Decimal(draw(st.integers(100_00, 200_00))).scaleb(-2)
    days = {START + dt.timedelta(days=d): None for d in range(0, 45)}
    rates = EcbRates({"USD": dict.fromkeys(days, rate), "JPY": dict.fromkeys(days, yen)}, "ECB test")
    return items, draw(payments(items)), rates


def exact(amount: Decimal, currency: str) -> bool:
    return amount == amount.quantize(Decimal(1).scaleb(-currency_exponent(currency)))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_allocations_never_exceed_open_amounts_or_the_payment_and_totals_reconcile(scenario):
    items, incoming, rates = scenario
    matcher = Matcher(items, PARTIES, RULES, rates=rates)
    results = matcher.match(incoming)
    applied: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in results:
        p = r.payment
        assert r.decision in ("auto", "suggest", "exception")
        assert Decimal(0) <= r.confidence <= Decimal(1)
        # the result balances exactly, in the payment's minor units
        assert sum((a.payment_amount for a in r.allocations), Decimal(0)) + r.unapplied + r.write_off \
            + r.discount == p.amount
        for amount in (r.unapplied, r.write_off, r.discount, *(a.payment_amount for a in r.allocations)):
            assert exact(amount, p.currency)
        assert r.unapplied >= 0 and r.discount <= 0
        for a in r.allocations:
            assert exact(a.amount, a.currency) and exact(a.discount, a.currency)
            assert Decimal(0) < a.amount <= a.open_before and Decimal(0) <= a.discount < a.amount
        # what the payment settles beyond its cash is only a discount and a write-off within tolerance
        settled = sum((a.payment_amount for a in r.allocations), Decimal(0))
        limit = max(RULES.tolerance_percent, RULES.fx_tolerance_percent) / 100 * settled
        assert abs(r.write_off) <= limit + cents(p.currency, len(r.allocations) + 1)
        assert -r.discount <= RULES.discount.percent / 100 * settled + cents(p.currency, len(r.allocations))
        if r.decision == AUTO:
            assert r.allocations
            for a in r.allocations:
                applied[(a.party_id, a.invoice_number)] += a.amount
        else:
            assert r.decision != "exception" or (not r.allocations and r.unapplied == p.amount)
    # only auto results consume, and never more than was open
    for i, item in enumerate(items):
        used = applied[(item.party_id, item.invoice_number)]
        assert used <= item.amount_open
        assert matcher.open[i] == item.amount_open - used
