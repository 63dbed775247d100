"""The financing DAGs: financing_push (hourly submission) and financing_status (status sync, reconciliation,
booking to the Tryton ledger when the ledgerlink_tryton connection exists)."""

from ledgerlink.airflow.financing import build_push_dag, build_status_dag

financing_push = build_push_dag()
financing_status = build_status_dag()
