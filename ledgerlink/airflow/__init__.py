"""The only ledgerlink package that imports Airflow: connections, task callables, the DAG factory, the UI plugin."""
