"""ERP sources: a live Tryton server (JSON-RPC) and REST/OData ERPs described in YAML."""
