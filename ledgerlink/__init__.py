"""ledgerlink: ERP integration hub for finance teams.

Everything under this package except ``ledgerlink.airflow`` runs without Airflow.
"""

__version__ = "0.1.0"
