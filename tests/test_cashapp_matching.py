"""Cash application: how the engine matches payments to open items, one behaviour per test."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from connectors.fx import EcbRates
from ledgerlink.cashapp import (
    AUTO,
    EXCEPTION,
    SUGGEST,
    LearnedRule,
    Matcher,
    MatchResult,
    OpenItem,
    Party,
    Payment,
    learn,
    load_rules,
    parse_rules,
)

D = Decimal
VALUE_DATE = dt.date(2026, 3, 9)
BAKKER_IBAN = "NL91ABNA0417164300"
JANSEN_IBAN = "NL44RABO0123456789"
STRANGER_IBAN = "DE89370400440532013000"

# check digits computed by hand: RF per ISO 11649, OGM mod 97, betalingskenmerk weighted mod 11
RF_1001 = "RF18539007547034"
OGM_1003 = "+++010/8068/17183+++"
NL_1004 = "5000056789012345"


def item(number: str, amount: str, party: str = "C1", *, due: str = "2026-03-01", ref: str | None = None,
         currency: str = "EUR", issued: str | None = None) -> OpenItem:
    return OpenItem(number, party, currency, D(amount), dt.date.fromisoformat(due), ref,
                    dt.date.fromisoformat(issued) if issued else None)


PARTIES = [Party("C1", "Bakkerij de Vries B.V.", (BAKKER_IBAN,)),
           Party("C2", "Jansen Installatietechniek", (JANSEN_IBAN,)),
           Party("C3", "Müller Maschinenbau GmbH")]


def pay(amount: str, *, text: str | None = None, ref: str | None = None, iban: str | None = None,
        name: str | None = None, currency: str = "EUR", on: dt.date = VALUE_DATE, bank_ref: str = "B1") -> Payment:
    return Payment(bank_ref, D(amount), currency, on, counterparty_name=name, counterparty_iban=iban,
                   remittance_text=text, structured_reference=ref)


def matcher(items: list[OpenItem], rules=None, **kwargs) -> Matcher:
    return Matcher(items, PARTIES, rules or load_rules(), **kwargs)


def balanced(r: MatchResult) -> MatchResult:
    """Every result balances exactly in the payment's currency."""
    total = sum((a.payment_amount for a in r.allocations), D(0)) + r.unapplied + r.write_off + r.discount
    assert total == r.payment.amount, r
    assert r.unapplied >= 0
    return r


def one(m: Matcher, payment: Payment) -> MatchResult:
    return balanced(m.match_one(payment))


def applied(r: MatchResult) -> list[tuple[str, Decimal]]:
    return [(a.invoice_number, a.amount) for a in r.allocations]


# ------------------------------------------------------------------------ structured references

def test_rf_reference_in_the_structured_field_settles_its_invoice():
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001), item("INV-1002", "500.00")])
    r = one(m, pay("1210.00", ref="RF18 5390 0754 7034"))
    assert (r.decision, applied(r), r.party_id) == (AUTO, [("INV-1001", D("1210.00"))], "C1")
    assert r.evidence[0]["rule"] == "structured_reference" and r.evidence[0]["field"] == "structured_reference"
    assert m.open[0] == 0


def test_rf_reference_with_a_typo_in_text_matches_its_invoice():
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001)])
    r = one(m, pay("1210.00", text="Betaling RF18 5390 0754 7O34 dank u", iban=BAKKER_IBAN))
    assert (r.decision, applied(r)) == (AUTO, [("INV-1001", D("1210.00"))])
    assert any(e.get("typos") == 1 for e in r.evidence)


def test_rf_reference_with_a_typo_from_an_unknown_payer_is_only_suggested():
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001)])
    r = one(m, pay("1210.00", text="RF18 5390 0754 7O34"))
    assert (r.decision, applied(r)) == (SUGGEST, [("INV-1001", D("1210.00"))])
    assert m.open[0] == D("1210.00"), "a suggestion applies nothing"


def test_a_valid_reference_of_a_paid_invoice_is_not_taken_for_a_typo_of_an_open_one():
    # RF185389007547034 passes its check digits and is one character off the open RF18539007547034:
    # it is another (paid) invoice's reference, not a typing error
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001)])
    r = one(m, pay("1210.00", ref="RF185389007547034", iban=BAKKER_IBAN))
    assert r.rule != "structured_reference" and not any(e.get("typos") for e in r.evidence)


