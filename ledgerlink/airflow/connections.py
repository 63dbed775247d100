"""Airflow's connections as ledgerlink's first connection resolver (see ledgerlink.connections).

Installed when ``ledgerlink.airflow`` is imported, so every DAG, task and plugin page of ledgerlink
reads connections from the Airflow connection form, AIRFLOW_CONN_* variables and secrets backends,
and falls back to ledgerlink's own environment variables and secrets file.
"""

from __future__ import annotations

from ledgerlink.connections import ConnectionSettings, add_resolver


class AirflowResolver:
    description = "Airflow's connections (UI, AIRFLOW_CONN_<ID>, secrets backends)"

    def lookup(self, conn_id: str) -> ConnectionSettings | None:
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = Connection.get(conn_id)
        except AirflowNotFoundException:
            return None
        return ConnectionSettings(conn_id, conn_type=conn.conn_type, host=conn.host or None, port=conn.port,
                                  schema=conn.schema or None, login=conn.login or None,
                                  password=conn.password or None, extra=dict(conn.extra_dejson or {}),
                                  origin="Airflow")


def install() -> None:
    add_resolver(AirflowResolver())
