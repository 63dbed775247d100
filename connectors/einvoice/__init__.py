"""E-invoices -> ``EInvoice`` (and from there the canonical invoice). The syntax is recognised
from the content, never the file name:

- UBL 2.1 Invoice / CreditNote (Peppol BIS Billing 3, SI-UBL 2.0, XRechnung UBL, ...)
- UN/CEFACT CII D16B CrossIndustryInvoice (Factur-X, ZUGFeRD 2.x, XRechnung CII)
- ZUGFeRD 1.0 CrossIndustryDocument
- a PDF (Factur-X / ZUGFeRD PDF/A-3) with one of the above embedded

    invoice = parse(path)               # EInvoice; EInvoiceError(file, position, reason) if unreadable
    invoice.canonical()                 # schemas/invoice.schema.json
    invoice.findings                    # totals that disagree, missing fields, bad IBANs, and every
                                        # failed EN 16931 / XRechnung business rule (kind business_rule,
                                        # rule id, flag fatal/warning, XPath position)

Every XML read goes through ``connectors.xmlsafe`` (no DTD, no entities, size limits).
"""

from __future__ import annotations

from pathlib import Path

from connectors.xmlsafe import XmlError, parse_document

from . import business_rules, cii, ubl
from .facturx import extract_xml, is_pdf
from .model import CREDIT_NOTE_TYPE_CODES, EInvoice, EInvoiceError, Finding, InvoiceLine, Party

MAX_FILE_BYTES = 50 * 1024 * 1024


def _root_name(root) -> tuple[str | None, str]:
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag.startswith("{"):
        ns, local = tag[1:].split("}", 1)
        return ns, local
    return None, tag


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise EInvoiceError(str(path), None, f"{size} bytes, more than the {MAX_FILE_BYTES} accepted")
        data = path.read_bytes()
    except OSError as exc:
        raise EInvoiceError(str(path), None, f"cannot read the file: {exc.strerror or exc}") from None
    if not data.strip():
        raise EInvoiceError(str(path), None, "the file is empty")
    return data


def detect(path: Path | str) -> str:
    """'pdf', 'ubl', 'cii' or 'zugferd-1.0'; EInvoiceError when the file is none of them."""
    path = Path(path)
    data = _read(path)
    if is_pdf(data):
        return "pdf"
    return _syntax_of(parse_document_safe(data, str(path)), str(path))[0]


def parse_document_safe(data: bytes, name: str):
    try:
        return parse_document(data, name=name)
    except XmlError as exc:
        raise EInvoiceError(exc.file, f"line {exc.line}" if exc.line else None, exc.reason) from None


def _syntax_of(root, name: str):
    ns, local = _root_name(root)
    if (ns, local) in ubl.ROOTS:
        return ubl.SYNTAX, None
    variant = cii.variant_for(ns, local)
    if variant is not None:
        return variant.syntax, variant
    shown = f"{{{ns}}}{local}" if ns else local
    raise EInvoiceError(name, f"/{local}",
                        f"not an e-invoice: root element {shown} is none of UBL Invoice/CreditNote "
                        "(urn:oasis:names:specification:ubl:schema:xsd:Invoice-2 / CreditNote-2), "
                        "CII CrossIndustryInvoice (D16B) or ZUGFeRD 1.0 CrossIndustryDocument")


def parse_xml(data: bytes, name: str, *, rules: bool = True) -> EInvoice:
    """One e-invoice from XML bytes; ``name`` is used in errors. ``rules``: check the business
    rules that apply (see ``business_rules``) and add each failed one to the findings."""
    root = parse_document_safe(data, name)
    syntax, variant = _syntax_of(root, name)
    invoice = ubl.read(root, name) if variant is None else cii.read(root, name, variant)
    if rules:
        failures, checked = business_rules.check(root, syntax=syntax, customization_id=invoice.customization_id,
                                                 file=name)
        invoice.rule_sets = [s.name for s in checked]
        invoice.findings.extend(Finding("business_rule", f.message, rule=f.rule, position=f.location, flag=f.flag)
                                for f in failures)
    return invoice


def parse(path: Path | str, *, rules: bool = True) -> EInvoice:
    """The e-invoice in ``path`` (XML, or a PDF with the XML embedded)."""
    path = Path(path)
    data = _read(path)
    if is_pdf(data):
        attachment, xml = extract_xml(path)
        invoice = parse_xml(xml, f"{path} (attachment {attachment})", rules=rules)
        invoice.container = f"pdf:{attachment}"
        invoice.file = str(path)
        return invoice
    return parse_xml(data, str(path), rules=rules)


__all__ = ["CREDIT_NOTE_TYPE_CODES", "EInvoice", "EInvoiceError", "Finding", "InvoiceLine", "Party", "detect",
           "parse", "parse_xml"]
