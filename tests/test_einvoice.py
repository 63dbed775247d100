"""E-invoices (UBL, CII, ZUGFeRD 1.0, Factur-X PDF) -> canonical payable invoices: the corpus,
named values, totals findings, hostile XML, the PDF container, the CLI and a feed load."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.einvoice import EInvoiceError, detect, parse
from connectors.einvoice.common import due_from_terms
from ledgerlink.cli import main
from ledgerlink.pipeline.feeds import get_feed
from ledgerlink.pipeline.replay import replay
from ledgerlink.pipeline.steps import run_feed_file
from ledgerlink.store import Store
from tests.fixtures.corpus import CORPUS_DIR, corpus_params, requires_corpus

LOCAL_NAMESPACES = "cii/zugferd-csharp/zugferd_23_local_namespaces.xml"


def _kinds(invoice) -> set[str]:
    return {f.kind for f in invoice.findings}


# --------------------------------------------------------------------------------------------- corpus


@pytest.mark.parametrize(("path", "expect"), corpus_params("ubl", "cii"))
def test_corpus_file(path: Path, expect: str) -> None:
    rel = path.relative_to(CORPUS_DIR).as_posix()
    if expect == "FAIL":
        with pytest.raises(EInvoiceError) as info:
            parse(path)
        assert info.value.file.startswith(str(path)) and str(path) in str(info.value)
        assert info.value.reason
        return
    invoice = parse(path)
    kinds = _kinds(invoice)
    canonical = invoice.canonical()
    assert canonical["direction"] == "payable" and canonical["status"] == "open"
    if rel == LOCAL_NAMESPACES:  # a header-only fragment: read, and what it lacks is reported
        assert {f.rule for f in invoice.findings if f.kind == "missing_field"} == {
            "invoice_number", "issue_date", "currency", "payable"}
        return
    assert invoice.invoice_number and invoice.issue_date and invoice.currency and invoice.payable is not None
    zero = Decimal(0)
    if invoice.tax_exclusive is not None and invoice.tax_inclusive is not None:
        disagree = invoice.tax_exclusive + (invoice.tax_amount or zero) != invoice.tax_inclusive
        assert ("tax_inclusive_mismatch" in kinds) == disagree
    if invoice.tax_inclusive is not None:
        disagree = invoice.tax_inclusive - (invoice.prepaid or zero) + (invoice.rounding or zero) != invoice.payable
        assert ("payable_mismatch" in kinds) == disagree
    if invoice.line_total is not None and invoice.tax_exclusive is not None:
        expected = invoice.line_total - (invoice.allowance_total or zero) + (invoice.charge_total or zero)
        assert ("tax_exclusive_mismatch" in kinds) == (expected != invoice.tax_exclusive)
    amounts = [line.net_amount for line in invoice.lines if line.net_amount is not None]
    if amounts and invoice.line_total is not None:
        assert ("line_total_mismatch" in kinds) == (sum(amounts, zero) != invoice.line_total)
    # the canonical amounts carry the document's sign, turned for credit notes
    if invoice.tax_inclusive is not None:
        assert Decimal(canonical["amount_incl_tax"]) == invoice.tax_inclusive * invoice.sign


def corpus(rel: str) -> Path:
    return CORPUS_DIR / rel


@requires_corpus
def test_ubl_peppol_invoice_with_prepayment() -> None:
    inv = parse(corpus("ubl/cef-einvoicing/ubl-tc434-example2.xml"))
    c = inv.canonical()
    assert (inv.syntax, inv.document_type, c["invoice_number"], c["currency"]) == ("ubl", "invoice", "TOSL108", "NOK")
    assert c["vendor_id"] == "0088:1238764941386" and c["customer_id"] == "0088:3456789012098"
    assert (c["amount_excl_tax"], c["tax_amount"], c["amount_incl_tax"]) == ("1436.50", "365.28", "1801.78")
    assert inv.payable == Decimal("801.78") and inv.prepaid == Decimal("1000.00")
    assert c["due_date"] == "2013-07-20" and c["vendor_iban"] == "NO9386011117947"
    assert "amount_due_differs" in _kinds(inv)


@requires_corpus
def test_same_invoice_in_ubl_and_cii_reads_the_same() -> None:
    ubl = parse(corpus("ubl/cef-einvoicing/ubl-tc434-example1.xml")).canonical()
    cii = parse(corpus("cii/cef-einvoicing/CII_example1.xml")).canonical()
    for c in (ubl, cii):
        assert c["invoice_number"] == "12115118" and c["issue_date"] == "2015-01-09"
        assert c["vendor_id"] == "NL8200.98.395.B.01" and c["vendor_iban"] == "NL57RABO0107307510"
        assert (c["amount_excl_tax"], c["tax_amount"], c["amount_incl_tax"]) == ("229.60", "20.73", "250.33")
    assert {k: v for k, v in ubl.items() if k != "description"} == {k: v for k, v in cii.items()
                                                                      if k != "description"}


@requires_corpus
def test_ubl_credit_note_amounts_are_negative() -> None:
    inv = parse(corpus("ubl/cef-einvoicing/BIS_Billing_30-Kreditering_med_kreditnota.xml"))
    c = inv.canonical()
    assert (inv.root, inv.document_type, c["invoice_number"]) == ("CreditNote", "credit_note", "2018140")
    assert (c["amount_excl_tax"], c["tax_amount"], c["amount_incl_tax"]) == ("-8668.00", "-2167.00", "-10835.00")
    assert inv.payable == Decimal("10000.00")  # as stated in the document
    # no due date element: 30 days from the payment terms '30 dagar netto'
    assert (c["due_date"], inv.due_date_source) == ("2018-03-12", "payment_terms")


@requires_corpus
def test_negative_invoice_keeps_its_sign() -> None:
    inv = parse(corpus("ubl/cef-einvoicing/BIS3_Invoice_negativ.XML"))
    c = inv.canonical()
    assert inv.document_type == "invoice"
    assert (c["amount_excl_tax"], c["tax_amount"], c["amount_incl_tax"]) == (
        "-625743.54", "-156435.89", "-782179.43")
    assert inv.payable == Decimal("-782179.43")
    assert not _kinds(inv) & {"line_total_mismatch", "tax_exclusive_mismatch", "tax_inclusive_mismatch",
                              "payable_mismatch"}


@requires_corpus
def test_zugferd_1_comfort() -> None:
    inv = parse(corpus("cii/zugferd-csharp/ZUGFeRD_1p0_COMFORT_Rabatte.xml"))
    c = inv.canonical()
    assert (inv.syntax, inv.root) == ("zugferd-1.0", "CrossIndustryDocument")
    assert inv.customization_id == "urn:ferd:CrossIndustryDocument:invoice:1p0:comfort"
    assert (c["invoice_number"], c["issue_date"], c["due_date"]) == ("471102", "2013-06-05", "2013-07-04")
    assert (c["vendor_id"], c["vendor_name"], c["customer_id"]) == ("0088:4000001123452", "Lieferant GmbH",
                                                                    "GE2020211")
    assert c["vendor_iban"] == "DE08700901001234567890"
    assert (inv.line_total, inv.allowance_total, inv.charge_total) == (
        Decimal("202.76"), Decimal("14.73"), Decimal("5.80"))
    assert (c["amount_excl_tax"], c["amount_incl_tax"], inv.payable) == ("193.83", "215.14", Decimal("165.14"))
    assert "line_total_mismatch" not in _kinds(inv)  # the text-only first line item is not a line


@requires_corpus
def test_huf_amounts_use_the_iso_exponent() -> None:
    c = parse(corpus("cii/cef-einvoicing/huf_example_cii.xml")).canonical()
    assert (c["invoice_number"], c["currency"]) == ("21/001003559/996", "HUF")
    assert (c["amount_excl_tax"], c["tax_amount"], c["amount_incl_tax"]) == ("69180.00", "18679.00", "87859.00")


@requires_corpus
def test_foreign_currency_invoice_takes_the_document_currency_tax() -> None:
    cii = parse(corpus("cii/zugferd-csharp/zugferd_2p2_EXTENDED_Fremdwaehrung-factur-x.xml"))
    assert (cii.currency, cii.tax_currency) == ("GBP", "EUR")
    assert (cii.tax_amount, cii.tax_amount_tax_currency) == (Decimal("163.16"), Decimal("183.14"))
    assert cii.canonical()["tax_amount"] == "163.16"
    ubl = parse(corpus("ubl/cef-einvoicing/BIS_Billing_30-Valutor i faktura.xml"))
    assert (ubl.currency, ubl.tax_currency, ubl.tax_amount) == ("USD", "SEK", Decimal("23000"))
    assert ubl.tax_amount_tax_currency == Decimal("205845.40")
    assert "currency_mismatch" not in _kinds(ubl)


@requires_corpus
def test_payable_that_disagrees_is_a_finding_not_a_fix() -> None:
    inv = parse(corpus("ubl/kosit-xrechnung/05.01a-INVOICE_ubl.xml"))
    (finding,) = [f for f in inv.findings if f.kind == "payable_mismatch"]
    assert (finding.rule, finding.stated, finding.computed) == ("BR-CO-16", "366.86", "336.90")
    assert finding.position == "/inv:Invoice/cac:LegalMonetaryTotal/cbc:PayableAmount"
    assert inv.payable == Decimal("366.86") and inv.canonical()["amount_incl_tax"] == "336.90"


@requires_corpus
def test_rounding_issue_sample_sums_its_lines() -> None:
    inv = parse(corpus("cii/cef-einvoicing/CII-BR-CO-10-RoundingIssue.xml"))
    assert [line.net_amount for line in inv.lines] == [Decimal(x) for x in ("720.81", "0.01", "-720.81", "-0.01")]
    assert inv.line_total == Decimal("0.00") and "line_total_mismatch" not in _kinds(inv)


@requires_corpus
def test_locally_declared_namespaces_are_read() -> None:
    inv = parse(corpus(LOCAL_NAMESPACES))
    assert inv.syntax == "cii"
    assert inv.customization_id == "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended"
    assert inv.profile_id == "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


@requires_corpus
def test_detect() -> None:
    assert detect(corpus("ubl/cef-einvoicing/CreditNote-Min_content_with_VAT.xml")) == "ubl"
    assert detect(corpus("cii/akretion-facturx/zugferd-comfort.xml")) == "zugferd-1.0"
    assert detect(corpus("cii/akretion-facturx/factur-x-minimum.xml")) == "cii"


# --------------------------------------------------------------------------------------------- synthetic

UBL = """<?xml version="1.0" encoding="UTF-8"?>
{doctype}<{root} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{root}-2"
  xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
  xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>
  <cbc:ID>INV-<!-- a comment inside the number -->7</cbc:ID>
  <cbc:IssueDate>2026-11-02</cbc:IssueDate>
  <cbc:{root}TypeCode>{type_code}</cbc:{root}TypeCode>
  <cbc:Note>{note}</cbc:Note>
  <cbc:DocumentCurrencyCode>{currency}</cbc:DocumentCurrencyCode>
  <cbc:BuyerReference>PO-42</cbc:BuyerReference>
  <cac:AccountingSupplierParty><cac:Party>
    <cac:PartyIdentification><cbc:ID>V-100</cbc:ID></cac:PartyIdentification>
    <cac:PostalAddress><cbc:CityName>Utrecht</cbc:CityName>
      <cac:Country><cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
    <cac:PartyTaxScheme><cbc:CompanyID>NL123456789B01</cbc:CompanyID>
      <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
    <cac:PartyLegalEntity><cbc:RegistrationName>Leverancier BV</cbc:RegistrationName></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party>
    <cbc:EndpointID schemeID="0106">12345678</cbc:EndpointID>
    <cac:PostalAddress><cbc:CityName>Amsterdam</cbc:CityName>
      <cac:Country><cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
    <cac:PartyLegalEntity><cbc:RegistrationName>Klant BV</cbc:RegistrationName></cac:PartyLegalEntity>
  </cac:Party></cac:AccountingCustomerParty>
  <cac:PaymentMeans><cbc:PaymentMeansCode>58</cbc:PaymentMeansCode>
    <cac:PayeeFinancialAccount><cbc:ID>nl91 abna 0417 1643 00</cbc:ID></cac:PayeeFinancialAccount></cac:PaymentMeans>
  <cac:PaymentTerms><cbc:Note>Net 30 days</cbc:Note></cac:PaymentTerms>
  <cac:TaxTotal><cbc:TaxAmount currencyID="{currency}">{tax}</cbc:TaxAmount>
    <cac:TaxSubtotal><cbc:TaxableAmount currencyID="{currency}">{net}</cbc:TaxableAmount>
      <cbc:TaxAmount currencyID="{currency}">{tax}</cbc:TaxAmount>
      <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>21</cbc:Percent>
        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory></cac:TaxSubtotal></cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="{currency}">{line_total}</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="{currency}">{net}</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="{currency}">{gross}</cbc:TaxInclusiveAmount>
    <cbc:PayableAmount currencyID="{currency}">{gross}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
  <cac:{root}Line><cbc:ID>1</cbc:ID><cbc:{quantity} unitCode="C62">1</cbc:{quantity}>
    <cbc:LineExtensionAmount currencyID="{currency}">{line1}</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>Widgets</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>21</cbc:Percent>
      <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="{currency}">{price1}</cbc:PriceAmount></cac:Price></cac:{root}Line>
  <cac:{root}Line><cbc:ID>2</cbc:ID><cbc:{quantity} unitCode="C62">1</cbc:{quantity}>
    <cbc:LineExtensionAmount currencyID="{currency}">{line2}</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>Gadgets</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>21</cbc:Percent>
      <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="{currency}">{price2}</cbc:PriceAmount></cac:Price></cac:{root}Line>
