"""What every ``taskwatch`` command shares: exit codes, the usage error, log levels, and loading a
configuration the way the daemon does.

Exit codes are part of the interface: 0 success; 1 the call or the run failed (an API error, the
network); 2 the invocation is wrong (arguments, JSON, configuration, credentials).
"""

from __future__ import annotations

from taskwatch import logs
from taskwatch.errors import ConfigError, TaskwatchError
from taskwatch.settings import Settings
from taskwatch.supervisor import load_config

__all__ = [
    "DEFAULT_LEVEL",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "LEVELS",
    "LEVEL_HELP",
    "UsageError",
    "configure_logs",
    "load_settings",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(TaskwatchError):
    """The command line is wrong; exit 2."""


LEVELS = ("debug", "info", "warning", "error")
DEFAULT_LEVEL = "warning"
LEVEL_HELP = (
    "debug|info|warning|error (default: the config's logging.level for run and once, else warning)"
)


def load_settings(path: str) -> Settings:
    """The settings, with their policies compiled: a bad rule is a bad config (exit 2)."""
    try:
        settings, _rules = load_config(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return settings


def configure_logs(settings: Settings, override: str | None) -> None:
    """Logging as the configuration says, unless ``--log-level`` says otherwise."""
    fmt = settings.logging.format
    logs.configure(
        level=override or settings.logging.level,
        json=None if fmt == "auto" else fmt == "json",
    )
