"""`ledgerlink ...` command line: work on mappings, inspect the store, run feeds and the demo.

Each command group lives beside the code it drives and exposes ``register(subparsers)``;
this module only assembles them. Exit codes: 0 success, 1 findings (validation errors,
failed checks), 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys

from ledgerlink.config import apply_airflow_defaults, project_root
from ledgerlink.errors import LedgerlinkError

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledgerlink", description="ERP integration hub for finance teams")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_GROUPS:
        importlib.import_module(module_name).register(sub)
    register_demo(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    apply_airflow_defaults()
    try:
        if argv[:1] == ["demo"]:
            return run_demo(argv[1:])
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except LedgerlinkError as exc:
        print(f"ledgerlink: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ledgerlink ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
