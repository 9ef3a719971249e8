"""What lives as long as the process, built once from the first configuration.

The transport (its timeouts and body limit), the action journal (SQLite or PostgreSQL, as
``state`` says), the leadership term it fences intents with, the executor (its grace memory and
configuration kill switch outlive reloads), the notifier host (one queue for the daemon's
whole life, see :class:`~taskwatch.actions.notify.NotifierHost`) and the elector with its Lease
store. A reload does not rebuild any of them: :class:`~taskwatch.runtime.Runtime` carries the same
:class:`Services` from one configuration to the next, and changes to ``http``, ``state`` or
``leader`` need a restart (the supervisor logs that). What a reload does change in them (the
executor's rules and caps, the notifier) :func:`taskwatch.runtime.build_runtime` applies.
``--dry-run`` is kept here (:attr:`Services.dry_run`) for the same reason: it outlives reloads,
and :func:`effective` is the one place it turns the executor's rules into dry-run ones.

Not guaranteed: building opens nothing (no file, no socket): the journal is opened by the
supervisor while it runs, the transport's connections on first use, the Lease store on first call.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from taskwatch.actions.backend import IN_FLIGHT
from taskwatch.actions.executor import Executor
from taskwatch.actions.journal import Journal
from taskwatch.actions.notify import Notifier, NotifierHost, Target
from taskwatch.actions.opening import journal_for
from taskwatch.clock import Clock
from taskwatch.leader.election import Elector, KubernetesElector, StandaloneElector, Timings
from taskwatch.leader.lease import KubernetesLeaseStore
from taskwatch.leader.sharding import ShardElector
from taskwatch.leader.shards import by_shard, shard_of
from taskwatch.metrics.registry import Metrics
from taskwatch.models import SourceKey
from taskwatch.policy.rules import Rule
from taskwatch.settings import Settings
from taskwatch.tencent.transport import Timeouts, Transport
from taskwatch.tenure import Tenure

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Services:
    """The long-lived parts every runtime built for this process shares."""

    clock: Clock
    metrics: Metrics
    rng: random.Random
    transport: Transport
    journal: Journal
    notifications: NotifierHost
    elector: Elector
    executor: Executor
    tenure: Tenure
    """This replica's leadership term in the journal (intents carry it with election on)."""
    lease_stores: list[KubernetesLeaseStore] = dataclasses.field(default_factory=list)
    """The Lease stores the elector uses (closed on stop); none without leader election."""
    sharding: ShardElector | None = None
    """With ``leader.shards`` above 1: the shards this replica holds (``elector`` is it too)."""
    dry_run: bool = False
    """``--dry-run``: every rule acts as dry-run in this process, whatever its ``enforce``, for
    the process's whole life (every runtime, so every reload, applies it: :func:`effective`)."""

    @property
    def identity(self) -> str:
        """This replica's name (logs, the Lease, ``X-TC-RequestClient`` with election on)."""
        return self.elector.identity

    def shard_of(self, account: str) -> int:
        """The shard of ``account`` (0 when accounts are not sharded)."""
        return 0 if self.sharding is None else shard_of(account, self.sharding.shards)

    def elector_of(self, shard: int) -> Elector:
        """Who may act on the accounts of ``shard``: its shard's view, or the one elector."""
        return self.elector if self.sharding is None else self.sharding.elector(shard)

    def leads(self, source: SourceKey) -> bool:
        """Whether this replica may act on ``source`` now (its account's shard is held)."""
        return self.elector_of(self.shard_of(source.account)).is_leader()


