"""Shared test set-up. Fixtures live in tests/fixtures/, one module per real part.

The environment is fixed here, before anything imports Airflow (it reads its configuration
at import time): tests get their own AIRFLOW_HOME and LEDGERLINK_HOME, and the repository's
airflow.cfg. No test depends on the machine's speed or the calendar year.
"""

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
_base = Path(tempfile.mkdtemp(prefix="ledgerlink-tests-"))
os.environ.setdefault("LEDGERLINK_ROOT", str(ROOT))
os.environ.setdefault("AIRFLOW_CONFIG", str(ROOT / "airflow.cfg"))
os.environ.setdefault("AIRFLOW_HOME", str(_base / "airflow"))
os.environ.setdefault("LEDGERLINK_HOME", str(_base / "ledgerlink"))
os.environ.pop("LEDGERLINK_STORE_URL", None)

# Property tests check what the code does, not how fast: no per-example deadline, no slowness check.
settings.register_profile("ledgerlink", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ledgerlink")

pytest_plugins = [
    "tests.fixtures.store",
    "tests.fixtures.sftp",
    "tests.fixtures.airflow",
    "tests.fixtures.tryton",
    "tests.fixtures.demo",
]
