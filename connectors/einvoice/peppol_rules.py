"""Peppol BIS Billing 3.0 rules that add to EN 16931, for UBL documents that claim the Peppol
specification (BT-24 ``...#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0``).

OpenPeppol's own Schematron (PEPPOL-EN16931-UBL.sch) is not redistributed by any package we can
install, so this is a subset written from the BIS Billing 3.0 specification: the document-level
rules (R001-R008), the electronic addresses (R010, R020), the tax totals (R053, R054), the invoice
line arithmetic (R120, R121, R130) and the GLN check digit (PEPPOL-COMMON-R040). Ids and flags are
Peppol's, so findings read like the official validator's. Every rule here is fatal in Peppol.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .common import Reader, element_text
from .ubl import NS

PEPPOL_BIS3 = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
_PROCESS = re.compile(r"urn:fdc:peppol\.eu:2017:poacc:billing:\d{2}:1\.0")
# (rule, message) as the Peppol specification words them
RULES = {
    "PEPPOL-EN16931-R001": "Business process MUST be provided.",
    "PEPPOL-EN16931-R002": "No more than one note is allowed on document level.",
    "PEPPOL-EN16931-R003": "A buyer reference or purchase order reference MUST be provided.",
    "PEPPOL-EN16931-R004": f"Specification identifier MUST have the value '{PEPPOL_BIS3}'.",
    "PEPPOL-EN16931-R005": "VAT accounting currency code MUST be different from invoice currency code when provided.",
    "PEPPOL-EN16931-R007": "Business process MUST be in the format 'urn:fdc:peppol.eu:2017:poacc:billing:NN:1.0' "
                           "where NN indicates the process number.",
    "PEPPOL-EN16931-R008": "Document MUST not contain empty elements.",
    "PEPPOL-EN16931-R010": "Buyer electronic address MUST be provided",
    "PEPPOL-EN16931-R020": "Seller electronic address MUST be provided",
    "PEPPOL-EN16931-R053": "Only one tax total with tax subtotals MUST be provided.",
    "PEPPOL-EN16931-R054": "Only one tax total without tax subtotals MUST be provided when tax currency code is "
                           "provided.",
    "PEPPOL-EN16931-R120": "Invoice line net amount MUST equal (Invoiced quantity * (Item net price/item price base "
                           "quantity) + Sum of invoice line charge amount - sum of invoice line allowance amount",
    "PEPPOL-EN16931-R121": "Base quantity MUST be a positive number above zero.",
    "PEPPOL-EN16931-R130": "Unit code of price base quantity MUST be same as invoiced quantity.",
    "PEPPOL-COMMON-R040": "GLN must have a valid format according to GS1 rules.",
}


def applies(syntax: str, customization_id: str | None) -> bool:
    return syntax == "ubl" and "urn:fdc:peppol.eu:2017:poacc:billing:3.0" in (customization_id or "")


def check(root: Any, file: str) -> list[tuple[str, str]]:
    """(rule id, XPath) of every rule of this subset that fails."""
    r = Reader(root, NS, file)
    out: list[tuple[str, str]] = []

    def fail(rule: str, el: Any) -> None:
        out.append((rule, r.where(el)))

    profile = r.first("cbc:ProfileID")
    if profile is None:
        fail("PEPPOL-EN16931-R001", root)
    elif not _PROCESS.fullmatch(element_text(profile) or ""):
        fail("PEPPOL-EN16931-R007", profile)
    notes = r.all("cbc:Note")
    both_german = _country(r, "cac:AccountingSupplierParty") == _country(r, "cac:AccountingCustomerParty") == "DE"
    if len(notes) > 1 and not both_german:
        fail("PEPPOL-EN16931-R002", notes[1])
    if r.first("cbc:BuyerReference") is None and r.first("cac:OrderReference/cbc:ID") is None:
        fail("PEPPOL-EN16931-R003", root)
    cid = r.first("cbc:CustomizationID")
    if cid is not None and not (element_text(cid) or "").startswith(PEPPOL_BIS3):
        fail("PEPPOL-EN16931-R004", cid)
    tax_currency = r.first("cbc:TaxCurrencyCode")
    if tax_currency is not None and element_text(tax_currency) == r.text("cbc:DocumentCurrencyCode"):
        fail("PEPPOL-EN16931-R005", tax_currency)
    for el in root.iter():
        if isinstance(el.tag, str) and len(el) == 0 and not (el.text or "").strip():
            fail("PEPPOL-EN16931-R008", el)
    for rule, party in (("PEPPOL-EN16931-R010", "cac:AccountingCustomerParty"),
                        ("PEPPOL-EN16931-R020", "cac:AccountingSupplierParty")):
        if r.first(f"{party}/cac:Party/cbc:EndpointID") is None:
            fail(rule, _or_root(r.first(f"{party}/cac:Party"), root))
    with_subtotals = r.all("cac:TaxTotal[cac:TaxSubtotal]")
    if len(with_subtotals) != 1:
        fail("PEPPOL-EN16931-R053", with_subtotals[1] if with_subtotals else root)
    if len(r.all("cac:TaxTotal[not(cac:TaxSubtotal)]")) != (1 if tax_currency is not None else 0):
        fail("PEPPOL-EN16931-R054", root)
    for line in r.all("cac:InvoiceLine | cac:CreditNoteLine"):
        _check_line(r, line, fail)
    for el in r.all("//cbc:EndpointID[@schemeID='0088'] | //cac:PartyIdentification/cbc:ID[@schemeID='0088']"
                    " | //cbc:CompanyID[@schemeID='0088']"):
        if not gln_is_valid(element_text(el) or ""):
            fail("PEPPOL-COMMON-R040", el)
    return out


def _or_root(el: Any, root: Any) -> Any:
    return root if el is None else el


def _country(r: Reader, party: str) -> str | None:
    return r.text(f"{party}/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode")


def _check_line(r: Reader, line: Any, fail: Any) -> None:
    quantity_el = r.first("cbc:InvoicedQuantity | cbc:CreditedQuantity", line)
    base_el = r.first("cac:Price/cbc:BaseQuantity", line)
    if base_el is not None:
        base = _decimal(element_text(base_el))
        if base is not None and base <= 0:
            fail("PEPPOL-EN16931-R121", base_el)
        unit = (base_el.get("unitCode") or "").strip()
        if unit and quantity_el is not None and unit != (quantity_el.get("unitCode") or "").strip():
            fail("PEPPOL-EN16931-R130", base_el)
    quantity = _decimal(element_text(quantity_el))
    price = _decimal(r.text("cac:Price/cbc:PriceAmount", line))
    net = _decimal(r.text("cbc:LineExtensionAmount", line))
    base = _decimal(element_text(base_el)) if base_el is not None else Decimal(1)
    if quantity is None or price is None or net is None or not base:
        return  # EN 16931 (BR-22, BR-26, BR-24) reports what is missing
    charges = sum((_decimal(element_text(a)) or Decimal(0) for a in
                   r.all("cac:AllowanceCharge[cbc:ChargeIndicator='true']/cbc:Amount", line)), Decimal(0))
    allowances = sum((_decimal(element_text(a)) or Decimal(0) for a in
                      r.all("cac:AllowanceCharge[cbc:ChargeIndicator='false']/cbc:Amount", line)), Decimal(0))
    expected = quantity * (price / base) + charges - allowances
    if abs(expected - net) > Decimal("0.02"):  # Peppol allows 0.02 of slack for rounding
        fail("PEPPOL-EN16931-R120", line)


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None


def gln_is_valid(value: str) -> bool:
    """A GS1 number (GLN: 13 digits) whose last digit is the mod-10 check digit (weights 3, 1, 3, ...
    from the right, next to the check digit)."""
    value = value.strip()
    if not re.fullmatch(r"\d{2,}", value):
        return False
    body = [int(c) for c in reversed(value[:-1])]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return (10 - total % 10) % 10 == int(value[-1])
