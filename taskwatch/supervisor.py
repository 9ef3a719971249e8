"""The composition root: builds every part from the settings and runs them as named tasks.

One anyio task group holds one loop per source (account, product, region) and the HTTP server.
Parts get their dependencies by keyword (clock, metrics, clients), so tests build a supervisor
against the emulator with a fresh registry and run exactly one cycle (:meth:`Supervisor.run_once`)
or the real loops.

Per account: one API client and one limiter (Tencent Cloud counts rate limits per account, across
regions); all accounts share one pooled HTTP transport. SIGTERM and SIGINT stop the loops at once
and close the server and the connections within a bound.

Health: ``/healthz`` is ok while every loop keeps its rhythm (heartbeats); ``/readyz`` once the
configuration is loaded and every source has completed one successful cycle.
"""

from __future__ import annotations

import contextlib
import functools
import random
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from taskwatch.clock import Clock, SystemClock
from taskwatch.executor import Executor
from taskwatch.limiter import BucketStats, Limiter
from taskwatch.metrics import Metrics
from taskwatch.models import SourceKey
from taskwatch.notify import Notifier, Target
from taskwatch.policy.rules import Rule, compile_rules
from taskwatch.products.base import Adapter
from taskwatch.products.dlc import DlcAdapter
from taskwatch.products.live import LiveAdapter
from taskwatch.products.mps import MpsAdapter
from taskwatch.scheduler import Loop
from taskwatch.server import HttpServer, build_app
from taskwatch.settings import Account, ProductSettings, Settings
from taskwatch.store import Journal
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import from_config
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.retry import RetryPolicy
from taskwatch.tencent.transport import Timeouts, Transport
from taskwatch.watch import CycleReport, Watcher

log = structlog.get_logger(__name__)

STOP_GRACE = 10.0
"""Seconds allowed for closing the server and connections after a stop signal."""


@dataclass(slots=True)
class Source:
    """A watcher and the loop that drives it."""

    watcher: Watcher
    loop: Loop


