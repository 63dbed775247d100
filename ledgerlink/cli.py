"""`ledgerlink` command line: work on mappings, inspect the store, run the demo.

Each command group lives beside the code it drives and exposes ``register(subparsers)``;
this module only assembles them. Exit codes: 0 success, 1 findings (validation errors,
failed checks), 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import sys

from ledgerlink.errors import LedgerlinkError

# (module, attribute) of each command group's register function, in help order.
COMMAND_GROUPS = (
    "ledgerlink.mapping.cli",
    "ledgerlink.pipeline.cli",
    "ledgerlink.bank.cli",
    "ledgerlink.financing.cli",
    "ledgerlink.einvoice.cli",
    "ledgerlink.erp.cli",
    "ledgerlink.airflow.demo",
)


def cli_actor() -> str:
    """Who is acting, for the audit log: the operating-system user running the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "cli"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ledgerlink", description="ERP integration hub for finance teams")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_GROUPS:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LedgerlinkError as exc:
        print(f"ledgerlink: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ledgerlink ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