def test_belgian_ogm_in_text_matches_its_invoice():
    m = matcher([item("INV-1003", "75.00", "C2", ref=OGM_1003)])
    r = one(m, pay("75.00", text="Mededeling +++010/8068/17183+++", iban=JANSEN_IBAN))
    assert (r.decision, applied(r)) == (AUTO, [("INV-1003", D("75.00"))])


def test_dutch_betalingskenmerk_written_with_spaces_matches_its_invoice():
    m = matcher([item("INV-1004", "42.50", ref=NL_1004)])
    r = one(m, pay("42.50", text="betalingskenmerk 5000 0567 8901 2345"))
    assert (r.decision, applied(r)) == (AUTO, [("INV-1004", D("42.50"))])


# ------------------------------------------------------------------------ invoice numbers in text

@pytest.mark.parametrize("text", ["Factuur INV-2026-00042", "inv 2026 00042", "INV/2026/000 42 dank",
                                  "betreft:inv2026-00042."])
def test_invoice_number_in_text_with_spacing_and_punctuation_matches(text):
    m = matcher([item("INV-2026-00042", "300.00"), item("INV-2026-00043", "300.00")])
    r = one(m, pay("300.00", text=text))
    assert (r.decision, applied(r)) == (AUTO, [("INV-2026-00042", D("300.00"))])


def test_invoice_number_with_one_wrong_digit_matches_when_amount_and_iban_agree():
    m = matcher([item("INV-2026-00042", "300.00"), item("INV-2026-00077", "120.00", "C2")])
    r = one(m, pay("300.00", text="invoice INV-2026-00045", iban=BAKKER_IBAN))
    assert (r.decision, applied(r)) == (AUTO, [("INV-2026-00042", D("300.00"))])


def test_invoice_number_one_character_off_from_an_unknown_payer_is_found_in_all_open_items():
    m = matcher([item(f"INV-2026-{n:05d}", "100.00", f"P{n}") for n in range(1, 200)]
                + [item("INV-2026-00420", "987.65", "C2")])
    r = one(m, pay("987.65", text="INV-2026-0042O"))  # letter O for zero
    assert (r.decision, applied(r)) == (SUGGEST, [("INV-2026-00420", D("987.65"))])


def test_invoice_number_two_characters_off_matches_among_the_payers_items():
    # the amount alone would point to the older INV-2026-00777; the reference, two characters off, to 00042
    m = matcher([item("INV-2026-00042", "300.00"), item("INV-2026-00777", "300.00", due="2026-01-01")])
    r = one(m, pay("300.00", text="invoice INV-2026-00421", iban=BAKKER_IBAN))
    assert (r.decision, applied(r)) == (SUGGEST, [("INV-2026-00042", D("300.00"))])
    assert any(e.get("characters_off") == 2 for e in r.evidence)


def test_a_typo_without_an_agreeing_amount_is_only_suggested():
    m = matcher([item("INV-2026-00042", "300.00")])
    r = one(m, pay("120.00", text="INV-2026-00043", iban=BAKKER_IBAN))
    assert r.decision == SUGGEST


def test_regex_rule_picks_the_invoice_number_out_of_a_named_group():
    rules = parse_rules("""
version: 1
rules:
  - name: order_reference
    match: regex
    pattern: "(?i)ORD(?:ER)?\\\\s*(?P<invoice>\\\\d{6})"
    confidence: "0.85"
""", "rules.yaml")
    m = matcher([item("771234", "55.00")], rules)
    r = one(m, pay("55.00", text="your order 771234 thanks"))
    assert (r.decision, r.rule, applied(r)) == (AUTO, "order_reference", [("771234", D("55.00"))])


# ------------------------------------------------------------------------ amount and payer

def test_amount_and_known_iban_settle_the_one_open_item_of_that_amount():
    m = matcher([item("INV-1", "250.00"), item("INV-2", "399.99"), item("INV-3", "399.99", "C2")])
    r = one(m, pay("399.99", text="payment", iban=BAKKER_IBAN))
    assert (r.decision, r.rule, applied(r)) == (AUTO, "amount_and_party", [("INV-2", D("399.99"))])


