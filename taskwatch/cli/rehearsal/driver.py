"""A rehearsal: the whole daemon against an in-process emulator, on virtual time.

What runs is the daemon itself: a :class:`~taskwatch.supervisor.Supervisor` built from the
operator's configuration, its loops on the scheduler's grid (each source on its own interval and
jitter), its watcher, policies, grace, caps, fence, executor and limiter, and its journal. What the
rehearsal changes in the configuration (:func:`rehearsal_settings`), and only that:

* every account but the one rehearsed is dropped (a scenario is one account's world); its
  credentials become the scenario's first key pair and its endpoint the emulator's, so the real
  keys are never read, let alone sent, and nothing leaves the machine;
* the journal is a SQLite file in a temporary directory (never the configured one, never
  PostgreSQL); leader election, webhooks and the lifecycle endpoints are off; the HTTP server
  listens on a free loopback port;
* unless ``as_configured``: every policy enforces and the configuration's kill switch is off, so
  the rehearsal shows what enforcing would do.

Randomness is seeded: the scenario's ``seed`` the world's, ``seed`` the daemon's jitter (loops,
sweeps) and each client's retry jitter (which the daemon draws from an unseeded generator), so
the same files and seeds give the same decisions at the same times, faults included.

The emulator serves the scenario on 127.0.0.1 in the same process and the same
:class:`~taskwatch.cli.rehearsal.virtual.Calendar`, so the world moves on (tasks start and finish,
generators add tasks) exactly as far as the daemon's clock. Everything runs on a
:class:`~taskwatch.cli.rehearsal.virtual.VirtualLoop`: hours pass in seconds.

The result is read from the journal (one row per decision: done, failed, unknown, fenced,
already done, would) plus the decisions the caps held back, which the executor does not journal
(``skipped_cap``, taken from its reports, at the time their cycle ended: the executor decides
them in its cycle after acting on the older offenders; a task held back cycle after cycle is
listed once, when its hold begins, and again if another cap holds it).

Not guaranteed: the real API's timing (the emulator answers at once), other accounts, or faults
the scenario does not inject; a cycle in flight at the end of the rehearsal is cut.
"""

from __future__ import annotations

import random
import tempfile
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import cast

import anyio

from taskwatch.actions.attempt import ActionReport
from taskwatch.actions.executor import Executor
from taskwatch.actions.opening import journal_for
from taskwatch.cli.rehearsal.virtual import Calendar, run_virtual
from taskwatch.clock import Clock
from taskwatch.cost import Pricer
from taskwatch.emulator.populate import EmulatorCredential, Scenario
from taskwatch.emulator.server import Emulator
from taskwatch.errors import ConfigError
from taskwatch.metrics.registry import Metrics
from taskwatch.models import AuditRecord, Outcome, Task
from taskwatch.policy.grace import GraceMemory
from taskwatch.policy.rules import Rule, compile_rules
from taskwatch.products.base import Adapter
from taskwatch.settings import Leader, Settings, State, StaticSource
from taskwatch.supervisor import Supervisor

__all__ = ["Rehearsal", "Row", "rehearsal_settings", "rehearse", "rehearse_here"]

LOG_SIZE = 1000
"""The emulator's request log, kept short."""


@dataclass(frozen=True, slots=True)
class Row:
    """One decision of the rehearsal."""

    at: float
    """Seconds from the start of the rehearsal."""
    policy: str
    product: str
    account: str
    region: str
    task_id: str
    action: str
    mode: str
    """``enforce``, or ``dry-run`` (``--as-configured`` keeps a dry-run policy's ``would``)."""
    result: str
    code: str | None = None


@dataclass(slots=True)
class Rehearsal:
    """What a rehearsal found, and what it took."""

    rows: list[Row]
    start: datetime
    seconds: float
    sources: list[str]
    cycles: int
    api_calls: int
    failed_cycles: int = 0
    jumps: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Recorder:
    """Stands where a cycle expects the executor: passes everything through and keeps the
    decisions the caps held back (the executor reports them but does not journal them). A task
    held back cycle after cycle is kept once, when its hold begins (again if another cap holds
    it): a per-hour cap would otherwise list every waiting task at every cycle."""

    inner: Executor
    clock: Clock
    start: float
    held: list[Row]
    holding: dict[str, set[tuple[str, str, str]]] = field(default_factory=dict)
    """Per source: (policy, task id, cap) held back at its last cycle."""

    @property
    def rules(self) -> Sequence[Rule]:
        return self.inner.rules

    @property
    def grace(self) -> GraceMemory:
        return self.inner.grace

    async def run(
        self, adapter: Adapter, tasks: Iterable[Task], *, scope: Collection[str] | None = None
    ) -> list[ActionReport]:
        """A cycle (or, with ``scope``, a reaction between cycles: only those tasks' holds are
        renewed, the others' stand)."""
        reports = await self.inner.run(adapter, tasks, scope=scope)
        at = self.clock.now().timestamp() - self.start  # held back by the time the cycle ended
        source = adapter.source
        before = self.holding.get(str(source), set())
        now = set() if scope is None else {k for k in before if k[1] not in scope}
        for r in reports:
            if r.result is not Outcome.SKIPPED_CAP:
                continue
            key = (r.policy, r.task_id, r.reason)
            now.add(key)
            if key in before:
                continue
            rule = next((x for x in self.inner.rules if x.name == r.policy), None)
            mode = "enforce" if rule is None or rule.enforce else "dry-run"
            self.held.append(
                Row(at, r.policy, source.product, source.account, source.region,
                    r.task_id, r.action, mode, r.result.value, r.reason or None)
            )  # fmt: skip
        self.holding[str(source)] = now
        return reports


