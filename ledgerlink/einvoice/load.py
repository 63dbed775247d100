"""An e-invoice file as one load: one canonical ``invoice`` record (a supplier invoice received,
so ``payable``), keyed by vendor_id + invoice_number like the mapped invoice feeds.

- totals that disagree, missing fields and unusable IBANs are the batch's findings (the invoice
  is loaded as stated, never corrected);
- an invoice that breaks the invoice schema or has no key (no seller id, no number) is quarantined
  with the reasons;
- a file that cannot be read fails the run with the parser's message (file, position, reason).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd

from connectors.einvoice import parse
from ledgerlink.pipeline.control import ControlTotals
from ledgerlink.pipeline.steps import PreparedBatch, SourceFile, natural_key_series
from ledgerlink.pipeline.validate import validate_frame
from ledgerlink.store import QuarantineEntry, StagedRecord, Store

ENTITY = "invoice"
KEY = ["vendor_id", "invoice_number"]
FIELDS = ["invoice_number", "direction", "vendor_id", "vendor_name", "vendor_iban", "customer_id", "issue_date",
          "due_date", "currency", "amount_excl_tax", "tax_amount", "amount_incl_tax", "payment_terms",
          "description", "status"]


def prepare_einvoice_file(store: Store, source: SourceFile, *, feed: str, run_id: str) -> PreparedBatch:
    invoice = parse(source.path)
    payload = invoice.canonical()
    frame = pd.DataFrame([{f: payload.get(f) for f in FIELDS}], dtype=object)
    errors = [{"field": v.field, "rule": v.rule, "message": v.message, "mapping_line": None}
              for v in validate_frame(ENTITY, frame, FIELDS)]
    missing = [k for k in KEY if not payload.get(k)]
    if missing:
        errors.append({"field": missing[0], "rule": "key.missing", "mapping_line": None,
                       "message": f"natural key field(s) {', '.join(missing)} empty: the document names no "
                                  + " and no ".join({"vendor_id": "seller id (endpoint, party or VAT id)",
                                                     "invoice_number": "invoice number (BT-1)"}[k] for k in missing)})
    findings = [{"kind": f.kind, **{k: v for k, v in f.as_dict().items() if k != "kind"},
                 "message": f"{source.name}: {f.message}", "invoice_number": invoice.invoice_number}
                for f in invoice.findings]
    currency = payload.get("currency")
    amount = _decimal(payload.get("amount_incl_tax"))
    totals = ControlTotals()
    totals.read.add(currency, amount)
    lineage: dict[str, Any] = {"position": "/", "syntax": invoice.syntax, "document_type": invoice.document_type}
    for name in ("customization_id", "container", "due_date_source"):
        if getattr(invoice, name):
            lineage[name] = getattr(invoice, name)
    if invoice.payable is not None:
        lineage["amount_due"] = invoice.signed_amount(invoice.payable)
    records: list[StagedRecord] = []
    quarantine: list[QuarantineEntry] = []
    if errors:
        quarantine.append(QuarantineEntry(row=None, location="/", raw=payload, errors=errors,
                                          source_name=source.name, source_sha256=source.sha256))
        totals.quarantined.add(currency, amount)
    else:
        key = natural_key_series(frame, KEY).iloc[0]
        records.append(StagedRecord.build(key, payload, lineage))
        totals.loaded.add(currency, amount)
    return PreparedBatch(feed, ENTITY, f"parser:einvoice:{invoice.syntax}", source, records, quarantine, totals,
                         findings=findings)


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value in (None, "") else Decimal(str(value))
    except ArithmeticError:
        return None
