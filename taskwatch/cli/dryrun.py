"""``--dry-run`` on ``taskwatch run`` and ``taskwatch once``: the flag and what ``once`` prints.

The flag is the operator's way to rehearse a configuration on the real account without editing
it: every ``enforce: true`` is overridden for the life of the process, reloads included. The
override itself is not here: the CLI only passes ``dry_run=True`` to the
:class:`~taskwatch.supervisor.Supervisor`, whose long-lived services apply it to the executor's
rules in one place (:func:`taskwatch.services.effective`), so no path (start, SIGHUP,
``POST /-/reload``) can forget it. The daemon says so itself: a ``dry_run.overriding`` warning
at start and at each reload, the ``taskwatch_dry_run`` gauge, a badge on the status page and
``"dry_run": true`` in ``/readyz``.

Not guaranteed: ``once --dry-run`` beside a process that holds the journal scans only (as
``once`` always does there), so it records no ``would`` either; its mode line still says
dry-run, which is true of what it sent (nothing).
"""

from __future__ import annotations

import argparse

from taskwatch.settings import Settings

HELP = (
    "every policy acts as dry-run in this process, whatever its enforce (reloads included): "
    "decisions are recorded as 'would', nothing is aborted, cancelled or deleted"
)


def add_flag(parser: argparse.ArgumentParser) -> None:
    """``--dry-run`` on ``parser`` (``run`` and ``once``)."""
    parser.add_argument("--dry-run", action="store_true", help=HELP)


def mode_line(settings: Settings) -> str:
    """The line ``once --dry-run`` prints under its table: the mode, and how many enforcing
    policies of the file it overrode."""
    enforcing = sum(1 for p in settings.policies if p.enforce)
    return (
        f"mode: dry-run (--dry-run): {enforcing} enforcing policy(ies) overridden; nothing was "
        "aborted, cancelled or deleted; decisions are recorded as 'would' (taskwatch audit)"
    )
