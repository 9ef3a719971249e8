"""The composition root: builds every part from the settings and runs them as named tasks.

One anyio task group holds the HTTP server, the signal handler, the systemd watchdog, the webhook
notifier (:class:`NotifierHost`: one for the daemon's whole life), and an inner group with one loop
per source (account, product, region). Parts get their dependencies by keyword (clock, metrics,
clients), so tests build a supervisor against the emulator with a fresh registry and run one cycle
(:meth:`Supervisor.run_once`) or the real loops.

**Reload** (SIGHUP, ``POST /-/reload``): the file is read and validated again (policies compiled);
a bad file changes nothing (the last good configuration stays, the failure is logged and
``taskwatch_config_last_reload_successful`` drops to 0). A good one is swapped in at once: the inner
group is stopped once each loop has finished the cycle in flight (a stop does not wait: an action
in flight still finishes, the executor shields it), the runtime is rebuilt reusing unchanged
clients, limiters and watchers, and the loops start again, each on the tick its source had due
(its :class:`~taskwatch.scheduler.Schedule` carries over): reloads never add cycles. The notifier
is not stopped: it is swapped, its queue handed over, only when ``notifications`` changed.
``http`` and ``state`` changes need a restart (logged).

**Timeouts**: a cycle cut at its loop's timeout is a failed cycle (``CycleTimeout``) when its scan
was cut; if the scan had ended and the policies step overran, the scan stands.

**systemd** (``Type=notify``): READY=1 once every source completed a cycle, STATUS= after each
cycle, WATCHDOG=1 while every loop keeps its rhythm, RELOADING=1 around a reload, STOPPING=1 on
stop. Without ``$NOTIFY_SOCKET`` all of it is a no-op.

**Leadership** (``leader.enabled``; see ``taskwatch.leader.election``): an elector task runs beside
the server. Only the leader runs the source loops: a follower serves HTTP and makes no Tencent Cloud
API call. Gaining leadership starts the loops of the current runtime; losing it cancels them at
once (an action already past its last leadership check finishes: the executor shields it, and
``renew_deadline < lease_duration`` leaves the margin). The executor asks the elector right before
each destructive call. On a graceful stop the loops stop first, then the lease is released, so a
rolling update hands over within about a ``retry_period``. The replica's identity goes into every
log line (``replica=``) and, with election on, into ``X-TC-RequestClient``.

Health: ``/healthz`` is ok while every loop keeps its rhythm (heartbeats), and always for a
follower (it runs no loop); ``/readyz`` once the configuration is loaded and, on the leader, every
source has completed one successful cycle. A healthy follower is ready: a rolling update waits
for the new pod to be ready while the old one leads.
"""

from __future__ import annotations

import contextlib
import random
import signal
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import structlog
from anyio.abc import TaskStatus

from taskwatch.actions.executor import Executor
from taskwatch.actions.journal import Journal
from taskwatch.actions.notify import Notifier, NotifierHost
from taskwatch.clock import Clock, SystemClock
from taskwatch.errors import ConfigError
from taskwatch.leader.election import (
    Elector,
    KubernetesElector,
    KubernetesLeaseStore,
    StandaloneElector,
    Timings,
)
from taskwatch.limiter import BucketStats
from taskwatch.metrics.registry import Metrics
from taskwatch.policy.rules import Rule, compile_rules
from taskwatch.runtime import Runtime, Source, build_notifier, build_runtime
from taskwatch.settings import Settings, load_settings
from taskwatch.tencent import catalog
from taskwatch.tencent.transport import Timeouts, Transport
from taskwatch.watch import CycleReport, Watcher
from taskwatch.web.sdnotify import SystemdNotifier, status_summary, watchdog_loop
from taskwatch.web.server import HttpServer, build_app
from taskwatch.web.statuspage import StatusSnapshot, snapshot_from
from taskwatch.web.webconfig import WebConfig, load_web_config

log = structlog.get_logger(__name__)

STOP_GRACE = 10.0
"""Seconds allowed for closing the server and connections after a stop signal."""


def load_config(path: str | Path) -> tuple[Settings, list[Rule]]:
    """Settings and compiled policies from ``path``; any problem is a :class:`ConfigError`.
    The web config file, when named, is checked too."""
    settings = load_settings(path, actions=catalog.action_names())
    rules = compile_rules(settings.policies, source=str(path))
    if settings.http.web_config is not None:
        load_web_config(settings.http.web_config)
    return settings, rules


