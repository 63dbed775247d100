"""Error types shown to users. Each message says what went wrong and where."""


class LedgerlinkError(Exception):
    """Base class: the message is complete and safe to show (no secrets)."""


class ConfigError(LedgerlinkError):
    """A configuration file or setting is invalid."""


class TransportError(LedgerlinkError):
    """A file source (SFTP server, folder) could not be reached or read."""


class StoreError(LedgerlinkError):
    """The canonical store refused an operation."""


class ControlTotalsError(LedgerlinkError):
    """A run's control totals do not add up: read != loaded + quarantined + filtered."""


def yaml_problem(exc: Exception) -> tuple[int, str]:
    """The 1-based line and the short reason of a PyYAML error (0 when it has no position)."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else 0
    return line, str(getattr(exc, "problem", None) or exc).strip()


def one_line(message: str) -> str:
    """A message of several lines (a list of problems) as one line for a terminal's error line."""
    return "; ".join(part.strip() for part in message.splitlines() if part.strip())
