"""A real Tryton server (trytond 7.0, SQLite) on 127.0.0.1, for tests, the benchmark and trying things.

    python -m sandbox.tryton.server [--port N]

builds the sandbox if needed (sandbox/tryton/setup.py), copies the seeded database to a scratch
folder, runs trytond in the foreground and prints an Airflow connection URI for it. trytond runs
with the sandbox's fixed date as its today (``today`` in sandbox.ini, see trytond_at.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess  # noqa: S404 - runs the sandbox's own trytond
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from sandbox.tryton import setup as tryton_setup

HOST = "127.0.0.1"
TRYTOND_AT = Path(__file__).resolve().parent / "trytond_at.py"
START_TIMEOUT = 60.0


class TrytonServerError(RuntimeError):
    """trytond could not be started or did not answer."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class TrytonServer:
    """trytond serving the SQLite database in ``db_dir`` (default: a fresh copy of the seeded one).

    Use as a context manager, or call start()/stop(). ``restart()`` keeps the port and the data.
    With ``build=False`` a sandbox that is not built yet is an error (the tests), not a build.
    """

    def __init__(self, db_dir: Path | None = None, workdir: Path | None = None, port: int | None = None,
                 *, build: bool = True) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="ledgerlink-trytond-"))
        self.db_dir = Path(db_dir) if db_dir else self.workdir / "db"
        self.host = HOST
        self.port = port or 0
        sandbox = tryton_setup.settings()
        self.database = sandbox["database"]
        self.login = sandbox["admin_login"]
        self.password = sandbox["admin_password"]
        self.today = sandbox["today"]
        self.build = build
        self.config_path = self.workdir / "trytond.conf"
        self.log_path = self.workdir / "trytond.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def database_file(self) -> Path:
        return tryton_setup.database_file(self.db_dir)

    def connection_uri(self) -> str:
        """An Airflow connection URI (conn type tryton) for AIRFLOW_CONN_<ID>."""
        return (f"tryton://{quote(self.login, safe='')}:{quote(self.password, safe='')}@{self.host}:{self.port}/"
                f"{quote(self.database, safe='')}")

    # ------------------------------------------------------------------------------ life cycle
    def start(self) -> TrytonServer:
        if self._proc is not None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.database_file.exists():
            tryton_setup.copy_database(self.db_dir, build=self.build)
        self.port = self.port or free_port()
        tryton_setup.write_config(self.config_path, db_dir=self.db_dir, port=self.port)
        trytond = tryton_setup.venv_bin("trytond")
        if not trytond.exists():
            raise TrytonServerError(f"{trytond} not found: run {tryton_setup.SETUP_SH} first")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        try:
            self._proc = subprocess.Popen(  # noqa: S603
                [str(tryton_setup.venv_python()), str(TRYTOND_AT), self.today,
                 "-c", str(self.config_path), "--logconf", str(self._logconf())],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        finally:
            log.close()
        self._wait_ready()
        return self

    def _logconf(self) -> Path:
        path = self.workdir / "logging.conf"
        path.write_text(
            "[formatters]\nkeys=simple\n[handlers]\nkeys=console\n[loggers]\nkeys=root\n"
            "[formatter_simple]\nformat=%(asctime)s %(levelname)s %(name)s %(message)s\n"
            "[handler_console]\nclass=StreamHandler\nformatter=simple\nargs=(sys.stderr,)\n"
            "[logger_root]\nlevel=WARNING\nhandlers=console\n",
            encoding="utf-8",
        )
        return path

    def version(self, timeout: float = 2.0) -> str:
        """The server's version through JSON-RPC ``common.server.version`` (the health check)."""
        body = json.dumps({"id": 0, "method": "common.server.version", "params": []}).encode()
        req = urllib.request.Request(  # noqa: S310 - loopback http
            self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback http
            return str(json.loads(resp.read())["result"])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise TrytonServerError(f"trytond exited with code {code} while starting on {self.url}\n"
                                        f"--- {self.log_path} (tail) ---\n{self.log_tail()}")
            try:
                self.version()
                return
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                time.sleep(0.2)
        self.stop()
        raise TrytonServerError(f"trytond did not answer common.server.version on {self.url} within "
                                f"{START_TIMEOUT:.0f} s\n--- {self.log_path} (tail) ---\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def restart(self) -> TrytonServer:
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> TrytonServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------------------ seeding
    def run_seed(self, *args: str) -> str:
        """Run seed.py against this server's database (e.g. ``--touch-invoice NUMBER``)."""
        return tryton_setup.seed(self.db_dir, *args)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # `kill` stops trytond too, not only this process
    parser = argparse.ArgumentParser(description="Run the Tryton sandbox server in the foreground")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    server = TrytonServer(port=args.port)
    try:
        server.start()
    except (TrytonServerError, tryton_setup.TrytonSetupError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"trytond {server.version()} on {server.url} (database {server.database}, log {server.log_path})")
    print(f"AIRFLOW_CONN_LEDGERLINK_TRYTON='{server.connection_uri()}'")
    try:
        while server.running:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