def test_payer_found_by_name_without_iban_is_suggested():
    m = matcher([item("INV-7", "99.95", "C2")])
    r = one(m, pay("99.95", text="betaling", name="JANSEN INSTALLATIETECHNIEK BV"))
    assert (r.decision, r.party_id, applied(r)) == (SUGGEST, "C2", [("INV-7", D("99.95"))])


def test_a_misspelt_name_with_a_legal_form_still_identifies_the_party():
    m = matcher([item("INV-8", "640.00", "C3")])
    r = one(m, pay("640.00", name="Mueller Maschinenbau AG"))
    assert (r.party_id, applied(r)) == ("C3", [("INV-8", D("640.00"))])
    assert any(e.get("by") == "name" and e.get("agrees") for e in r.evidence)


def test_two_open_items_of_the_payments_amount_make_a_suggestion_for_the_oldest():
    m = matcher([item("INV-B", "120.00", due="2026-02-20"), item("INV-A", "120.00", due="2026-02-01")])
    r = one(m, pay("120.00", iban=BAKKER_IBAN))
    assert (r.decision, applied(r)) == (SUGGEST, [("INV-A", D("120.00"))])


def test_unknown_payer_with_an_amount_matching_nothing_is_an_exception():
    m = matcher([item("INV-1", "250.00")])
    r = one(m, pay("31.17", text="donation", iban=STRANGER_IBAN, name="Somebody Else"))
    assert (r.decision, r.allocations, r.party_id, r.unapplied) == (EXCEPTION, (), None, D("31.17"))


def test_unknown_payer_with_a_matching_amount_but_no_reference_is_not_matched():
    m = matcher([item("INV-1", "250.00")])
    assert one(m, pay("250.00", iban=STRANGER_IBAN)).decision == EXCEPTION


# ------------------------------------------------------------------------ wrong customer

def test_reference_to_another_customers_invoice_paid_from_a_known_iban_is_not_auto():
    m = matcher([item("INV-1001", "1210.00", "C1", ref=RF_1001)])
    r = one(m, pay("1210.00", ref=RF_1001, iban=JANSEN_IBAN))
    assert r.decision == SUGGEST and r.confidence < m.rules.auto_threshold
    contradiction = next(e for e in r.evidence if e.get("agrees") is False)
    assert contradiction["known_parties"] == ["C2"] and contradiction["item_party"] == "C1"


def test_reference_to_another_customers_invoice_from_a_payer_named_as_someone_else_is_not_auto():
    m = matcher([item("INV-1001", "1210.00", "C1", ref=RF_1001)])
    r = one(m, pay("1210.00", ref=RF_1001, name="Jansen Installatietechniek"))
    assert r.decision == SUGGEST


def test_wrong_invoice_number_with_the_amount_of_another_open_item_is_suggested():
    m = matcher([item("INV-1", "500.00"), item("INV-2", "180.00")])
    r = one(m, pay("180.00", text="INV-1", iban=BAKKER_IBAN))
    assert r.decision == SUGGEST
    assert any(c["invoice_numbers"] == ["INV-2"] for c in r.candidates)


# ------------------------------------------------------------------------ partial, over, short

def test_partial_payment_leaves_the_rest_open():
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001)])
    r = one(m, pay("400.00", ref=RF_1001, iban=BAKKER_IBAN))
    assert (r.decision, applied(r), r.write_off) == (AUTO, [("INV-1001", D("400.00"))], 0)
    assert not r.allocations[0].settled and m.open[0] == D("810.00")


def test_two_payments_for_one_invoice_settle_it_together_and_never_twice():
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001)])
    first = one(m, pay("600.00", ref=RF_1001, iban=BAKKER_IBAN, bank_ref="B1"))
    second = one(m, pay("610.00", ref=RF_1001, iban=BAKKER_IBAN, bank_ref="B2"))
    third = one(m, pay("610.00", ref=RF_1001, iban=BAKKER_IBAN, bank_ref="B3"))
    assert applied(first) == [("INV-1001", D("600.00"))] and applied(second) == [("INV-1001", D("610.00"))]
    assert second.allocations[0].settled and m.open[0] == 0
    assert third.decision == EXCEPTION and third.unapplied == D("610.00")
    assert any("already settled: INV-1001 (by B2)" in e.get("detail", "") for e in third.evidence)


