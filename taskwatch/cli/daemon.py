"""``taskwatch run`` and ``taskwatch once``: the daemon, for good or for one cycle.

``once`` is what an operator runs by hand or from cron to see the world as the daemon sees it.
Beside a process that holds the journal (a running daemon) it must not act (both would act on
the same tasks), so it then scans only: no policy, a throwaway journal, and a warning saying so.

Not guaranteed: that ``once`` beside a running daemon sees what the daemon will decide; it
applies no policy then.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from taskwatch import logs
from taskwatch.cli import dryrun
from taskwatch.cli.common import EXIT_FAILED, EXIT_OK, configure_logs, load_settings
from taskwatch.cli.tables import policy_line, summary_table

__all__ = ["add_parsers", "run", "run_once"]


def add_parsers(sub: Any) -> None:
    """The ``run`` and ``once`` subcommands, on the CLI's subparsers."""
    run_ = sub.add_parser("run", help="run the daemon until SIGTERM/SIGINT")
    run_.add_argument("--config", "-c", required=True, help="taskwatch YAML configuration")
    dryrun.add_flag(run_)

    once = sub.add_parser(
        "once", help="run one cycle of every source, print a summary, exit 1 if any failed"
    )
    once.add_argument("--config", "-c", required=True, help="taskwatch YAML configuration")
    dryrun.add_flag(once)


async def run(args: argparse.Namespace) -> int:
    """The daemon until SIGTERM or SIGINT."""
    from taskwatch.supervisor import Supervisor

    settings = load_settings(args.config)
    configure_logs(settings, args.log_level)
    await Supervisor(
        settings, config_source=args.config, config_path=args.config, dry_run=args.dry_run
    ).run()
    return EXIT_OK


async def run_once(args: argparse.Namespace) -> int:
    """One cycle of every source. The exit code is the scans': 1 if any failed. With
    ``--dry-run`` every policy acts as dry-run (``would`` in the journal) and a line under the
    table says so; below the table a line says what each policy recorded."""
    from taskwatch.actions.lock import JournalBusyError
    from taskwatch.supervisor import Supervisor

    settings = load_settings(args.config)
    configure_logs(settings, args.log_level)
    daemon = Supervisor(settings, config_source=args.config, dry_run=args.dry_run)
    acted = True
    try:
        reports = await daemon.run_once()
    except JournalBusyError as exc:
        acted = False
        print(
            f"warning: {logs.scrub(str(exc))}. This run scans only and applies no policy;"
            " the process that holds the journal acts.",
            file=sys.stderr,
        )
        with tempfile.TemporaryDirectory(prefix="taskwatch-once-") as scratch:
            scan_only = settings.model_copy(
                update={
                    "policies": (),
                    "state": settings.state.model_copy(update={"path": Path(scratch) / "state.db"}),
                }
            )
            reports = await Supervisor(scan_only, config_source=args.config).run_once()
    print(summary_table(reports))
    if acted and settings.policies:  # what the journal now holds of this run, by policy
        print(policy_line(daemon.metrics))
    if args.dry_run:
        print(dryrun.mode_line(settings))
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED
