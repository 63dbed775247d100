"""Payments back to the ledger, outgoing side: what the bank statements say of the supplier invoices we paid."""
