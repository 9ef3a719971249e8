"""Everything built from one configuration: per-account clients and limiters, and the sources.

A reload builds a new :class:`Runtime` from the new settings, reusing what did not change: an
account whose connection settings (and the API settings) are unchanged keeps its client and its
limiter (so a throttled bucket stays slowed down), and a source whose account and product settings
are unchanged keeps its watcher (so its tracker does not rediscover every task as new). Loops are
always rebuilt, since they carry the interval and jitter, but each source's loop takes over the
:class:`~taskwatch.scheduler.Schedule` of the one it replaces: the first tick after a reload is the
one that was due (or, for a new interval, one new interval after the last cycle started), never an
immediate one, so reloads do not add cycles.

With leader election on, the replica's identity is appended to each account's ``client_suffix``
(``X-TC-RequestClient: taskwatch/0.1.0; <suffix>;<identity>``, in the header's alphabet), so the
API's logs (and the emulator's) tell which replica made each call.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from taskwatch.actions.notify import Notifier, Target
from taskwatch.clock import Clock
from taskwatch.limiter import BucketStats, Limiter
from taskwatch.metrics.registry import Metrics
from taskwatch.models import SourceKey
from taskwatch.products.base import Adapter
from taskwatch.products.dlc import DlcAdapter
from taskwatch.products.live import LiveAdapter
from taskwatch.products.mps import MpsAdapter
from taskwatch.scheduler import Loop, Schedule
from taskwatch.settings import Account, ProductSettings, Settings, client_suffix_of
from taskwatch.tencent.client import TencentClient
from taskwatch.tencent.credentials import from_config
from taskwatch.tencent.endpoints import EndpointPolicy
from taskwatch.tencent.retry import RetryPolicy
from taskwatch.tencent.transport import Transport
from taskwatch.watch import CycleReport, Watcher

Job = Callable[[Watcher], Awaitable[CycleReport]]
OnTimeout = Callable[[Watcher, float], object]


@dataclass(slots=True)
class Source:
    """A watcher and the loop that drives it."""

    watcher: Watcher
    loop: Loop
    key: str = ""
    """What the watcher was built from; equal keys across a reload mean it can be reused."""

    @property
    def name(self) -> str:
        return self.loop.name


@dataclass(slots=True)
class Runtime:
    settings: Settings
    clients: dict[str, TencentClient] = field(default_factory=dict)
    limiters: dict[str, Limiter] = field(default_factory=dict)
    account_keys: dict[str, str] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)

    def snapshot(self) -> list[BucketStats]:
        return [b for limiter in self.limiters.values() for b in limiter.snapshot()]


def _key(*parts: object) -> str:
    return json.dumps(parts, sort_keys=True, default=str)


def build_runtime(
    settings: Settings,
    *,
    clock: Clock,
    metrics: Metrics,
    transport: Transport,
    rng: random.Random,
    job: Job,
    previous: Runtime | None = None,
    replica: str | None = None,
    on_timeout: OnTimeout | None = None,
) -> Runtime:
    """A runtime for ``settings``, reusing the unchanged parts of ``previous``. A cycle its loop
    cancelled at the timeout goes to ``on_timeout`` (default: the watcher counts it failed)."""
    rt = Runtime(settings=settings)
    old_watchers = {str(s.watcher.source): s for s in previous.sources} if previous else {}
    api = settings.api.model_dump(mode="json")
    for account in settings.accounts:
        # What the client is made of: which regions and products are watched does not matter.
        account_key = _key(account.model_dump(mode="json", exclude={"regions", "products"}), api)
        if previous is not None and previous.account_keys.get(account.name) == account_key:
            client = previous.clients[account.name]
            limiter = previous.limiters[account.name]
        else:
            limiter, client = _client(
                settings,
                account,
                clock=clock,
                metrics=metrics,
                transport=transport,
                suffix=_suffix(account.client_suffix, replica),
            )
        rt.clients[account.name] = client
        rt.limiters[account.name] = limiter
        rt.account_keys[account.name] = account_key
        for adapter_factory, ps in _adapters(settings, account, client, clock):
            probe = adapter_factory()
            source_key = _key(account_key, ps.page_size, ps.detail_concurrency, ps.finish_sweep)
            old = old_watchers.get(str(probe.source))
            if old is not None and old.key == source_key:
                watcher = old.watcher
            else:
                watcher = Watcher(
                    adapter=probe,
                    metrics=metrics,
                    clock=clock,
                    finish_sweep=ps.finish_sweep,
                    rng=random.Random(rng.random()),  # noqa: S311 - jitter
                )
            loop = Loop(
                name=str(probe.source),
                interval=ps.interval,
                job=functools.partial(job, watcher),
                jitter=ps.jitter,
                on_skip=functools.partial(_skipped, metrics, probe.source),
                on_timeout=functools.partial(on_timeout or _timed_out, watcher),
                schedule=old.loop.schedule if old is not None else Schedule(),
            )
            rt.sources.append(Source(watcher=watcher, loop=loop, key=source_key))
    if previous is not None:
        kept = {s.name for s in rt.sources}
        for gone in previous.sources:
            if gone.name not in kept:
                metrics.forget(gone.watcher.source)
    return rt


def build_notifier(settings: Settings, *, clock: Clock, metrics: Metrics) -> Notifier | None:
    """The webhook notifier of ``settings.notifications`` (None when there is none). It is not
    part of the :class:`Runtime`: it lives as long as the daemon (see NotifierHost)."""
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
        for n in settings.notifications
    ]
    if not targets:
        return None
    return Notifier(targets, clock=clock, on_result=metrics.notification)


def _skipped(metrics: Metrics, source: SourceKey, _ticks: int) -> None:
    metrics.cycle_skipped(source)


def _timed_out(watcher: Watcher, timeout: float) -> None:
    watcher.timed_out(timeout)


def _suffix(configured: str | None, replica: str | None) -> str | None:
    """The account's suffix and the replica's identity (once), within the 128-character cap."""
    if replica is None:
        return configured
    mine = client_suffix_of(replica)
    if configured is None or configured == mine:
        return mine
    return f"{configured};{mine}"[:128]


def _client(
    settings: Settings,
    account: Account,
    *,
    clock: Clock,
    metrics: Metrics,
    transport: Transport,
    suffix: str | None,
) -> tuple[Limiter, TencentClient]:
    api = settings.api
    limiter = Limiter(
        budget=account.budget if account.budget is not None else api.budget,
        overrides=api.limit_overrides(),
        clock=clock,
    )
    client = TencentClient(
        credentials=from_config(account.credentials.to_spec()),
        transport=transport,
        account=account.name,
        endpoints=EndpointPolicy(
            root_domain=account.root_domain, regional=account.regional, override=account.endpoint
        ),
        gate=limiter,
        observer=metrics,
        clock=clock,
        retry=RetryPolicy(attempts=api.retry_attempts, deadline=api.retry_deadline),
        language=api.language,
        client_suffix=suffix,
    )
    return limiter, client


def _adapters(
    settings: Settings, account: Account, client: TencentClient, clock: Clock
) -> list[tuple[Callable[[], Adapter], ProductSettings]]:
    """The sources of one account: MPS once (task ids are global), DLC and Live per region."""
    products = settings.products
    wanted = set(account.products) if account.products is not None else {"mps", "dlc", "live"}
    out: list[tuple[Callable[[], Adapter], ProductSettings]] = []

    def adapter(cls: type[Adapter], region: str | None, ps: ProductSettings) -> Adapter:
        return cls(  # type: ignore[call-arg]
            client=client,
            account=account.name,
            region=region,
            clock=clock,
            page_size=ps.page_size,
            detail_concurrency=ps.detail_concurrency,
        )

    if "mps" in wanted and products.mps.enabled:
        out.append((functools.partial(adapter, MpsAdapter, None, products.mps), products.mps))
    for region in account.regions:
        if "dlc" in wanted and products.dlc.enabled:
            out.append((functools.partial(adapter, DlcAdapter, region, products.dlc), products.dlc))
        if "live" in wanted and products.live.enabled:
            out.append(
                (functools.partial(adapter, LiveAdapter, region, products.live), products.live)
            )
    return out
