"""Runs what :mod:`taskwatch.runtime` built: named tasks, signals, and reload as a swap.

The supervisor builds nothing itself: :func:`~taskwatch.services.build_services` makes the
long-lived parts once, :func:`~taskwatch.runtime.build_runtime` makes a :class:`Runtime` from each
configuration, :class:`~taskwatch.health.Health` answers the probes, the status page and systemd.
One anyio task group holds the HTTP server, the signal handler, the systemd watchdog, the elector,
the task-notification intake (:mod:`taskwatch.hinting`), the webhook notifier host (one for the
daemon's whole life), and an inner group with one loop per source; each loop calls its source's
:class:`~taskwatch.cycle.Cycle` (scan, then act). Parts get their dependencies by keyword (clock,
metrics, transport), so tests build a supervisor against the emulator with a fresh registry and
run one cycle (:meth:`Supervisor.run_once`) or the real loops.

**Reload** (SIGHUP; ``POST /-/reload`` with ``http.lifecycle``): the file is read and validated
again (policies compiled); a bad file changes nothing (the last good configuration stays, the
failure is logged and ``taskwatch_config_last_reload_successful`` drops to 0). A good one is built
into a new runtime (reusing unchanged parts, see :mod:`taskwatch.runtime`) and swapped in at once:
each loop finishes the cycle in flight, then the new loops start on the tick their source had due
(see :mod:`taskwatch.leading`). ``http``, ``state``, ``leader`` and ``metrics`` (histogram buckets)
changes need a restart (logged).
The web config file (``http.web_config``) is read again too and counts: a bad one fails the whole
reload the same way; a good one applies to the next request and TLS handshake
(:class:`~taskwatch.web.webconfig.LiveWebConfig`).
``--dry-run`` (``dry_run=True``) holds for the process's life: a reloaded ``enforce: true`` stays
dry-run (see :func:`taskwatch.services.effective`), and each start and reload logs a
``dry_run.overriding`` warning counting the enforcing policies it overrides.

**systemd** (``Type=notify``): READY=1 and STATUS= come from :class:`~taskwatch.health.Health`;
WATCHDOG=1 while every loop keeps its rhythm, RELOADING=1 around a reload, STOPPING=1 on stop.

**Leadership** (``leader.enabled``; see ``taskwatch.leader.election``): an elector task runs beside
the server; only the leader runs the source loops (:mod:`taskwatch.leading`), a follower serves
HTTP and makes no Tencent Cloud API call. The executor asks the elector right before each
destructive call. On a graceful stop the loops stop first, then the lease is released, so a
rolling update hands over within about a ``retry_period``. The replica's identity goes into every
log line (``replica=``) and, with election on, into ``X-TC-RequestClient``.

Health and readiness: see :mod:`taskwatch.health`.
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
from taskwatch.actions.notify import NotifierHost
from taskwatch.clock import Clock, SystemClock
from taskwatch.cost import Pricer
from taskwatch.errors import ConfigError, StoreError
from taskwatch.health import Health
from taskwatch.hinting import Intake
from taskwatch.leader.election import Elector
from taskwatch.leading import Leading
from taskwatch.limiter import BucketStats
from taskwatch.metrics.registry import Metrics
from taskwatch.models import Switch
from taskwatch.policy.rules import Rule, compile_rules
from taskwatch.runtime import Runtime, Source, build_runtime
from taskwatch.runtime import load_config as load_config
from taskwatch.services import build_services, warn_dry_run
from taskwatch.settings import Settings
from taskwatch.tencent.transport import Transport
from taskwatch.watch import CycleReport
from taskwatch.web.sdnotify import SystemdNotifier, watchdog_loop
from taskwatch.web.server import HttpServer, build_app
from taskwatch.web.statuspage import StatusSnapshot
from taskwatch.web.webconfig import LiveWebConfig, WebConfig, load_web_config

log = structlog.get_logger(__name__)

STOP_GRACE = 10.0
"""Seconds allowed for closing the server and connections after a stop signal."""


class Supervisor:
    """Runs taskwatch; answers the HTTP server's controls (and, through :class:`Health`, its
    probes and status page)."""

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
        dry_run: bool = False,
    ) -> None:
        self.config_path = config_path
        if rules is None:
            rules = compile_rules(
                settings.policies, source=config_source, pricer=Pricer(settings.prices)
            )
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics or Metrics(clock=self.clock, buckets=settings.metrics.buckets)
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.systemd = systemd or SystemdNotifier.from_env()
        self.http: HttpServer | None = None
        self.web_config: LiveWebConfig | None = None
        self.started = anyio.Event()
        """Set once the HTTP server listens and the loops are starting."""
        self.services = build_services(
            settings,
            rules,
            clock=self.clock,
            metrics=self.metrics,
            rng=self.rng,
            transport=transport,
            elector=elector,
            dry_run=dry_run,
        )
        if dry_run:
            warn_dry_run(rules, at="start")
        started = self.clock.now().timestamp()
        self.health = Health(lambda: self.runtime, systemd=self.systemd, started_wall=started)
        self.runtime: Runtime = self._build(settings, rules, previous=None)
        self.leading = Leading(
            lambda: self.runtime.sources,
            elector=self.elector,
            clock=self.clock,
            rng=self.rng,
            on_lead=self.services.tenure.reset,
            shard_of=lambda source: self.services.shard_of(source.watcher.source.account),
            elector_of=self.services.elector_of,
        )
        if self.services.sharding is not None:  # a shard handed back: its loops stop first
            self.services.sharding.on_handing_back = self.leading.until_stopped
        self.intake = Intake(
            settings=lambda: self.settings,
            sources=lambda: self.runtime.sources,
            leading=self.elector.is_leader,
            leads=lambda source: self.services.leads(source.watcher.source),
            metrics=self.metrics,
            clock=self.clock,
            identity=self.services.identity,
        )
        self.metrics.watch_limiter(self)
        self.metrics.config_loaded(True)

    def _build(self, settings: Settings, rules: list[Rule], previous: Runtime | None) -> Runtime:
        return build_runtime(
            settings,
            rules,
            services=self.services,
            previous=previous,
            after_cycle=self.health.cycle_ended,
        )

    # --- what runs now ------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def sources(self) -> list[Source]:
        return self.runtime.sources

    @property
    def limiters(self) -> Mapping[str, Any]:
        return self.runtime.limiters

    @property
    def transport(self) -> Transport:
        return self.services.transport

    @property
    def journal(self) -> Journal:
        return self.services.journal

    @property
    def executor(self) -> Executor:
        return self.services.executor

    @property
    def notifications(self) -> NotifierHost:
        return self.services.notifications

    @property
    def elector(self) -> Elector:
        return self.services.elector

    def snapshot(self) -> list[BucketStats]:  # the rate-limit gauges ask at scrape time
        return self.runtime.snapshot()

    async def run_once(self) -> list[CycleReport]:
        """One cycle of every source, concurrently; the reports in source order."""
        sources = list(self.sources)
        reports: list[CycleReport | None] = [None] * len(sources)

        async def one(i: int, s: Source) -> None:
            reports[i] = await s.cycle()

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
        web = self.settings.http.web_config
        web_config = LiveWebConfig(load_web_config(web)) if web is not None else None
        self.web_config = web_config
        self.http = HttpServer(
            build_app(
                metrics=self.metrics,
                health=self.health,
                controls=self,
                status=self.health,
                lifecycle=self.settings.http.lifecycle,
                events=self.intake.on_main_listener(),
            )
        )
        replica = self.services.identity
        with self._journal_open(), structlog.contextvars.bound_contextvars(replica=replica):
            await self._serve(self.http, web_config, install_signal_handlers)

    async def _serve(self, http: HttpServer, web_config: Any, signals: bool) -> None:
        async with self.transport:
            await http.start(self.settings.http.listen, web_config=web_config)
            try:
                await self.intake.start(web_config)
                async with anyio.create_task_group() as tg:
                    if signals:  # before announcing: an early SIGHUP must reload
                        await tg.start(self._signals, name="signals")
                    if interval := self.systemd.watchdog_interval():
                        tg.start_soon(self._watchdog, interval / 2, name="watchdog")
                    tg.start_soon(self.elector.run, name="elector")
                    tg.start_soon(self.notifications.run, name="notifications")
                    tg.start_soon(self.intake.run, name="hints")
                    log.info(
                        "taskwatch.started",
                        listen=http.url,
                        sources=[s.name for s in self.sources],
                        leader_election=self.settings.leader.enabled,
                    )
                    self.started.set()
                    await self.leading.run()
                    await self.notifications.aclose()  # the loops have stopped: nothing to add
                    tg.cancel_scope.cancel()
            finally:
                self.systemd.stopping()
                with anyio.move_on_after(STOP_GRACE, shield=True):
                    await self.elector.release()  # the loops have stopped: hand over now
                    for store in self.services.lease_stores:
                        await store.close()
                with anyio.move_on_after(STOP_GRACE, shield=True):
                    await self.intake.stop()
                    await http.stop()
                log.info("taskwatch.stopped")

    async def _watchdog(self, interval: float) -> None:
        await watchdog_loop(self.systemd, healthy=self.health.alive, interval=interval)

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
        self.leading.stop()

    @property
    def stopped(self) -> bool:
        return self.leading.stopped

    # --- controls -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _journal_at_hand(self) -> Iterator[None]:
        """The journal, open: as it is while the daemon runs, or opened for the call (a switch
        flipped between two :meth:`run_once`)."""
        if self.journal.is_open:
            yield
            return
        with self.journal:
            yield

    def pause(self, *, actor: str = "api", reason: str = "") -> dict[str, Any]:
        """The shared kill switch (``POST /-/pause``): kept in the journal, so every replica
        sharing it holds at its next intent, and it survives restarts until :meth:`resume`. If
        the journal refuses the write, this process holds anyway (until a resume) and the
        :class:`~taskwatch.errors.StoreError` is raised for the caller to report."""
        try:
            with self._journal_at_hand():
                switch = self.journal.set_switch(paused=True, actor=actor, reason=reason)
        except StoreError:
            self.executor.hold_here()
            raise
        self.executor.observe_switch(switch)
        return _switch_view(switch)

    def resume(self, *, actor: str = "api", reason: str = "") -> dict[str, Any]:
        """Release the shared kill switch (``POST /-/resume``), and a pause this process held
        alone because the journal refused it. ``actions.paused: true`` in the file still holds:
        the file's switch is changed in the file."""
        with self._journal_at_hand():
            switch = self.journal.set_switch(paused=False, actor=actor, reason=reason)
        self.executor.observe_switch(switch)
        self.executor.release_here()
        return _switch_view(switch)

    async def reload(self) -> tuple[bool, str]:
        """Re-read the configuration file; keep the last good one if the new one is bad."""
        if self.config_path is None:
            return False, "taskwatch was not started from a configuration file"
        self.systemd.reloading()
        try:
            settings, rules = load_config(self.config_path)
            web = self._reread_web_config()
        except ConfigError as exc:
            self.metrics.config_loaded(False)
            log.error("config.reload_failed", reason=str(exc))
            self.systemd.ready(f"reload failed, kept the last good configuration: {exc}")
            return False, str(exc)
        for key in ("http", "state", "leader", "metrics"):
            if getattr(settings, key) != getattr(self.settings, key):
                log.warning("config.restart_needed", key=key)
        if self.services.dry_run:
            warn_dry_run(rules, at="reload")
        if web is not None and self.web_config is not None:
            self.web_config.swap(web)
        self.intake.reload(settings)
        previous, self.runtime = self.runtime, self._build(settings, rules, previous=self.runtime)
        self.runtime.install(previous)
        self.metrics.config_loaded(True)
        log.info("config.reloaded", sources=[s.name for s in self.sources], rules=len(rules))
        self.systemd.ready(self.health.last_status or "reloaded")
        self.leading.swap()
        return True, "reloaded"

    def _reread_web_config(self) -> WebConfig | None:
        """The web config in use, read again (its path is the running one: a new
        ``http.web_config`` path takes a restart). A bad one fails the whole reload."""
        path = self.settings.http.web_config
        return load_web_config(path) if path is not None and self.web_config is not None else None

    # --- views (see taskwatch.health) ---------------------------------------------------------

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        return self.health.readiness()

    def status_snapshot(self) -> StatusSnapshot:
        return self.health.status_snapshot()


def _switch_view(switch: Switch) -> dict[str, Any]:
    """What ``POST /-/pause`` and ``/-/resume`` answer: the shared switch as the journal holds
    it."""
    return {
        "actions_paused": switch.paused,
        "shared": True,
        "by": switch.actor,
        "at": switch.time,
        "reason": switch.reason,
    }
