"""Approving a financing batch in the console: a real financing_push DAG run waits at its approve task,
an approver approves it on the console's financing page, and the batch goes out once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from ledgerlink.store import Store
from sandbox.scf_platform import Party, ScfConfig, ScfPlatform, SimClock
from tests.test_financing_flow import BUYER_KEY, ONE_EACH, RULES_YAML, TODAY, copies, seed

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture
def platform() -> Iterator[ScfPlatform]:
    config = ScfConfig(api_keys={BUYER_KEY: Party("buyer", "BUYER-1")},
                       auto_accept_suppliers=frozenset({"C1001", "C1002"}))
    with ScfPlatform(config, clock=SimClock(datetime.combine(TODAY, dt.time(9, 0), tzinfo=UTC)),
                     background_webhooks=False) as p:
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
    url = f"sqlite:///{tmp_path / 'store.db'}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    monkeypatch.setenv("LEDGERLINK_STORE_URL", url)
    monkeypatch.setenv("LEDGERLINK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEDGERLINK_FINANCING_RULES", str(rules))
    monkeypatch.setenv("LEDGERLINK_FINANCING_APPROVAL_ABOVE", "5000.00")  # the batch is 12710.49 EUR
    monkeypatch.setenv("AIRFLOW_CONN_LEDGERLINK_SCF", f"http://:{BUYER_KEY}@127.0.0.1:{platform.port}")
    store = Store(url)
    seed(store)

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