class Supervisor:
    """Builds and runs taskwatch. Implements the HTTP server's health view."""

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
    ) -> None:
        self.settings = settings
        self.rules = (
            rules if rules is not None else compile_rules(settings.policies, source=config_source)
        )
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics or Metrics(clock=self.clock)
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.transport = transport or Transport(
            timeouts=Timeouts(connect=settings.api.connect_timeout, total=settings.api.timeout)
        )
        self.limiters: dict[str, Limiter] = {}
        self.clients: dict[str, TencentClient] = {}
        self.sources: list[Source] = []
        self.http: HttpServer | None = None
        self._stop = anyio.Event()
        self.started = anyio.Event()
        """Set once the HTTP server listens and the loops are starting."""
        self.journal = Journal(settings.state.path, clock=self.clock)
        self.notifier = self._notifier()
        self.executor = Executor(
            rules=self.rules,
            journal=self.journal,
            metrics=self.metrics,
            clock=self.clock,
            notifier=self.notifier,
            max_per_cycle=settings.actions.max_per_cycle,
            paused=settings.actions.paused,
        )
        self.metrics.set_actions_paused(settings.actions.paused)
        for account in settings.accounts:
            self._build_account(account)
        self.metrics.watch_limiter(self)
        self.metrics.set_leader(True)
        self.metrics.config_loaded(True)

    # --- building -----------------------------------------------------------------------------

    def _build_account(self, account: Account) -> None:
        api = self.settings.api
        limiter = Limiter(
            budget=account.budget if account.budget is not None else api.budget,
            overrides=api.limit_overrides(),
            clock=self.clock,
        )
        client = TencentClient(
            credentials=from_config(account.credentials.to_spec()),
            transport=self.transport,
            account=account.name,
            endpoints=EndpointPolicy(
                root_domain=account.root_domain,
                regional=account.regional,
                override=account.endpoint,
            ),
            gate=limiter,
            observer=self.metrics,
            clock=self.clock,
            retry=RetryPolicy(attempts=api.retry_attempts, deadline=api.retry_deadline),
            language=api.language,
            client_suffix=account.client_suffix,
        )
        self.limiters[account.name] = limiter
        self.clients[account.name] = client
        products = self.settings.products
        wanted = set(account.products) if account.products is not None else {"mps", "dlc", "live"}
        if "mps" in wanted and products.mps.enabled:
            self._add(self._mps(client, account, products.mps), products.mps)
        for region in account.regions:
            if "dlc" in wanted and products.dlc.enabled:
                adapter: Adapter = DlcAdapter(
                    client=client,
                    account=account.name,
                    region=region,
                    clock=self.clock,
                    page_size=products.dlc.page_size,
                    detail_concurrency=products.dlc.detail_concurrency,
                )
                self._add(adapter, products.dlc)
            if "live" in wanted and products.live.enabled:
                adapter = LiveAdapter(
                    client=client,
                    account=account.name,
                    region=region,
                    clock=self.clock,
                    page_size=products.live.page_size,
                    detail_concurrency=products.live.detail_concurrency,
                )
                self._add(adapter, products.live)

    def _notifier(self) -> Notifier | None:
        targets = [
            Target(
                name=n.name,
                url=n.url.get_secret_value(),
                format=n.format,
                batch_size=n.batch_size,
                flush_interval=n.flush_interval,
                timeout=n.timeout,
                attempts=n.attempts,
                results=frozenset(str(r) for r in n.results),
            )
            for n in self.settings.notifications
        ]
        if not targets:
            return None
        return Notifier(targets, clock=self.clock, on_result=self.metrics.notification)

    def _mps(self, client: TencentClient, account: Account, ps: ProductSettings) -> Adapter:
        return MpsAdapter(
            client=client,
            account=account.name,
            region=None,
            clock=self.clock,
            page_size=ps.page_size,
            detail_concurrency=ps.detail_concurrency,
        )

    def _add(self, adapter: Adapter, ps: ProductSettings) -> None:
        watcher = Watcher(
            adapter=adapter,
            metrics=self.metrics,
            clock=self.clock,
            finish_sweep=ps.finish_sweep,
            rng=random.Random(self.rng.random()),  # noqa: S311
        )
        source = adapter.source
        loop = Loop(
            name=str(source),
            interval=ps.interval,
            job=functools.partial(self._cycle, watcher),
            jitter=ps.jitter,
            on_skip=functools.partial(self._skipped, source),
        )
        self.sources.append(Source(watcher=watcher, loop=loop))

    async def _cycle(self, watcher: Watcher) -> CycleReport:
        """Scan, then (only after a successful scan) apply the policies to what it saw."""
        report = await watcher.cycle()
        if report.ok and self.rules:
            await self.executor.run(watcher.adapter, watcher.actionable())
        return report

    def _skipped(self, source: SourceKey, _ticks: int) -> None:
        self.metrics.cycle_skipped(source)

    # --- running ------------------------------------------------------------------------------

    async def run_once(self) -> list[CycleReport]:
        """One cycle of every source, concurrently; the reports in source order."""
        reports: list[CycleReport | None] = [None] * len(self.sources)

        async def one(i: int, s: Source) -> None:
            reports[i] = await self._cycle(s.watcher)

        with self._journal_open():
            async with self.transport, anyio.create_task_group() as tg:
                for i, s in enumerate(self.sources):
                    tg.start_soon(one, i, s, name=f"once:{s.loop.name}")
            if self.notifier is not None:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self.notifier.run, name="notify")
                    await self.notifier.aclose()
                    tg.cancel_scope.cancel()
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

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        """Serve HTTP and run every loop until :meth:`stop` or SIGTERM/SIGINT."""
        self.http = HttpServer(build_app(metrics=self.metrics, health=self, controls=self))
        with self._journal_open():
            await self._serve(install_signal_handlers)

    async def _serve(self, install_signal_handlers: bool) -> None:
        assert self.http is not None
        async with self.transport:
            await self.http.start(self.settings.http.listen)
            log.info(
                "taskwatch.started",
                listen=self.http.url,
                sources=[s.loop.name for s in self.sources],
            )
            self.started.set()
            try:
                async with anyio.create_task_group() as tg:
                    if install_signal_handlers:
                        tg.start_soon(self._signals, name="signals")
                    if self.notifier is not None:
                        tg.start_soon(self.notifier.run, name="notify")
                    for s in self.sources:
                        tg.start_soon(self._loop, s, name=f"loop:{s.loop.name}")
                    await self._stop.wait()
                    tg.cancel_scope.cancel()
            finally:
                with anyio.move_on_after(STOP_GRACE, shield=True):
                    if self.notifier is not None:
                        await self.notifier.aclose()
                    await self.http.stop()
                log.info("taskwatch.stopped")

    async def _loop(self, source: Source) -> None:
        await source.loop.run(clock=self.clock, rng=random.Random(self.rng.random()))  # noqa: S311

    async def _signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("taskwatch.signal", signal=signal.Signals(signum).name)
                self.stop()
                return

    def stop(self) -> None:
        self._stop.set()

    def pause(self) -> None:
        """The kill switch (``POST /-/pause``): no action until :meth:`resume`."""
        self.executor.pause()

    def resume(self) -> None:
        self.executor.resume()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def snapshot(self) -> list[BucketStats]:
        """Every account's buckets, for the rate-limit gauges."""
        return [b for limiter in self.limiters.values() for b in limiter.snapshot()]

    # --- health -------------------------------------------------------------------------------

    def liveness(self) -> tuple[bool, Mapping[str, Any]]:
        now = self.clock.monotonic()
        loops = {s.loop.name: s.loop.heartbeat.as_dict(now) for s in self.sources}
        ok = all(v["alive"] for v in loops.values())
        return ok, {"loops": loops}

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        sources = {
            s.loop.name: {
                "ready": s.watcher.ready,
                "last_error": None
                if s.watcher.last_report is None
                else s.watcher.last_report.error,
            }
            for s in self.sources
        }
        ok = bool(sources) and all(v["ready"] for v in sources.values())
        return ok, {"config": "loaded", "sources": sources}
