"""Everything built from one configuration, as one object: a :class:`Runtime`.

A runtime holds, for one validated configuration and its compiled rules: each account's client
and limiter, one :class:`Source` per ``(account, product, region)`` that
:meth:`Settings.loops <taskwatch.settings.Settings.loops>` lists (its watcher, its
:class:`~taskwatch.cycle.Cycle` and the loop that runs it), the executor's configuration
(:class:`ActionConfig`) and the webhook notifier; and the long-lived :class:`Services` (transport,
journal, executor, notifier host, elector) it shares with every runtime of this process. The
supervisor runs a runtime and, on a reload, swaps in the next one (:meth:`Runtime.install`).
:func:`load_config` reads and checks the file a runtime is built from (at start and on a reload).

A reload builds a new runtime from the new settings, reusing what did not change: an account whose
connection settings (and the API settings) are unchanged keeps its client and its limiter (so a
throttled bucket stays slowed down), a source whose account and product settings are unchanged
keeps its watcher (so its tracker does not rediscover every task as new), and unchanged
``notifications`` keep their notifier (and its queue). Loops are always rebuilt, since they carry
the interval and jitter, but each source's loop takes over the
:class:`~taskwatch.scheduler.Schedule` of the one it replaces: the first tick after a reload is the
one that was due (or, for a new interval, one new interval after the last cycle started), never an
immediate one, so reloads do not add cycles.

With leader election on, the replica's identity is appended to each account's ``client_suffix``
(``X-TC-RequestClient: taskwatch/0.1.0; <suffix>;<identity>``, in the header's alphabet), so the
API's logs (and the emulator's) tell which replica made each call.

``--dry-run`` is a property of the process, not of a configuration: it lives in the
:class:`Services` and every runtime applies it to the executor's rules
(:func:`~taskwatch.services.effective`), so a reloaded file with ``enforce: true`` stays dry-run.

Each runtime has the :class:`~taskwatch.cost.Pricer` of its configuration's price table, which
every watcher (kept ones included) uses from then on.

Not guaranteed: building has side effects on the shared metrics: the series of a source the new
configuration drops are forgotten at once, before the swap, and the saved-spend counters of its
policies are exported (at 0 when new).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from pathlib import Path

from taskwatch.accounts import account_key, adapter_for, build_client
from taskwatch.actions.executor import Executor
from taskwatch.actions.notify import Notifier
from taskwatch.cost import Pricer
from taskwatch.cycle import AfterCycle, Cycle
from taskwatch.limiter import BucketStats, Limiter
from taskwatch.metrics.registry import Metrics
from taskwatch.models import SourceKey
from taskwatch.policy.rules import Rule, compile_rules
from taskwatch.scheduler import Loop, Schedule
from taskwatch.services import Services, build_notifier, effective
from taskwatch.settings import Settings, load_settings
from taskwatch.tencent import catalog
from taskwatch.tencent.client import TencentClient
from taskwatch.timers import Deadlines
from taskwatch.watch import Watcher
from taskwatch.web.webconfig import load_web_config

__all__ = ["ActionConfig", "Runtime", "Services", "Source", "build_runtime", "load_config"]


def load_config(path: str | Path) -> tuple[Settings, list[Rule]]:
    """Settings and compiled policies from ``path``; any problem is a
    :class:`~taskwatch.errors.ConfigError`.
    The web config file, when named, is checked too."""
    settings = load_settings(path, actions=catalog.action_names())
    rules = compile_rules(settings.policies, source=str(path), pricer=Pricer(settings.prices))
    if settings.http.web_config is not None:
        load_web_config(settings.http.web_config)
    return settings, rules


@dataclass(slots=True)
class Source:
    """One ``(account, product, region)``: its watcher, its cycle and the loop that runs it."""

    watcher: Watcher
    loop: Loop
    cycle: Cycle
    key: str = ""
    """What the watcher was built from; equal keys across a reload mean it can be reused."""

    @property
    def name(self) -> str:
        return self.loop.name


@dataclass(frozen=True, slots=True)
class ActionConfig:
    """What a configuration sets on the daemon's one executor (the rest of it is state)."""

    rules: tuple[Rule, ...]
    """The rules as the executor applies them (all dry-run under ``--dry-run``)."""
    max_per_cycle: int
    attempts: int
    retry_after: float
    paused: bool

    @classmethod
    def of(cls, settings: Settings, rules: list[Rule], *, dry_run: bool = False) -> ActionConfig:
        a = settings.actions
        rules = effective(rules, dry_run=dry_run)
        return cls(tuple(rules), a.max_per_cycle, a.attempts, a.retry_after, a.paused)

    def apply(self, executor: Executor, *, was: ActionConfig) -> None:
        """Set this configuration on ``executor``. The kill switch moves only when the file's
        ``paused`` changed: a pause from ``POST /-/pause`` survives a reload that does not."""
        executor.rules = list(self.rules)
        executor.max_per_cycle = self.max_per_cycle
        executor.attempts = self.attempts
        executor.retry_after = self.retry_after
        if self.paused and not was.paused:
            executor.pause()
        elif was.paused and not self.paused:
            executor.resume()


