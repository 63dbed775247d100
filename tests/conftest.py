"""Shared test set-up. Fixtures live in tests/fixtures/, one module per real part.

The environment is fixed here, before anything imports Airflow (it reads its configuration
at import time): tests get their own AIRFLOW_HOME and LEDGERLINK_HOME, and the repository's
airflow.cfg.
"""

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_base = Path(tempfile.mkdtemp(prefix="ledgerlink-tests-"))
os.environ.setdefault("LEDGERLINK_ROOT", str(ROOT))
os.environ.setdefault("AIRFLOW_CONFIG", str(ROOT / "airflow.cfg"))
os.environ.setdefault("AIRFLOW_HOME", str(_base / "airflow"))
os.environ.setdefault("LEDGERLINK_HOME", str(_base / "ledgerlink"))
os.environ.pop("LEDGERLINK_STORE_URL", None)

pytest_plugins = [
    "tests.fixtures.store",
    "tests.fixtures.sftp",
    "tests.fixtures.airflow",
    "tests.fixtures.tryton",
]
