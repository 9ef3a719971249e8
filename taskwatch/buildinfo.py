"""Which build this is: the version and the git commit it was built from.

``taskwatch --version`` prints both, so a running daemon can be traced back to its source. The
commit is baked into the package when it is built: ``setup.py`` loads this file by path (it
imports nothing of taskwatch at module level, so the build needs none of the dependencies) and
writes ``taskwatch/_build_info.py`` into the wheel and into the sdist's tree, so a wheel built
from the sdist, where there is no ``.git``, keeps the commit. Where it comes from, first match:

1. ``TASKWATCH_BUILD_COMMIT`` in the build's environment (the container build passes its
   ``REVISION`` build-arg: the image's context leaves ``.git`` out);
2. the git checkout being built (``git rev-parse HEAD``; ``-dirty`` when tracked files differ);
3. the ``_build_info.py`` already in the tree being built (an unpacked sdist).

At run time without a baked file (an editable install, a checkout on ``sys.path``) the commit is
read from the checkout the code is in. Not guaranteed: that a ``-dirty`` build can be rebuilt
exactly; that the commit exists in any remote; ``unknown`` when none of the sources answers.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

COMMIT_ENV = "TASKWATCH_BUILD_COMMIT"
"""The build's environment variable naming the commit (7 to 40 hex digits, optional -dirty)."""
UNKNOWN = "unknown"
MODULE = "taskwatch._build_info"
FILENAME = "_build_info.py"
_COMMIT = re.compile(r"[0-9a-f]{7,40}(-dirty)?")
_GIT_TIMEOUT = 5.0


class BuildInfoError(ValueError):
    """The commit given to the build is malformed: the build stops rather than bake it."""


def checked(value: str, origin: str) -> str:
    """``value`` if it looks like a commit, else a :class:`BuildInfoError` naming ``origin``."""
    commit = value.strip().lower()
    if not _COMMIT.fullmatch(commit):
        raise BuildInfoError(
            f"{origin}: {value[:60]!r} is not a git commit (7 to 40 hex digits, optional -dirty)"
        )
    return commit


def git_commit(root: Path) -> str | None:
    """HEAD of the checkout at ``root`` (``-dirty`` if tracked files changed), or None.

    None when ``root`` is not a checkout or git is missing, slow or fails: a build or a
    ``--version`` never fails because of git.
    """
    if not (root / ".git").exists():
        return None
    try:
        head = _git(root, "rev-parse", "HEAD")
        changed = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    if not _COMMIT.fullmatch(head):
        return None
    return f"{head}-dirty" if changed else head


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        ["git", "-C", str(root), *args],  # noqa: S607 - git from PATH, as a developer runs it
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT,
        check=True,
    )
    return done.stdout.strip()


def build_commit(root: Path, environ: dict[str, str] | None = None) -> str:
    """The commit a build at ``root`` bakes in (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    given = env.get(COMMIT_ENV, "").strip()
    if given:
        return checked(given, COMMIT_ENV)
    from_git = git_commit(root)
    if from_git is not None:
        return from_git
    baked = root / "taskwatch" / FILENAME
    if baked.is_file():
        match = re.search(r'^COMMIT = "([^"]*)"$', baked.read_text(encoding="utf-8"), re.M)
        if match:
            return checked(match.group(1), str(baked))
    return UNKNOWN


def render(commit: str) -> str:
    """The text of ``taskwatch/_build_info.py`` for ``commit``."""
    if commit != UNKNOWN:
        commit = checked(commit, "commit")
    return (
        '"""Generated when taskwatch was built (see taskwatch/buildinfo.py): do not edit."""\n'
        "\n"
        f'COMMIT = "{commit}"\n'
    )


def commit() -> str:
    """The commit this code was built from, or read from its checkout, or ``unknown``."""
    try:
        module: Any = importlib.import_module(MODULE)
    except ImportError:
        return git_commit(Path(__file__).resolve().parent.parent) or UNKNOWN
    value = getattr(module, "COMMIT", UNKNOWN)
    return value if isinstance(value, str) and value else UNKNOWN


def version_line() -> str:
    """What ``taskwatch --version`` prints: ``taskwatch <version> (commit <commit>)``."""
    from taskwatch import __version__

    return f"taskwatch {__version__} (commit {commit()})"


class VersionAction(argparse.Action):
    """``--version`` that looks the commit up only when asked (git is not run on every start)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print the version and the commit, then exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        sys.stdout.write(version_line() + "\n")  # stdout, as argparse's own version action
        sys.stdout.flush()
        parser.exit()
