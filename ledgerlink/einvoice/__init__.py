"""E-invoices received (UBL, CII, ZUGFeRD 1.0, Factur-X PDF) as canonical payable invoices:
the `ledgerlink einvoice` command and the ``einvoice`` feed parser. The readers live in
``connectors.einvoice``."""
