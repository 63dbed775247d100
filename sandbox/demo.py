"""The demo: the main job on embedded defaults (`scripts/demo.sh`, `ledgerlink demo` or `python -m sandbox.demo`).

Starts the SFTP source (a real OpenSSH sshd on loopback; a local folder when no sshd is
installed, and says so), drops a generated Dutch AP export with a few bad rows, runs the
feed's DAG for real and prints what was loaded and quarantined, and why.

  python -m sandbox.demo          starts `airflow standalone` (UI + scheduler), triggers the DAG,
                           prints the UI address and password file, keeps running until Ctrl-C
                           or SIGTERM, which stop every process it started
  python -m sandbox.demo --once   headless: one DAG run in-process (dag.test), exit 0 only on success

The UI listens on 127.0.0.1 unless told otherwise (--host, or LEDGERLINK_DEMO_HOST=0.0.0.0 for every
interface). Airflow's own output goes to files under AIRFLOW_HOME, whose paths are printed; the demo
prints a few lines of its own, then the summary. In the demo's Airflow the scheduler makes no runs of
its own (only the demo's run, which is created before its DAG is unpaused), and a failed task is
retried after 10 seconds rather than the feed's usual delay (sandbox/demo_airflow/airflow_local_settings.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from ledgerlink.config import apply_airflow_defaults, ledgerlink_home
from ledgerlink.errors import LedgerlinkError

SFTP_CONN_ID = "ledgerlink_sftp_invoices"
HOST_ENV = "LEDGERLINK_DEMO_HOST"
# Holds the demo's airflow_local_settings.py (a task policy: short retry delay), put first on the
# PYTHONPATH of the demo's Airflow processes.
AIRFLOW_SETTINGS_DIR = Path(__file__).resolve().parent / "demo_airflow"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ledgerlink demo",
                                description="run the main job on embedded defaults (Airflow, SFTP, SQLite)")
    p.add_argument("--once", action="store_true", help="headless: one DAG run, exit 0 only when it succeeded")
    p.add_argument("--rows", type=int, default=500, help="rows in the generated export (default 500)")
    p.add_argument("--bad-share", type=float, default=0.02, help="share of bad rows (default 0.02)")
    p.add_argument("--port", type=int, default=8080, help="Airflow UI port (default 8080)")
    p.add_argument("--host", default=os.environ.get(HOST_ENV) or "127.0.0.1",
                   help=f"address the Airflow UI listens on (default 127.0.0.1, or ${HOST_ENV}; "
                        "0.0.0.0 for every interface)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    apply_airflow_defaults()
    # SIGTERM stops the demo the way Ctrl-C does: through the finally blocks that stop what it started.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        return run(args)
    except LedgerlinkError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        say("stopped")
        return 130


def _interrupt(signum: int, _frame: Any) -> None:
    # Once stopping, further Ctrl-C or SIGTERM must not cut the clean-up short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _log_to_file(path: Path) -> None:
    """Log records of this process (the store's migrations, Airflow's settings) to ``path``, not the
    terminal: the demo's own lines and the summary stay readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        if logger.handlers:
            logger.handlers = [handler]


def say(msg: str) -> None:
    print(f"demo: {msg}", flush=True)


def start_source(home: Path) -> tuple[str, Path, Any]:
    """(feed name, folder to drop exports into, server to stop or None)."""
    from sandbox.sftp_server import SftpServer, sshd_available

    if sshd_available():
        server = SftpServer(home / "sftp-root", workdir=home / "sftp-server").start()
        os.environ[f"AIRFLOW_CONN_{SFTP_CONN_ID.upper()}"] = server.connection_uri()
        inbox = server.root / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        say(f"SFTP server (OpenSSH sshd) on {server.host}:{server.port}, host key pinned, files in {inbox}")
        return "invoices_nl_sftp", inbox, server
    folder = home / "dropbox" / "invoices_nl"
    folder.mkdir(parents=True, exist_ok=True)
    say(f"no OpenSSH sshd on this machine (apt install openssh-server): using the folder feed {folder} instead")
    return "invoices_nl_folder", folder, None


def drop_export(folder: Path, rows: int, bad_share: float) -> Path:
    from sandbox.generate_invoices_nl import write_export

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    path = write_export(folder / f"crediteuren_facturen_{stamp}.csv", rows, bad_share=bad_share,
                        seed=random.SystemRandom().randint(1, 10**9))
    # Backdate the file so the source's stable-size check can accept it without waiting.
    old = time.time() - 60
    os.utime(path, (old, old))
    say(f"dropped {path.name}: {rows} rows, about {round(rows * bad_share)} of them bad")
    return path


