"""Import runs and the files they processed."""

from __future__ import annotations

import json
import os
import socket
import uuid
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledgerlink.errors import StoreError
from ledgerlink.store.db import dumps, utcnow
from ledgerlink.store.tables import RUN_STATUSES, processed_files, runs

FINAL_STATUSES = tuple(s for s in RUN_STATUSES if s != "running")
DEFAULT_FILE_STATUS = "loaded"


ABANDONED = "abandoned: the process running it stopped before the run finished"


def start(
    conn: Connection,
    feed: str,
    entity: str,
    *,
    source: dict | None = None,
    mapping: str | None = None,
    this_process: bool = False,
) -> str:
    """A new run, ``running``. ``this_process``: the whole run happens in the calling process, whose host
    and pid are kept so that a later run can tell when it died (:func:`process_gone`)."""
    run_id = str(uuid.uuid4())
    conn.execute(
        insert(runs).values(
            id=run_id,
            feed=feed,
            entity=entity,
            mapping=mapping,
            source=None if source is None else dumps(source),
            status="running",
            started_at=utcnow(),
            host=socket.gethostname() if this_process else None,
            pid=os.getpid() if this_process else None,
        )
    )
    return run_id


def process_gone(run: dict[str, Any]) -> bool:
    """True when the run's process is known to be gone: it ran on this host and no process has its pid.
    Runs without a process (their steps run in several) or on another host cannot be told: False."""
    pid, host = run.get("pid"), run.get("host")
    if not pid or host != socket.gethostname():
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, under another user
        return False
    return False


def finish(
    conn: Connection,
    run_id: str,
    status: str,
    *,
    totals: dict | None = None,
    drift: list | None = None,
    error: str | None = None,
) -> None:
    if status not in FINAL_STATUSES:
        raise StoreError(
            f"cannot finish run {run_id} as {status!r}; expected one of {', '.join(FINAL_STATUSES)}"
        )
    current = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
    if current is None:
        raise StoreError(f"no run with id {run_id}")
    if current != "running":
        raise StoreError(f"run {run_id} already finished as {current!r}")
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == "running")
        .values(
            status=status,
            finished_at=utcnow(),
            totals=None if totals is None else dumps(totals),
            drift=None if drift is None else dumps(list(drift)),
            error=error,
        )
    )


def _run_dict(row) -> dict[str, Any]:
    data = dict(row._mapping)
    for field in ("source", "totals", "drift"):
        if data[field] is not None:
            data[field] = json.loads(data[field])
    return data


def get(conn: Connection, run_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    return None if row is None else _run_dict(row)


def list_recent(conn: Connection, feed: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    query = select(runs).order_by(runs.c.started_at.desc(), runs.c.id).limit(limit)
    if feed is not None:
        query = query.where(runs.c.feed == feed)
    return [_run_dict(row) for row in conn.execute(query)]


def record_file(conn: Connection, feed: str, run_id: str, file: dict[str, Any]) -> None:
    for key in ("name", "sha256"):
        if not file.get(key):
            raise StoreError(f"processed_file needs {key!r} (got keys {sorted(file)})")
    earlier = find_file(conn, feed, file["sha256"])
    if earlier is not None:
        raise StoreError(
            f"file {file['name']!r} (sha256 {file['sha256'][:12]}...) of feed {feed!r} was already "
            f"processed by run {earlier['run_id']} at {earlier['processed_at']} as {earlier['name']!r}"
        )
    conn.execute(
        insert(processed_files).values(
            feed=feed,
            name=str(file["name"]),
            size=file.get("size"),
            sha256=file["sha256"],
            run_id=run_id,
            status=file.get("status") or DEFAULT_FILE_STATUS,
            processed_at=utcnow(),
        )
    )


def find_file(conn: Connection, feed: str, sha256: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(processed_files).where(processed_files.c.feed == feed, processed_files.c.sha256 == sha256)
    ).first()
    return None if row is None else dict(row._mapping)