</{root}>
"""


def ubl_xml(*, doctype: str = "", type_code: str = "380", note: str = "Order 42", line_total: str = "100.00",
            line2: str = "40.00", root: str = "Invoice", negative: bool = False, currency: str = "EUR") -> str:
    """A UBL invoice that passes the EN 16931 rules as it is; ``negative`` states every amount negative."""
    minus = "-" if negative else ""
    return UBL.format(doctype=doctype, type_code=type_code, note=note, line_total=minus + line_total,
                      line1=minus + "60.00", line2=minus + line2, price1="60.00", price2=line2.lstrip("-"),
                      net=minus + "100.00", tax=minus + "21.00", gross=minus + "121.00", root=root,
                      quantity="InvoicedQuantity" if root == "Invoice" else "CreditedQuantity", currency=currency)


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_synthetic_ubl_fields(tmp_path: Path) -> None:
    inv = parse(write(tmp_path, "inv.xml", ubl_xml()))
    c = inv.canonical()
    assert c["invoice_number"] == "INV-7"  # the comment is not part of the value
    assert (c["vendor_id"], c["vendor_name"], c["customer_id"]) == ("V-100", "Leverancier BV", "0106:12345678")
    assert inv.seller.vat_id == "NL123456789B01"
    assert c["vendor_iban"] == "NL91ABNA0417164300"
    assert (c["due_date"], inv.due_date_source) == ("2026-12-02", "payment_terms")
    assert inv.findings == []


def test_line_sum_disagreement_is_reported(tmp_path: Path) -> None:
    inv = parse(write(tmp_path, "inv.xml", ubl_xml(line2="45.00")))
    (finding,) = [f for f in inv.findings if f.kind == "line_total_mismatch"]
    assert (finding.rule, finding.stated, finding.computed, finding.flag) == ("BR-CO-10", "100.00", "105.00", None)
    # the same disagreement as the CEN rule says it (fatal), beside the VAT breakdown it breaks
    assert {(f.rule, f.flag) for f in inv.fatal_rules} == {("BR-CO-10", "fatal"), ("BR-S-08", "fatal")}
    assert inv.canonical()["amount_excl_tax"] == "100.00"  # as stated, not corrected


def test_credit_note_type_code_in_an_invoice_turns_the_sign(tmp_path: Path) -> None:
    inv = parse(write(tmp_path, "cn.xml", ubl_xml(type_code="381")))
    assert inv.document_type == "credit_note"
    assert inv.canonical()["amount_incl_tax"] == "-121.00"


def test_bad_amount_names_the_element(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.xml", ubl_xml(line2="4O.00"))
    with pytest.raises(EInvoiceError) as info:
        parse(path)
    err = info.value
    assert err.file == str(path)
    assert err.position == "/inv:Invoice/cac:InvoiceLine[2]/cbc:LineExtensionAmount"
    assert "'4O.00' is not an amount" in err.reason


XXE = '<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
LAUGHS = '<!DOCTYPE Invoice [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'


@pytest.mark.parametrize(("doctype", "note"), [(XXE, "&xxe;"), (LAUGHS, "&b;"), ('<!DOCTYPE Invoice>\n', "x")],
                         ids=["xxe", "entity-expansion", "bare-doctype"])
def test_dtd_and_entities_are_refused(tmp_path: Path, doctype: str, note: str) -> None:
    path = write(tmp_path, "evil.xml", ubl_xml(doctype=doctype, note=note))
    with pytest.raises(EInvoiceError) as info:
        parse(path)
    assert "DOCTYPE" in info.value.reason and str(path) in str(info.value)


def test_unknown_root_and_not_xml(tmp_path: Path) -> None:
    with pytest.raises(EInvoiceError, match="not an e-invoice: root element"):
        parse(write(tmp_path, "order.xml", '<Order xmlns="urn:example:order"><ID>1</ID></Order>'))
    with pytest.raises(EInvoiceError, match="the file is empty"):
        parse(write(tmp_path, "empty.xml", "  \n"))


def test_due_date_from_payment_terms() -> None:
    issued = date(2018, 3, 5)
    assert due_from_terms("Zahlbar innerhalb 30 Tagen netto bis 04.04.2018, 3% Skonto innerhalb 10 Tagen "
                          "bis 15.03.2018", issued) == date(2018, 4, 4)
    assert due_from_terms("Net 45", issued) == date(2018, 4, 19)
    assert due_from_terms("Bei Zahlung innerhalb 14 Tagen gewähren wir 2,0% Skonto.", issued) is None
    assert due_from_terms("Zahlbar sofort ohne Abzug.", issued) is None


# --------------------------------------------------------------------------------------------- PDF


def facturx_pdf(path: Path, xml: bytes | None, name: str = "factur-x.xml") -> Path:
    """A small PDF/A-3-like hybrid invoice: one page, the XML embedded as an associated file."""
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, NameObject

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": "Invoice INV-7", "/Producer": "ledgerlink tests"})
    if xml is not None:
        embedded = writer.add_attachment(name, xml)
        embedded.subtype = NameObject("/text#2Fxml")
        embedded.associated_file_relationship = NameObject("/Data")  # Factur-X: /Data or /Alternative
        writer.root_object[NameObject("/AF")] = ArrayObject([embedded.pdf_object.indirect_reference
                                                             or embedded.pdf_object])
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


def test_facturx_pdf_attachment_is_read(tmp_path: Path) -> None:
    pdf = facturx_pdf(tmp_path / "invoice.pdf", ubl_xml().encode())
    assert detect(pdf) == "pdf"
    inv = parse(pdf)
    assert (inv.container, inv.file) == ("pdf:factur-x.xml", str(pdf))
    assert inv.canonical()["invoice_number"] == "INV-7" and inv.payable == Decimal("121.00")


def test_pdf_with_cii_from_the_corpus(tmp_path: Path) -> None:
    source = corpus("cii/akretion-facturx/factur-x-en16931.xml")
    if not source.is_file():
        pytest.skip("sample corpus not found")
    inv = parse(facturx_pdf(tmp_path / "fx.pdf", source.read_bytes()))
    assert (inv.syntax, inv.invoice_number, inv.canonical()["amount_incl_tax"]) == ("cii", "F20260023", "104.90")
    assert inv.rule_sets == ["EN16931-CII"] and inv.fatal_rules == []  # the rules ran on the attachment


def test_pdf_without_invoice_xml_and_hostile_attachment(tmp_path: Path) -> None:
    with pytest.raises(EInvoiceError, match="no embedded invoice XML"):
        parse(facturx_pdf(tmp_path / "plain.pdf", None))
    evil = facturx_pdf(tmp_path / "evil.pdf", ubl_xml(doctype=XXE, note="&xxe;").encode())
    with pytest.raises(EInvoiceError) as info:
        parse(evil)
    assert "factur-x.xml" in info.value.file and "DOCTYPE" in info.value.reason
    with pytest.raises(EInvoiceError, match="not a readable PDF"):
        parse(write(tmp_path, "broken.pdf", b"%PDF-1.7\n% nothing else\n"))


# --------------------------------------------------------------------------------------------- CLI


def test_cli_json_line(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "inv.xml", ubl_xml(line2="45.00"))
    assert main(["einvoice", "parse", str(path), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["kind"] == "invoice" and obj["direction"] == "payable" and obj["status"] == "open"
    assert (obj["invoice_number"], obj["amount_incl_tax"], obj["issue_date"]) == ("INV-7", "121.00", "2026-11-02")
    assert [(f["kind"], f.get("rule")) for f in obj["findings"]] == [
        ("line_total_mismatch", "BR-CO-10"), ("business_rule", "BR-S-08"), ("business_rule", "BR-CO-10")]


def test_cli_invalid_input_exits_2(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "bad.xml", ubl_xml(line2="4O.00"))
    assert main(["einvoice", "parse", str(path), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and str(path) in err and "cbc:LineExtensionAmount" in err and "not an amount" in err
    assert main(["einvoice", "parse", str(tmp_path / "missing.xml")]) == 2


def test_cli_text_output(tmp_path: Path, capsys) -> None:
    assert main(["einvoice", "parse", str(write(tmp_path, "inv.xml", ubl_xml()))]) == 0
    out = capsys.readouterr().out
    assert "invoice INV-7 (ubl" in out and "pay to NL91ABNA0417164300" in out
    assert main(["einvoice", "parse", str(write(tmp_path, "bad.xml", ubl_xml(line_total="90.00")))]) == 0
    assert "  business_rule BR-CO-10 (fatal): Sum of Invoice line net amount" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------- load


@pytest.fixture
def inbox_store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'store.db'}")


def test_load_one_einvoice(tmp_path: Path, inbox_store: Store) -> None:
    path = write(tmp_path, "inv.xml", ubl_xml())
    feed = get_feed("einvoices_inbox")
    summary = run_feed_file(inbox_store, feed, path)
    assert (summary.status, summary.inserted, summary.quarantined, summary.read) == ("succeeded", 1, 0, 1)
    assert summary.findings == []
    (record,) = inbox_store.current_records("invoice")
    assert json.loads(record["natural_key"]) == {"vendor_id": "V-100", "invoice_number": "INV-7"}
    assert record["payload"]["amount_incl_tax"] == "121.00" and record["payload"]["direction"] == "payable"
    assert record["lineage"]["syntax"] == "ubl" and record["lineage"]["mapping"] == "parser:einvoice"
    assert record["lineage"]["rule_sets"] == ["EN16931-UBL"]
    again = run_feed_file(inbox_store, feed, path)
    assert again.status == "skipped"


def test_load_quarantines_an_invoice_that_fails_a_fatal_rule(tmp_path: Path, inbox_store: Store) -> None:
    path = write(tmp_path, "inv.xml", ubl_xml(line2="45.00"))
    summary = run_feed_file(inbox_store, get_feed("einvoices_inbox"), path)
    assert (summary.status, summary.inserted, summary.quarantined) == ("succeeded", 0, 1)
    # the totals finding stays a finding; the fatal rules are the quarantine's reasons
    assert [f["kind"] for f in summary.findings] == ["line_total_mismatch"]
    (entry,) = inbox_store.list_quarantine(feed="einvoices_inbox")
    assert {(e["field"], e["rule"]) for e in entry["errors"]} == {
        ("/inv:Invoice[1]/cac:LegalMonetaryTotal[1]", "BR-CO-10"),
        ("/inv:Invoice[1]/cac:TaxTotal[1]/cac:TaxSubtotal[1]/cac:TaxCategory[1]", "BR-S-08")}
    message = next(e["message"] for e in entry["errors"] if e["rule"] == "BR-CO-10")
    assert message.startswith("inv.xml: /inv:Invoice[1]/cac:LegalMonetaryTotal[1]: BR-CO-10 (fatal): Sum of Invoice")
    assert entry["raw"]["invoice_number"] == "INV-7"  # kept as read, for a replay
    assert inbox_store.current_records("invoice") == []
    # a replay cannot make the document pass: it stays quarantined for the same rules
    (again,) = replay(inbox_store, feed="einvoices_inbox")
    assert (again.status, again.inserted, again.quarantined) == ("succeeded", 0, 1)
    (reopened,) = inbox_store.list_quarantine(feed="einvoices_inbox")
    assert {e["rule"] for e in reopened["errors"]} == {"BR-CO-10", "BR-S-08"}
    assert inbox_store.current_records("invoice") == []


def test_load_keeps_an_invoice_with_warnings_only(tmp_path: Path, inbox_store: Store) -> None:
    # UBL-CR-470: a PrepaidPayment is not part of EN 16931 (a warning); BR-CO-16 still holds
    text = ubl_xml().replace("  <cac:PaymentTerms>", "  <cac:PrepaidPayment><cbc:PaidAmount currencyID=\"EUR\">0.00"
                             "</cbc:PaidAmount></cac:PrepaidPayment>\n  <cac:PaymentTerms>")
    summary = run_feed_file(inbox_store, get_feed("einvoices_inbox"), write(tmp_path, "warn.xml", text))
    assert (summary.status, summary.inserted, summary.quarantined) == ("succeeded", 1, 0)
    assert [(f["kind"], f["rule"], f["flag"]) for f in summary.findings] == [("business_rule", "UBL-CR-470", "warning")]


def test_load_quarantines_an_invoice_without_seller(tmp_path: Path, inbox_store: Store) -> None:
    text = ubl_xml().replace("<cac:PartyIdentification><cbc:ID>V-100</cbc:ID></cac:PartyIdentification>", "")
    text = text.replace("<cbc:CompanyID>NL123456789B01</cbc:CompanyID>", "")
    summary = run_feed_file(inbox_store, get_feed("einvoices_inbox"), write(tmp_path, "anon.xml", text))
    assert (summary.status, summary.inserted, summary.quarantined) == ("succeeded", 0, 1)
    assert inbox_store.current_records("invoice") == []


def test_load_unreadable_file_fails_the_run(tmp_path: Path, inbox_store: Store) -> None:
    with pytest.raises(EInvoiceError, match="not XML"):
        run_feed_file(inbox_store, get_feed("einvoices_inbox"), write(tmp_path, "junk.xml", "Bad XML"))
