"""Supply-chain finance: which approved payables are eligible, and their submission via the outbox.

``rules`` evaluates an invoice against the eligibility rules file and explains every result;
``decide`` stores one decision per invoice and enqueues the eligible ones in the same transaction;
``cli`` is ``ledgerlink financing explain|outbox|replay``.
"""

from typing import TYPE_CHECKING

from ledgerlink.lazy import lazy_exports

if TYPE_CHECKING:
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

__getattr__ = lazy_exports(__name__, {
    "ledgerlink.financing.rules": ("ELIGIBLE_RULE", "RULE_ORDER", "Check", "Context", "Decision", "Rules", "evaluate", "load_rules", "parse_rules"),
})
