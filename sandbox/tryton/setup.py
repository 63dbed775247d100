"""Builds the Tryton sandbox: its own virtualenv, a SQLite database with the accounting modules,
seeded with a demo company through Tryton's own API.

    sandbox/tryton/setup.sh            # idempotent: does only what is missing
    sandbox/tryton/setup.sh --force    # rebuild the seeded database

Tryton's dependencies are pinned in ``requirements.txt`` and installed into ``sandbox/tryton/.venv``,
never into ledgerlink's environment. The seeded database is kept as ``data/<database>.sqlite`` next
to a stamp of what built it (requirements, seed script, settings); a run with the same stamp changes
nothing. Tests and the benchmark copy that file and never write to it; the tests never build it
(scripts/test.sh does, before pytest).
"""

from __future__ import annotations

import argparse
import configparser
import fcntl
import hashlib
import os
import shutil
import subprocess  # noqa: S404 - runs the sandbox's own tools
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TRYTON_DIR = Path(__file__).resolve().parent
VENV = TRYTON_DIR / ".venv"
VENV_STAMP = VENV / ".ledgerlink-requirements.sha256"
DATA = TRYTON_DIR / "data"
REQUIREMENTS = TRYTON_DIR / "requirements.txt"
SEED = TRYTON_DIR / "seed.py"
SETTINGS = TRYTON_DIR / "sandbox.ini"
SETUP_SH = TRYTON_DIR / "setup.sh"


class TrytonSetupError(RuntimeError):
    """The sandbox could not be built; the message says which step and shows its output."""


def settings() -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read(SETTINGS, encoding="utf-8")
    return dict(parser["sandbox"])


def venv_python() -> Path:
    return VENV / "bin" / "python"


