"""What a person's resolution of a payment teaches later matching.

When someone in the worklist says "this payment is from party X", the payer's IBAN is X's from then on
(an ``iban`` rule) and the payer's name, or a text the person picks out, means X (an ``alias`` rule).
Give the rules to the next :class:`~ledgerlink.cashapp.engine.Matcher` as ``learned``.
"""

from __future__ import annotations

from ledgerlink.cashapp.model import LearnedRule, Payment
from ledgerlink.cashapp.text import name_key


def learn(payment: Payment, party_id: str, *, alias: str | None = None) -> tuple[LearnedRule, ...]:
    """The rules taught by resolving ``payment`` to ``party_id``: its counterparty IBAN, and as aliases its
    counterparty name and ``alias`` (a text the person marked in the remittance information)."""
    source = payment.bank_reference
    rules = []
    if payment.counterparty_iban:
        rules.append(LearnedRule("iban", payment.counterparty_iban, party_id, source))
    for text in (payment.counterparty_name, alias):
        if text and name_key(text):
            rules.append(LearnedRule("alias", text, party_id, source))
    return tuple(rules)
