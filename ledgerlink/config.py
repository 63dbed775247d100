"""Where ledgerlink keeps its files and which store it talks to.

Settings come from the environment so that Airflow workers, the CLI and tests agree:

LEDGERLINK_HOME       folder for the SQLite store, downloads and demo files (default ~/.ledgerlink)
LEDGERLINK_STORE_URL  SQLAlchemy URL of the canonical store (default sqlite:///$LEDGERLINK_HOME/ledgerlink.db)
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
MAPPINGS_DIR = PROJECT_ROOT / "mappings"
DAGS_DIR = PROJECT_ROOT / "dags"


def ledgerlink_home() -> Path:
    home = Path(os.environ.get("LEDGERLINK_HOME") or Path.home() / ".ledgerlink").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def store_url() -> str:
    url = os.environ.get("LEDGERLINK_STORE_URL")
    if url:
        return url
    return f"sqlite:///{ledgerlink_home() / 'ledgerlink.db'}"
