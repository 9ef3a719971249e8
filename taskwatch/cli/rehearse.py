"""``taskwatch rehearse``: what the policies would do over the next hours, in seconds.

Why: dry-run shows what a policy would do *now*; the first ``enforce: true`` needs what it does
over the next hours, in what order the caps let it through, and to tasks that do not exist yet. A
rehearsal runs the daemon (see :mod:`taskwatch.cli.rehearsal.driver`) against the emulator serving
a scenario (``taskwatch snapshot`` writes one from an account; ``docs/emulator-scenarios.md``
says how to write one), on virtual time, and prints one line per decision: when (from the start),
which policy, which task, what action, what became of it (``done``, ``skipped_cap``, ``fenced``,
``already_done``, ``failed``, ``unknown``; ``would`` for a dry-run policy with
``--as-configured``). Every policy is treated as enforcing unless ``--as-configured``.

Safe to run anywhere: the configuration's credentials are never read (the scenario's fake keys
are used), nothing but the in-process emulator is called, and the configured journal is not
touched (a temporary one is used and removed).

Not guaranteed: the real API's timing and failures (only the faults the scenario injects), and
what other accounts of the configuration would see (one account is rehearsed: ``--account``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from taskwatch import logs
from taskwatch.cli.audit import iso
from taskwatch.cli.tables import aligned
from taskwatch.durations import format_duration, parse_duration
from taskwatch.errors import ConfigError

if TYPE_CHECKING:  # the driver starts the emulator: imported when a rehearsal runs
    from taskwatch.cli.rehearsal.driver import Rehearsal, Row

__all__ = ["add_parser", "format_table", "run", "to_json"]

EXIT_OK, EXIT_USAGE = 0, 2
COLUMNS = ("AT", "POLICY", "PRODUCT", "ACCOUNT/REGION", "TASK", "ACTION", "RESULT", "CODE")
MAX_SECONDS = 30 * 86400.0
"""The longest rehearsal (``--for``): a month of virtual time."""


def add_parser(sub: Any) -> None:
    """The ``rehearse`` subcommand, on the CLI's subparsers."""
    cmd = sub.add_parser(
        "rehearse",
        help="run the daemon against an emulated scenario on virtual time; list its decisions",
        description=(
            "Runs taskwatch's own loops, policies, caps and journal against the emulator serving "
            "SCENARIO, hours of virtual time in seconds, and lists what would be aborted, "
            "cancelled or deleted, when, by which policy, and what the caps held back. Every "
            "policy is treated as enforcing unless --as-configured. The configuration's "
            "credentials and journal are never used."
        ),
    )
    cmd.add_argument("--config", "-c", required=True, help="taskwatch YAML configuration")
    cmd.add_argument("--scenario", required=True, help="emulator scenario (YAML or JSON)")
    cmd.add_argument(
        "--for", dest="duration", default="1h", help="virtual time to run (default: 1h)"
    )
    cmd.add_argument("--json", action="store_true", help="a JSON list, one object per decision")
    cmd.add_argument(
        "--as-configured",
        action="store_true",
        help="keep each policy's enforce (dry-run ones record 'would') and actions.paused",
    )
    cmd.add_argument("--account", help="the account to rehearse (default: the first)")
    cmd.add_argument("--seed", type=int, default=0, help="seed of the daemon's jitter")


def run(args: argparse.Namespace) -> int:
    """Rehearse as ``args`` say; print the decisions. 2 on a bad configuration, scenario or
    option (one line on stderr), 0 otherwise."""
    from taskwatch.cli.rehearsal.driver import rehearse
    from taskwatch.emulator.scenario import ScenarioError, load_scenario
    from taskwatch.runtime import load_config

    try:
        seconds = parse_duration(args.duration)
        if not 0 < seconds <= MAX_SECONDS:
            raise ValueError(f"must be more than 0 and at most {format_duration(MAX_SECONDS)}")
    except ValueError as exc:
        return _usage(f"--for: {exc}")
    try:
        settings, _rules = load_config(args.config)
        scenario = load_scenario(args.scenario)
    except (ConfigError, ScenarioError) as exc:
        return _usage(str(exc))
    if getattr(args, "log_level", "warning") == "warning":  # not asked for: keep stderr quiet:
        logs.configure(level="critical")  # the daemon's "action" lines would read as real ones
    start = scenario.start or datetime.now(UTC).replace(microsecond=0)
    began = time.perf_counter()
    try:
        result = rehearse(
            settings, scenario, seconds=seconds, start=start, seed=args.seed,
            account=args.account, as_configured=args.as_configured, source=args.config,
        )  # fmt: skip
    except ConfigError as exc:
        return _usage(str(exc))
    wall = time.perf_counter() - began
    summary = summarize(result, wall=wall, as_configured=args.as_configured)
    if args.json:
        print(to_json(result.rows))
        print(summary, file=sys.stderr)
    else:
        print(summary)
        if result.rows:
            print(format_table(result.rows))
    return EXIT_OK


def summarize(result: Rehearsal, *, wall: float, as_configured: bool) -> str:
    """Two lines: what was rehearsed and what it cost, then the decisions by result."""
    mode = "policies as configured" if as_configured else "every policy enforcing"
    head = (
        f"rehearsed {format_duration(result.seconds)} from {iso(result.start.timestamp())} "
        f"({mode}) in {wall:.1f} s: {len(result.sources)} sources, {result.cycles} cycles, "
        f"{result.api_calls} API calls, {result.failed_cycles} failed cycles"
    )
    counts = Counter(r.result for r in result.rows)
    found = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to act on"
    return f"{head}\n{len(result.rows)} decisions: {found}"


def format_table(rows: list[Row]) -> str:
    """Aligned columns, one decision a line, under a header."""
    return "\n".join(aligned([COLUMNS, *(_cells(r) for r in rows)]))


def to_json(rows: list[Row]) -> str:
    """A JSON list, one object per decision; ``at`` in seconds from the start."""
    return json.dumps([_object(r) for r in rows], indent=2, ensure_ascii=False)


def offset(seconds: float) -> str:
    """``+H:MM:SS`` from the start of the rehearsal."""
    whole = int(seconds)
    return f"+{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _cells(row: Row) -> tuple[str, ...]:
    values = (offset(row.at), row.policy, row.product, f"{row.account}/{row.region}",
              row.task_id, row.action, row.result, row.code or "-")  # fmt: skip
    return tuple("".join(c if c.isprintable() else "?" for c in v) for v in values)


def _object(row: Row) -> dict[str, Any]:
    return {
        "at": round(row.at, 3),
        "policy": row.policy,
        "product": row.product,
        "account": row.account,
        "region": row.region,
        "task_id": row.task_id,
        "action": row.action,
        "mode": row.mode,
        "result": row.result,
        "code": row.code,
    }


def _usage(message: str) -> int:
    print(f"error: {logs.scrub(message)}", file=sys.stderr)
    return EXIT_USAGE
