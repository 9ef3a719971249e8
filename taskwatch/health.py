"""What the running daemon says about itself: probes, the status page, and systemd's status line.

A :class:`Health` is a read-only view over the runtime the supervisor runs now (it asks for it
on every call, so a reload's swap is seen at once). It answers the HTTP server's
:class:`~taskwatch.web.server.HealthView` and :class:`~taskwatch.web.server.StatusView`, and it
is the ``after`` hook of every :class:`~taskwatch.cycle.Cycle`, keeping systemd told
(:mod:`taskwatch.web.sdnotify`).

* ``/healthz`` (:meth:`Health.liveness`) is ok while every loop keeps its rhythm (heartbeats),
  and always for a follower (it runs no loop).
* ``/readyz`` (:meth:`Health.readiness`) once the configuration is loaded and, on the leader,
  every source has completed one successful cycle and the journal can be written. A healthy
  follower is ready: a rolling update waits for the new pod to be ready while the old one leads.
  Its JSON says ``"dry_run": true`` while ``--dry-run`` overrides every ``enforce`` (that does not
  change readiness).
* systemd: ``READY=1`` once every source completed a cycle, then ``STATUS=`` after each cycle
  whose summary changed (:meth:`Health.cycle_ended`).

Not guaranteed: the views are snapshots taken without a lock; a cycle ending meanwhile may show
in one field of a response and not in another.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from taskwatch.actions.controls import who
from taskwatch.errors import StoreError
from taskwatch.leader.shards import by_shard
from taskwatch.runtime import Runtime
from taskwatch.web.sdnotify import SystemdNotifier, status_summary
from taskwatch.web.statusmodel import ShardRow
from taskwatch.web.statuspage import SavedRow, StatusSnapshot, snapshot_from

STATUS_WINDOW = 86400.0
"""Seconds of actions the status page lists."""


class Health:
    """Probes, status page and systemd status over the current runtime; see the module."""

    def __init__(
        self, current: Callable[[], Runtime], *, systemd: SystemdNotifier, started_wall: float
    ) -> None:
        self._current = current
        self.systemd = systemd
        self._started_wall = started_wall
        self._ready_sent = False
        self.last_status = ""
        """The last ``STATUS=`` summary (empty before the first cycle ended)."""

    # --- systemd ------------------------------------------------------------------------------

    def cycle_ended(self, acted: int) -> None:
        """A cycle ended having taken ``acted`` actions: ``READY=1`` the first time every source
        has completed one, ``STATUS=`` whenever the summary changed."""
        sources = self._current().sources
        reports = [s.watcher.last_report for s in sources]
        status = status_summary(
            ok=sum(1 for r in reports if r is not None and r.ok),
            failing=sum(1 for r in reports if r is not None and not r.ok),
            active_tasks=sum(len(s.watcher.tracker.active) for s in sources),
            actions=acted,
        )
        if not self._ready_sent and sources and all(s.watcher.ready for s in sources):
            self._ready_sent = True
            self.systemd.ready(status)
        elif status != self.last_status:
            self.systemd.status(status)
        self.last_status = status

    # --- probes -------------------------------------------------------------------------------

    def _leader_view(self) -> dict[str, Any]:
        services = self._current().services
        elector = services.elector
        view = {
            "identity": elector.identity,
            "leading": elector.is_leader(),
            "holder": elector.holder,
        }
        if services.sharding is not None:
            view["shards"] = sorted(services.sharding.held())
            view["members"] = services.sharding.members
        return view

    def alive(self) -> bool:
        """Whether every loop keeps its rhythm (what the systemd watchdog pings on)."""
        return self.liveness()[0]

    def liveness(self) -> tuple[bool, Mapping[str, Any]]:
        rt = self._current()
        if not rt.services.elector.is_leader():  # a follower runs no loop: nothing can stall
            return True, {"leader": self._leader_view(), "loops": {}}
        now = rt.services.clock.monotonic()
        held = [s for s in rt.sources if rt.services.leads(s.watcher.source)]  # shards held
        loops = {s.name: s.loop.heartbeat.as_dict(now) for s in held}
        ok = all(v["alive"] for v in loops.values())
        return ok, {"leader": self._leader_view(), "loops": loops}

    def readiness(self) -> tuple[bool, Mapping[str, Any]]:
        rt = self._current()
        dry_run = rt.services.dry_run
        if not rt.services.elector.is_leader():  # a healthy follower is ready (rolling updates)
            view = {"config": "loaded", "dry_run": dry_run, "leader": self._leader_view()}
            return True, {**view, "sources": {}}
        sources = {
            s.name: {
                "ready": s.watcher.ready,
                "last_error": None
                if s.watcher.last_report is None
                else s.watcher.last_report.error,
            }
            for s in rt.sources
            if rt.services.leads(s.watcher.source)  # with shards: the ones this replica holds
        }
        ok = bool(sources) and all(v["ready"] for v in sources.values())
        # A journal that cannot be written means no action can be recorded, so none is taken:
        # not ready (a restart would not free the disk, so not unhealthy). See actions.guard.
        guard = rt.services.executor.guard
        view = {
            "config": "loaded",
            "dry_run": dry_run,
            "leader": self._leader_view(),
            "sources": sources,
        }
        return ok and guard.ok, {**view, "journal": guard.view()}

    # --- the status page ----------------------------------------------------------------------

    def status_snapshot(self) -> StatusSnapshot:
        """What the status page at ``/`` shows (two small journal queries per rendering, which the
        server caches briefly). A journal that cannot be read shows no actions; ``/readyz`` says
        why. The spenders are priced by the runtime's price table; what enforced actions saved is
        read from the journal (every replica's, across restarts), or from this process's own
        counters while the journal cannot be read."""
        rt = self._current()
        services = rt.services
        now = services.clock.now().timestamp()
        since = now - STATUS_WINDOW
        try:
            actions = services.journal.recent_grouped(since, limit=25)  # a failure streak: one row
        except StoreError:
            actions = []
        try:
            totals, saved_from = services.journal.saved_since(since), "journal"
        except StoreError:
            totals, saved_from = services.metrics.saved_since(since), "process"
        saved = [SavedRow(s.policy, s.currency, s.saved, s.per_hour, s.actions) for s in totals]
        sharding = services.sharding
        mine = rt.sources  # with shards: the sources of the shards held here
        if sharding is not None:
            mine = [s for s in rt.sources if services.leads(s.watcher.source)]
        snap = snapshot_from(
            now=now,
            started=self._started_wall,
            leader=services.elector.is_leader(),
            actions_paused=services.executor.held,
            paused_by=who(services.executor.switch)[:160]
            if services.executor.switch.paused
            else "",
            sources=[(s.name, s.watcher.last_report, s.watcher.last_success_wall) for s in mine],
            tasks=[t for s in mine for t in s.watcher.actionable()],
            rules=rt.rules,
            dry_run=services.dry_run,
            actions=actions,
            actions_since=since,
            pricer=rt.pricer,
            saved=saved,
            saved_from=saved_from,
            saved_since=since,
        )
        return snap if sharding is None else dataclasses.replace(snap, shards=shard_rows(rt))


def shard_rows(rt: Runtime) -> list[ShardRow]:
    """Every shard of the runtime's accounts, held here or not (sharded accounts only)."""
    sharding = rt.services.sharding
    if sharding is None:
        return []
    assigned = by_shard((a.name for a in rt.settings.accounts), sharding.shards)
    return [ShardRow(k, sharding.holds(k), v) for k, v in sorted(assigned.items())]
