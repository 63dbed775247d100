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
