"""The console is warmed up when the API server starts (the lifespan Airflow enters for the apps it
mounts): in a fresh process, starting the app imports what the pages use, opens (migrates) the store and
checks the audit chain beside the start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import json, sys
from fastapi.testclient import TestClient
from ledgerlink.airflow.console.pages import PAGE_MODULES
from ledgerlink.airflow.plugin import app

before = [m for m in PAGE_MODULES if m in sys.modules]
with TestClient(app):
    after = [m for m in PAGE_MODULES if m in sys.modules]
    app.state.audit_check.join(120)
    checked = not app.state.audit_check.is_alive()
print(json.dumps({"before": before, "after": after, "all": list(PAGE_MODULES), "checked": checked}))
"""


def test_starting_the_console_app_imports_the_pages_modules_and_opens_the_store(tmp_path, airflow_db) -> None:
    store = tmp_path / "store.db"
    env = {**os.environ, "LEDGERLINK_STORE_URL": f"sqlite:///{store}", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert "ledgerlink.pipeline.replay" not in seen["before"]  # loading the plugin stays light
    assert seen["after"] == seen["all"]
    assert store.stat().st_size > 0  # opened and migrated at start, not on the first request
    assert seen["checked"]  # the audit chain check beside the start finished
