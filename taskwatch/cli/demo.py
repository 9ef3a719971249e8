"""``taskwatch demo``: the emulator and the daemon in one process, for a first look.

The emulator serves the demo scenario on 127.0.0.1 (port 9460, or any free port when that one is
taken); the daemon's configuration is pointed at it, and its HTTP server listens where the
configuration says (or on any free port). Every few seconds a short summary of what the daemon
sees is printed: tasks per source and status, API calls per cycle, throttling, failures, and what
each policy did (``abort-long-live: 3 done, 1 skipped_cap``), counted since the demo started from
``taskwatch_policy_actions_total``, the same counter the executor reports every decision to.
Not guaranteed: that the counts match the journal of an earlier run (the counter starts at zero).
"""

from __future__ import annotations

import errno
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
from prometheus_client import generate_latest

from taskwatch.cli.tables import policy_line
from taskwatch.clock import SystemClock
from taskwatch.emulator.scenario import ScenarioError, load_scenario
from taskwatch.emulator.server import Emulator
from taskwatch.errors import ConfigError
from taskwatch.metrics.registry import Metrics
from taskwatch.settings import Settings
from taskwatch.supervisor import Supervisor

EMULATOR_PORT = 9460


@asynccontextmanager
async def _first_free(
    serve: Callable[[int], AbstractAsyncContextManager[str]], port: int
) -> AsyncIterator[str]:
    """Serve on ``port``, or on any free port when it is taken."""
    try:
        cm = serve(port)
        url = await cm.__aenter__()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        cm = serve(0)
        url = await cm.__aenter__()
    try:
        yield url
    finally:
        await cm.__aexit__(None, None, None)


def _total(metrics: Metrics, name: str) -> float:
    """The sum of a metric's samples over all label sets."""
    return sum(
        sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == name
    )


def summary_line(supervisor: Supervisor, metrics: Metrics) -> str:
    """One line per refresh: each source's tasks by status (what ``taskwatch_tasks`` counts),
    its calls per cycle and state, then throttling and finishes."""
    parts = []
    for s in supervisor.sources:
        r = s.watcher.last_report
        if r is None:
            parts.append(f"{s.loop.name}: starting")
            continue
        by_status: dict[str, int] = {}
        for task in s.watcher.actionable():  # what taskwatch_tasks counts (listed Live included)
            by_status[task.status] = by_status.get(task.status, 0) + 1
        status = ", ".join(f"{n} {k}" for k, n in sorted(by_status.items())) or "no tasks"
        state = "ok" if r.ok else f"FAILED {r.error}"
        parts.append(f"{s.loop.name}: {status}; {r.total_calls} calls/cycle; {state}")
    throttled = _total(metrics, "taskwatch_api_throttled_total")
    finished = _total(metrics, "taskwatch_tasks_finished_total")
    parts.append(f"finished seen: {finished:g}; throttled: {throttled:g}")
    parts.append(policy_line(metrics))
    return "\n  ".join(parts)


async def run_demo(
    settings: Settings, *, scenario_path: str, duration: float | None, every: float
) -> int:
    try:
        scenario = load_scenario(scenario_path)
    except ScenarioError as exc:
        raise ConfigError(str(exc)) from None
    emulator = Emulator.from_scenario(scenario, SystemClock())
    async with _first_free(lambda p: emulator.serve("127.0.0.1", p), EMULATOR_PORT) as emu_url:
        accounts = [a.model_copy(update={"endpoint": emu_url}) for a in settings.accounts]
        settings = settings.model_copy(update={"accounts": accounts})
        metrics = Metrics()
        supervisor = Supervisor(settings, metrics=metrics)
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: supervisor.run(install_signal_handlers=False), name="daemon")
            await supervisor.started.wait()
            assert supervisor.http is not None
            print(f"emulator:  {emu_url}  (inspect {emu_url}/_emulator/tasks)")
            url = supervisor.http.url
            print(f"taskwatch: {url}/  (status page; metrics {url}/metrics)")
            print("press Ctrl-C to stop", flush=True)
            deadline = None if duration is None else anyio.current_time() + duration
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                tg.start_soon(_stop_on_signal, signals, supervisor, name="signals")
                while not supervisor.stopped:
                    left = None if deadline is None else deadline - anyio.current_time()
                    if left is not None and left <= 0:
                        break
                    await anyio.sleep(every if left is None else min(every, left))
                    print("  " + summary_line(supervisor, metrics), flush=True)
                supervisor.stop()
                tg.cancel_scope.cancel()
    print()
    print("metrics (excerpt):")
    shown = ("taskwatch_tasks{", "taskwatch_api_calls_per_cycle", "taskwatch_scan_cycles_total")
    for line in generate_latest(metrics.registry).decode().splitlines():
        if line.startswith(shown):
            print("  " + line)
    sys.stdout.flush()
    return 0


async def _stop_on_signal(signals: AsyncIterator[int], supervisor: Supervisor) -> None:
    async for _ in signals:
        supervisor.stop()
        return
