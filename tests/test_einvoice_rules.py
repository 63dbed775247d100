"""The EN 16931 (and XRechnung) business rules on e-invoices, run from their official artefacts:
one invoice per syntax that passes them, then one change at a time that breaks a named rule; which
rule sets apply to which profile; the corpus (files meant to pass and to fail); the credit-note
sign conventions; `ledgerlink einvoice validate`."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.einvoice import business_rules, parse, parse_xml
from connectors.einvoice.business_rules import readable_location, rule_sets_for
from connectors.einvoice.common import significant_digits
from connectors.einvoice.peppol_rules import PEPPOL_BIS3, gln_is_valid
from ledgerlink.cli import main
from tests.fixtures.corpus import CORPUS_DIR, requires_corpus
from tests.test_einvoice import ubl_xml

FIXTURES = Path(__file__).parent / "fixtures" / "einvoice"
CII_TEMPLATE = (FIXTURES / "cii_en16931.xml").read_text(encoding="utf-8")
CII_AMOUNTS = {"line1": "60.00", "line2": "40.00", "tax": "21.00", "net": "100.00", "gross": "121.00",
               "category": "S"}


def cii_xml(**changes: str) -> str:
    return CII_TEMPLATE.format(**{**CII_AMOUNTS, **changes})


def failed(xml: str, name: str = "inv.xml") -> set[tuple[str, str]]:
    """(rule id, flag) of every failed business rule."""
    inv = parse_xml(xml.encode("utf-8"), name)
    return {(f.rule or "", f.flag or "") for f in inv.findings if f.kind == "business_rule"}


def test_the_base_invoices_pass_every_rule() -> None:
    ubl = parse_xml(ubl_xml().encode(), "inv.xml")
    cii = parse_xml(cii_xml().encode(), "inv.xml")
    assert (ubl.rule_sets, cii.rule_sets) == (["EN16931-UBL"], ["EN16931-CII"])
    assert ubl.findings == [] and cii.findings == []


def _swap(old: str, new: str) -> Callable[[str], str]:
    def change(xml: str) -> str:
        assert old in xml, f"{old!r} not in the base invoice"
        return xml.replace(old, new, 1)
    return change


UBL_TAX = '<cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>21</cbc:Percent>'
UBL_LINE_TAX = '<cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>21</cbc:Percent>'

# (id, change to the UBL base invoice, the rule that must fail as fatal)
UBL_CASES = [
    ("BR-01", _swap("<cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>", ""), "BR-01"),
    ("BR-02", _swap("<cbc:ID>INV-<!-- a comment inside the number -->7</cbc:ID>", ""), "BR-02"),
    ("BR-06", _swap("<cac:PartyLegalEntity><cbc:RegistrationName>Leverancier BV</cbc:RegistrationName>"
                    "</cac:PartyLegalEntity>", ""), "BR-06"),
    ("BR-07", _swap("<cbc:RegistrationName>Klant BV</cbc:RegistrationName>", ""), "BR-07"),
    ("BR-09", _swap("<cac:Country><cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country>", ""), "BR-09"),
    ("BR-16", lambda x: re.sub(r"<cac:InvoiceLine>.*</cac:InvoiceLine>", "", x, flags=re.S), "BR-16"),
    ("BR-21", _swap("<cbc:ID>2</cbc:ID>", ""), "BR-21"),
    ("BR-25", _swap("<cbc:Name>Gadgets</cbc:Name>", ""), "BR-25"),
    ("BR-CO-10", _swap('<cbc:LineExtensionAmount currencyID="EUR">100.00', '<cbc:LineExtensionAmount '
                       'currencyID="EUR">90.00'), "BR-CO-10"),
    ("BR-CO-15", _swap('<cbc:TaxInclusiveAmount currencyID="EUR">121.00', '<cbc:TaxInclusiveAmount '
                       'currencyID="EUR">120.00'), "BR-CO-15"),
    ("BR-CO-16", _swap('<cbc:PayableAmount currencyID="EUR">121.00', '<cbc:PayableAmount currencyID="EUR">12.00'),
     "BR-CO-16"),
    ("BR-S-09", _swap('<cbc:TaxAmount currencyID="EUR">21.00</cbc:TaxAmount>\n      <cac:TaxCategory>',
                      '<cbc:TaxAmount currencyID="EUR">20.00</cbc:TaxAmount>\n      <cac:TaxCategory>'), "BR-S-09"),
    ("BR-Z-05", lambda x: x.replace(UBL_LINE_TAX, '<cac:ClassifiedTaxCategory><cbc:ID>Z</cbc:ID>'
                                    '<cbc:Percent>21</cbc:Percent>'), "BR-Z-05"),
    ("BR-E-10", lambda x: x.replace(UBL_TAX, '<cac:TaxCategory><cbc:ID>E</cbc:ID><cbc:Percent>0</cbc:Percent>'),
     "BR-E-10"),
    ("BR-AE-10", lambda x: x.replace(UBL_TAX, '<cac:TaxCategory><cbc:ID>AE</cbc:ID><cbc:Percent>0</cbc:Percent>'),
     "BR-AE-10"),
    ("BR-IC-10", lambda x: x.replace(UBL_TAX, '<cac:TaxCategory><cbc:ID>K</cbc:ID><cbc:Percent>0</cbc:Percent>'),
     "BR-IC-10"),
    ("BR-G-10", lambda x: x.replace(UBL_TAX, '<cac:TaxCategory><cbc:ID>G</cbc:ID><cbc:Percent>0</cbc:Percent>'),
     "BR-G-10"),
    ("BR-O-10", lambda x: x.replace(UBL_TAX, '<cac:TaxCategory><cbc:ID>O</cbc:ID>'), "BR-O-10"),
    ("BR-DEC-23", _swap('<cbc:LineExtensionAmount currencyID="EUR">60.00', '<cbc:LineExtensionAmount '
                        'currencyID="EUR">60.001'), "BR-DEC-23"),
    ("BR-DEC-09", _swap('<cbc:LineExtensionAmount currencyID="EUR">100.00', '<cbc:LineExtensionAmount '
                        'currencyID="EUR">100.000'), "BR-DEC-09"),
    ("BR-CL-03", _swap('<cbc:PriceAmount currencyID="EUR">60.00', '<cbc:PriceAmount currencyID="EUX">60.00'),
     "BR-CL-03"),
    ("BR-CL-01", _swap("<cbc:InvoiceTypeCode>380", "<cbc:InvoiceTypeCode>999"), "BR-CL-01"),
]


@pytest.mark.parametrize(("change", "rule"), [pytest.param(c, r, id=i) for i, c, r in UBL_CASES])
def test_ubl_rule(change: Callable[[str], str], rule: str) -> None:
    assert (rule, "fatal") in failed(change(ubl_xml()))


CII_TAX = "<ram:CategoryCode>{category}</ram:CategoryCode>"
CII_CASES = [
    ("BR-01", {}, _swap("<ram:ID>urn:cen.eu:en16931:2017</ram:ID>", ""), "BR-01"),
    ("BR-02", {}, _swap("<ram:ID>CII-9</ram:ID>", ""), "BR-02"),
    ("BR-06", {}, _swap("<ram:Name>Lieferant GmbH</ram:Name>", ""), "BR-06"),
    ("BR-CO-10", {"net": "90.00", "gross": "111.00", "tax": "18.90"}, None, "BR-CO-10"),
    ("BR-CO-15", {}, _swap("<ram:GrandTotalAmount>121.00", "<ram:GrandTotalAmount>120.00"), "BR-CO-15"),
    ("BR-S-09", {}, _swap("<ram:CalculatedAmount>21.00", "<ram:CalculatedAmount>20.00"), "BR-S-09"),
    ("BR-E-10", {"category": "E"}, None, "BR-E-10"),
    ("BR-DEC-23", {"line1": "60.001"}, None, "BR-DEC-23"),
    ("BR-CL-03", {}, _swap('<ram:TaxTotalAmount currencyID="EUR">', '<ram:TaxTotalAmount currencyID="EUX">'),
     "BR-CL-03"),
]


@pytest.mark.parametrize(("values", "change", "rule"), [pytest.param(v, c, r, id=i) for i, v, c, r in CII_CASES])
def test_cii_rule(values: dict[str, str], change: Callable[[str], str] | None, rule: str) -> None:
    xml = cii_xml(**values)
    assert (rule, "fatal") in failed(change(xml) if change else xml)


def test_a_failure_names_rule_flag_message_and_xpath() -> None:
    inv = parse_xml(ubl_xml(line_total="90.00").encode(), "inv.xml")
    (rule,) = [f for f in inv.findings if f.rule == "BR-CO-10" and f.kind == "business_rule"]
    assert rule.flag == "fatal" and rule.position == "/inv:Invoice[1]/cac:LegalMonetaryTotal[1]"
    assert rule.message == "Sum of Invoice line net amount (BT-106) = Σ Invoice line net amount (BT-131)."
    cii = parse_xml(cii_xml(line1="60.001").encode(), "inv.xml")
    (dec,) = [f for f in cii.findings if f.rule == "BR-DEC-23"]
    assert dec.position == ("/rsm:CrossIndustryInvoice[1]/rsm:SupplyChainTradeTransaction[1]/"
                            "ram:IncludedSupplyChainTradeLineItem[1]")  # the CII rule's context: the line


def test_warnings_are_kept_apart_from_fatal_rules() -> None:
    text = ubl_xml().replace("  <cac:PaymentTerms>", "  <cac:PrepaidPayment><cbc:PaidAmount currencyID=\"EUR\">"
                             "0.00</cbc:PaidAmount></cac:PrepaidPayment>\n  <cac:PaymentTerms>")
    inv = parse_xml(text.encode(), "inv.xml")
    assert [(f.rule, f.flag) for f in inv.findings] == [("UBL-CR-470", "warning")] and inv.fatal_rules == []


def test_xrechnung_rules_apply_to_xrechnung_documents_only() -> None:
    xr = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
    text = ubl_xml().replace("<cbc:CustomizationID>urn:cen.eu:en16931:2017<", f"<cbc:CustomizationID>{xr}<")
    inv = parse_xml(text.encode(), "inv.xml")
    assert inv.rule_sets == ["EN16931-UBL", "XRechnung-UBL"]
    # BR-DE-2: the seller contact (BG-6) is required by XRechnung, not by EN 16931
    assert ("BR-DE-2", "fatal") in {(f.rule, f.flag) for f in inv.findings}
    assert not any((f.rule or "").startswith("BR-DE") for f in parse_xml(ubl_xml().encode(), "x.xml").findings)


def test_which_rule_sets_apply() -> None:
    assert [s.name for s in rule_sets_for("ubl", None)] == ["EN16931-UBL"]
    assert [s.name for s in rule_sets_for("cii", "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended")
            ] == ["EN16931-CII"]
    assert rule_sets_for("cii", "urn:factur-x.eu:1p0:minimum") == []
    assert rule_sets_for("cii", "urn:factur-x.eu:1p0:basicwl") == []
    assert rule_sets_for("zugferd-1.0", "urn:ferd:CrossIndustryDocument:invoice:1p0:comfort") == []


def test_stylesheets_are_compiled_once_per_process() -> None:
    parse_xml(ubl_xml().encode(), "a.xml")
    compiled = business_rules._executable(business_rules.EN16931_UBL)
    parse_xml(ubl_xml(note="again").encode(), "b.xml")
    assert business_rules._executable(business_rules.EN16931_UBL) is compiled


def test_rules_run_from_several_threads() -> None:
    results: list[set[str]] = []

    def check() -> None:
        inv = parse_xml(ubl_xml(line_total="90.00").encode(), "t.xml")
        results.append({f.rule or "" for f in inv.fatal_rules})

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"BR-CO-10", "BR-CO-13"}] * 4


def test_readable_location() -> None:
    assert readable_location("/Q{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote[1]"
                             "/Q{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}ID[1]"
                             ) == "/cn:CreditNote[1]/cbc:ID[1]"
    assert readable_location("/Q{urn:example}X[1]/Q{}Y[2]") == "/{urn:example}X[1]/Y[2]"
    assert readable_location(None) == "/"


# ------------------------------------------------------------------------------------ credit notes


@pytest.mark.parametrize("negative", [False, True], ids=["positive-amounts", "negative-amounts"])
def test_ubl_credit_note_sign_is_turned_once(negative: bool) -> None:
    inv = parse_xml(ubl_xml(root="CreditNote", type_code="381", negative=negative).encode(), "cn.xml")
    c = inv.canonical()
    assert (inv.root, inv.document_type, inv.states_negative_amounts) == ("CreditNote", "credit_note", negative)
    assert (c["amount_excl_tax"], c["tax_amount"], c["amount_incl_tax"]) == ("-100.00", "-21.00", "-121.00")
    assert inv.fatal_rules == []


@pytest.mark.parametrize("negative", [False, True], ids=["positive-amounts", "negative-amounts"])
def test_cii_381_sign_is_turned_once(negative: bool) -> None:
    m = "-" if negative else ""
    xml = cii_xml(line1=m + "60.00", line2=m + "40.00", tax=m + "21.00", net=m + "100.00", gross=m + "121.00")
    inv = parse_xml(xml.replace("<ram:TypeCode>380<", "<ram:TypeCode>381<").encode(), "cn.xml")
    c = inv.canonical()
    assert (inv.type_code, inv.document_type, inv.states_negative_amounts) == ("381", "credit_note", negative)
    assert (c["amount_excl_tax"], c["tax_amount"], c["amount_incl_tax"]) == ("-100.00", "-21.00", "-121.00")
    assert inv.signed_amount(inv.payable) == "-121.00"


def test_an_invoice_with_negative_amounts_stays_negative() -> None:
    inv = parse_xml(ubl_xml(negative=True).encode(), "inv.xml")
    assert (inv.document_type, inv.canonical()["amount_incl_tax"]) == ("invoice", "-121.00")


# ------------------------------------------------------------------------------------ corpus


def _corpus_files(folder: str) -> list[Path]:
    return sorted(p for p in (CORPUS_DIR / folder).iterdir() if p.is_file() and not p.name.startswith("LICENSE"))


@requires_corpus
@pytest.mark.parametrize("folder", ["ubl/cef-einvoicing", "cii/cef-einvoicing"])
def test_cen_examples_pass_the_cen_rules(folder: str) -> None:
    # The CEN's own examples (incl. CII-BR-CO-10-RoundingIssue, meant to pass BR-CO-10); the Peppol
    # rules on some of them: test_peppol_examples_in_the_corpus.
    for path in _corpus_files(folder):
        inv = parse(path)
        cen = [f for f in inv.fatal_rules if not (f.rule or "").startswith("PEPPOL-")]
        assert inv.rule_sets and cen == [], (path.name, [(f.rule, f.message) for f in cen])


@requires_corpus
@pytest.mark.parametrize("folder", ["ubl/kosit-xrechnung", "cii/kosit-xrechnung"])
def test_xrechnung_test_suite(folder: str) -> None:
    results = {}
    for path in _corpus_files(folder):
        inv = parse(path)
        assert inv.rule_sets[-1].startswith("XRechnung-"), path.name
        results[path.name] = sorted({f.rule for f in inv.fatal_rules if f.rule})
    invalid = {name: rules for name, rules in results.items() if rules}
    if folder.startswith("ubl"):
        # 05.01a states an amount due that is not total - prepaid + rounding
        assert invalid == {"02.01a-cvd_INVOICE_ubl.xml": ["BR-CL-13"], "05.01a-INVOICE_ubl.xml": ["BR-CO-16"]}
    else:
        assert invalid == {"02.01a-cvd_INVOICE_uncefact.xml": ["BR-CL-13"],
                           "04.05a-INVOICE_uncefact.xml": ["BR-CL-10", "BR-CL-21"]}


@requires_corpus
def test_negative_invoice_in_the_corpus_passes_the_rules() -> None:
    inv = parse(CORPUS_DIR / "ubl/cef-einvoicing/BIS3_Invoice_negativ.XML")
    assert inv.fatal_rules == [] and inv.canonical()["amount_incl_tax"] == "-782179.43"


# ------------------------------------------------------------------------------------ CLI


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_validate_prints_one_line_per_failed_rule(tmp_path: Path, capsys) -> None:
    bad = _write(tmp_path, "bad.xml", ubl_xml(line_total="90.00"))
    assert main(["einvoice", "validate", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert f"{bad}: /inv:Invoice[1]/cac:LegalMonetaryTotal[1]: BR-CO-10 (fatal): Sum of Invoice line net amount " \
           "(BT-106) = Σ Invoice line net amount (BT-131).\n" in out
    assert all(re.match(rf"^{re.escape(str(bad))}: /\S+: [A-Z0-9-]+ \((fatal|warning|information)\): .+$", line)
               for line in out.splitlines())
    assert f"{bad}: invalid:" in err and "(EN16931-UBL)" in err


def test_cli_validate_exit_codes(tmp_path: Path, capsys) -> None:
    good = _write(tmp_path, "good.xml", ubl_xml())
    assert main(["einvoice", "validate", str(good)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and f"{good}: valid: 0 fatal, 0 other (EN16931-UBL)" in err
    warn = _write(tmp_path, "warn.xml", ubl_xml().replace(
        "  <cac:PaymentTerms>", "  <cac:PrepaidPayment><cbc:PaidAmount currencyID=\"EUR\">0.00</cbc:PaidAmount>"
        "</cac:PrepaidPayment>\n  <cac:PaymentTerms>"))
    assert main(["einvoice", "validate", str(warn)]) == 0  # warnings only
    assert "UBL-CR-470 (warning)" in capsys.readouterr().out
    assert main(["einvoice", "validate", "--fatal-only", str(warn)]) == 0
    assert capsys.readouterr().out == ""
    unreadable = _write(tmp_path, "junk.xml", "Bad XML")
    assert main(["einvoice", "validate", str(good), str(unreadable)]) == 2
    assert "junk.xml" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ amounts


def test_amounts_with_more_decimals_than_the_currency_has() -> None:
    # BR-DEC-* allow two decimals in any currency; the yen has none (ISO 4217)
    inv = parse_xml(ubl_xml(currency="JPY").replace(">60.00<", ">60.50<").encode(), "jpy.xml")
    (finding,) = [f for f in inv.findings if f.kind == "amount_minor_units"]
    assert (finding.rule, finding.position, finding.stated) == ("ISO 4217", "/inv:Invoice/cac:InvoiceLine[1]", "60.50")
    assert "BR-DEC-23" not in {f.rule for f in inv.findings}
    # trailing zeros are no decimals: 100.00 JPY is a yen amount, and EUR amounts are left to BR-DEC
    assert [f for f in parse_xml(ubl_xml(currency="JPY").encode(), "jpy.xml").findings
            if f.kind == "amount_minor_units"] == []
    eur = parse_xml(ubl_xml().replace(">60.00<", ">60.001<").encode(), "eur.xml")
    assert "amount_minor_units" not in {f.kind for f in eur.findings} and "BR-DEC-23" in {f.rule for f in eur.findings}


def test_amounts_with_more_than_18_significant_digits() -> None:
    text = ubl_xml().replace('<cbc:PayableAmount currencyID="EUR">121.00',
                             '<cbc:PayableAmount currencyID="EUR">1234567890123456789.00')
    inv = parse_xml(text.encode(), "big.xml")
    (finding,) = [f for f in inv.findings if f.kind == "amount_digits"]
    assert finding.position == "/inv:Invoice/cac:LegalMonetaryTotal/cbc:PayableAmount"
    assert finding.message == "BT-115 1234567890123456789.00 has 19 significant digits, more than 18"
    assert inv.payable == Decimal("1234567890123456789.00")  # kept as stated
    ok = ubl_xml().replace('<cbc:PayableAmount currencyID="EUR">121.00',
                           '<cbc:PayableAmount currencyID="EUR">0000123456789012345678.00')
    assert "amount_digits" not in {f.kind for f in parse_xml(ok.encode(), "ok.xml").findings}


def test_significant_digits() -> None:
    assert [significant_digits(Decimal(x)) for x in ("0012.50", "0.010", "100", "-0.00", "123456789012345678.9")
            ] == [3, 1, 3, 0, 19]


# ------------------------------------------------------------------------------------ Peppol


def peppol_xml(**kw: Any) -> str:
    return ubl_xml(**kw).replace(
        "<cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>",
        f"<cbc:CustomizationID>{PEPPOL_BIS3}</cbc:CustomizationID>\n"
        "  <cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>").replace(
        "<cac:AccountingSupplierParty><cac:Party>",
        '<cac:AccountingSupplierParty><cac:Party><cbc:EndpointID schemeID="0088">4000001123452</cbc:EndpointID>')


def peppol_failed(xml: str) -> set[str]:
    inv = parse_xml(xml.encode(), "peppol.xml")
    assert "Peppol-BIS3-subset" in inv.rule_sets
    return {f.rule or "" for f in inv.fatal_rules}


def test_peppol_base_invoice_passes() -> None:
    inv = parse_xml(peppol_xml().encode(), "peppol.xml")
    assert inv.rule_sets == ["EN16931-UBL", "Peppol-BIS3-subset"] and inv.findings == []


PEPPOL_CASES = [
    ("R001", _swap("<cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>", "")),
    ("R007", _swap("billing:01:1.0</cbc:ProfileID>", "billing:1:1.0</cbc:ProfileID>")),
    ("R002", _swap("<cbc:Note>Order 42</cbc:Note>", "<cbc:Note>Order 42</cbc:Note><cbc:Note>More</cbc:Note>")),
    ("R003", _swap("<cbc:BuyerReference>PO-42</cbc:BuyerReference>", "")),
    ("R005", _swap("<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>",
                   "<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode><cbc:TaxCurrencyCode>EUR"
                   "</cbc:TaxCurrencyCode>")),
    ("R008", _swap("<cbc:Note>Order 42</cbc:Note>", "<cbc:Note>Order 42</cbc:Note><cbc:AccountingCost/>")),
    ("R010", _swap('<cbc:EndpointID schemeID="0106">12345678</cbc:EndpointID>', "")),
    ("R020", _swap('<cbc:EndpointID schemeID="0088">4000001123452</cbc:EndpointID>', "")),
    ("R053", lambda x: re.sub(r"(<cac:TaxTotal>.*?</cac:TaxTotal>)", r"\1\1", x, flags=re.S)),
    ("R120", _swap('<cbc:PriceAmount currencyID="EUR">60.00', '<cbc:PriceAmount currencyID="EUR">59.00')),
    ("R121", _swap('<cbc:PriceAmount currencyID="EUR">60.00</cbc:PriceAmount>',
                   '<cbc:PriceAmount currencyID="EUR">60.00</cbc:PriceAmount><cbc:BaseQuantity>0</cbc:BaseQuantity>')),
    ("R130", _swap('<cbc:PriceAmount currencyID="EUR">60.00</cbc:PriceAmount>',
                   '<cbc:PriceAmount currencyID="EUR">60.00</cbc:PriceAmount>'
                   '<cbc:BaseQuantity unitCode="KGM">1</cbc:BaseQuantity>')),
]


@pytest.mark.parametrize(("rule", "change"), [pytest.param(r, c, id=r) for r, c in PEPPOL_CASES])
def test_peppol_rule(rule: str, change: Callable[[str], str]) -> None:
    assert f"PEPPOL-EN16931-{rule}" in peppol_failed(change(peppol_xml()))


def test_peppol_rules_details() -> None:
    # R002 does not hold between two German parties; R120 allows 0.02 of rounding
    two_notes = _swap("<cbc:Note>Order 42</cbc:Note>", "<cbc:Note>Order 42</cbc:Note><cbc:Note>More</cbc:Note>")
    assert "PEPPOL-EN16931-R002" not in peppol_failed(two_notes(peppol_xml()).replace(">NL<", ">DE<"))
    near = _swap('<cbc:PriceAmount currencyID="EUR">60.00', '<cbc:PriceAmount currencyID="EUR">60.02')
    assert "PEPPOL-EN16931-R120" not in peppol_failed(near(peppol_xml()))
    bad_gln = peppol_xml().replace("4000001123452", "4000001123453")
    inv = parse_xml(bad_gln.encode(), "peppol.xml")
    (gln,) = [f for f in inv.findings if f.rule == "PEPPOL-COMMON-R040"]
    assert (gln.flag, gln.position) == ("fatal", "/inv:Invoice/cac:AccountingSupplierParty/cac:Party/cbc:EndpointID")
    assert gln.message == "GLN must have a valid format according to GS1 rules."
    # the Peppol rules are for documents that claim Peppol only
    assert "Peppol-BIS3-subset" not in parse_xml(ubl_xml().encode(), "x.xml").rule_sets


def test_gln_check_digit() -> None:
    assert gln_is_valid("4000001123452") and gln_is_valid("1238764941386")
    assert not gln_is_valid("4000001123453") and not gln_is_valid("40000011234x2") and not gln_is_valid("")


@requires_corpus
def test_peppol_examples_in_the_corpus() -> None:
    results = {}
    for path in _corpus_files("ubl/cef-einvoicing"):
        inv = parse(path)
        if "Peppol-BIS3-subset" in inv.rule_sets:
            results[path.name] = sorted({f.rule for f in inv.fatal_rules if f.rule})
    assert len(results) == 18
    # two Swedish samples name parties by GLNs whose check digit is wrong (1230123456789, 9876543210987)
    assert {name: rules for name, rules in results.items() if rules} == {
        "BIS_Billing_30-Kreditering_med_kreditnota.xml": ["PEPPOL-COMMON-R040"],
        "BIS_Billing_30-Kreditering_med_negativ_faktura.xml": ["PEPPOL-COMMON-R040"]}
