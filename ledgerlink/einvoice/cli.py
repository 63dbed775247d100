"""`ledgerlink einvoice parse FILE [--json]`: read an e-invoice (syntax detected from content);
`ledgerlink einvoice validate FILE...`: its EN 16931 / XRechnung business rules, one line per failed rule."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledgerlink.errors import LedgerlinkError

if TYPE_CHECKING:
    from connectors.einvoice import EInvoice


def register(sub: argparse._SubParsersAction) -> None:
    einvoice = sub.add_parser("einvoice", help="e-invoices (UBL, CII, ZUGFeRD, Factur-X PDF): parse, validate")
    cmds = einvoice.add_subparsers(dest="einvoice_command", required=True, metavar="COMMAND")
    p = cmds.add_parser("parse", help="parse an e-invoice into a canonical invoice (syntax detected from content)")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line: the canonical invoice with its findings")
    p.set_defaults(func=cmd_parse)
    v = cmds.add_parser("validate", help="check the EN 16931 (and XRechnung) business rules: one line per failed "
                                         "rule 'FILE: XPATH: RULE-ID (flag): message'; exit 2 when a fatal rule fails")
    v.add_argument("files", type=Path, nargs="+", metavar="FILE")
    v.add_argument("--fatal-only", action="store_true", help="print only the fatal rules")
    v.set_defaults(func=cmd_validate)


def invoice_line(invoice: EInvoice) -> dict[str, Any]:
    return {"kind": "invoice", **invoice.canonical(), "findings": [f.as_dict() for f in invoice.findings]}


def cmd_parse(args: argparse.Namespace) -> int:
    from connectors.einvoice import EInvoiceError, parse

    if not args.file.is_file():
        raise LedgerlinkError(f"{args.file}: no such file")
    try:
        invoice = parse(args.file)
    except EInvoiceError as exc:
        print(f"ledgerlink: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(invoice_line(invoice), ensure_ascii=False))
        return 0
    c = invoice.canonical()
    what = "credit note" if invoice.document_type == "credit_note" else "invoice"
    source = invoice.syntax + (f" in {invoice.container}" if invoice.container else "")
    print(f"{args.file.name}: {what} {c.get('invoice_number', '(no number)')} ({source}"
          f"{', ' + invoice.customization_id if invoice.customization_id else ''})")
    print(f"  vendor {c.get('vendor_id', '?')} {c.get('vendor_name', '')}".rstrip())
    print(f"  customer {c.get('customer_id', '?')}")
    print(f"  issued {c.get('issue_date', '-')}, due {c.get('due_date', '-')}"
          f"{' (from the payment terms)' if invoice.due_date_source == 'payment_terms' else ''}")
    print(f"  {c.get('currency', '')} excl. tax {c.get('amount_excl_tax', '-')}, tax {c.get('tax_amount', '-')}, "
          f"incl. tax {c.get('amount_incl_tax', '-')}, amount due "
          f"{'-' if invoice.payable is None else invoice.signed_amount(invoice.payable)}")
    if c.get("vendor_iban"):
        print(f"  pay to {c['vendor_iban']}")
    for f in invoice.findings:
        rule = f" {f.rule} ({f.flag})" if f.flag else ""
        print(f"  {f.kind}{rule}: {f.message}" + (f" ({f.position})" if f.position else ""))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Exit 0: no fatal rule failed in any file; 2: a fatal rule failed, or a file cannot be read."""
    from connectors.einvoice import EInvoiceError, parse

    status = 0
    for path in args.files:
        if not path.is_file():
            print(f"ledgerlink: {path}: no such file", file=sys.stderr)
            status = 2
            continue
        try:
            invoice = parse(path)
        except EInvoiceError as exc:
            print(f"ledgerlink: {exc}", file=sys.stderr)
            status = 2
            continue
        rules = [f for f in invoice.findings if f.kind == "business_rule"]
        for f in rules:
            if f.flag == "fatal" or not args.fatal_only:
                print(f"{path}: {f.position}: {f.rule} ({f.flag}): {f.message}")
        fatal = len(invoice.fatal_rules)
        checked = ", ".join(invoice.rule_sets) or "no rule set applies to this profile"
        print(f"{path}: {'invalid' if fatal else 'valid'}: {fatal} fatal, {len(rules) - fatal} other "
              f"({checked})", file=sys.stderr)
        if fatal:
            status = 2
    return status