def build_services(
    settings: Settings,
    rules: list[Rule],
    *,
    clock: Clock,
    metrics: Metrics,
    rng: random.Random,
    transport: Transport | None = None,
    elector: Elector | None = None,
    dry_run: bool = False,
) -> Services:
    """The long-lived parts for ``settings``; ``transport`` and ``elector`` may be given (tests).
    The executor starts with ``rules`` (all as dry-run with ``dry_run``: :func:`effective`), the
    actions settings and the notifier of ``settings``; the kill-switch, dry-run and leader gauges
    are set."""
    transport = transport or Transport(
        timeouts=Timeouts(connect=settings.api.connect_timeout, total=settings.api.timeout),
        max_body=settings.api.max_body_bytes,
    )
    stores: list[KubernetesLeaseStore] = []
    sharding: ShardElector | None = None
    if elector is None:
        elector, stores = _elector(settings, clock=clock, metrics=metrics, rng=rng)
        sharding = elector if isinstance(elector, ShardElector) else None
    journal = journal_for(
        settings.state,
        clock=clock,
        # an intent younger than every attempt of a call may still be in flight
        in_flight=max(IN_FLIGHT, settings.api.retry_attempts * settings.api.timeout),
    )
    notifications = NotifierHost(build_notifier(settings, clock=clock, metrics=metrics))
    tenure = Tenure(
        journal,
        elector.identity,
        fenced=settings.leader.enabled,
        leading=elector.is_leader,
        holds=None if sharding is None else sharding.holds,
    )
    actions = settings.actions
    executor = Executor(
        rules=effective(rules, dry_run=dry_run),
        journal=journal,
        metrics=metrics,
        clock=clock,
        notifier=notifications.current,
        max_per_cycle=actions.max_per_cycle,
        attempts=actions.attempts,
        retry_after=actions.retry_after,
        paused=actions.paused,
        may_act=lambda source: services.leads(source),
        term=lambda source: tenure.current(services.shard_of(source.account)),
        shard_of=lambda source: services.shard_of(source.account),
    )
    metrics.set_actions_paused(actions.paused)
    metrics.set_dry_run(dry_run)
    metrics.set_leader(elector.is_leader())
    services = Services(
        clock=clock,
        metrics=metrics,
        rng=rng,
        transport=transport,
        journal=journal,
        notifications=notifications,
        elector=elector,
        executor=executor,
        tenure=tenure,
        lease_stores=stores,
        sharding=sharding,
        dry_run=dry_run,
    )
    if sharding is not None:
        metrics.shards_configured(
            {
                k: len(v)
                for k, v in by_shard((a.name for a in settings.accounts), sharding.shards).items()
            }
        )
    return services


def effective(rules: Sequence[Rule], *, dry_run: bool) -> list[Rule]:
    """The rules as the executor applies them: as written, or with ``dry_run`` every one with
    ``enforce`` off (a decision then records ``would`` and sends nothing; caps and grace hold as
    for any dry-run rule). The one place ``--dry-run`` is applied; the rules themselves (and the
    status page's view of what the file says) are left as they are."""
    if not dry_run:
        return list(rules)
    return [dataclasses.replace(r, enforce=False) if r.enforce else r for r in rules]


def _elector(
    settings: Settings, *, clock: Clock, metrics: Metrics, rng: random.Random
) -> tuple[Elector, list[KubernetesLeaseStore]]:
    leader = settings.leader
    identity = leader.identity_in()
    on_change: Callable[[bool], None] = metrics.leader_changed
    if not leader.enabled:
        return StandaloneElector(identity, on_change=on_change), []
    timings = Timings(
        lease_duration=leader.lease_duration,
        renew_deadline=leader.renew_deadline,
        retry_period=leader.retry_period,
    )
    stores: list[KubernetesLeaseStore] = []

    def store_for(name: str) -> KubernetesLeaseStore:
        """The first Lease's store connects; the others share its connection."""
        if stores:
            return stores[0].sibling(name)
        stores.append(
            KubernetesLeaseStore(
                name=name,
                namespace=leader.namespace_in(),
                kubeconfig=leader.kubeconfig,
                request_timeout=leader.renew_deadline,
            )
        )
        return stores[0]

    jitter = random.Random(rng.random())  # noqa: S311 - jitter
    if leader.shards > 1:
        sharding = ShardElector(
            store_for,
            base=leader.lease_name,
            shards=leader.shards,
            identity=identity,
            timings=timings,
            clock=clock,
            rng=jitter,
            on_change=metrics.shard_changed,
        )
        return sharding, stores
    elector = KubernetesElector(
        store_for(leader.lease_name),
        identity=identity,
        timings=timings,
        clock=clock,
        rng=jitter,
        on_change=on_change,
    )
    return elector, stores


def build_notifier(settings: Settings, *, clock: Clock, metrics: Metrics) -> Notifier | None:
    """The webhook notifier of ``settings.notifications`` (None when there is none). The
    :class:`NotifierHost` runs it; a reload builds another only when ``notifications`` changed."""
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


def warn_dry_run(rules: list[Rule], *, at: str) -> None:
    """``--dry-run`` holds: say how many enforcing policies it overrides (and which), at start
    and at every reload (a reloaded file may bring new ones)."""
    enforcing = [r.name for r in rules if r.enforce]
    log.warning(
        "dry_run.overriding",
        at=at,
        enforcing=len(enforcing),
        policies=enforcing,
        note="--dry-run: every policy acts as dry-run in this process; nothing is aborted, "
        "cancelled or deleted",
    )