def venv_bin(name: str) -> Path:
    return VENV / "bin" / name


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _run(step: str, cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 1200,
         show_stderr: bool = False) -> str:
    """Run one step, quietly unless ``show_stderr`` (the step's progress and errors, as they come)."""
    started = time.monotonic()
    print(f"tryton sandbox: {step} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if show_stderr else subprocess.PIPE,  # noqa: S603
                          text=True, env=env, timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + (proc.stderr or "")).splitlines()[-40:])
        shown = " (its errors are above)" if show_stderr else ""
        raise TrytonSetupError(f"tryton sandbox: {step} failed (exit {proc.returncode}){shown}:\n{tail}")
    print(f"tryton sandbox: {step}: done ({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)
    return proc.stdout


@contextmanager
def _locked() -> Iterator[None]:
    """One builder at a time (parallel test sessions, CI and a developer's shell)."""
    DATA.mkdir(parents=True, exist_ok=True)
    with open(DATA / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_venv() -> Path:
    """Create sandbox/tryton/.venv from requirements.txt unless it is already up to date."""
    want = _digest(REQUIREMENTS)
    if venv_python().exists() and VENV_STAMP.exists() and VENV_STAMP.read_text().strip() == want:
        return venv_python()
    if not venv_python().exists():
        _run("create virtualenv", [sys.executable, "-m", "venv", str(VENV)])
    _run("install Tryton (requirements.txt)",
         [str(venv_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)])
    VENV_STAMP.write_text(want + "\n")
    return venv_python()


def write_config(path: Path, *, db_dir: Path, port: int = 8000, session_timeout: int = 600) -> Path:
    """A trytond.conf for a SQLite database folder, listening on 127.0.0.1:port."""
    path.write_text(
        "[database]\n"
        "uri = sqlite://\n"
        f"path = {db_dir}\n"
        "\n[web]\n"
        f"listen = 127.0.0.1:{port}\n"
        "\n[session]\n"
        f"timeout = {session_timeout}\n"
        "max_attempt = 50\n"
        "\n[password]\n"
        "length = 4\n",
        encoding="utf-8",
    )
    return path


def database_file(directory: Path | None = None) -> Path:
    return (directory or DATA) / f"{settings()['database']}.sqlite"


def _stamp() -> str:
    return _digest(REQUIREMENTS, SEED, SETTINGS, Path(__file__))


def _admin_env(workdir: Path) -> dict[str, str]:
    passfile = workdir / "admin.pass"
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(settings()["admin_password"])
    return {**os.environ, "TRYTONPASSFILE": str(passfile)}


def seed(db_dir: Path, *args: str) -> str:
    """Run seed.py (in the Tryton venv) against the database in ``db_dir``; extra args go to it.
    Its progress goes to stderr as it comes."""
    with tempfile.TemporaryDirectory(prefix="ledgerlink-tryton-seed-") as tmp:
        conf = write_config(Path(tmp) / "trytond.conf", db_dir=db_dir)
        return _run(f"seed {' '.join(args) or 'demo company'}",
                    [str(venv_python()), str(SEED), "--config", str(conf), "--database", settings()["database"],
                     "--today", settings()["today"], *args], show_stderr=True)


def build_database(target_dir: Path) -> Path:
    """Create and seed a fresh database in ``target_dir``."""
    ensure_venv()
    name = settings()["database"]
    target_dir.mkdir(parents=True, exist_ok=True)
    db = target_dir / f"{name}.sqlite"
    db.unlink(missing_ok=True)
    db.touch()
    with tempfile.TemporaryDirectory(prefix="ledgerlink-tryton-admin-") as tmp:
        conf = write_config(Path(tmp) / "trytond.conf", db_dir=target_dir)
        _run("trytond-admin --all (create the database, activate the modules)",
             [str(venv_bin("trytond-admin")), "-c", str(conf), "-d", name, "--all",
              "--email", settings()["admin_email"], "-u", "account_invoice", "account_payment", "bank",
              "account_product", "--activate-dependencies"],
             env=_admin_env(Path(tmp)))
    seed(target_dir)
    return db


def built_database() -> Path | None:
    """The seeded database file when it and the virtualenv are built and up to date, else None.
    Builds nothing."""
    db = database_file()
    try:
        up_to_date = (VENV_STAMP.read_text().strip() == _digest(REQUIREMENTS)
                      and (DATA / "seed.stamp").read_text().strip() == _stamp())
    except OSError:
        return None
    return db if up_to_date and venv_python().exists() and db.exists() else None


def ensure_database(force: bool = False) -> Path:
    """The seeded database file under data/, built when missing or out of date."""
    with _locked():
        ensure_venv()
        db, stamp_file = database_file(), DATA / "seed.stamp"
        want = _stamp()
        if not force and db.exists() and stamp_file.exists() and stamp_file.read_text().strip() == want:
            return db
        # Built in memory where there is a tmpfs (SQLite syncs every Tryton transaction to disk).
        scratch = "/dev/shm" if os.access("/dev/shm", os.W_OK) else DATA  # noqa: S108
        build_dir = Path(tempfile.mkdtemp(prefix="ledgerlink-tryton-build-", dir=scratch))
        try:
            built = build_database(build_dir)
            partial = DATA / f".{db.name}.partial"
            shutil.copy2(built, partial)
            os.replace(partial, db)
            stamp_file.write_text(want + "\n")
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
        return db


def copy_database(directory: Path, *, build: bool = True) -> Path:
    """A private copy of the seeded database in ``directory`` (tests and the benchmark write to it).
    With ``build=False`` a database that is not built yet is an error instead of a build."""
    source = ensure_database() if build else built_database()
    if source is None:
        raise TrytonSetupError(f"the Tryton sandbox is not built or out of date: run {SETUP_SH}")
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(source, database_file(directory)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild the seeded database")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"tryton sandbox: building what is missing in {TRYTON_DIR} (a virtualenv with Tryton, a seeded "
          "database): the first build takes a few minutes, later runs reuse it", file=sys.stderr, flush=True)
    try:
        db = ensure_database(force=args.force)
    except TrytonSetupError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"tryton sandbox: {db} ready ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
