"""`ledgerlink demo`: the main job on embedded defaults.

Starts the SFTP source (a real OpenSSH sshd on loopback; a local folder when no sshd is
installed, and says so), drops a generated Dutch AP export with a few bad rows, runs the
feed's DAG for real and prints what was loaded and quarantined, and why.

  ledgerlink demo          starts `airflow standalone` (UI + scheduler), triggers the DAG,
                           prints the UI address and password file, keeps running until Ctrl-C
  ledgerlink demo --once   headless: one DAG run in-process (dag.test), exit 0 only on success
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from ledgerlink.config import ledgerlink_home

SFTP_CONN_ID = "ledgerlink_sftp_invoices"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on embedded defaults (Airflow, SFTP, SQLite)")
    p.add_argument("--once", action="store_true", help="headless: one DAG run, exit 0 only when it succeeded")
    p.add_argument("--rows", type=int, default=500, help="rows in the generated export (default 500)")
    p.add_argument("--bad-share", type=float, default=0.02, help="share of bad rows (default 0.02)")
    p.add_argument("--port", type=int, default=8080, help="Airflow UI port (default 8080)")
    p.set_defaults(func=run)


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
            return run_standalone(feed, since, args.port)
        good, text = summary(feed, since)
        print(text, flush=True)
        say("succeeded" if ok and good else "FAILED")
        return 0 if ok and good else 1
    finally:
        if server is not None and args.once:
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


def run_standalone(feed_name: str, since: str, port: int) -> int:
    airflow_home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    env = {**os.environ, "AIRFLOW__API__PORT": str(port)}
    say(f"starting Airflow standalone (AIRFLOW_HOME={airflow_home}); its log: {airflow_home / 'standalone.log'}")
    airflow_home.mkdir(parents=True, exist_ok=True)
    log = open(airflow_home / "standalone.log", "ab")  # noqa: SIM115 - stays open while Airflow runs
    proc = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env, stdout=log, stderr=log)
    try:
        _wait_for_api(port, proc)
        dag_id = f"ledgerlink_{feed_name}"
        _airflow(env, "dags", "reserialize")
        _airflow(env, "dags", "unpause", dag_id)
        _airflow(env, "dags", "trigger", dag_id)
        say(f"triggered {dag_id}; waiting for the run to finish")
        state = _wait_for_run(env, dag_id)
        ok, text = summary(feed_name, since)
        print(text, flush=True)
        password_file = airflow_home / "simple_auth_manager_passwords.json.generated"
        say(f"DAG run {state}. Airflow UI: http://localhost:{port}  (user admin, password in {password_file})")
        say("press Ctrl-C to stop Airflow and the SFTP server")
        proc.wait()
        return 0 if state == "success" and ok else 1
    except KeyboardInterrupt:
        return 0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _airflow(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed: {out.stderr.strip()[-2000:]}")
    return out.stdout


def _wait_for_api(port: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://localhost:{port}/api/v2/monitor/health"
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


def _wait_for_run(env: dict[str, str], dag_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = json.loads(_airflow(env, "dags", "list-runs", dag_id, "-o", "json") or "[]")
        if runs and runs[0].get("state") in ("success", "failed"):
            return str(runs[0]["state"])
        time.sleep(3)
    return "timeout"