@dataclass(slots=True)
class Runtime:
    """One configuration, built; see the module docstring."""

    settings: Settings
    rules: list[Rule]
    """The rules as the file says (the status page shows both); the executor's, with
    ``--dry-run`` applied, are in ``actions.rules``."""
    services: Services
    actions: ActionConfig
    notifier: Notifier | None = None
    clients: dict[str, TencentClient] = field(default_factory=dict)
    limiters: dict[str, Limiter] = field(default_factory=dict)
    account_keys: dict[str, str] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    pricer: Pricer = field(default_factory=Pricer.off)
    """The estimates of this configuration's price table (watchers, status page)."""

    def snapshot(self) -> list[BucketStats]:
        """Every account's buckets, for the rate-limit gauges."""
        return [b for limiter in list(self.limiters.values()) for b in limiter.snapshot()]

    def install(self, previous: Runtime) -> None:
        """Make this runtime's configuration the executor's and the notifier host's, in place of
        ``previous``'s (the loops are the supervisor's to swap)."""
        executor = self.services.executor
        self.actions.apply(executor, was=previous.actions)
        if self.notifier is not previous.notifier:
            self.services.notifications.replace(self.notifier)  # queued events handed over
            executor.notifier = self.services.notifications.current


def build_runtime(
    settings: Settings,
    rules: list[Rule],
    *,
    services: Services,
    previous: Runtime | None = None,
    after_cycle: AfterCycle | None = None,
) -> Runtime:
    """A runtime for ``settings`` and ``rules``, reusing the unchanged parts of ``previous``.
    ``after_cycle`` is told the actions each cycle took (see :class:`~taskwatch.cycle.Cycle`)."""
    metrics, clock = services.metrics, services.clock
    if previous is None:
        notifier = services.notifications.current
    elif settings.notifications == previous.settings.notifications:
        notifier = previous.notifier
    else:
        notifier = build_notifier(settings, clock=clock, metrics=metrics)
    rt = Runtime(
        settings=settings,
        rules=rules,
        services=services,
        actions=ActionConfig.of(settings, rules, dry_run=services.dry_run),
        notifier=notifier,
        pricer=Pricer(settings.prices),
    )
    metrics.policies_configured((r.name for r in rules), rt.pricer.currency)
    replica = services.identity if settings.leader.enabled else None
    for account in settings.accounts:
        key = account_key(settings, account)
        if previous is not None and previous.account_keys.get(account.name) == key:
            client = previous.clients[account.name]
            limiter = previous.limiters[account.name]
        else:
            limiter, client = build_client(settings, account, services=services, replica=replica)
        rt.clients[account.name] = client
        rt.limiters[account.name] = limiter
        rt.account_keys[account.name] = key
    old_sources = {s.name: s for s in previous.sources} if previous else {}
    for account, product, region in settings.loops():
        ps = settings.products.get(product)
        adapter = adapter_for(product, settings, account, region, rt.clients[account.name], clock)
        name = str(adapter.source)
        source_key = account_key(
            settings, account, ps.page_size, ps.detail_concurrency, ps.finish_sweep
        )
        old = old_sources.get(name)
        if old is not None and old.key == source_key:
            watcher = old.watcher
        else:
            watcher = Watcher(
                adapter=adapter,
                metrics=metrics,
                clock=clock,
                finish_sweep=ps.finish_sweep,
                rng=random.Random(services.rng.random()),  # noqa: S311 - jitter
            )
        watcher.pricer = rt.pricer
        cycle = Cycle(watcher, services.executor, after=after_cycle)
        if old is not None and old.cycle.watcher is watcher:  # same tasks: same timers, lock
            cycle.deadlines, cycle.lock = old.cycle.deadlines, old.cycle.lock
        if not settings.actions.timers:
            cycle.deadlines = None
        elif cycle.deadlines is None:
            cycle.deadlines = Deadlines(source=adapter.source, clock=clock, metrics=metrics,
                                        horizon=horizon_for(ps.interval))  # fmt: skip
        if cycle.deadlines is not None:
            cycle.deadlines.horizon = horizon_for(ps.interval)
            cycle.deadlines.limit = settings.actions.max_timers
        loop = Loop(
            name=name,
            interval=ps.interval,
            job=cycle,
            jitter=ps.jitter,
            on_skip=functools.partial(_skipped, metrics, adapter.source),
            on_timeout=cycle.timed_out,
            schedule=old.loop.schedule if old is not None else Schedule(),
        )
        rt.sources.append(Source(watcher=watcher, loop=loop, cycle=cycle, key=source_key))
    if previous is not None:
        kept = {s.name for s in rt.sources}
        for gone in previous.sources:
            if gone.name not in kept:
                metrics.forget(gone.watcher.source)
    return rt


def horizon_for(interval: float) -> float:
    """How far ahead a source's timers are planned: two intervals and a minute, so a deadline is
    planned by at least one scan before it falls (and a skipped scan loses none)."""
    return 2 * interval + 60.0


def _skipped(metrics: Metrics, source: SourceKey, _ticks: int) -> None:
    metrics.cycle_skipped(source)
