"""Airflow DAGs for every feed in dags/feeds.yaml (one DAG per feed, id ledgerlink_<feed>)."""

from ledgerlink.airflow.factory import build_feed_dags

globals().update(build_feed_dags())