def summary(feed: str, since: str) -> tuple[bool, str]:
    from ledgerlink.store import Store

    store = Store()
    runs = [r for r in store.list_runs(feed=feed, limit=20) if str(r.get("started_at", "")) >= since]
    if not runs:
        return False, "no run of the feed was recorded in the store"
    lines, ok = [], True
    for run in runs:
        totals = run.get("totals") or {}
        if isinstance(totals, str):
            totals = json.loads(totals)
        ok &= run["status"] == "succeeded"
        src = run.get("source") or {}
        if isinstance(src, str):
            src = json.loads(src)
        lines.append(f"run {run['id']} {run['status']}: {src.get('name', '')}")
        for part in ("read", "loaded", "quarantined"):
            t = totals.get(part)
            if t:
                amounts = ", ".join(f"{c} {a}" for c, a in t.get("amounts", {}).items())
                lines.append(f"  {part:12} {t['count']:>6} rows  {amounts}")
        if run.get("error"):
            lines.append(f"  error: {run['error']}")
    reasons = Counter(q["reason_code"] for q in store.list_quarantine(feed=feed, status="open", limit=10_000))
    if reasons:
        lines.append("open quarantine by reason: " + ", ".join(f"{r} x{n}" for r, n in reasons.most_common()))
        example = store.list_quarantine(feed=feed, status="open", limit=1)[0]
        err = (example["errors"] if isinstance(example["errors"], list) else json.loads(example["errors"]))[0]
        lines.append(f"  e.g. row {example['row']}: {err['field']}: {err['message']} "
                     f"(rule {err['rule']}, mapping line {err['mapping_line']})")
    lines.append(f"audit chain: {'intact' if store.verify_audit_chain().ok else 'BROKEN'}")
    lines.append(f"inspect: ledgerlink quarantine list --feed {feed} | ledgerlink runs list | ledgerlink audit verify")
    return ok, "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    home = ledgerlink_home()
    since = dt.datetime.now(dt.UTC).isoformat()
    feed, folder, server = start_source(home)
    try:
        drop_export(folder, args.rows, args.bad_share)
        if args.once:
            ok = run_once(feed)
        else:
            return run_standalone(feed, since, args.port, args.host)
        good, text = summary(feed, since)
        print(text, flush=True)
        say("succeeded" if ok and good else "FAILED")
        return 0 if ok and good else 1
    finally:
        if server is not None:
            server.stop()


def _airflow_db_ready() -> None:
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run_once(feed_name: str) -> bool:
    say("preparing Airflow's metadata database (airflow db migrate)")
    _airflow_db_ready()
    from ledgerlink.airflow.factory import build_feed_dag
    from ledgerlink.pipeline.feeds import get_feed

    dag = build_feed_dag(get_feed(feed_name))
    say(f"running DAG {dag.dag_id} (dag.test)")
    dag_run = dag.test()
    state = str(getattr(dag_run, "state", "unknown"))
    say(f"DAG run {getattr(dag_run, 'run_id', '?')} finished: {state}")
    return state.endswith("success")


