"""The ``taskwatch`` command: the parser, the dispatch, and the mapping of errors to exit codes.

Each command lives in its own module with ``add_parser(s)`` and ``run``; this module only
assembles them. Exit codes are part of the interface (:mod:`taskwatch.cli.common`): 0 success;
1 the call or the run failed (an API error, the network); 2 the invocation is wrong (arguments,
JSON, configuration, credentials). Errors are one line on stderr, never a traceback, never a
secret.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from taskwatch import buildinfo, logs
from taskwatch.cli import (
    apicall,
    checkconfig,
    daemon,
    emulate,
    policytest,
    rehearse,
    snapshot,
    switch,
)
from taskwatch.cli.common import (
    DEFAULT_LEVEL,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    LEVEL_HELP,
    LEVELS,
    UsageError,
    configure_logs,
    load_settings,
)
from taskwatch.errors import CredentialError, TaskwatchError
from taskwatch.settings import State
from taskwatch.tencent.errors import ApiError

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "UsageError", "configure_logs", "main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskwatch",
        description="Watch Tencent Cloud MPS, DLC and Live tasks; stop runaway ones safely.",
    )
    parser.add_argument("--version", action=buildinfo.VersionAction)
    parser.add_argument("--log-level", default=None, choices=LEVELS, help=LEVEL_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    apicall.add_parser(sub)  # api
    emulate.add_parser(sub)  # emulator
    daemon.add_parsers(sub)  # run, once
    checkconfig.add_parsers(sub)  # check-config, schema

    audit = sub.add_parser("audit", help="list recent actions from the journal")
    audit.add_argument(
        "--config", "-c", help="taskwatch YAML configuration (its state: path or url)"
    )
    audit.add_argument("--state", help="a SQLite journal file (default: the state of --config)")
    audit.add_argument("--since", default="1h", help="how far back, e.g. 1h, 2d (default: 1h)")
    audit.add_argument("--json", action="store_true", help="a JSON array instead of a table")

    switch.add_parsers(sub)  # pause, resume, switch
    policytest.add_parser(sub)  # test
    rehearse.add_parser(sub)  # rehearse
    snapshot.add_parser(sub)  # snapshot

    demo = sub.add_parser(
        "demo",
        help="run the emulator and the daemon together, with a live summary",
        description=(
            "Starts the emulator with a scenario and the daemon with a configuration pointed at "
            "it, in one process; prints the URLs and a short summary every few seconds."
        ),
    )
    demo.add_argument("--config", default="config/demo.yaml")
    demo.add_argument("--scenario", default="config/emulator/demo.yaml")
    demo.add_argument("--duration", type=float, default=None, help="seconds (default: forever)")
    demo.add_argument("--every", type=float, default=5.0, help="seconds between summaries")
    for command in sub.choices.values():  # a global option, before or after the command
        command.add_argument(
            "--log-level", default=argparse.SUPPRESS, choices=LEVELS, help=LEVEL_HELP
        )
    return parser


def _audit(args: argparse.Namespace) -> int:
    from taskwatch.cli.audit import parse_since, run_audit
    from taskwatch.clock import SystemClock

    journal_at: State | str
    if args.state:
        journal_at = args.state
    elif args.config:
        journal_at = load_settings(args.config).state  # SQLite at state.path, or PG at state.url
    else:
        raise UsageError("audit: give --config FILE or --state PATH")
    try:
        since = parse_since(args.since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    print(run_audit(journal_at, since=since, as_json=args.json, clock=SystemClock()))
    return EXIT_OK


def _switch(args: argparse.Namespace) -> int:
    from taskwatch.clock import SystemClock

    state = load_settings(args.config).state  # SQLite at state.path, or PostgreSQL at state.url
    print(switch.run_switch(state, clock=SystemClock(), **switch.parse(args)))
    return EXIT_OK


async def _demo(args: argparse.Namespace) -> int:
    from taskwatch.cli.demo import run_demo

    settings = load_settings(args.config)
    logs.configure(level=args.log_level or DEFAULT_LEVEL)
    return await run_demo(
        settings, scenario_path=args.scenario, duration=args.duration, every=args.every
    )


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "api": lambda a: asyncio.run(apicall.run(a)),
    "emulator": lambda a: asyncio.run(emulate.run(a)),
    "run": lambda a: asyncio.run(daemon.run(a)),
    "once": lambda a: asyncio.run(daemon.run_once(a)),
    "check-config": checkconfig.run,
    "schema": checkconfig.run_schema,
    "audit": _audit,
    "pause": _switch,
    "resume": _switch,
    "switch": _switch,
    "test": policytest.run,
    "rehearse": rehearse.run,
    "snapshot": snapshot.run,
    "demo": lambda a: asyncio.run(_demo(a)),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    logs.configure(level=args.log_level or DEFAULT_LEVEL)
    command = _COMMANDS[args.command]
    try:
        return command(args)
    except ApiError as exc:
        print(
            f"error: {exc.code}: {logs.scrub(exc.message)}\nRequestId: {exc.request_id}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except (UsageError, CredentialError) as exc:
        print(f"error: {logs.scrub(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except TaskwatchError as exc:
        print(f"error: {logs.scrub(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `taskwatch schema | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
