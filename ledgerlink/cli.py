"""`ledgerlink ...` command line: work on mappings, inspect the store, run feeds and the demo.

Each command group lives beside the code it drives and exposes ``register(subparsers)``;
this module only assembles them. Exit codes: 0 success, 1 findings (validation errors,
failed checks), 2 bad input or usage. A failure ends in one line on stderr, never a traceback;
``--debug`` (or ``LEDGERLINK_DEBUG=1``) shows the traceback as well.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import traceback
from typing import NoReturn

from ledgerlink.config import apply_airflow_defaults, project_root
from ledgerlink.errors import LedgerlinkError, one_line
from ledgerlink.redact import error_text

DEBUG_ENV = "LEDGERLINK_DEBUG"

# Modules with a command group's ``register`` function, in help order.
COMMAND_GROUPS = (
    "ledgerlink.mapping.cli",
    "ledgerlink.pipeline.cli",
    "ledgerlink.bank.cli",
    "ledgerlink.financing.cli",
    "ledgerlink.einvoice.cli",
    "ledgerlink.erp.cli",
    "ledgerlink.cashapp.cli",
    "ledgerlink.payments.cli",
    "ledgerlink.payments.reconcile_cli",
)


def register_demo(sub: argparse._SubParsersAction) -> None:
    # Listed for --help only: main() hands `ledgerlink demo ...` to the demo with its options untouched.
    sub.add_parser("demo", help="run the main job on embedded defaults (from a source checkout; demo --help)")


def run_demo(demo_args: list[str]) -> int:
    """The demo and its stand-in servers live in the checkout's sandbox/, not in the installed package."""
    root = project_root()
    if root is None or not (root / "sandbox" / "demo.py").is_file():
        raise LedgerlinkError("the demo needs a ledgerlink source checkout (its sandbox/ folder): run "
                              "scripts/demo.sh there, or set LEDGERLINK_ROOT to the checkout")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    if os.name != "posix":
        return subprocess.call([sys.executable, "-m", "sandbox.demo", *demo_args], cwd=root, env=env)
    # The demo takes this process's place (same pid): Ctrl-C and SIGTERM reach it directly, and it
    # stops everything it started.
    os.chdir(root)
    os.execve(sys.executable, [sys.executable, "-m", "sandbox.demo", *demo_args], env)  # noqa: S606 - fixed argv


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (``ledgerlink run: error: ...``), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ledgerlink", description="ERP integration hub for finance teams")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of a failure (or set {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_GROUPS:
        importlib.import_module(module_name).register(sub)
    register_demo(sub)
    return parser


def failure_line(exc: BaseException) -> str:
    """The one line a failed command ends with: ledgerlink's own messages as written (they name the
    file, row and rule); a file the system could not open with its name; anything else with its type."""
    if isinstance(exc, OSError) and exc.filename is not None and not isinstance(exc, LedgerlinkError):
        text = f"{exc.filename}: {exc.strerror or exc}"
    elif isinstance(exc, LedgerlinkError | ValueError):  # parsers' input errors (a bank file, an amount)
        text = str(exc) or type(exc).__name__
    else:
        text = error_text(exc)
    return f"ledgerlink: {one_line(text)}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes")
    if argv[:1] == ["--debug"]:
        debug, argv = True, argv[1:]
    apply_airflow_defaults()
    try:
        if argv[:1] == ["demo"]:
            return run_demo(argv[1:])
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help (0) or a usage error (2), its line already printed
            return exc.code if isinstance(exc.code, int) else 2
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `ledgerlink ... | head`
        return 0
    except KeyboardInterrupt:
        print("ledgerlink: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        sys.stdout.flush()
        if debug:
            traceback.print_exc()
        line = failure_line(exc)
        if not debug and not isinstance(exc, LedgerlinkError | OSError | ValueError):
            line += " (unexpected: ledgerlink --debug shows its traceback)"
        print(line, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
