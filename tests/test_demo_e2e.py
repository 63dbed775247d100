"""`ledgerlink demo` with its UI, end to end: a real `airflow standalone`, the demo's own DAG run
succeeds and its summary is printed after a few lines, the UI listens on loopback only, and SIGTERM
stops every process the demo started. The demo is the session's shared one (tests/fixtures/demo.py, also
used by tests/test_console_browser.py); the SIGTERM test runs last.

Takes about 1 GB of memory and a few minutes; the time limits below are safety nets, not speed checks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.sftp_server import sshd_available
from tests.fixtures.demo import DemoServer

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.airflow]

ROOT = Path(__file__).resolve().parent.parent


def stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: [state, ppid, pgrp, session, ...]; None once gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def started_by(root_pid: int) -> set[int]:
    """Every process below ``root_pid``, and every process in a session one of them leads (catches
    processes that were re-parented)."""
    table = {pid: f for pid in all_pids() if (f := stat_fields(pid)) is not None}
    found, frontier = set(), {root_pid}
    while frontier:
        children = {pid for pid, f in table.items() if int(f[1]) in frontier} - found
        found |= children
        frontier = children
    sessions = {pid for pid in found if int(table[pid][3]) == pid}
    found |= {pid for pid, f in table.items() if int(f[3]) in sessions}
    return found


def alive(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* shows them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            address, _, hex_port = cols[1].partition(":")
            if int(hex_port, 16) == port and cols[3] == "0A":
                found.add(address)
    return found


@pytest.mark.stops_demo
@pytest.mark.timeout(1500)  # may be the first test to use the shared demo, which takes minutes to start
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc to see processes and sockets")
def test_the_ui_demo_reaches_its_summary_and_sigterm_stops_everything(demo_server: DemoServer) -> None:
    """On the session's shared demo (tests/fixtures/demo.py), which this test stops: it runs last."""
    demo, lines, port = demo_server.proc, demo_server.lines, demo_server.port
    assert demo.poll() is None, demo_server.output
    output = demo_server.output
    print(output)
    summary_at = next(i for i, line in enumerate(lines) if line.startswith("run ") and " succeeded: " in line)
    assert summary_at < 20, output
    assert "DAG run success." in output and "audit chain: intact" in output, output
    log_line = next(line for line in lines if "its output: " in line)
    assert Path(log_line.split("its output: ")[1].strip()).stat().st_size > 0
    assert listening_addresses(port) == {"0100007F"}, "the UI must listen on 127.0.0.1 only"

    started = started_by(demo.pid)
    assert len(started) >= 4, started  # airflow standalone and its scheduler, API server, ...
    demo.send_signal(signal.SIGTERM)
    assert demo.wait(timeout=180) in (0, 130), demo_server.output
    deadline = time.monotonic() + 30  # the kernel reaps the last of them
    while any(alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = sorted(pid for pid in started if alive(pid))
    assert not left, [(pid, Path(f"/proc/{pid}/cmdline").read_bytes()[:120]) for pid in left]
    assert not listening_addresses(port)
    if sshd_available():
        assert "SFTP server (OpenSSH sshd)" in output


def test_the_demo_airflow_retries_failed_tasks_after_seconds(tmp_path) -> None:
    """Airflow itself picks up the demo's task policy (sandbox/demo_airflow) when parsing the feed DAGs."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW_CONFIG": str(ROOT / "airflow.cfg"),
           "LEDGERLINK_ROOT": str(ROOT), "LEDGERLINK_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "sandbox" / "demo_airflow"), str(ROOT)])}
    script = ("from airflow.dag_processing.dagbag import DagBag\n"
              f"bag = DagBag({str(ROOT / 'dags' / 'ledgerlink_feeds.py')!r})\n"
              "dag = bag.dags['ledgerlink_invoices_nl_sftp']\n"
              "print('DELAYS', sorted({int(t.retry_delay.total_seconds()) for t in dag.tasks}))\n")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert "DELAYS [10]" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]


def test_the_demo_ui_listens_on_loopback_unless_told_otherwise(monkeypatch) -> None:
    from sandbox.demo import parse_args

    monkeypatch.delenv("LEDGERLINK_DEMO_HOST", raising=False)
    assert parse_args([]).host == "127.0.0.1"
    monkeypatch.setenv("LEDGERLINK_DEMO_HOST", "192.0.2.7")
    assert parse_args([]).host == "192.0.2.7"
    assert parse_args(["--host", "192.0.2.10"]).host == "192.0.2.10"
