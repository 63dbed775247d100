"""Registers the ledgerlink finance-ops console (feeds, quarantine, financing, cash application, audit log) in the Airflow UI."""

from ledgerlink.airflow.plugin import LedgerlinkPlugin

__all__ = ["LedgerlinkPlugin"]
