"""The morning cash application: incoming payments matched and posted, supplier invoices marked paid or
returned from the bank, bank accounts reconciled against the ledger."""

from ledgerlink.airflow.cashapp import build_cash_application_dag

cash_application = build_cash_application_dag()
