"""The process's own metrics: build, configuration, mode, leadership, policies, actions, journal.

Split out of :mod:`taskwatch.metrics.registry` along one line: these metrics describe what the
process *is* and what it *decided* (its version, whether its configuration loaded, whether it
leads, whether it runs with ``--dry-run``, what its policies matched and did, whether a kill switch
holds, how its webhooks and journal fare), while the registry's own describe what it *saw* (tasks,
API calls, scans). :class:`ProcessMetrics` is a mixin of :class:`~taskwatch.metrics.registry.
Metrics`, the one facade callers use; the names and labels here are the same contract (design §5).

Series that an alert waits on are exported at 0 from the start (the journal's error counters, the
dry-run gauge, the saved-spend counters of every configured policy), so the first increase is
visible.

Saved spend (:meth:`ProcessMetrics.action_saved`): an enforced action that stopped a task adds
what the task would still have cost (its rate times the time it would still have run) to
``taskwatch_actions_saved_cost_total``; when that time is unknown, its rate goes to
``taskwatch_actions_saved_cost_per_hour_total`` instead (spend avoided per hour, open-ended). Both
are estimates from list prices, never a bill. The last day of them is also kept in memory
(:meth:`ProcessMetrics.saved_since`) for the status page, which says so: it starts empty at each
start of the process.

Not guaranteed: ``policy`` label values are rule names from the configuration; they are bounded
only by the configuration's size, not by a :class:`~taskwatch.metrics.vocabulary.LabelGuard`.
"""

from __future__ import annotations

import platform
from collections import deque
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Info

from taskwatch.clock import Clock
from taskwatch.models import Saved

JOURNAL_OPERATIONS = ("read", "intent", "outcome", "record")
SAVED_MEMORY = 86400.0
"""Seconds of saved-spend events kept in memory for :meth:`ProcessMetrics.saved_since`."""
SAVED_MEMORY_MAX = 10_000
"""Saved-spend events kept in memory at most (a storm of actions cannot grow it unbounded)."""


