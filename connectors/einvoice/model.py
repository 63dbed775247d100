"""What every e-invoice parser produces: one ``EInvoice`` per document, in EN 16931 terms.

Amounts are Decimals exactly as stated in the document (sign included); the canonical invoice
(``EInvoice.canonical()``) is where a credit note's amounts become negative. Business terms are
named by their EN 16931 ids (BT-nnn) in comments and findings. ``position`` values are XPaths.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any

from ledgerlink.errors import LedgerlinkError
from ledgerlink.model.money import MoneyError, currency_exponent, format_amount, quantize_money


class EInvoiceError(LedgerlinkError, ValueError):
    """An e-invoice cannot be read. The message names the file, the position (an XPath or a line)
    and the reason."""

    def __init__(self, file: str, position: str | None, reason: str) -> None:
        self.file, self.position, self.reason = file, position, reason
        where = f"{file}: {position}" if position else file
        super().__init__(f"{where}: {reason}")


# UNTDID 1001 document type codes of the credit note kind, as EN 16931 lists them (BT-3).
CREDIT_NOTE_TYPE_CODES = frozenset({"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"})


@dataclass
class Party:
    name: str | None = None            # BT-27 / BT-44 (registration name, else trading name)
    endpoint_id: str | None = None     # BT-34 / BT-49 electronic address, "scheme:value"
    party_id: str | None = None        # BT-29 / BT-46
    vat_id: str | None = None          # BT-31 / BT-48
    tax_id: str | None = None          # BT-32 tax registration (CII schemeID FC)
    legal_id: str | None = None        # BT-30 / BT-47

    @property
    def id(self) -> str | None:
        """The id that names the party: endpoint id, else party id, else VAT id (then the others)."""
        return self.endpoint_id or self.party_id or self.vat_id or self.tax_id or self.legal_id


@dataclass
class InvoiceLine:
    line_id: str | None
    net_amount: Decimal | None         # BT-131, as stated
    name: str | None = None            # BT-153
    position: str | None = None


@dataclass
class Finding:
    """Something a person should look at; the invoice is still read."""

    kind: str          # line_total_mismatch, tax_exclusive_mismatch, ..., missing_field, invalid_iban
    message: str
    rule: str | None = None            # the EN 16931 rule it reflects (BR-CO-10, ...)
    position: str | None = None
    stated: str | None = None
    computed: str | None = None
    flag: str | None = None            # a business rule's flag: fatal | warning | information

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass
class EInvoice:
    file: str
    syntax: str                        # ubl, cii, zugferd-1.0; see ``container`` for PDF
    root: str                          # Invoice, CreditNote, CrossIndustryInvoice, CrossIndustryDocument
    customization_id: str | None = None   # BT-24 (CII: guideline parameter)
    profile_id: str | None = None         # BT-23 (CII: business process parameter)
    invoice_number: str | None = None     # BT-1
    type_code: str | None = None          # BT-3
    issue_date: date | None = None        # BT-2
    due_date: date | None = None          # BT-9, or derived from the payment terms
    due_date_source: str | None = None    # "stated" | "payment_terms"
    currency: str | None = None           # BT-5 document currency
    tax_currency: str | None = None       # BT-6
    seller: Party = field(default_factory=Party)
    buyer: Party = field(default_factory=Party)
    iban: str | None = None               # BT-84 of the first credit transfer with a valid IBAN
    payment_terms: str | None = None      # BT-20
    notes: list[str] = field(default_factory=list)   # BT-22
    line_total: Decimal | None = None         # BT-106
    allowance_total: Decimal | None = None    # BT-107
    charge_total: Decimal | None = None       # BT-108
    tax_exclusive: Decimal | None = None      # BT-109
    tax_amount: Decimal | None = None         # BT-110, in the document currency
    tax_amount_tax_currency: Decimal | None = None  # BT-111
    tax_inclusive: Decimal | None = None      # BT-112
    prepaid: Decimal | None = None            # BT-113
    rounding: Decimal | None = None           # BT-114
    payable: Decimal | None = None            # BT-115
    lines: list[InvoiceLine] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    container: str | None = None              # "pdf:<attachment name>" when read from a PDF
    rule_sets: list[str] = field(default_factory=list)   # business rule sets checked (EN16931-UBL, ...)

    @property
    def document_type(self) -> str:
        if self.root == "CreditNote" or (self.type_code or "").strip() in CREDIT_NOTE_TYPE_CODES:
            return "credit_note"
        return "invoice"

    @property
    def states_negative_amounts(self) -> bool:
        """The document states its totals negative (its grand total, else amount due, else net total)."""
        for total in (self.tax_inclusive, self.payable, self.tax_exclusive, self.line_total):
            if total is not None:
                return total < 0
        return False

    @property
    def sign(self) -> int:
        """-1 turns a credit note's amounts negative in the canonical invoice; a credit note that
        already states them negative keeps them as stated (never turned twice)."""
        return -1 if self.document_type == "credit_note" and not self.states_negative_amounts else 1

    @property
    def fatal_rules(self) -> list[Finding]:
        return [f for f in self.findings if f.flag == "fatal"]

    def finding(self, kind: str, message: str, **extra: Any) -> None:
        self.findings.append(Finding(kind, message, **extra))

    def canonical(self) -> dict[str, Any]:
        """The canonical invoice (schemas/invoice.schema.json): a supplier invoice received, so
        payable; a credit note's amounts negative. Fields the document does not give are left out."""
        out: dict[str, Any] = {
            "invoice_number": self.invoice_number,
            "direction": "payable",
            "vendor_id": self.seller.id,
            "vendor_name": _clip(self.seller.name, 200),
            "vendor_iban": self.iban,
            "customer_id": self.buyer.id,
            "issue_date": self.issue_date.isoformat() if self.issue_date else None,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "currency": self.currency,
            "amount_excl_tax": self.signed_amount(self.tax_exclusive),
            "tax_amount": self.signed_amount(self.tax_amount),
            "amount_incl_tax": self.signed_amount(self.tax_inclusive),
            "payment_terms": _clip(self.payment_terms, 100),
            "description": _clip("; ".join(self.notes), 1000),
            "status": "open",
        }
        return {k: v for k, v in out.items() if v not in (None, "")}

    def signed_amount(self, value: Decimal | None) -> str | None:
        if value is None:
            return None
        value = value * self.sign
        if self.currency:
            # more decimals than the currency has: kept as stated, and the schema decides
            with contextlib.suppress(MoneyError):
                value = quantize_money(value, self.currency)
        return format_amount(value)

    def as_json(self) -> dict[str, Any]:
        """Everything parsed, JSON-ready (Decimals as strings, dates ISO)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == []:
                continue
            out[f.name] = _json(value)
        out["document_type"] = self.document_type
        return out


def money_exponent(currency: str | None) -> int:
    try:
        return currency_exponent(currency) if currency else 2
    except MoneyError:
        return 2


def _clip(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (Party, InvoiceLine)):
        return {f.name: _json(getattr(value, f.name)) for f in fields(value) if getattr(value, f.name) is not None}
    if isinstance(value, Finding):
        return value.as_dict()
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value