def test_overpayment_settles_the_invoice_and_leaves_unapplied_cash_on_the_party():
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001)])
    r = one(m, pay("1300.00", ref=RF_1001, iban=BAKKER_IBAN))
    assert (r.decision, applied(r), r.unapplied, r.party_id) == (AUTO, [("INV-1001", D("1210.00"))], D("90.00"), "C1")


def test_short_payment_within_tolerance_is_written_off_with_the_payers_reason():
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001)])
    r = one(m, pay("1202.50", ref=RF_1001, text="minus bank charges 7.50"))
    assert (r.decision, applied(r)) == (AUTO, [("INV-1001", D("1210.00"))])
    assert (r.write_off, r.write_off_reason, r.write_off_account) == (D("-7.50"), "BANK_CHARGES", "6540")
    assert r.allocations[0].settled


def test_short_payment_without_a_reason_is_written_off_to_the_default_account():
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001)])
    r = one(m, pay("1205.00", ref=RF_1001))
    assert (r.write_off, r.write_off_reason, r.write_off_account) == (D("-5.00"), "PAYMENT_DIFFERENCE", "7990")


def test_short_payment_beyond_tolerance_is_a_partial_payment():
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001)])
    r = one(m, pay("1190.00", ref=RF_1001, iban=BAKKER_IBAN, text="bank charges"))
    assert (applied(r), r.write_off) == ([("INV-1001", D("1190.00"))], 0)
    assert m.open[0] == D("20.00")


def test_small_overpayment_within_tolerance_is_written_off_as_income():
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001)])
    r = one(m, pay("1210.40", ref=RF_1001))
    assert (r.write_off, r.unapplied, r.allocations[0].settled) == (D("0.40"), 0, True)


def test_tolerance_is_the_smaller_of_percentage_and_fixed_amount():
    rules = load_rules()
    assert rules.tolerance(D("100.00"), "EUR") == D("2.00")  # 2 %
    assert rules.tolerance(D("5000.00"), "EUR") == D("10.00")  # capped by the fixed amount
    assert rules.tolerance(D("5000"), "JPY") == D("100")  # no fixed amount for JPY: the percentage


# ------------------------------------------------------------------------ early-payment discount

def test_early_payment_discount_within_the_period_settles_the_invoice():
    m = matcher([item("INV-1001", "1000.00", ref=RF_1001, issued="2026-03-01")])
    r = one(m, pay("980.00", ref=RF_1001, on=dt.date(2026, 3, 9)))
    assert (r.decision, applied(r)) == (AUTO, [("INV-1001", D("1000.00"))])
    assert (r.discount, r.allocations[0].discount, r.write_off) == (D("-20.00"), D("20.00"), 0)
    assert any(e.get("outcome") == "discount" for e in r.evidence)


def test_discount_taken_after_the_period_is_not_granted():
    m = matcher([item("INV-1001", "1000.00", ref=RF_1001, issued="2026-01-05")])
    r = one(m, pay("980.00", ref=RF_1001, iban=BAKKER_IBAN, on=dt.date(2026, 3, 9)))
    assert r.discount == 0 and applied(r) == [("INV-1001", D("980.00"))] and m.open[0] == D("20.00")


# ------------------------------------------------------------------------ several invoices

def test_one_payment_for_several_listed_invoices_settles_them_all():
    m = matcher([item("INV-11", "100.00"), item("INV-12", "250.00"), item("INV-13", "75.25")])
    r = one(m, pay("425.25", text="INV-11, INV-12 en INV-13", iban=BAKKER_IBAN))
    assert r.decision == AUTO
    assert sorted(applied(r)) == [("INV-11", D("100.00")), ("INV-12", D("250.00")), ("INV-13", D("75.25"))]


