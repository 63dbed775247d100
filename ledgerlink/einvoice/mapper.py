"""E-invoice files -> canonical invoices: the ``einvoice`` parser's mapper (see ledgerlink.pipeline.mappers).

One file is one canonical ``invoice`` (a supplier invoice received, so ``payable``), keyed by vendor_id +
invoice_number like the mapped invoice feeds. The mapping stage validates it like any other record:

- totals that disagree, missing fields and unusable IBANs are findings (the invoice is loaded as
  stated, never corrected);
- each failed EN 16931 / XRechnung business rule (``connectors.einvoice.business_rules``): a fatal one
  quarantines the invoice with the rule id as the rule and the rule's XPath as the field; warnings
  are findings, the invoice is loaded;
- an invoice that breaks the invoice schema or has no key (no seller id, no number) is quarantined
  with the reasons, and replayed from there as it was read; one that failed a fatal business rule
  keeps failing it on replay (the rule judged the document, which only a corrected file changes);
- a file that cannot be read fails the run with the parser's message (file, position, reason).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from connectors.einvoice import parse
from ledgerlink.mapping import MapResult
from ledgerlink.model.entities import entity_fields
from ledgerlink.pipeline.mappers import Problem, RawRow, parsed_result

LABEL = "parser:einvoice"
# Carried in a quarantined invoice's raw form only: the fatal rules it failed, for its replays.
FAILED_RULES = "_failed_rules"


_KEY_SOURCES = {"vendor_id": "seller id (endpoint, party or VAT id)", "invoice_number": "invoice number (BT-1)"}


def _key_problems(index: int, payload: dict[str, Any]) -> list[Problem]:
    missing = [k for k in _KEY_SOURCES if not payload.get(k)]
    if not missing:
        return []
    return [(index, missing[0], "key.missing",
             f"natural key field(s) {', '.join(missing)} empty: the document names no "
             + " and no ".join(_KEY_SOURCES[k] for k in missing))]


def _rule_problems(index: int, payload: dict[str, Any]) -> list[Problem]:
    return [(index, r["position"], r["rule"], r["message"]) for r in payload.get(FAILED_RULES, [])]


class EInvoiceMapper:
    entity = "invoice"
    key = ["vendor_id", "invoice_number"]
    field_names = list(entity_fields("invoice"))
    omit_empty = True
    display_path = LABEL

    def __init__(self, *, on_drift: str | None = None, label: str | None = None) -> None:
        # An e-invoice syntax is fixed by its standard: nothing drifts, and there is one variant.
        del on_drift, label

    def map_file(self, path: str | Path, *, source_name: str | None = None) -> MapResult:
        name = source_name or Path(path).name
        invoice = parse(path)
        lineage: dict[str, Any] = {"position": "/", "syntax": invoice.syntax, "document_type": invoice.document_type}
        if invoice.rule_sets:
            lineage["rule_sets"] = invoice.rule_sets
        if invoice.document_type == "credit_note" and invoice.states_negative_amounts:
            lineage["amounts_stated_negative"] = True  # a credit note's amounts kept as stated, not turned
        for attr in ("customization_id", "container", "due_date_source"):
            if getattr(invoice, attr):
                lineage[attr] = getattr(invoice, attr)
        if invoice.payable is not None:
            lineage["amount_due"] = invoice.signed_amount(invoice.payable)
        findings = [{"kind": f.kind, **{k: v for k, v in f.as_dict().items() if k != "kind"},
                     "message": f"{name}: {f.message}", "invoice_number": invoice.invoice_number}
                    for f in invoice.findings if f.flag != "fatal"]
        payload = invoice.canonical()
        failed = [{"rule": f.rule or "business_rule", "position": f.position or "/",
                   "message": f"{name}: {f.position}: {f.rule} (fatal): {f.message}"} for f in invoice.fatal_rules]
        if failed:
            payload[FAILED_RULES] = failed  # the record goes to the quarantine, never to the store
        problems = _key_problems(0, payload) + _rule_problems(0, payload)
        return parsed_result([(None, "/", payload, lineage)], self.field_names, label=LABEL, source_name=name,
                             problems=problems, findings=findings)

    def map_rows(self, raw_rows: list[RawRow], *, source_name: str | None = None) -> MapResult:
        """Quarantined invoices, as they were read, through the checks again."""
        records = [(row, location, dict(raw), {"position": location or "/"}) for row, location, raw in raw_rows]
        problems = [p for i, (_, _, raw, _) in enumerate(records)
                    for p in _key_problems(i, raw) + _rule_problems(i, raw)]
        return parsed_result(records, self.field_names, label=LABEL, source_name=source_name, problems=problems)

    def field_line(self, name: str) -> int | None:
        return None

    def control_amount(self, raw: dict[str, Any], field_name: str) -> tuple[str | None, Decimal | None]:
        try:
            amount = Decimal(str(raw[field_name])) if raw.get(field_name) not in (None, "") else None
        except InvalidOperation:
            amount = None
        return raw.get("currency"), amount
