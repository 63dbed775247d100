"""Cash application: incoming payments matched to open receivables. Plain Python: no store, no Airflow.

The API (stable; the daily DAG, the worklist and the ERP application build on it)::

    from ledgerlink.cashapp import Matcher, OpenItem, Party, Payment, learn, load_rules

    rules = load_rules()                        # path, else $LEDGERLINK_CASHAPP_RULES, else the shipped default
    matcher = Matcher(open_items, parties, rules, rates=EcbRates.load(...), learned=learned_rules)
    for result in matcher.match(payments):      # list[MatchResult], one per payment, in order
        result.decision                         # "auto" | "suggest" | "exception"
        result.allocations                      # tuple[Allocation]: invoice_number, party_id, amount, currency, ...
        result.confidence, result.evidence      # Decimal 0..1; list of dicts: rule, fields, score
    learn(payment, "C1001")                     # a manual resolution -> tuple[LearnedRule] for the next Matcher

Classes (``ledgerlink.cashapp.model``, frozen dataclasses, money as ``Decimal`` in the currency"s minor
units, never float):

* ``OpenItem(invoice_number, party_id, currency, amount_open, due_date, structured_reference=None,
  issue_date=None, key=None)``: an open receivable; ``amount_open`` above zero.
* ``Party(party_id, name, ibans=())``: a customer and the IBANs it pays from.
* ``Payment(bank_reference, amount, currency, value_date, booking_date=None, counterparty_name=None,
  counterparty_iban=None, remittance_text=None, structured_reference=None, end_to_end_id=None,
  key=None)``: an incoming payment, ``amount`` above zero. :func:`payments_from_statement` reads them
  from any bank statement file the bank parsers read.
* ``Allocation(invoice_number, party_id, amount, currency, payment_amount, open_before, discount=0,
  key=None)``: what a payment applies to one open item; ``amount`` in the item"s currency (what its
  open amount goes down by, ``discount`` included), ``payment_amount`` the same in the payment"s.
* ``MatchResult(payment, decision, allocations, confidence, evidence, party_id, unapplied, write_off,
  discount, fx, write_off_account, write_off_reason, rule, candidates)``. It balances exactly, in the
  payment"s currency: ``amount == sum(payment_amount) + unapplied + write_off + discount``, where
  ``write_off`` and ``discount`` are negative when the payment settles more than it brings (see
  :class:`~ledgerlink.cashapp.model.MatchResult`). ``fx`` holds the conversion (rate, source, date).
* ``LearnedRule(kind, value, party_id, source=None)``: ``iban`` (this IBAN is the party"s) or
  ``alias`` (this name or text means the party).

``Matcher(open_items, parties, rules, *, rates=None, learned=())``; ``match(payments)`` and
``match_one(payment)`` return results and apply the ``auto`` ones: open amounts go down, so no two
payments settle the same cent of an invoice. ``Matcher.open`` holds what is still open (by position of
the open item), ``Matcher.settled_by`` which payment settled an item.

``load_rules(path=None) -> Rules`` and ``parse_rules(text, path)``: the YAML rules, checked against
``schemas/cashapp_rules.schema.json``; a problem raises ``RulesError`` naming the file, line and rule.
"""

from typing import TYPE_CHECKING

from ledgerlink.lazy import lazy_exports

if TYPE_CHECKING:
    from ledgerlink.cashapp.engine import Matcher
    from ledgerlink.cashapp.learning import learn
    from ledgerlink.cashapp.model import (
        AUTO,
        EXCEPTION,
        SUGGEST,
        Allocation,
        LearnedRule,
        MatchResult,
        OpenItem,
        Party,
        Payment,
    )
    from ledgerlink.cashapp.rules import Rules, RulesError, load_rules, parse_rules
    from ledgerlink.cashapp.statement import payments_from_statement

__all__ = ["AUTO", "EXCEPTION", "SUGGEST", "Allocation", "LearnedRule", "MatchResult", "Matcher", "OpenItem",
           "Party", "Payment", "Rules", "RulesError", "learn", "load_rules", "parse_rules",
           "payments_from_statement"]

__getattr__ = lazy_exports(__name__, {
    "ledgerlink.cashapp.engine": ("Matcher",),
    "ledgerlink.cashapp.learning": ("learn",),
    "ledgerlink.cashapp.model": ("AUTO", "EXCEPTION", "SUGGEST", "Allocation", "LearnedRule", "MatchResult", "OpenItem", "Party", "Payment"),
    "ledgerlink.cashapp.rules": ("Rules", "RulesError", "load_rules", "parse_rules"),
    "ledgerlink.cashapp.statement": ("payments_from_statement",),
})
