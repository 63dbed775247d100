"""Financing eligibility rules: which approved payable invoices may be offered to the platform.

The rules live in a YAML file (``default_rules.yaml`` beside this module, or the file named by
``LEDGERLINK_FINANCING_RULES``) checked against ``schemas/financing_rules.schema.json``.
:func:`evaluate` runs every rule in :data:`RULE_ORDER` on one invoice and its vendor and
explains each result; the first rule that fails decides.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from jsonschema import Draft202012Validator

from ledgerlink.config import SCHEMAS_DIR
from ledgerlink.errors import ConfigError, yaml_problem
from ledgerlink.model.money import format_amount

RULES_ENV = "LEDGERLINK_FINANCING_RULES"
DEFAULT_RULES = Path(__file__).resolve().parent / "default_rules.yaml"

RULE_ORDER = (
    "invoice_status",
    "vendor_approved",
    "vendor_in_pilot",
    "currency_allowed",
    "amount_range",
    "days_to_due",
    "payment_terms",
    "not_already_submitted",
)
ELIGIBLE_RULE = "all_rules_passed"


def rules_file() -> Path:
    return Path(os.environ.get(RULES_ENV) or DEFAULT_RULES)


@dataclass(frozen=True)
class Rules:
    revision: str
    platform: str
    pilot_vendors: frozenset[str]
    currencies: Mapping[str, tuple[Decimal, Decimal]]  # currency -> (min, max), both included
    days_to_due: tuple[int, int]
    payment_terms: tuple[str, ...]
    path: str = ""
    sha256: str = ""  # of the file's bytes: which exact rules made a decision

    def allows_terms(self, terms: str) -> bool:
        return _norm(terms) in _normed(self.payment_terms)


@cache
def _normed(terms: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_norm(t) for t in terms)


@lru_cache(maxsize=1024)
def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


@lru_cache(maxsize=1024)
def _limits(low: Decimal, high: Decimal) -> str:
    return f"{format_amount(low)}..{format_amount(high)}"


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / "financing_rules.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def parse_rules(text: str | bytes, path: str = "<rules>") -> Rules:
    """Rules from YAML text; any problem raises ConfigError naming the file and the field."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        line, problem = yaml_problem(exc)
        raise ConfigError(f"{path}:{line}: not valid YAML: {problem}") from None
    problems = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if problems:
        lines = [f"{path}: {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in problems]
        raise ConfigError("invalid financing rules:\n  " + "\n  ".join(lines))
    currencies: dict[str, tuple[Decimal, Decimal]] = {}
    for code, bounds in doc["currencies"].items():
        low, high = Decimal(bounds["min"]), Decimal(bounds["max"])
        if low > high:
            raise ConfigError(f"{path}: currencies/{code}: min {bounds['min']} is above max {bounds['max']}")
        currencies[code] = (low, high)
    days = doc["days_to_due"]
    if days["min"] > days["max"]:
        raise ConfigError(f"{path}: days_to_due: min {days['min']} is above max {days['max']}")
    return Rules(
        revision=str(doc["revision"]),
        platform=doc["platform"],
        pilot_vendors=frozenset(doc["pilot_vendors"]),
        currencies=currencies,
        days_to_due=(int(days["min"]), int(days["max"])),
        payment_terms=tuple(doc["payment_terms"]),
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def load_rules(path: Path | str | None = None) -> Rules:
    """The rules file at ``path``, else ``$LEDGERLINK_FINANCING_RULES``, else the shipped default."""
    path = Path(path) if path is not None else rules_file()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read financing rules: {exc.strerror or exc}") from None
    return parse_rules(raw, str(path))


class Check(NamedTuple):
    rule: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Decision:
    eligible: bool
    rule: str  # the first failing rule, or ELIGIBLE_RULE
    reason: str
    checks: list[Check] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "eligible": self.eligible,
            "rule": self.rule,
            "reason": self.reason,
            "checks": [{"rule": c.rule, "passed": c.passed, "detail": c.detail} for c in self.checks],
        }


@dataclass(frozen=True)
class Context:
    """What a decision depends on besides the invoice and its vendor."""

    today: dt.date
    rules: Rules
    submitted: str | None = None  # description of an earlier submission of this invoice, if any


def _amount(text: Any) -> Decimal | None:
    if text is None or isinstance(text, float):
        return None
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _date(text: Any) -> dt.date | None:
    if isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _check_invoice_status(invoice: Mapping[str, Any], vendor: Mapping[str, Any] | None, ctx: Context) -> Check:
    direction, status = invoice.get("direction"), invoice.get("status")
    if direction != "payable":
        return Check("invoice_status", False, f"a {direction or 'undirected'} invoice is not financed; only payables")
    if status != "approved":
        return Check("invoice_status", False, f"status is {status or 'missing'}; only approved invoices are financed")
    return Check("invoice_status", True, "payable invoice, status approved")


def _check_vendor_approved(invoice: Mapping[str, Any], vendor: Mapping[str, Any] | None, ctx: Context) -> Check:
    vendor_id = invoice.get("vendor_id")
    if vendor is None:
        return Check("vendor_approved", False, f"vendor {vendor_id} is not in the vendor master")
    status = vendor.get("approval_status")
    if status != "approved":
        return Check("vendor_approved", False, f"vendor {vendor_id} is {status or 'without approval status'}")
    return Check("vendor_approved", True, f"vendor {vendor_id} is approved")


def _check_vendor_in_pilot(invoice: Mapping[str, Any], vendor: Mapping[str, Any] | None, ctx: Context) -> Check:
    vendor_id = invoice.get("vendor_id")
    if vendor_id in ctx.rules.pilot_vendors:
        return Check("vendor_in_pilot", True, f"vendor {vendor_id} is in the pilot")
    return Check(
        "vendor_in_pilot", False,
        f"vendor {vendor_id} is not in the pilot allowlist ({len(ctx.rules.pilot_vendors)} vendors)",
    )


def _check_currency(invoice: Mapping[str, Any], vendor: Mapping[str, Any] | None, ctx: Context) -> Check:
    currency = invoice.get("currency")
    if currency in ctx.rules.currencies:
        return Check("currency_allowed", True, f"{currency} is allowed")
    allowed = ", ".join(sorted(ctx.rules.currencies))
    return Check("currency_allowed", False, f"{currency or 'no currency'} is not allowed (allowed: {allowed})")


def _check_amount(invoice: Mapping[str, Any], vendor: Mapping[str, Any] | None, ctx: Context) -> Check:
    currency, raw = invoice.get("currency"), invoice.get("amount_incl_tax")
    amount = _amount(raw)
    if amount is None:
        return Check("amount_range", False, f"amount incl. tax {raw!r} is not an exact decimal amount")
    bounds = ctx.rules.currencies.get(str(currency))
    if bounds is None:
        return Check("amount_range", False, f"no amount range for {currency}")
    low, high = bounds
    shown = f"{format_amount(amount)} {currency}"
    limits = _limits(low, high)
    if amount < low:
        return Check("amount_range", False, f"{shown} is below the minimum ({limits})")
    if amount > high:
        return Check("amount_range", False, f"{shown} is above the maximum ({limits})")
    return Check("amount_range", True, f"{shown} is within {limits}")


def _check_days_to_due(invoice: Mapping[str, Any], vendor: Mapping[str, Any] | None, ctx: Context) -> Check:
    due = _date(invoice.get("due_date"))
    low, high = ctx.rules.days_to_due
    if due is None:
        return Check("days_to_due", False, "the invoice has no valid due date")
    days = (due - ctx.today).days
    detail = f"due {due.isoformat()}, {days} days from {ctx.today.isoformat()} (allowed {low}..{high})"
    return Check("days_to_due", low <= days <= high, detail)


def _check_payment_terms(invoice: Mapping[str, Any], vendor: Mapping[str, Any] | None, ctx: Context) -> Check:
    terms, origin = invoice.get("payment_terms"), "invoice"
    if not terms and vendor is not None:
        terms, origin = vendor.get("payment_terms"), "vendor"
    if not terms:
        return Check("payment_terms", False, "no payment terms on the invoice or its vendor")
    if ctx.rules.allows_terms(str(terms)):
        return Check("payment_terms", True, f"{terms!r} ({origin}) is allowed")
    return Check("payment_terms", False, f"{terms!r} ({origin}) is not an allowed payment term")


def _check_not_submitted(invoice: Mapping[str, Any], vendor: Mapping[str, Any] | None, ctx: Context) -> Check:
    if ctx.submitted:
        return Check("not_already_submitted", False, f"already submitted: {ctx.submitted}")
    return Check("not_already_submitted", True, "not submitted before")


_CHECKS = {
    "invoice_status": _check_invoice_status,
    "vendor_approved": _check_vendor_approved,
    "vendor_in_pilot": _check_vendor_in_pilot,
    "currency_allowed": _check_currency,
    "amount_range": _check_amount,
    "days_to_due": _check_days_to_due,
    "payment_terms": _check_payment_terms,
    "not_already_submitted": _check_not_submitted,
}


def evaluate(invoice: Mapping[str, Any], vendor: Mapping[str, Any] | None, context: Context) -> Decision:
    """Run every rule, in :data:`RULE_ORDER`, on an invoice payload (JSON form) and its vendor's.

    All results are reported; the first failing rule is the decisive one.
    """
    checks = [_CHECKS[name](invoice, vendor, context) for name in RULE_ORDER]
    failed = next((c for c in checks if not c.passed), None)
    if failed is None:
        return Decision(True, ELIGIBLE_RULE, f"all {len(checks)} rules passed", checks)
    return Decision(False, failed.rule, failed.detail, checks)
