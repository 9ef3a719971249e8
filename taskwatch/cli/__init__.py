"""The command line: ``taskwatch run|once|check-config|schema|api|audit|emulator|demo``.

``taskwatch.cli:main`` is the console entry point."""

from taskwatch.cli.main import main

__all__ = ["main"]