def run_standalone(feed_name: str, since: str, port: int, host: str = "127.0.0.1") -> int:
    airflow_home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    log_path = airflow_home / "standalone.log"
    env = {
        **os.environ,
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        # Tasks reach the API server on loopback, whatever address the UI listens on.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # One signing secret for every Airflow process: left unset, each process of `airflow standalone`
        # makes up its own and the API server refuses the tasks' tokens ("Signature verification failed").
        "AIRFLOW__API_AUTH__JWT_SECRET": os.environ.get("AIRFLOW__API_AUTH__JWT_SECRET") or secrets.token_urlsafe(32),
        # No scheduled runs in the demo: an unpaused hourly feed would otherwise get a run of its own
        # that holds the demo's run back (one active run per feed).
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(AIRFLOW_SETTINGS_DIR), os.environ.get("PYTHONPATH")])),
        # `airflow standalone` starts its parts as `airflow ...` from the PATH: this environment's.
        "PATH": os.pathsep.join(filter(None, [str(Path(sys.executable).parent), os.environ.get("PATH")])),
    }
    airflow_home.mkdir(parents=True, exist_ok=True)
    _log_to_file(airflow_home / "demo.log")
    say(f"starting Airflow standalone (AIRFLOW_HOME={airflow_home}); its output: {log_path}")
    log = open(log_path, "ab")  # noqa: SIM115 - stays open while Airflow runs
    _refuse_busy_port(port)
    _fail_leftover_runs(f"ledgerlink_{feed_name}", airflow_home)
    _log_to_file(airflow_home / "demo.log")  # importing Airflow set up its own logging again
    # Its own process group: `airflow standalone` starts a scheduler, an API server and workers,
    # and all of them must stop with the demo (terminating only the parent leaves them running).
    proc = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_api(port, proc)
        dag_id = f"ledgerlink_{feed_name}"
        run_id = f"demo__{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S')}"
        _airflow(env, "dags", "reserialize")
        # The run exists before the DAG is unpaused, so it is the one the scheduler starts.
        _airflow(env, "dags", "trigger", dag_id, "--run-id", run_id)
        _airflow(env, "dags", "unpause", dag_id)
        say(f"triggered {dag_id} (run {run_id}); waiting for the run to finish")
        state = _wait_for_run(env, dag_id, run_id)
        ok, text = summary(feed_name, since)
        print(text, flush=True)
        password_file = airflow_home / "simple_auth_manager_passwords.json.generated"
        shown = "localhost" if host == "0.0.0.0" else host  # noqa: S104 - only an address to print
        say(f"DAG run {state}. Airflow UI: http://{shown}:{port}  (user admin, password in {password_file})")
        say("press Ctrl-C to stop Airflow and the SFTP server")
        proc.wait()
        return 0 if state == "success" and ok else 1
    except KeyboardInterrupt:
        return 0
    finally:
        say("stopping Airflow")
        _stop_group(proc)
        log.close()


def _fail_leftover_runs(dag_id: str, airflow_home: Path) -> None:
    """Runs of the demo DAG left queued or running by an earlier demo that was killed would hold
    the new run back (one active run per feed). Airflow is not running yet: close them directly."""
    if not (airflow_home / "airflow.db").exists():
        return
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    unfinished = [TaskInstanceState.QUEUED, TaskInstanceState.RUNNING, TaskInstanceState.SCHEDULED,
                  TaskInstanceState.UP_FOR_RETRY, TaskInstanceState.RESTARTING, TaskInstanceState.DEFERRED]
    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == dag_id,
                                            DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING])).all()
        for run in runs:
            session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id,
                                               TaskInstance.state.in_(unfinished)).update(
                {TaskInstance.state: TaskInstanceState.FAILED}, synchronize_session=False)
            run.state = DagRunState.FAILED
    if runs:
        say(f"marked {len(runs)} unfinished run(s) of {dag_id} left by an earlier demo as failed")


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to every process of Airflow's group, SIGKILL to what is left of it 30 s later. Waits for
    the whole group, not only its first process: a scheduler can outlive the `standalone` that started it."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                proc.wait(timeout=0.5)   # reaps the group's first process once it ends
            except subprocess.TimeoutExpired:
                continue
            if not _group_alive(proc.pid):
                return
            time.sleep(0.5)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies waiting to be reaped do not count)."""
    proc_dir = Path("/proc")
    if not (proc_dir / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, _ppid, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue   # ended while listing
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


def _refuse_busy_port(port: int) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise LedgerlinkError(f"port {port} is already in use (another Airflow still running?): stop it, "
                                  f"or start the demo with --port")


def _airflow(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed: {out.stderr.strip()[-2000:]}")
    return out.stdout


def _wait_for_api(port: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("airflow standalone exited early; see standalone.log in AIRFLOW_HOME")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - fixed local URL
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    raise RuntimeError(f"Airflow did not answer on {url} within {timeout:.0f}s")


def _dag_runs(env: dict[str, str], dag_id: str) -> list[dict[str, Any]]:
    """The DAG's runs, newest first. Airflow's CLI may print warnings on stdout before the JSON."""
    out = _airflow(env, "dags", "list-runs", dag_id, "-o", "json")
    return next((json.loads(line) for line in out.splitlines() if line.startswith("[")), [])


def _wait_for_run(env: dict[str, str], dag_id: str, run_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = next((r for r in _dag_runs(env, dag_id) if r.get("run_id") == run_id), None)
        if run and run.get("state") in ("success", "failed"):
            return str(run["state"])
        time.sleep(3)
    return "timeout"


if __name__ == "__main__":
    sys.exit(main())
