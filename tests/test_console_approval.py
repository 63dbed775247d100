"""Approving a financing batch in the console: a real financing_push DAG run waits at its approve task,
an approver approves it on the console's financing page, and the batch goes out once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sandbox.scf_platform import ScfPlatform
from tests.test_financing_flow import (
    ONE_EACH,
    TODAY,
    copies,
    flow_platform,
    push_dag_env,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture
def platform() -> Iterator[ScfPlatform]:
    with flow_platform() as p:
        yield p


def _approve_in_the_console(client: TestClient, stop: threading.Event, seen: list[str]) -> None:
    from ledgerlink.airflow.console import approvals

    while not stop.wait(0.5):
        waiting = approvals.waiting()
        if not waiting:
            continue
        page = client.get("/financing")
        seen.append(page.text)
        token = str(client.cookies.get("ledgerlink_csrf"))
        answer = client.post("/financing/approve", data={"csrf_token": token, "run_id": waiting[0]["run_id"]})
        seen.append(str(answer.status_code))
        return


def test_an_approver_approves_a_waiting_batch_on_the_financing_page(platform, tmp_path, monkeypatch, airflow_db):
    store = push_dag_env(platform, tmp_path, monkeypatch)

    # Imported here, before dag.test() runs: importing them in the approver's thread would race it.
    import airflow.api_fastapi.core_api.datamodels.hitl
    import airflow.api_fastapi.core_api.routes.public.hitl
    import airflow.models.hitl
    import airflow.models.taskinstance  # noqa: F401
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    from ledgerlink.airflow.financing import build_push_dag
    from ledgerlink.airflow.plugin import app

    manager = create_auth_manager()
    app.state.auth_manager = manager
    client = TestClient(app, follow_redirects=False)
    token = manager.generate_jwt(SimpleAuthManagerUser(username="finance_approver", role="admin"))
    client.headers["Authorization"] = f"Bearer {token}"

    dag = build_push_dag()
    stop, seen = threading.Event(), []
    approver = threading.Thread(target=_approve_in_the_console, args=(client, stop, seen))
    approver.start()
    try:
        run = dag.test(run_conf={"today": TODAY.isoformat()})
    finally:
        stop.set()
        approver.join(timeout=30)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert len(seen) == 2, seen
    assert "Approve</button>" in seen[0] and "12710.49" in seen[0]
    assert seen[1] == "303"
    assert str(run.state) == "success", states
    assert states["approve"] == "success" and copies(platform) == ONE_EACH
    actions = {(e["action"], e["actor"]) for e in store.audit_entries(limit=1000)}
    assert ("financing.approval_given", "airflow:finance_approver") in actions
    assert ("financing.approve", "airflow:finance_approver") in actions
    store.close()
