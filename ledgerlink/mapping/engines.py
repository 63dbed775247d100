"""The mapping engines (``ledgerlink.mapping.executor``), named here so the command line offers them
without importing the engines."""

ENGINES = ("columnar", "rows")