def test_one_payment_for_several_invoices_without_references_finds_the_ones_that_add_up():
    items = [item(f"INV-{n}", amount, due=f"2026-02-{n:02d}")
             for n, amount in enumerate(["310.00", "47.10", "1200.00", "89.90", "15.00", "640.35"], 1)]
    m = matcher(items)
    r = one(m, pay("1262.10", iban=BAKKER_IBAN))
    assert (r.decision, r.rule) == (AUTO, "several_invoices")
    assert applied(r) == [("INV-2", D("47.10")), ("INV-3", D("1200.00")), ("INV-5", D("15.00"))]
    assert all(a.settled for a in r.allocations)


def test_several_invoices_prefer_the_oldest_items_when_two_sets_add_up():
    items = [item("INV-OLD", "100.00", due="2026-01-01"), item("INV-MID", "50.00", due="2026-01-15"),
             item("INV-NEW", "100.00", due="2026-02-01"), item("INV-X", "50.00", due="2026-02-15")]
    r = one(matcher(items), pay("150.00", iban=BAKKER_IBAN))
    assert r.decision == SUGGEST  # two sets add up exactly: a person chooses
    assert [a.invoice_number for a in r.allocations] == ["INV-OLD", "INV-MID"]


# ------------------------------------------------------------------------ foreign currency

@pytest.fixture
def rates() -> EcbRates:
    return EcbRates({"USD": {dt.date(2026, 3, 6): D("1.0800"), dt.date(2026, 3, 9): D("1.0850")}}, "ECB test")


def test_payment_in_usd_for_a_eur_invoice_is_converted_at_the_value_date_rate(rates):
    m = matcher([item("INV-1001", "1000.00", ref=RF_1001)], rates=rates)
    r = one(m, pay("1085.00", currency="USD", ref=RF_1001))
    assert (r.decision, applied(r)) == (AUTO, [("INV-1001", D("1000.00"))])
    assert r.allocations[0].payment_amount == D("1085.00") and r.allocations[0].currency == "EUR"
    assert r.fx["rate"] == {"base": "EUR", "quote": "USD", "rate": "1.0850", "rate_date": "2026-03-09",
                            "source": "ECB test"}


def test_foreign_payment_a_little_off_the_rate_writes_off_an_exchange_difference(rates):
    m = matcher([item("INV-1001", "1000.00", ref=RF_1001)], rates=rates)
    r = one(m, pay("1080.00", currency="USD", ref=RF_1001, on=dt.date(2026, 3, 10)))  # paid at an older rate
    assert r.allocations[0].settled and r.write_off_reason == "EXCHANGE_DIFFERENCE" and r.write_off == D("-5.00")
    assert r.fx["rate"]["rate_date"] == "2026-03-09"


def test_foreign_payment_without_rates_is_an_exception():
    m = matcher([item("INV-1001", "1000.00", ref=RF_1001)])
    r = one(m, pay("1085.00", currency="USD", ref=RF_1001))
    assert r.decision == EXCEPTION
    assert any("no exchange rates" in e.get("detail", "") for e in r.evidence)


# ------------------------------------------------------------------------ rules and learning

def test_learned_iban_identifies_the_party_on_the_next_run():
    items = [item("INV-9", "77.00", "C2")]
    payment = pay("77.00", iban=STRANGER_IBAN, name="J. Jansen private account")
    assert one(matcher(items), payment).decision == EXCEPTION
    taught = learn(payment, "C2")
    assert LearnedRule("iban", STRANGER_IBAN, "C2", "B1") in taught
    r = one(matcher(items, learned=taught), replace(payment, bank_reference="B2"))
    assert (r.decision, r.party_id, applied(r)) == (AUTO, "C2", [("INV-9", D("77.00"))])
    assert any(e.get("source") == "learned from B1" for e in r.evidence)


def test_learned_alias_in_the_text_identifies_the_party():
    items = [item("INV-9", "77.00", "C2")]
    taught = learn(pay("1.00"), "C2", alias="Installatiebedrijf JIT")
    r = one(matcher(items, learned=taught), pay("77.00", text="namens installatiebedrijf JIT"))
    assert (r.decision, r.party_id) == (AUTO, "C2")


def test_counterparty_mapping_of_the_rules_identifies_the_party():
    rules = parse_rules("""
version: 1
parties:
  - party_id: C2
    pattern: "(?i)\\\\bJIT\\\\s+service\\\\b"
rules:
  - {name: amount_and_party, match: amount_and_party, confidence: "0.75"}
""", "rules.yaml")
    r = one(matcher([item("INV-9", "77.00", "C2")], rules), pay("77.00", text="JIT Service maart"))
    assert (r.decision, r.party_id) == (AUTO, "C2")