def rehearsal_settings(
    settings: Settings,
    *,
    endpoint: str,
    credential: EmulatorCredential,
    journal: Path,
    account: str | None = None,
    as_configured: bool = False,
) -> Settings:
    """``settings`` changed for a rehearsal (see the module docstring). ``account``: the one
    rehearsed (default: the first); an unknown name is a :class:`ConfigError`."""
    names = [a.name for a in settings.accounts]
    chosen = account if account is not None else names[0]
    if chosen not in names:
        raise ConfigError(f"no account {chosen!r} (the configuration has {', '.join(names)})")
    spec: dict[str, object] = {
        "from": "static",
        "secret_id": credential.secret_id,
        "secret_key": credential.secret_key,
    }
    if credential.token is not None:
        spec["token"] = credential.token
    keys = StaticSource.model_validate(spec)
    moved = {"credentials": keys, "endpoint": endpoint, "regional": False,
             "root_domain": "tencentcloudapi.com"}  # fmt: skip
    accounts = tuple(a.model_copy(update=moved) for a in settings.accounts if a.name == chosen)
    policies = settings.policies
    actions = settings.actions
    if not as_configured:
        policies = tuple(p.model_copy(update={"enforce": True}) for p in policies)
        actions = actions.model_copy(update={"paused": False})
    return settings.model_copy(
        update={
            "accounts": accounts,
            "state": State(path=journal),
            "leader": Leader(),
            "notifications": (),
            "http": settings.http.model_copy(
                update={"listen": "127.0.0.1:0", "web_config": None, "lifecycle": False}
            ),
            "policies": policies,
            "actions": actions,
        }
    )


async def rehearse_here(
    settings: Settings,
    scenario: Scenario,
    *,
    seconds: float,
    start: datetime,
    seed: int = 0,
    account: str | None = None,
    as_configured: bool = False,
    source: str = "<config>",
) -> Rehearsal:
    """Rehearse on the running event loop (a :class:`VirtualLoop`, or looptime in tests): the
    emulator and the daemon for ``seconds`` of loop time from wall time ``start``. ``seed``
    seeds the daemon's jitter, as the scenario's seed does the world's."""
    if not scenario.credentials:
        raise ConfigError(f"{scenario.source}: the scenario has no credentials")
    clock = Calendar(start, origin=anyio.current_time())
    emulator = Emulator.from_scenario(scenario, clock)
    emulator.log = deque(maxlen=LOG_SIZE)  # nobody reads it: hours of calls must not pile up
    with tempfile.TemporaryDirectory(prefix="taskwatch-rehearsal-") as scratch:
        journal = Path(scratch) / "journal.db"
        async with emulator.serve("127.0.0.1", 0) as url:
            rehearsed = rehearsal_settings(
                settings, endpoint=url, credential=scenario.credentials[0], journal=journal,
                account=account, as_configured=as_configured,
            )  # fmt: skip
            rules = compile_rules(
                rehearsed.policies, source=source, pricer=Pricer(rehearsed.prices)
            )
            daemon = Supervisor(
                rehearsed, clock=clock, metrics=Metrics(clock=clock),
                rng=random.Random(seed), rules=rules, config_source=source,  # noqa: S311
            )  # fmt: skip
            for name, client in daemon.runtime.clients.items():  # retry jitter: unseeded there
                client._rng = random.Random(f"{seed}/{name}")  # noqa: S311 - same run twice
            held: list[Row] = []
            t0 = start.timestamp()
            for s in daemon.sources:
                s.cycle.executor = cast(Executor, _Recorder(daemon.executor, clock, t0, held))
            await _run_for(daemon, seconds, clock)
        with journal_for(rehearsed.state, clock=clock, read_only=True) as j:
            records = j.recent(t0)
    rows = sorted([*(_row(r, t0) for r in records), *held], key=lambda row: row.at)
    return Rehearsal(
        rows=rows,
        start=start,
        seconds=seconds,
        sources=[s.name for s in daemon.sources],
        cycles=sum(s.loop.heartbeat.cycles for s in daemon.sources),
        api_calls=int(_total(daemon.metrics, "taskwatch_api_requests_total")),
        failed_cycles=int(_total(daemon.metrics, "taskwatch_scan_cycles_total", result="failed")),
    )


def rehearse(
    settings: Settings,
    scenario: Scenario,
    *,
    seconds: float,
    start: datetime,
    seed: int = 0,
    account: str | None = None,
    as_configured: bool = False,
    source: str = "<config>",
) -> Rehearsal:
    """:func:`rehearse_here` on a fresh :class:`VirtualLoop`; blocks for the (short) wall time
    it takes."""

    async def main() -> Rehearsal:
        return await rehearse_here(
            settings, scenario, seconds=seconds, start=start, seed=seed, account=account,
            as_configured=as_configured, source=source,
        )  # fmt: skip

    result, jumps = run_virtual(main)
    result.jumps = jumps
    return result


async def _run_for(daemon: Supervisor, seconds: float, clock: Calendar) -> None:
    """The whole daemon until ``seconds`` of loop time have passed since ``clock``'s origin."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: daemon.run(install_signal_handlers=False), name="daemon")
        await daemon.started.wait()
        elapsed = (clock.now() - clock.start).total_seconds()
        await anyio.sleep(max(0.0, seconds - elapsed))
        daemon.stop()


def _total(metrics: Metrics, name: str, **labels: str) -> float:
    """The sum of a metric's samples over the label sets that have ``labels``."""
    return sum(
        sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def _row(record: AuditRecord, t0: float) -> Row:
    return Row(
        at=record.time - t0,
        policy=record.policy,
        product=record.product,
        account=record.account,
        region=record.region,
        task_id=record.task_id,
        action=record.action,
        mode=record.mode,
        result=record.result,
        code=record.code,
    )
