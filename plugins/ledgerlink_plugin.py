"""Registers the ledgerlink pages (runs, quarantine, audit) in the Airflow UI."""

from ledgerlink.airflow.plugin import LedgerlinkPlugin

__all__ = ["LedgerlinkPlugin"]
