"""The ``taskwatch`` command.

Exit codes are part of the interface: 0 success; 1 the call or the run failed (an API error, the
network); 2 the invocation is wrong (arguments, JSON, configuration, credentials). Errors are one
line on stderr, never a traceback, never a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from taskwatch import buildinfo, logs
from taskwatch.cli import dryrun, policytest, rehearse, snapshot, switch
from taskwatch.cli.tables import policy_line, summary_table
from taskwatch.errors import ConfigError, CredentialError, TaskwatchError
from taskwatch.limiter import Limiter
from taskwatch.settings import Settings, State, json_schema
from taskwatch.supervisor import load_config
from taskwatch.tencent import catalog
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import from_config
from taskwatch.tencent.endpoints import DEFAULT_ROOT_DOMAIN, INTL_ROOT_DOMAIN, EndpointPolicy
from taskwatch.tencent.errors import ApiError
from taskwatch.tencent.transport import Timeouts, Transport

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ACTIONS = catalog.action_names()
"""What ``api.limits`` keys may name: a typo there is a config error, not a silent no-op."""


class UsageError(TaskwatchError):
    """The command line is wrong; exit 2."""


LEVELS = ("debug", "info", "warning", "error")
DEFAULT_LEVEL = "warning"
LEVEL_HELP = (
    "debug|info|warning|error (default: the config's logging.level for run and once, else warning)"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskwatch",
        description="Watch Tencent Cloud MPS, DLC and Live tasks; stop runaway ones safely.",
    )
    parser.add_argument("--version", action=buildinfo.VersionAction)
    parser.add_argument("--log-level", default=None, choices=LEVELS, help=LEVEL_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    api = sub.add_parser(
        "api",
        help="make one signed API call and print the response JSON",
        description=(
            "One signed call through taskwatch's client and rate limiter. Use it to check "
            "credentials, permissions and endpoints before starting the daemon."
        ),
    )
    api.add_argument("product", choices=sorted(catalog.PRODUCTS), help="mps, dlc or live")
    api.add_argument("action", help="API action, e.g. DescribeTasks")
    api.add_argument("params", nargs="?", default="{}", help="request parameters as JSON object")
    api.add_argument("--region", help="X-TC-Region, e.g. ap-guangzhou (required for dlc, live)")
    api.add_argument("--endpoint", help="full endpoint override, e.g. http://127.0.0.1:9460")
    api.add_argument("--method", choices=("POST", "GET"), default="POST")
    api.add_argument(
        "--intl", action="store_true", help=f"use the international domain {INTL_ROOT_DOMAIN}"
    )
    api.add_argument(
        "--regional", action="store_true", help="use <product>.<region>.<domain> hosts"
    )
    api.add_argument(
        "--credentials",
        choices=("env", "profile", "directory"),
        default="env",
        help="where the SecretId/SecretKey come from (default: env)",
    )
    api.add_argument("--credentials-path", help="profile file or credentials directory")
    api.add_argument("--profile", default="default", help="profile section (default: default)")
    api.add_argument(
        "--budget", type=float, default=1.0, help="share of the documented rate limit to use"
    )
    api.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole call")
    api.add_argument("--language", choices=("en-US", "zh-CN"), default="en-US")

    emu = sub.add_parser(
        "emulator",
        help="serve the Tencent Cloud emulator (MPS, DLC, Live) until interrupted",
        description=(
            "A local, faithful emulator of the task APIs taskwatch uses, for rehearsing "
            "policies and for tests. Prints the endpoint and the credentials it accepts."
        ),
    )
    emu.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    emu.add_argument("--port", type=int, default=9460, help="port (default: 9460; 0 = any)")
    emu.add_argument("--scenario", help="scenario YAML (default: a small built-in world)")

    run = sub.add_parser("run", help="run the daemon until SIGTERM/SIGINT")
    run.add_argument("--config", "-c", required=True, help="taskwatch YAML configuration")
    dryrun.add_flag(run)

    once = sub.add_parser(
        "once", help="run one cycle of every source, print a summary, exit 1 if any failed"
    )
    once.add_argument("--config", "-c", required=True, help="taskwatch YAML configuration")
    dryrun.add_flag(once)

    check = sub.add_parser("check-config", help="validate a configuration file and exit")
    check.add_argument("--config", "-c", required=True, help="taskwatch YAML configuration")

    sub.add_parser("schema", help="print the configuration's JSON Schema (for editors)")

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


def _parse_params(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"params: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError('params: must be a JSON object, e.g. \'{"Status": "WAITING"}\'')
    return value


async def _api(args: argparse.Namespace) -> int:
    params = _parse_params(args.params)
    if not 0 < args.budget <= 1:
        raise UsageError("--budget must be in (0, 1]")
    spec: dict[str, Any] = {"from": args.credentials}
    if args.credentials == "profile":
        spec.update(profile=args.profile, path=args.credentials_path)
    elif args.credentials == "directory":
        spec["path"] = args.credentials_path
    try:
        endpoints = EndpointPolicy(
            root_domain=INTL_ROOT_DOMAIN if args.intl else DEFAULT_ROOT_DOMAIN,
            regional=args.regional,
            override=args.endpoint,
        )
    except ValueError as exc:
        raise UsageError(f"--endpoint: {exc}") from None
    if catalog.PRODUCTS[args.product].region_required and not args.region:
        print(f"warning: {args.product} requires --region; the API will refuse", file=sys.stderr)
    async with Transport(timeouts=Timeouts(total=args.timeout)) as transport:
        client = TencentClient(
            credentials=from_config(spec),
            transport=transport,
            endpoints=endpoints,
            gate=Limiter(budget=args.budget),
            language=args.language,
        )
        response = await client.call(
            args.product, args.action, params, region=args.region, method=args.method
        )
    json.dump({"Response": response}, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


async def _emulator(args: argparse.Namespace) -> int:
    # Imported here: the daemon's runtime never imports the emulator (checked by lint-imports).
    from taskwatch.clock import SystemClock
    from taskwatch.emulator.scenario import ScenarioError, default_scenario, load_scenario
    from taskwatch.emulator.server import Emulator

    try:
        scenario = load_scenario(args.scenario) if args.scenario else default_scenario()
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    emulator = Emulator.from_scenario(scenario, SystemClock())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with emulator.serve(args.host, args.port) as url:
            counts = {p: len(getattr(emulator.world, p)) for p in catalog.PRODUCTS}
            print(f"taskwatch emulator serving {url}", flush=True)
            print(f"  scenario: {args.scenario or '(built-in)'}; tasks: {counts}")
            for cred in scenario.credentials:
                print(f"  credentials: TENCENTCLOUD_SECRET_ID={cred.secret_id}")
                print(f"               TENCENTCLOUD_SECRET_KEY={cred.secret_key}")
            print(
                f'  try: taskwatch api mps DescribeTasks \'{{"Status": "PROCESSING"}}\' '
                f"--endpoint {url}"
            )
            print(f"  inspect: {url}/_emulator/log  {url}/_emulator/tasks", flush=True)
            await stop.wait()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return EXIT_OK


def _load(path: str) -> Settings:
    """The settings, with their policies compiled: a bad rule is a bad config (exit 2)."""
    try:
        settings, _rules = load_config(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return settings


def _configure_logs(settings: Settings, override: str | None) -> None:
    fmt = settings.logging.format
    logs.configure(
        level=override or settings.logging.level,
        json=None if fmt == "auto" else fmt == "json",
    )


async def _run(args: argparse.Namespace) -> int:
    from taskwatch.supervisor import Supervisor

    settings = _load(args.config)
    _configure_logs(settings, args.log_level)
    await Supervisor(
        settings, config_source=args.config, config_path=args.config, dry_run=args.dry_run
    ).run()
    return EXIT_OK


async def _once(args: argparse.Namespace) -> int:
    """One cycle of every source. Beside a process that holds the journal (a running daemon),
    ``once`` must not act (both would act on the same tasks), so it scans only: no policy, a
    throwaway journal, and a warning saying so. The exit code is the scans' as usual: the
    holder does the acting. With ``--dry-run`` every policy acts as dry-run (``would`` in the
    journal) and a line under the table says so."""
    from taskwatch.actions.lock import JournalBusyError
    from taskwatch.supervisor import Supervisor

    settings = _load(args.config)
    _configure_logs(settings, args.log_level)
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


def _check_config(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    regions = sum(len(a.regions) for a in settings.accounts)
    enforcing = sum(1 for p in settings.policies if p.enforce)
    print(
        f"{args.config}: ok ({len(settings.accounts)} account(s), {regions} region(s), "
        f"{len(settings.policies)} policy(ies), {enforcing} enforcing)"
    )
    return EXIT_OK


def _audit(args: argparse.Namespace) -> int:
    from taskwatch.cli.audit import parse_since, run_audit
    from taskwatch.clock import SystemClock

    journal_at: State | str
    if args.state:
        journal_at = args.state
    elif args.config:
        journal_at = _load(args.config).state  # SQLite at state.path, or PostgreSQL at state.url
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

    state = _load(args.config).state  # SQLite at state.path, or PostgreSQL at state.url
    print(switch.run_switch(state, clock=SystemClock(), **switch.parse(args)))
    return EXIT_OK


async def _demo(args: argparse.Namespace) -> int:
    from taskwatch.cli.demo import run_demo

    settings = _load(args.config)
    logs.configure(level=args.log_level or DEFAULT_LEVEL)
    return await run_demo(
        settings, scenario_path=args.scenario, duration=args.duration, every=args.every
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    logs.configure(level=args.log_level or DEFAULT_LEVEL)
    try:
        if args.command == "api":
            return asyncio.run(_api(args))
        if args.command == "emulator":
            return asyncio.run(_emulator(args))
        if args.command == "run":
            return asyncio.run(_run(args))
        if args.command == "once":
            return asyncio.run(_once(args))
        if args.command == "check-config":
            return _check_config(args)
        if args.command == "audit":
            return _audit(args)
        if args.command in ("pause", "resume", "switch"):
            return _switch(args)
        if args.command == "schema":
            json.dump(json_schema(), sys.stdout, indent=2)
            sys.stdout.write("\n")
            return EXIT_OK
        if args.command == "test":
            return policytest.run(args)
        if args.command == "rehearse":
            return rehearse.run(args)
        if args.command == "snapshot":
            return snapshot.run(args)
        if args.command == "demo":
            return asyncio.run(_demo(args))
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
    raise AssertionError(f"unhandled command {args.command!r}")  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
