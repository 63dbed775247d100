"""The ledgerlink pages in the Airflow UI: authenticated only, IBANs masked."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ledgerlink.store import QuarantineEntry

pytestmark = pytest.mark.airflow


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGERLINK_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    from ledgerlink.airflow.plugin import LedgerlinkPlugin, app

    assert LedgerlinkPlugin.fastapi_apps[0]["url_prefix"] == "/ledgerlink"
    return TestClient(app)


def test_pages_refuse_anonymous_users(client):
    assert client.get("/").status_code in (401, 403)
    assert client.get("/quarantine").status_code in (401, 403)


def test_overview_and_quarantine_for_a_signed_in_user(client):
    """The signed-in user is overridden (no Airflow metadata database here); the role checks run as they are."""
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user

    from ledgerlink.airflow.plugin import app
    from ledgerlink.store import Store

    create_auth_manager()
    store = Store()
    run_id = store.start_run("invoices_nl_sftp", "invoice", source={"name": "export.csv"})
    store.load(run_id, "invoices_nl_sftp", "invoice", [], [QuarantineEntry(
        row=7, location=None, raw={"IBAN": "NL91ABNA0417164300"},
        errors=[{"field": "vendor_iban", "rule": "type.iban", "message": "'NL91ABNA0417164300' is odd",
                 "mapping_line": 21}])])
    store.finish_run(run_id, "succeeded", totals={"read": {"count": 1}, "quarantined": {"count": 1}})
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="ann", role="user")
    try:
        page = client.get("/")
        assert page.status_code == 200
        assert "invoices_nl_sftp" in page.text
        q = client.get("/quarantine")
        assert q.status_code == 200 and "vendor_iban" in q.text and "type.iban" in q.text
        assert "NL91ABNA0417164300" not in q.text and "NL91****4300" in q.text
        assert client.get("/api/runs").json()[0]["quarantined"] == 1
        app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="vic", role="viewer")
        assert client.get("/quarantine").status_code == 403
        assert client.get("/openapi.json").status_code in (401, 404)
    finally:
        app.dependency_overrides.clear()
