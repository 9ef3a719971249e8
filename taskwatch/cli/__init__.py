"""The command line: ``taskwatch run|once|check-config|schema|api|audit|emulator|demo``.

``taskwatch.cli:main`` is the console entry point. It is lazy: ``taskwatch --version`` prints the
version and the commit without importing :mod:`taskwatch.cli.main`, which pulls in aiohttp,
pydantic, structlog, the supervisor and (through ``snapshot``) the emulator, about 0.7 s of
imports. Every other invocation imports it on first use and hands the arguments over unchanged.

Only ``--version`` as the *first* argument takes the short path (what argparse would do for it,
exit status 0 included); ``taskwatch --log-level info --version`` goes through the full parser,
with the same output, only slower.

Not guaranteed: that nothing heavy is imported once any other command runs.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script (see :func:`taskwatch.cli.main.main`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--version"]:
        from taskwatch.buildinfo import version_line

        sys.stdout.write(version_line() + "\n")  # stdout, as argparse's own version action
        sys.stdout.flush()
        raise SystemExit(0)  # as argparse's version action: callers see the same thing
    from taskwatch.cli.main import main as run

    return run(argv)


class _Package(types.ModuleType):
    """Keeps ``taskwatch.cli.main`` naming the entry function, as it did when it was imported
    eagerly: importing the submodule ``taskwatch.cli.main`` would otherwise rebind the package's
    ``main`` attribute to the module, and ``from taskwatch.cli import main`` would then return a
    module, depending on which import ran first."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "main" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = ["main"]
