"""Incremental syncs from ERP record sources (connectors/erp/) into the canonical store:
``from ledgerlink.erp.sync import sync, run_feed``. The package itself imports nothing, so that the
command line's ``erp`` group loads without the connectors."""
