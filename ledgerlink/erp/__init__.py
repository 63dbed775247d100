"""Incremental syncs from ERP record sources (connectors/erp/) into the canonical store."""

from ledgerlink.erp.sync import sync

__all__ = ["sync"]
