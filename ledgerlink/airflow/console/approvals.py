"""Financing batches waiting for a human: the ``approve`` task of ``financing_push`` runs, answered
through Airflow's human-in-the-loop handler, exactly as the Required actions page answers them (so
Airflow checks the assigned approvers, and the send task applies the four-eyes rule and audits)."""

from __future__ import annotations

from typing import Any

DAG_ID = "financing_push"
TASK_ID = "approve"
APPROVE_OPTION = "Approve"


def waiting() -> list[dict[str, Any]]:
    """Runs whose approval is awaited: run id, subject, body (the batch's totals), since when."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.run_id, HITLDetail.subject, HITLDetail.body, HITLDetail.created_at)
            .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
            .where(TaskInstance.dag_id == DAG_ID, TaskInstance.task_id == TASK_ID,
                   TaskInstance.state.in_([TaskInstanceState.AWAITING_INPUT, TaskInstanceState.DEFERRED]),
                   HITLDetail.responded_at.is_(None))
            .order_by(HITLDetail.created_at)).all()
    return [{"run_id": r.run_id, "subject": r.subject, "body": r.body or "", "since": str(r.created_at)[:19]}
            for r in rows]


def approve(run_id: str, airflow_user: Any) -> None:
    """Answer the run's approval with Approve as ``airflow_user``."""
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    with create_session() as session:
        update_hitl_detail(dag_id=DAG_ID, dag_run_id=run_id, task_id=TASK_ID,
                           update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[APPROVE_OPTION]),
                           user=airflow_user, session=session)


def next_runs(dag_ids: list[str]) -> dict[str, str]:
    """When each DAG runs next, as Airflow's scheduler has it (DAGs it does not know are left out)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        # When the next run will start (the end of its data interval), not its logical date.
        rows = session.execute(select(DagModel.dag_id, DagModel.next_dagrun_create_after, DagModel.is_paused)
                               .where(DagModel.dag_id.in_(dag_ids))).all()
    return {r.dag_id: "paused" if r.is_paused else (str(r.next_dagrun_create_after)[:16] if r.next_dagrun_create_after else "-")
            for r in rows}
