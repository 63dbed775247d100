"""Supply-chain finance: which approved payables are eligible, and their submission via the outbox.

``rules`` evaluates an invoice against the eligibility rules file and explains every result;
``decide`` stores one decision per invoice and enqueues the eligible ones in the same transaction;
``cli`` is ``ledgerlink financing explain|outbox|replay``.
"""

from ledgerlink.financing.rules import (
    ELIGIBLE_RULE,
    RULE_ORDER,
    Check,
    Context,
    Decision,
    Rules,
    evaluate,
    load_rules,
    parse_rules,
)

__all__ = [
    "ELIGIBLE_RULE",
    "RULE_ORDER",
    "Check",
    "Context",
    "Decision",
    "Rules",
    "evaluate",
    "load_rules",
    "parse_rules",
]