class ProcessMetrics:
    """The process metrics of :class:`~taskwatch.metrics.registry.Metrics` (a mixin: its
    ``__init__`` calls :meth:`_register_process` once, with its registry)."""

    _clock: Clock

    def _register_process(self, r: CollectorRegistry, *, version: str) -> None:
        self.build_info = Info(
            "taskwatch_build",
            "The running taskwatch version and Python version.",
            registry=r,
        )
        self.build_info.info({"version": version, "python": platform.python_version()})
        self.config_reload_ok = Gauge(
            "taskwatch_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded, 0 if it failed.",
            registry=r,
        )
        self.config_reload_success = Gauge(
            "taskwatch_config_last_reload_success_timestamp_seconds",
            "UTC time of the last successful configuration (re)load.",
            registry=r,
        )
        self.dry_run = Gauge(
            "taskwatch_dry_run",
            "1 while this process runs with --dry-run (every policy acts as dry-run, whatever "
            "its enforce), 0 otherwise.",
            registry=r,
        )
        self.dry_run.set(0)
        self.leader = Gauge(
            "taskwatch_leader",
            "1 while this replica leads (acts and scans), 0 while it stands by.",
            registry=r,
        )
        self.leader_transitions = Counter(
            "taskwatch_leader_transitions",
            "Times this replica started or stopped leading.",
            registry=r,
        )
        # Policies. `policy` is a rule name from the configuration: bounded, chosen by operators.
        self.policy_matches = Counter(
            "taskwatch_policy_matches",
            "Tasks that started matching a policy (each task counted once per match streak).",
            ["policy"],
            registry=r,
        )
        self.policy_actions = Counter(
            "taskwatch_policy_actions",
            "Policy decisions by outcome: done, would, already_done, skipped_cap, fenced, "
            "failed, unknown.",
            ["account", "product", "policy", "action", "result"],
            registry=r,
        )
        self.actions_paused = Gauge(
            "taskwatch_actions_paused",
            "1 while a kill switch holds every action back (actions.paused, or the journal's).",
            registry=r,
        )
        self.notifications = Counter(
            "taskwatch_notifications",
            "Webhook notification batches and events by result: sent, failed, dropped.",
            ["target", "result"],
            registry=r,
        )
        # The journal: every failed read or write, so an alert sees the first one (series at 0).
        self.journal_errors = Counter(
            "taskwatch_journal_errors",
            "Journal operations that failed: read, intent, outcome, record.",
            ["operation"],
            registry=r,
        )
        for operation in JOURNAL_OPERATIONS:
            self.journal_errors.labels(operation=operation)
        # Saved spend (estimates): per policy and currency, exported at 0 per configured policy.
        self.saved_cost = Counter(
            "taskwatch_actions_saved_cost",
            "Estimated spend enforced actions avoided: the task's rate times the time it would "
            "still have run (its planned end, progress, or the policy's assume_runs_for).",
            ["policy", "currency"],
            registry=r,
        )
        self.saved_cost_per_hour = Counter(
            "taskwatch_actions_saved_cost_per_hour",
            "Estimated spend rates (per hour) enforced actions stopped where the time the task "
            "would still have run is unknown.",
            ["policy", "currency"],
            registry=r,
        )
        self._saved: deque[tuple[float, str, str, float | None, float]] = deque(
            maxlen=SAVED_MEMORY_MAX
        )

    # --- configuration and mode ---------------------------------------------------------------

    def config_loaded(self, ok: bool) -> None:
        """The configuration was (re)loaded: ``ok`` is whether it was accepted."""
        self.config_reload_ok.set(1 if ok else 0)
        if ok:
            self.config_reload_success.set(self._clock.now().timestamp())

    def set_dry_run(self, dry_run: bool) -> None:
        """Whether this process overrides every ``enforce: true`` (``--dry-run``)."""
        self.dry_run.set(1 if dry_run else 0)

    # --- policies and actions -----------------------------------------------------------------

    def policy_matched(self, policy: str) -> None:
        self.policy_matches.labels(policy=policy).inc()

    def policy_action(
        self, policy: str, action: str, result: str, *, account: str, product: str
    ) -> None:
        """A policy decision on a task of ``account``'s ``product`` ended with ``result``."""
        self.policy_actions.labels(
            account=account, product=product, policy=policy, action=action, result=result
        ).inc()

    def policies_configured(self, policies: Iterable[str], currency: str) -> None:
        """Export the saved-spend counters of ``policies`` at 0 (a reload adds the new ones; a
        dropped policy's series stay, as counters do), so an alert sees their first increase."""
        for policy in policies:
            self.saved_cost.labels(policy=policy, currency=currency)
            self.saved_cost_per_hour.labels(policy=policy, currency=currency)

    def action_saved(
        self, policy: str, currency: str, saved: float | None, per_hour: float
    ) -> None:
        """An enforced action of ``policy`` stopped a task: ``saved`` (its rate times the time it
        would still have run) when that time is known, else ``None`` and its rate ``per_hour``
        is counted as avoided per hour. Negative figures are counted as 0 (a counter only
        grows)."""
        if saved is not None:
            self.saved_cost.labels(policy=policy, currency=currency).inc(max(0.0, saved))
        else:
            self.saved_cost_per_hour.labels(policy=policy, currency=currency).inc(
                max(0.0, per_hour)
            )
        now = self._clock.now().timestamp()
        self._saved.append((now, policy, currency, saved, per_hour))
        while self._saved and self._saved[0][0] < now - SAVED_MEMORY:
            self._saved.popleft()

    def saved_since(self, since: float) -> list[Saved]:
        """What enforced actions saved since ``since`` (UTC epoch seconds, at most
        :data:`SAVED_MEMORY` ago), per policy and currency, from this process's memory: empty
        after a restart, and not shared between replicas (the journal is)."""
        out: dict[tuple[str, str], Saved] = {}
        for when, policy, currency, saved, per_hour in self._saved:
            if when < since:
                continue
            was = out.get((policy, currency), Saved(policy, currency))
            out[(policy, currency)] = Saved(
                policy,
                currency,
                was.saved + (max(0.0, saved) if saved is not None else 0.0),
                was.per_hour + (max(0.0, per_hour) if saved is None else 0.0),
                was.actions + 1,
            )
        return sorted(out.values(), key=lambda s: (-s.saved, -s.per_hour, s.policy))

    def set_actions_paused(self, paused: bool) -> None:
        self.actions_paused.set(1 if paused else 0)

    def notification(self, target: str, result: str) -> None:
        self.notifications.labels(target=target, result=result).inc()

    def journal_error(self, operation: str) -> None:
        """A journal ``operation`` (read, intent, outcome, record) failed."""
        self.journal_errors.labels(operation=operation).inc()

    # --- leadership ---------------------------------------------------------------------------

    def set_leader(self, leading: bool) -> None:
        """Whether this replica leads now (a standalone process always does)."""
        self.leader.set(1 if leading else 0)

    def leader_changed(self, leading: bool) -> None:
        """This replica started (``True``) or stopped leading."""
        self.set_leader(leading)
        self.leader_transitions.inc()
