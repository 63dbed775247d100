"""Where ledgerlink finds its project files and keeps its data, and which store it talks to.

Settings come from the environment so that Airflow workers, the CLI and tests agree:

LEDGERLINK_ROOT       the project folder: dags/feeds.yaml, mappings/, airflow.cfg (default: the nearest
                      folder at or above the current one holding dags/feeds.yaml, else the source
                      checkout ledgerlink runs from)
LEDGERLINK_FEEDS      the feeds file (default $LEDGERLINK_ROOT/dags/feeds.yaml)
LEDGERLINK_HOME       folder for the SQLite store, staging area and demo files (default ~/.ledgerlink)
LEDGERLINK_STORE_URL  SQLAlchemy URL of the canonical store (default sqlite:///$LEDGERLINK_HOME/ledgerlink.db)

What ledgerlink itself needs at run time ships inside the package: the JSON Schemas and the shipped
mappings (ledgerlink/schemas and ledgerlink/mappings link to the top-level schemas/ and mappings/ of
the checkout, and a wheel carries copies).
"""

from __future__ import annotations

import os
from pathlib import Path

from ledgerlink.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent  # the checkout, when ledgerlink runs from one
SCHEMAS_DIR = PACKAGE_DIR / "schemas"
BUNDLED_MAPPINGS_DIR = PACKAGE_DIR / "mappings"
FEEDS_RELATIVE = Path("dags") / "feeds.yaml"


def _is_project(folder: Path) -> bool:
    return (folder / FEEDS_RELATIVE).is_file()


def project_root() -> Path | None:
    """The ledgerlink project folder (see the module doc), or None when there is none."""
    explicit = os.environ.get("LEDGERLINK_ROOT")
    if explicit:
        return Path(explicit).expanduser().resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if _is_project(folder):
            return folder
    return SOURCE_ROOT if _is_project(SOURCE_ROOT) else None


NO_PROJECT = ("no ledgerlink project found: run from a project folder (one holding dags/feeds.yaml), "
              "or set LEDGERLINK_ROOT to it (or LEDGERLINK_FEEDS to a feeds file)")


def require_project_root() -> Path:
    root = project_root()
    if root is None:
        raise ConfigError(NO_PROJECT)
    return root


def feeds_file() -> Path:
    """$LEDGERLINK_FEEDS, else dags/feeds.yaml of the project."""
    explicit = os.environ.get("LEDGERLINK_FEEDS")
    if explicit:
        return Path(explicit).expanduser()
    return require_project_root() / FEEDS_RELATIVE


def feeds_base(feeds_path: Path) -> Path:
    """The folder that relative paths in a feeds file (mappings) are read from: the project folder
    for <project>/dags/feeds.yaml, else the feeds file's own folder."""
    folder = feeds_path.resolve().parent
    return folder.parent if folder.name == "dags" else folder


def mappings_dir() -> Path:
    """The project's mappings/ folder, else the mappings shipped with ledgerlink."""
    root = project_root()
    if root is not None and (root / "mappings").is_dir():
        return root / "mappings"
    return BUNDLED_MAPPINGS_DIR


def display_path(path: Path) -> str:
    """A file's path as shown in lineage and errors: relative to the project (or to the shipped
    files) when inside it, else as given."""
    resolved = path.resolve()
    for base in (project_root(), BUNDLED_MAPPINGS_DIR.resolve().parent):
        if base is not None:
            try:
                return str(resolved.relative_to(base))
            except ValueError:
                continue
    return str(path)


def resolve_display_path(shown: str) -> Path:
    """The file a :func:`display_path` names (a quarantine entry's mapping, found again for a replay)."""
    path = Path(shown)
    if path.is_absolute():
        return path
    for base in (project_root(), BUNDLED_MAPPINGS_DIR.resolve().parent):
        if base is not None and (base / path).is_file():
            return base / path
    raise ConfigError(f"{shown}: no such file in the project ({project_root() or 'none'}) or among the "
                      "mappings shipped with ledgerlink")


def ledgerlink_home() -> Path:
    home = Path(os.environ.get("LEDGERLINK_HOME") or Path.home() / ".ledgerlink").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def store_url() -> str:
    url = os.environ.get("LEDGERLINK_STORE_URL")
    if url:
        return url
    return f"sqlite:///{ledgerlink_home() / 'ledgerlink.db'}"


def apply_airflow_defaults() -> None:
    """Point Airflow at the project before anything imports it (Airflow reads its settings at import):
    AIRFLOW_CONFIG = <project>/airflow.cfg and AIRFLOW_HOME = $LEDGERLINK_HOME/airflow, each only
    when unset, and LEDGERLINK_ROOT, which that airflow.cfg expands. Lets `ledgerlink` commands
    that run DAGs work without the scripts' environment."""
    root = project_root()
    if root is None:
        return
    os.environ.setdefault("LEDGERLINK_ROOT", str(root))
    if (root / "airflow.cfg").is_file():
        os.environ.setdefault("AIRFLOW_CONFIG", str(root / "airflow.cfg"))
    os.environ.setdefault("AIRFLOW_HOME", str(ledgerlink_home() / "airflow"))


def audit_checkpoint_file() -> Path | None:
    """Where the audit log's head is checkpointed outside the store (``LEDGERLINK_AUDIT_CHECKPOINT``):
    a file on storage the store's users cannot rewrite (another disk, an append-only mount)."""
    value = os.environ.get("LEDGERLINK_AUDIT_CHECKPOINT")
    return Path(value).expanduser() if value else None


def audit_checkpoint_key_conn() -> str | None:
    """The connection whose password (or extra ``key``) signs the checkpoints (``LEDGERLINK_AUDIT_CHECKPOINT_KEY``)."""
    return os.environ.get("LEDGERLINK_AUDIT_CHECKPOINT_KEY") or None