class Supervisor:
    """Builds and runs taskwatch. Implements the HTTP server's health view and controls."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        transport: Transport | None = None,
        rng: random.Random | None = None,
        rules: list[Rule] | None = None,
        config_source: str = "<config>",
        config_path: str | Path | None = None,
        systemd: SystemdNotifier | None = None,
        elector: Elector | None = None,
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        self.rules = (
            rules if rules is not None else compile_rules(settings.policies, source=config_source)
        )
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics or Metrics(clock=self.clock)
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.systemd = systemd or SystemdNotifier.from_env()
        self.transport = transport or Transport(
            timeouts=Timeouts(connect=settings.api.connect_timeout, total=settings.api.timeout),
            max_body=settings.api.max_body_bytes,
        )
        self.http: HttpServer | None = None
        self._stop = anyio.Event()
        self._wake = anyio.Event()
        self._retiring: anyio.CancelScope | None = None
        self.started = anyio.Event()
        """Set once the HTTP server listens and the loops are starting."""
        self._ready_sent = False
        self._last_status = ""
        self._web_config: WebConfig | None = None
        self._started_wall = self.clock.now().timestamp()
        self.journal = Journal(settings.state.path, clock=self.clock)
        self.notifications = NotifierHost(self._notifier(settings))
        self._lease_store: KubernetesLeaseStore | None = None
        self.elector: Elector = elector or self._elector(settings)
        self.identity = self.elector.identity
        self.executor = Executor(
            rules=self.rules,
            journal=self.journal,
            metrics=self.metrics,
            clock=self.clock,
            notifier=self.notifications.current,
            max_per_cycle=settings.actions.max_per_cycle,
            attempts=settings.actions.attempts,
            retry_after=settings.actions.retry_after,
            paused=settings.actions.paused,
            may_act=self.elector.is_leader,
        )
        self.runtime: Runtime = self._runtime(settings, previous=None)
        self.metrics.watch_limiter(self)
        self.metrics.set_actions_paused(settings.actions.paused)
        self.metrics.set_leader(self.elector.is_leader())
        self.metrics.config_loaded(True)

    # --- building -----------------------------------------------------------------------------

    def _elector(self, settings: Settings) -> Elector:
        leader = settings.leader
        identity = leader.identity_in()
        if not leader.enabled:
            return StandaloneElector(identity, on_change=self._leadership_changed)
        timings = Timings(
            lease_duration=leader.lease_duration,
            renew_deadline=leader.renew_deadline,
            retry_period=leader.retry_period,
        )
        self._lease_store = KubernetesLeaseStore(
            name=leader.lease_name,
            namespace=leader.namespace_in(),
            kubeconfig=leader.kubeconfig,
            request_timeout=leader.renew_deadline,
        )
        return KubernetesElector(
            self._lease_store,
            identity=identity,
            timings=timings,
            clock=self.clock,
            rng=random.Random(self.rng.random()),  # noqa: S311 - jitter
            on_change=self._leadership_changed,
        )

    def _leadership_changed(self, leading: bool) -> None:
        self.metrics.leader_changed(leading)

    def _runtime(self, settings: Settings, previous: Runtime | None) -> Runtime:
        return build_runtime(
            settings,
            clock=self.clock,
            metrics=self.metrics,
            transport=self.transport,
            rng=self.rng,
            job=self._cycle,
            on_timeout=self._timed_out,
            previous=previous,
            replica=self.identity if settings.leader.enabled else None,
        )

    def _notifier(self, settings: Settings) -> Notifier | None:
        return build_notifier(settings, clock=self.clock, metrics=self.metrics)

    @property
    def sources(self) -> list[Source]:
        return self.runtime.sources

    @property
    def limiters(self) -> Mapping[str, Any]:
        return self.runtime.limiters

    @property
    def notifier(self) -> Notifier | None:
        return self.executor.notifier

    def snapshot(self) -> list[BucketStats]:
        """Every account's buckets, for the rate-limit gauges."""
        return self.runtime.snapshot()

    # --- one cycle ----------------------------------------------------------------------------

    async def _cycle(self, watcher: Watcher) -> CycleReport:
        """Scan, then (only after a successful scan) apply the policies to what it saw."""
        report = await watcher.cycle()
        acted = 0
        if report.ok and self.executor.rules:
            acted = len(await self.executor.run(watcher.adapter, watcher.actionable()))
        self._tell_systemd(acted)
        return report

    def _timed_out(self, watcher: Watcher, timeout: float) -> None:
        """A cycle its loop cancelled at ``timeout``: a failed one if its scan was cut."""
        if watcher.timed_out(timeout) is not None:
            self._tell_systemd(0)

    def _tell_systemd(self, acted: int) -> None:
        sources = self.sources
        ok = sum(1 for s in sources if s.watcher.last_report and s.watcher.last_report.ok)
        failing = sum(1 for s in sources if s.watcher.last_report and not s.watcher.last_report.ok)
        active = sum(len(s.watcher.tracker.active) for s in sources)
        status = status_summary(ok=ok, failing=failing, active_tasks=active, actions=acted)
        if not self._ready_sent and sources and all(s.watcher.ready for s in sources):
            self._ready_sent = True
            self.systemd.ready(status)
        elif status != self._last_status:
            self.systemd.status(status)
        self._last_status = status

    async def run_once(self) -> list[CycleReport]:
        """One cycle of every source, concurrently; the reports in source order."""
        sources = list(self.sources)
        reports: list[CycleReport | None] = [None] * len(sources)

        async def one(i: int, s: Source) -> None:
            reports[i] = await self._cycle(s.watcher)

        with self._journal_open():
            async with self.transport, anyio.create_task_group() as tg:
                for i, s in enumerate(sources):
                    tg.start_soon(one, i, s, name=f"once:{s.name}")
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.notifications.run, name="notifications")
                await self.notifications.aclose()
        return [r for r in reports if r is not None]

    @contextlib.contextmanager
    def _journal_open(self) -> Iterator[None]:
        """The journal is open while the loops run; a crash's leftovers are reconciled first."""
        self.journal.open()
        try:
            reconciled = self.executor.reconcile()
            pruned = self.journal.prune(
                self.clock.now().timestamp() - self.settings.actions.journal_retention
            )
            if reconciled or pruned:
                log.info("journal.opened", reconciled=reconciled, pruned=pruned)
            yield
        finally:
            self.journal.close()

    # --- running ------------------------------------------------------------------------------

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        """Serve HTTP and run every loop until :meth:`stop` or SIGTERM/SIGINT."""
        web_config = (
            load_web_config(self.settings.http.web_config)
            if self.settings.http.web_config is not None
            else None
        )
        self.http = HttpServer(
            build_app(metrics=self.metrics, health=self, controls=self, status=self)
        )
        self._web_config = web_config
        with self._journal_open(), structlog.contextvars.bound_contextvars(replica=self.identity):
            await self._serve(install_signal_handlers)

    async def _serve(self, install_signal_handlers: bool) -> None:
        assert self.http is not None
        async with self.transport:
            await self.http.start(self.settings.http.listen, web_config=self._web_config)
            try:
                async with anyio.create_task_group() as tg:
                    if install_signal_handlers:  # before announcing: an early SIGHUP must reload
                        await tg.start(self._signals, name="signals")
                    interval = self.systemd.watchdog_interval()
                    if interval:
                        tg.start_soon(self._watchdog, interval / 2, name="watchdog")
                    tg.start_soon(self._elect, name="elector")
                    tg.start_soon(self.notifications.run, name="notifications")
                    log.info(
                        "taskwatch.started",
                        listen=self.http.url,
                        sources=[s.name for s in self.sources],
                        leader_election=self.settings.leader.enabled,
                    )
                    self.started.set()
                    while not self.stopped:
                        await self._run_loops()
                    await self.notifications.aclose()  # the loops have stopped: nothing to add
                    tg.cancel_scope.cancel()
            finally:
                self.systemd.stopping()
                with anyio.move_on_after(STOP_GRACE, shield=True):
                    await self.elector.release()  # the loops have stopped: hand over now
                    if self._lease_store is not None:
                        await self._lease_store.close()
                with anyio.move_on_after(STOP_GRACE, shield=True):
                    await self.http.stop()
                log.info("taskwatch.stopped")

    async def _elect(self) -> None:
        await self.elector.run()

    async def _run_loops(self) -> None:
        """The current runtime's loops while this replica leads, until a stop or a reload wakes
        us. On a reload each loop first finishes the cycle in flight (``Loop.retire``: a cut
        cycle would be lost until the next tick); a stop cancels at once. The notifier is not
        among them: a reload must not stop it (see NotifierHost)."""
        self._wake = anyio.Event()
        sources = list(self.sources)
        async with anyio.create_task_group() as inner:
            inner.start_soon(self._lead, sources, name="leadership")
            await self._wake.wait()
            with anyio.CancelScope() as self._retiring:  # stop() cancels it
                if not self.stopped:
                    async with anyio.create_task_group() as retiring:
                        for s in sources:
                            retiring.start_soon(s.loop.retire, name=f"retire:{s.name}")
            self._retiring = None
            inner.cancel_scope.cancel()

    async def _lead(self, sources: list[Source]) -> None:
        """Each time this replica gains leadership, run the loops until it loses it."""
        while True:
            await self.elector.wait_until(True)
            for s in sources:  # a beat from an earlier term must not read as a stalled loop
                s.loop.heartbeat.last = s.loop.heartbeat.in_cycle_since = None
            async with anyio.create_task_group() as loops:
                for s in sources:
                    loops.start_soon(self._loop, s, name=f"loop:{s.name}")
                await self.elector.wait_until(False)
                loops.cancel_scope.cancel()

    async def _watchdog(self, interval: float) -> None:
        await watchdog_loop(self.systemd, healthy=lambda: self.liveness()[0], interval=interval)

    async def _loop(self, source: Source) -> None:
        await source.loop.run(clock=self.clock, rng=random.Random(self.rng.random()))  # noqa: S311

    async def _signals(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            task_status.started()
            async for signum in signals:
                log.info("taskwatch.signal", signal=signal.Signals(signum).name)
                if signum == signal.SIGHUP:
                    await self.reload()
                    continue
                self.stop()
                return

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._retiring is not None:
            self._retiring.cancel()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # --- controls -----------------------------------------------------------------------------

    def pause(self) -> None:
        """The kill switch (``POST /-/pause``): no action until :meth:`resume`."""
        self.executor.pause()

    def resume(self) -> None:
        self.executor.resume()

    async def reload(self) -> tuple[bool, str]:
        """Re-read the configuration file; keep the last good one if the new one is bad."""
        if self.config_path is None:
            return False, "taskwatch was not started from a configuration file"
        self.systemd.reloading()
        try:
            settings, rules = load_config(self.config_path)
        except ConfigError as exc:
            self.metrics.config_loaded(False)
            log.error("config.reload_failed", reason=str(exc))
            self.systemd.ready(f"reload failed, kept the last good configuration: {exc}")
            return False, str(exc)
        for key in ("http", "state", "leader"):
            if getattr(settings, key) != getattr(self.settings, key):
                log.warning("config.restart_needed", key=key)
        self._apply(settings, rules)
        self.metrics.config_loaded(True)
        log.info("config.reloaded", sources=[s.name for s in self.sources], rules=len(rules))
        self.systemd.ready(self._last_status or "reloaded")
        self._wake.set()
        return True, "reloaded"

    def _apply(self, settings: Settings, rules: list[Rule]) -> None:
        self.runtime = self._runtime(settings, previous=self.runtime)
        executor = self.executor
        executor.rules = rules
        executor.max_per_cycle = settings.actions.max_per_cycle
        executor.attempts = settings.actions.attempts
        executor.retry_after = settings.actions.retry_after
        if settings.actions.paused and not self.settings.actions.paused:
            executor.pause()
        elif self.settings.actions.paused and not settings.actions.paused:
            executor.resume()
        if settings.notifications != self.settings.notifications:
            self.notifications.replace(self._notifier(settings))  # queued events handed over
            executor.notifier = self.notifications.current
        self.rules = rules
        self.settings = settings

    def status_snapshot(self) -> StatusSnapshot:
        """What the status page at ``/`` shows (one small journal query per page view)."""
        now = self.clock.now().timestamp()
        since = now - 86400
        return snapshot_from(
            now=now,
            started=self._started_wall,
            leader=self.elector.is_leader(),
            actions_paused=self.executor.paused,
            sources=[
                (s.name, s.watcher.last_report, s.watcher.last_success_wall) for s in self.sources
            ],
            tasks=[t for s in self.sources for t in s.watcher.actionable()],
            rules=self.rules,
            actions=self.journal.recent_grouped(since, limit=25),  # a failure streak: one row
            actions_since=since,
        )

    # --- health -------------------------------------------------------------------------------

    def _leader_view(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "leading": self.elector.is_leader(),
            "holder": self.elector.holder,
        }

    def liveness(self) -> tuple[bool, Mapping[str, Any]]:
        if not self.elector.is_leader():  # a follower runs no loop: nothing can stall
            return True, {"leader": self._leader_view(), "loops": {}}
        now = self.clock.monotonic()
        loops = {s.name: s.loop.heartbeat.as_dict(now) for s in self.sources}
        ok = all(v["alive"] for v in loops.values())
        return ok, {"leader": self._leader_view(), "loops": loops}

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        if not self.elector.is_leader():  # a healthy follower is ready (rolling updates)
            return True, {"config": "loaded", "leader": self._leader_view(), "sources": {}}
        sources = {
            s.name: {
                "ready": s.watcher.ready,
                "last_error": None
                if s.watcher.last_report is None
                else s.watcher.last_report.error,
            }
            for s in self.sources
        }
        ok = bool(sources) and all(v["ready"] for v in sources.values())
        # A journal that cannot be written means no action can be recorded, so none is taken:
        # not ready (a restart would not free the disk, so not unhealthy). See journalguard.
        ok = ok and self.executor.guard.ok
        view = {"config": "loaded", "leader": self._leader_view(), "sources": sources}
        return ok, {**view, "journal": self.executor.guard.view()}
