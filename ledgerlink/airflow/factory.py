"""Builds one Airflow DAG per feed declared in dags/feeds.yaml.

file feeds:  extract -> map_and_validate (one mapped task per file) -> load (one per file) -> publish (Asset event)
ERP feeds:   sync (fetch since the cursor, map, validate, load with the new cursor) -> publish (Asset event);
             REST/OData feeds also send their ERP's pending writebacks after the sync (send_writebacks)

Kept light at parse time: the heavy modules (pandas, the mapping engine, the store) are
imported inside the tasks, so the DAG processor parses this file quickly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, Asset, dag, get_current_context, task

from ledgerlink.airflow import tasks
from ledgerlink.pipeline.feeds import Feed, load_feeds

START_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def feed_asset(feed: Feed) -> Asset:
    return Asset(name=f"ledgerlink_{feed.entity}", uri=feed.asset_uri, group="ledgerlink")


def dag_args(feed: Feed, doc: str) -> dict[str, Any]:
    """What every feed DAG shares. One active run per feed: two runs must never pick up the same
    file or read from the same cursor."""
    return {
        "dag_id": feed.dag_id, "description": feed.description or None, "doc_md": doc,
        "schedule": feed.schedule, "start_date": START_DATE, "catchup": False, "max_active_runs": 1,
        "tags": list(feed.tags),
        "default_args": {"owner": feed.owner, "retries": feed.retries,
                         "retry_delay": dt.timedelta(minutes=feed.retry_delay_minutes)},
    }


def build_erp_feed_dag(feed: Feed) -> DAG:
    """An incremental ERP feed (connector tryton or rest): one sync task, then the Asset event; a REST feed
    then sends its ERP's pending writeback requests from the outbox."""
    asset = feed_asset(feed)
    rest = feed.source.get("connector") == "rest"
    doc = (f"### {feed.description or feed.name}\n\nEntity **{feed.entity}** through mapping `{feed.mapping}` "
           f"from {feed.source['connector']} entity `{feed.source['entity']}` (connection "
           f"`{feed.source['conn_id']}`), incremental by last change: each run reads what changed since the "
           "cursor kept in the store, which moves only when the load commits.\n\nBad records go to the "
           f"quarantine: `ledgerlink quarantine list --feed {feed.name}`. Without Airflow: "
           f"`ledgerlink erp sync {feed.name}`.")
    if rest:
        doc += ("\n\nAfter the sync (whether it succeeded or not), `send_writebacks` sends the ERP's pending "
                "writeback requests from the outbox (`ledgerlink erp writeback` enqueues one, "
                f"`ledgerlink erp send {feed.name}` sends them without Airflow).")

    @dag(**dag_args(feed, doc))
    def erp_feed_dag() -> None:
        @task(task_id="sync")
        def sync() -> dict[str, Any]:
            from ledgerlink.erp.sync import run_feed

            return run_feed(feed.name).as_dict()

        @task(task_id="publish", outlets=[asset])
        def publish(summary: Any, *, outlet_events: Any = None) -> dict[str, Any]:  # summary: sync's XCom
            result = {"feed": feed.name, "entity": feed.entity, "run": summary["run_id"],
                      "cursor": (summary.get("source") or {}).get("cursor"),
                      **{k: int(summary.get(k, 0)) for k in
                         ("read", "inserted", "updated", "unchanged", "quarantined", "filtered")}}
            if outlet_events is not None:
                outlet_events[asset].extra = result
            return result

        synced = sync()
        publish(synced)

        if rest:
            @task(task_id="send_writebacks", trigger_rule="all_done")
            def send_writebacks() -> dict[str, Any]:
                from ledgerlink.erp.writeback import run_writebacks

                return run_writebacks(feed.name).as_dict()

            synced >> send_writebacks()

    return erp_feed_dag()


def build_feed_dag(feed: Feed) -> DAG:
    if feed.incremental:
        return build_erp_feed_dag(feed)
    asset = feed_asset(feed)
    reader = f"mapping `{feed.mapping}`" if feed.mapping else f"the {feed.parser} parser"
    doc = (f"### {feed.description or feed.name}\n\nEntity **{feed.entity}** through {reader} "
           f"from {feed.source['connector']} `{feed.source.get('path', '')}`"
           + (f" (connection `{feed.source['conn_id']}`)" if feed.source.get("conn_id") else "")
           + ".\n\nBad rows go to the quarantine: `ledgerlink quarantine list --feed " + feed.name + "`.")

    @dag(**dag_args(feed, doc))
    def feed_dag() -> None:
        @task(task_id="extract")
        def extract() -> list[dict[str, Any]]:
            return tasks.extract(feed.name)

        @task(task_id="map_and_validate", map_index_template="{{ file_name }}")
        def map_and_validate(file: dict[str, Any]) -> dict[str, Any]:
            get_current_context()["file_name"] = file["name"]  # type: ignore[typeddict-unknown-key]
            return tasks.map_and_validate(feed.name, file)

        @task(task_id="load")
        def load(prepared: dict[str, Any]) -> dict[str, Any]:
            return tasks.load(feed.name, prepared)

        @task(task_id="publish", outlets=[asset])
        def publish(summaries: Any, *, outlet_events: Any = None) -> dict[str, Any]:  # the loads' XComs
            result = tasks.publish(feed.name, list(summaries))
            if outlet_events is not None:
                outlet_events[asset].extra = result
            return result

        publish(load.expand(prepared=map_and_validate.expand(file=extract())))

    return feed_dag()


def build_feed_dags() -> dict[str, DAG]:
    return {feed.dag_id: build_feed_dag(feed) for feed in load_feeds()}
