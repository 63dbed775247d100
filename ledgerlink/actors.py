"""Who acts, as the audit log records it."""

from __future__ import annotations

import getpass

DEFAULT_ACTOR = "ledgerlink"


def cli_actor() -> str:
    """The operating-system user running a command: ``cli:<user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "cli"
