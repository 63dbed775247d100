"""UBL 2.1 Invoice and CreditNote (EN 16931 UBL syntax: Peppol BIS Billing 3, SI-UBL 2.0,
XRechnung UBL, French CTC, ...) -> EInvoice."""

from __future__ import annotations

from typing import Any

from .common import (
    Reader,
    check_currency,
    check_totals,
    element_text,
    pick_tax_amounts,
    read_currency,
    scheme_id,
    set_due_date,
    set_iban,
)
from .model import EInvoice, InvoiceLine, Party

SYNTAX = "ubl"
INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
ROOTS = {(INVOICE_NS, "Invoice"), (CREDIT_NOTE_NS, "CreditNote")}
NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "inv": INVOICE_NS,
    "cn": CREDIT_NOTE_NS,
}

# LegalMonetaryTotal child -> (EInvoice attribute, business term)
_TOTALS = (
    ("LineExtensionAmount", "line_total", "BT-106"),
    ("AllowanceTotalAmount", "allowance_total", "BT-107"),
    ("ChargeTotalAmount", "charge_total", "BT-108"),
    ("TaxExclusiveAmount", "tax_exclusive", "BT-109"),
    ("TaxInclusiveAmount", "tax_inclusive", "BT-112"),
    ("PrepaidAmount", "prepaid", "BT-113"),
    ("PayableRoundingAmount", "rounding", "BT-114"),
    ("PayableAmount", "payable", "BT-115"),
)


def read(root: Any, file: str) -> EInvoice:
    r = Reader(root, NS, file)
    local = root.tag.rsplit("}", 1)[-1]
    inv = EInvoice(file=file, syntax=SYNTAX, root=local)
    inv.customization_id = r.text("cbc:CustomizationID")
    inv.profile_id = r.text("cbc:ProfileID")
    inv.invoice_number = r.text("cbc:ID")
    inv.type_code = r.text("cbc:InvoiceTypeCode | cbc:CreditNoteTypeCode")
    inv.issue_date = r.date_of(r.first("cbc:IssueDate"), "issue date (BT-2)")
    inv.currency = read_currency(r, r.first("cbc:DocumentCurrencyCode"), "document currency (BT-5)")
    inv.tax_currency = read_currency(r, r.first("cbc:TaxCurrencyCode"), "tax currency (BT-6)")
    inv.notes = [t for t in (element_text(n) for n in r.all("cbc:Note")) if t]
    inv.seller = _party(r, r.first("cac:AccountingSupplierParty/cac:Party"))
    inv.buyer = _party(r, r.first("cac:AccountingCustomerParty/cac:Party"))

    set_iban(inv, r, r.all("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID"))
    terms = [t for t in (element_text(n) for n in r.all("cac:PaymentTerms/cbc:Note")) if t]
    inv.payment_terms = " ".join(terms) or None
    # BT-9: cbc:DueDate on an Invoice; a CreditNote carries it on the payment means.
    due_el = r.first("cbc:DueDate")
    if due_el is None:
        due_el = r.first("cac:PaymentMeans/cbc:PaymentDueDate")
    set_due_date(inv, r.date_of(due_el, "payment due date (BT-9)"))

    total = r.first("cac:LegalMonetaryTotal")
    positions: dict[str, str | None] = {"invoice_number": "/*/cbc:ID", "issue_date": "/*/cbc:IssueDate",
                                        "currency": "/*/cbc:DocumentCurrencyCode"}
    base = r.where(total) if total is not None else "/*/cac:LegalMonetaryTotal"
    for name, attr, term in _TOTALS:
        el = r.first(f"cbc:{name}", total) if total is not None else None
        positions[attr] = r.where(el) if el is not None else f"{base}/cbc:{name}"
        setattr(inv, attr, r.amount_of(el, f"{term}"))
        check_currency(inv, r, el)
    tax_el = pick_tax_amounts(inv, r, r.all("cac:TaxTotal/cbc:TaxAmount"))
    positions["tax_amount"] = r.where(tax_el) if tax_el is not None else "/*/cac:TaxTotal/cbc:TaxAmount"

    for line in r.all("cac:InvoiceLine | cac:CreditNoteLine"):
        amount_el = r.first("cbc:LineExtensionAmount", line)
        inv.lines.append(InvoiceLine(line_id=r.text("cbc:ID", line),
                                     net_amount=r.amount_of(amount_el, "line net amount (BT-131)"),
                                     name=r.text("cac:Item/cbc:Name", line), position=r.where(line)))
    check_totals(inv, positions)
    return inv


def _party(r: Reader, party: Any) -> Party:
    if party is None:
        return Party()
    endpoint = r.first("cbc:EndpointID", party)
    # A seller's PartyIdentification with scheme SEPA is the creditor id (BT-90), not a party id.
    ident = r.first("cac:PartyIdentification/cbc:ID[not(@schemeID='SEPA')]", party)
    vat = r.first("cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID", party)
    other_tax = r.first("cac:PartyTaxScheme[not(cac:TaxScheme/cbc:ID='VAT')]/cbc:CompanyID", party)
    legal = r.first("cac:PartyLegalEntity/cbc:CompanyID", party)
    return Party(
        name=r.text("cac:PartyLegalEntity/cbc:RegistrationName", party) or r.text("cac:PartyName/cbc:Name", party),
        endpoint_id=scheme_id(endpoint, element_text(endpoint)),
        party_id=scheme_id(ident, element_text(ident)),
        vat_id=element_text(vat),
        tax_id=element_text(other_tax),
        legal_id=scheme_id(legal, element_text(legal)),
    )
