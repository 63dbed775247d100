"""The EN 16931 business rules (and the XRechnung CIUS rules) run as their official Schematron
artefacts, compiled to XSLT and executed by Saxon-HE (``saxonche``).

    failures, checked = check(root, syntax="ubl", customization_id="urn:cen.eu:en16931:2017", file=name)

``root`` is the document as ``connectors.xmlsafe`` parsed it: Saxon only ever sees it re-serialised
from that tree, so it gets no DOCTYPE and no entity to resolve. Each stylesheet is compiled once per
process (about half a second each) and kept; a validation then takes milliseconds.

Which rule sets apply:

- UBL and CII (D16B) documents: the CEN EN 16931 rules of their syntax, except for the Factur-X /
  ZUGFeRD MINIMUM and BASIC WL profiles, which are not EN 16931 invoices;
- documents whose customization id (BT-24) names XRechnung: the KoSIT XRechnung rules as well;
- UBL documents that claim Peppol BIS Billing 3.0: the Peppol rules of ``peppol_rules`` (a subset,
  written in Python: OpenPeppol's artefacts are not available to install);
- ZUGFeRD 1.0 (a CII D13B predecessor): none.

The artefacts, where they come from and their licences: ``artefacts/NOTICE.md``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.xmlsafe import parse_document
from ledgerlink.errors import LedgerlinkError

from . import peppol_rules

ARTEFACTS = Path(__file__).parent / "artefacts"
SVRL = "http://purl.oclc.org/dsdl/svrl"


@dataclass(frozen=True)
class RuleSet:
    name: str
    file: str | None   # the XSLT artefact; None: rules written in Python
    title: str


EN16931_UBL = RuleSet("EN16931-UBL", "EN16931-UBL-validation.xsl", "CEN EN 16931 business rules, UBL syntax")
EN16931_CII = RuleSet("EN16931-CII", "EN16931-CII-validation.xsl", "CEN EN 16931 business rules, CII syntax")
XRECHNUNG_UBL = RuleSet("XRechnung-UBL", "XRechnung-UBL-validation.xsl", "KoSIT XRechnung 3.0.2 rules (2.6.0), UBL")
XRECHNUNG_CII = RuleSet("XRechnung-CII", "XRechnung-CII-validation.xsl", "KoSIT XRechnung 3.0.2 rules (2.6.0), CII")
PEPPOL_UBL = RuleSet("Peppol-BIS3-subset", None, "Peppol BIS Billing 3.0 rules (a subset, in Python), UBL")

# Profiles below EN 16931 (BT-24 of Factur-X / ZUGFeRD 2.x MINIMUM and BASIC WL).
_BELOW_EN16931 = re.compile(r"urn:factur-x\.eu:1p0:(minimum|basicwl)|urn:zugferd\.de:2p0:(minimum|basicwl)")
_XRECHNUNG = "urn:xeinkauf.de:kosit:xrechnung"

# Prefixes for the locations Saxon reports as Q{namespace}local steps.
_PREFIXES = {
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2": "inv",   # as the readers name it
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2": "cn",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2": "cac",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2": "cbc",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2": "ext",
    "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100": "rsm",
    "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100": "ram",
    "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100": "udt",
    "urn:un:unece:uncefact:data:standard:QualifiedDataType:100": "qdt",
}
_QNAME = re.compile(r"Q\{([^}]*)\}")
_MESSAGE_ID = re.compile(r"^\[[^\]]+\]\s*-?\s*")
_LOCK = threading.Lock()  # one Saxon processor per process, used by one thread at a time


class RulesUnavailableError(LedgerlinkError):
    """Saxon-HE (the saxonche package) or an artefact is missing: the rules cannot run."""


@dataclass(frozen=True)
class RuleFailure:
    rule: str          # BR-01, BR-CO-10, BR-S-08, BR-DE-15, ...
    flag: str          # fatal | warning | information, as the rule set says
    message: str
    location: str      # XPath of the element the rule was checked on
    rule_set: str      # EN16931-UBL, XRechnung-CII, ...

    @property
    def fatal(self) -> bool:
        return self.flag == "fatal"


def rule_sets_for(syntax: str, customization_id: str | None) -> list[RuleSet]:
    """The rule sets that apply to a document of ``syntax`` with customization id (BT-24)."""
    cid = (customization_id or "").strip()
    if syntax == "ubl":
        sets = [EN16931_UBL]
        xrechnung = XRECHNUNG_UBL
    elif syntax == "cii" and not _BELOW_EN16931.search(cid):
        sets = [EN16931_CII]
        xrechnung = XRECHNUNG_CII
    else:
        return []
    if _XRECHNUNG in cid:
        sets.append(xrechnung)
    if peppol_rules.applies(syntax, cid):
        sets.append(PEPPOL_UBL)
    return sets


def check(root: Any, *, syntax: str, customization_id: str | None, file: str) -> tuple[list[RuleFailure],
                                                                                        list[RuleSet]]:
    """The failed rules of every rule set that applies, and the rule sets checked."""
    sets = rule_sets_for(syntax, customization_id)
    if not sets:
        return [], []
    text = etree.tostring(root.getroottree(), encoding="unicode")
    failures: list[RuleFailure] = []
    with _LOCK:
        proc = _processor()
        node = proc.parse_xml(xml_text=text)
        for rule_set in sets:
            if rule_set.file is None:
                continue
            svrl = _executable(rule_set).transform_to_string(xdm_node=node)
            failures.extend(_failures(svrl, rule_set, file))
    if PEPPOL_UBL in sets:
        failures.extend(RuleFailure(rule, "fatal", peppol_rules.RULES[rule], location, PEPPOL_UBL.name)
                        for rule, location in peppol_rules.check(root, file))
    return failures, sets



@cache
def _processor() -> Any:
    try:
        from saxonche import PySaxonProcessor
    except ImportError as exc:  # pragma: no cover - saxonche is a requirement
        raise RulesUnavailableError(f"the EN 16931 rules need Saxon-HE (pip install saxonche): {exc}") from None
    return PySaxonProcessor(license=False)


@cache
def _executable(rule_set: RuleSet) -> Any:
    path = ARTEFACTS / (rule_set.file or "")
    if not path.is_file():
        raise RulesUnavailableError(f"{path}: validation artefact missing ({rule_set.title})")
    return _processor().new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path))


def _failures(svrl: str, rule_set: RuleSet, file: str) -> list[RuleFailure]:
    report = parse_document(svrl.encode("utf-8"), name=f"{file} ({rule_set.name} report)")
    out = []
    for el in report.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        text_el = el.find(f"{{{SVRL}}}text")
        message = " ".join("".join(text_el.itertext()).split()) if text_el is not None else ""
        out.append(RuleFailure(rule=el.get("id") or "(no id)", flag=el.get("flag") or "fatal",
                               message=_MESSAGE_ID.sub("", message), location=readable_location(el.get("location")),
                               rule_set=rule_set.name))
    return out


def readable_location(location: str | None) -> str:
    """``/Q{urn:...Invoice-2}Invoice[1]/Q{urn:...}ID[1]`` -> ``/inv:Invoice[1]/cbc:ID[1]``."""
    if not location:
        return "/"
    return _QNAME.sub(lambda m: f"{_PREFIXES[m.group(1)]}:" if m.group(1) in _PREFIXES
                      else ("" if not m.group(1) else f"{{{m.group(1)}}}"), location)
