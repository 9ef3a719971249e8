"""``taskwatch emulator``: serve the Tencent Cloud emulator (MPS, DLC, Live) until interrupted.

Why a command: operators rehearse policies and developers try the daemon against a faithful
local API without an account. The emulator is imported lazily, here only: the daemon's runtime
never imports it (an import-linter contract).

Not guaranteed: fidelity beyond what docs/emulator-scenarios.md documents.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from taskwatch.cli.common import EXIT_OK, UsageError
from taskwatch.tencent import catalog

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """The ``emulator`` subcommand, on the CLI's subparsers."""
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


async def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; print the endpoint and the credentials it accepts."""
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
