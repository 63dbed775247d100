"""UN/CEFACT Cross Industry Invoice D16B (EN 16931 CII syntax: Factur-X / ZUGFeRD 2.x,
XRechnung CII) and its predecessor ZUGFeRD 1.0 (CrossIndustryDocument, D13B-based) -> EInvoice.

The two differ in element names around the same business terms; a ``Variant`` holds the paths.
Namespace URIs are what matters, not prefixes, so locally declared namespaces read the same.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Variant:
    syntax: str
    root: str
    ns: dict[str, str]
    context: str
    document: str
    transaction: str
    agreement: str
    settlement: str
    summation: str
    line_settlement: str
    line_summation: str

    @property
    def namespace(self) -> str:
        return self.ns["rsm"]


CII = Variant(
    syntax="cii", root="CrossIndustryInvoice",
    ns={"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
        "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"},
    context="rsm:ExchangedDocumentContext", document="rsm:ExchangedDocument",
    transaction="rsm:SupplyChainTradeTransaction", agreement="ram:ApplicableHeaderTradeAgreement",
    settlement="ram:ApplicableHeaderTradeSettlement", summation="ram:SpecifiedTradeSettlementHeaderMonetarySummation",
    line_settlement="ram:SpecifiedLineTradeSettlement", line_summation="ram:SpecifiedTradeSettlementLineMonetarySummation",
)
ZUGFERD1 = Variant(
    syntax="zugferd-1.0", root="CrossIndustryDocument",
    ns={"rsm": "urn:ferd:CrossIndustryDocument:invoice:1p0",
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12",
        "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15"},
    context="rsm:SpecifiedExchangedDocumentContext", document="rsm:HeaderExchangedDocument",
    transaction="rsm:SpecifiedSupplyChainTradeTransaction", agreement="ram:ApplicableSupplyChainTradeAgreement",
    settlement="ram:ApplicableSupplyChainTradeSettlement", summation="ram:SpecifiedTradeSettlementMonetarySummation",
    line_settlement="ram:SpecifiedSupplyChainTradeSettlement",
    line_summation="ram:SpecifiedTradeSettlementMonetarySummation",
)
VARIANTS = (CII, ZUGFERD1)

# Monetary summation child -> (EInvoice attribute, business term)
_TOTALS = (
    ("LineTotalAmount", "line_total", "BT-106"),
    ("AllowanceTotalAmount", "allowance_total", "BT-107"),
    ("ChargeTotalAmount", "charge_total", "BT-108"),
    ("TaxBasisTotalAmount", "tax_exclusive", "BT-109"),
    ("GrandTotalAmount", "tax_inclusive", "BT-112"),
    ("TotalPrepaidAmount", "prepaid", "BT-113"),
    ("RoundingAmount", "rounding", "BT-114"),
    ("DuePayableAmount", "payable", "BT-115"),
)
# Factur-X EXTENDED sub-lines: DETAIL lines are summed up in their GROUP line, INFORMATION lines
# carry no amount of the invoice; neither counts towards the line total.
_NOT_COUNTED = {"DETAIL", "INFORMATION"}


def variant_for(namespace: str | None, local: str) -> Variant | None:
    for v in VARIANTS:
        if v.namespace == namespace and v.root == local:
            return v
    return None


def read(root: Any, file: str, variant: Variant) -> EInvoice:
    v = variant
    r = Reader(root, v.ns, file)
    inv = EInvoice(file=file, syntax=v.syntax, root=v.root)
    inv.customization_id = r.text(f"{v.context}/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID")
    inv.profile_id = r.text(f"{v.context}/ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID")
    doc = f"{v.document}"
    inv.invoice_number = r.text(f"{doc}/ram:ID")
    inv.type_code = r.text(f"{doc}/ram:TypeCode")
    inv.issue_date = _date(r, r.first(f"{doc}/ram:IssueDateTime/udt:DateTimeString"), "issue date (BT-2)")
    inv.notes = [t for t in (element_text(n) for n in r.all(f"{doc}/ram:IncludedNote/ram:Content")) if t]

    tx = v.transaction
    agreement = f"{tx}/{v.agreement}"
    settlement = f"{tx}/{v.settlement}"
    inv.seller = _party(r, r.first(f"{agreement}/ram:SellerTradeParty"))
    inv.buyer = _party(r, r.first(f"{agreement}/ram:BuyerTradeParty"))
    inv.currency = read_currency(r, r.first(f"{settlement}/ram:InvoiceCurrencyCode"), "invoice currency (BT-5)")
    inv.tax_currency = read_currency(r, r.first(f"{settlement}/ram:TaxCurrencyCode"), "tax currency (BT-6)")

    set_iban(inv, r, r.all(f"{settlement}/ram:SpecifiedTradeSettlementPaymentMeans/"
                           "ram:PayeePartyCreditorFinancialAccount/ram:IBANID"))
    terms = [t for t in (element_text(d) for d in r.all(f"{settlement}/ram:SpecifiedTradePaymentTerms/"
                                                          "ram:Description")) if t]
    inv.payment_terms = " ".join(terms) or None
    due_el = r.first(f"{settlement}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString")
    set_due_date(inv, _date(r, due_el, "payment due date (BT-9)"))

    summation = r.first(f"{settlement}/{v.summation}")
    base = r.where(summation) if summation is not None else f"/rsm:{v.root}/{settlement}/{v.summation}"
    positions: dict[str, str | None] = {
        "invoice_number": f"/rsm:{v.root}/{doc}/ram:ID",
        "issue_date": f"/rsm:{v.root}/{doc}/ram:IssueDateTime",
        "currency": f"/rsm:{v.root}/{settlement}/ram:InvoiceCurrencyCode",
    }
    for name, attr, term in _TOTALS:
        el = r.first(f"ram:{name}", summation) if summation is not None else None
        positions[attr] = r.where(el) if el is not None else f"{base}/ram:{name}"
        setattr(inv, attr, r.amount_of(el, term))
        check_currency(inv, r, el)
    if v is ZUGFERD1 and inv.payable is None and inv.prepaid is None and inv.tax_inclusive is not None:
        # ZUGFeRD 1.0 BASIC has no DuePayableAmount: the stated grand total is the amount due.
        inv.payable = inv.tax_inclusive
        inv.finding("amount_due_not_stated", "no DuePayableAmount (optional in ZUGFeRD 1.0): the grand total "
                    "is the amount due", position=positions["payable"])
    tax = pick_tax_amounts(inv, r, r.all("ram:TaxTotalAmount", summation) if summation is not None else [])
    positions["tax_amount"] = r.where(tax) if tax is not None else f"{base}/ram:TaxTotalAmount"

    for item in r.all(f"{tx}/ram:IncludedSupplyChainTradeLineItem"):
        status = r.text("ram:AssociatedDocumentLineDocument/ram:LineStatusReasonCode", item)
        amount_el = r.first(f"{v.line_settlement}/{v.line_summation}/ram:LineTotalAmount", item)
        if amount_el is None or (status or "").upper() in _NOT_COUNTED:
            continue  # a text-only line (ZUGFeRD 1.0) or a sub-line
        inv.lines.append(InvoiceLine(line_id=r.text("ram:AssociatedDocumentLineDocument/ram:LineID", item),
                                     net_amount=r.amount_of(amount_el, "line net amount (BT-131)"),
                                     name=r.text("ram:SpecifiedTradeProduct/ram:Name", item), position=r.where(item)))
    check_totals(inv, positions)
    return inv


def _date(r: Reader, el: Any, what: str):
    if el is None:
        return None
    return r.date_of(el, what, (el.get("format") or "").strip() or None)


def _party(r: Reader, party: Any) -> Party:
    if party is None:
        return Party()
    endpoint = r.first("ram:URIUniversalCommunication/ram:URIID", party)
    local_id = r.first("ram:ID", party)
    global_id = r.first("ram:GlobalID", party)
    vat = r.first("ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']", party)
    tax = r.first("ram:SpecifiedTaxRegistration/ram:ID[@schemeID='FC']", party)
    legal = r.first("ram:SpecifiedLegalOrganization/ram:ID", party)
    return Party(
        name=r.text("ram:Name", party),
        endpoint_id=scheme_id(endpoint, element_text(endpoint)),
        party_id=element_text(local_id) or scheme_id(global_id, element_text(global_id)),
        vat_id=element_text(vat),
        tax_id=element_text(tax),
        legal_id=scheme_id(legal, element_text(legal)),
    )