def test_rule_with_auto_false_only_suggests():
    rules = parse_rules("""
version: 1
rules:
  - {name: structured_reference, match: structured_reference, confidence: "0.99", auto: false}
""", "rules.yaml")
    r = one(matcher([item("INV-1001", "1210.00", ref=RF_1001)], rules), pay("1210.00", ref=RF_1001))
    assert r.decision == SUGGEST


def test_thresholds_decide_between_auto_suggest_and_exception():
    items = [item("INV-7", "99.95", "C2")]
    payment = pay("99.95", name="Jansen Installatietechniek")  # amount + name: 0.75 + 0.07 + 0.05 = 0.87

    def decide(auto: str, suggest: str) -> str:
        rules = parse_rules(f"""
version: 1
thresholds: {{auto: "{auto}", suggest: "{suggest}"}}
rules:
  - {{name: amount_and_party, match: amount_and_party, confidence: "0.75"}}
""", "rules.yaml")
        return one(matcher(items, rules), payment).decision

    assert (decide("0.85", "0.60"), decide("0.90", "0.60"), decide("0.95", "0.90")) == (AUTO, SUGGEST, EXCEPTION)


def test_rules_only_apply_to_their_currencies_and_amounts():
    rules = parse_rules("""
version: 1
rules:
  - {name: small_eur, match: structured_reference, confidence: "0.95", currencies: [EUR], amount: {max: "100.00"}}
""", "rules.yaml")
    m = matcher([item("INV-1001", "1210.00", ref=RF_1001)], rules)
    assert one(m, pay("1210.00", ref=RF_1001)).decision == EXCEPTION


def test_a_payment_naming_another_customers_invoice_is_not_applied_to_the_payers_items_by_amount():
    m = matcher([item("INV-1001", "1210.00", "C1", ref=RF_1001), item("INV-2002", "1210.00", "C2")])
    r = one(m, pay("1210.00", ref=RF_1001, iban=JANSEN_IBAN))
    assert r.decision == SUGGEST and m.open == [D("1210.00"), D("1210.00")]


def test_a_payment_with_a_valid_reference_that_is_not_open_is_not_applied_by_amount():
    m = matcher([item("INV-2002", "1210.00")])
    r = one(m, pay("1210.00", ref="RF712348231", iban=BAKKER_IBAN))  # a paid invoice's reference
    assert (r.decision, applied(r)) == (SUGGEST, [("INV-2002", D("1210.00"))])
    assert any("RF712348231" in e.get("detail", "") for e in r.evidence)


def test_an_rf_reference_with_a_leading_zero_dropped_still_finds_its_invoice():
    # RF66 0000 7658 1 and RF66 000 7658 1 are the same number: both pass the check digits
    m = matcher([item("INV-1001", "273.56", ref="RF66000076581")])
    r = one(m, pay("273.56", text="RF66 000 7658 1"))
    assert (r.decision, applied(r)) == (AUTO, [("INV-1001", D("273.56"))])


def test_a_betalingskenmerk_with_a_digit_dropped_is_found_as_a_typo():
    m = matcher([item("INV-1004", "42.50", ref=NL_1004)])
    r = one(m, pay("42.50", text="betalingskenmerk 5000 0567 8901 245", iban=BAKKER_IBAN))
    assert (r.decision, applied(r)) == (AUTO, [("INV-1004", D("42.50"))])
    assert any(e.get("characters_off") == 1 for e in r.evidence)


def test_a_mistyped_invoice_number_that_is_another_customers_invoice_still_matches_the_payers_own():
    # INV-0018412 exists (another customer's); the payer meant its own INV-0018421, with that amount
    m = matcher([item("INV-0018412", "900.00", "C2"), item("INV-0018421", "469.49", "C1")])
    r = one(m, pay("469.49", text="Rechnung Nr INV- 001 8412", iban=BAKKER_IBAN))
    assert (r.decision, applied(r)) == (AUTO, [("INV-0018421", D("469.49"))])
