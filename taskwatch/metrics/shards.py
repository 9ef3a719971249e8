"""Which shards of the accounts this replica holds, and how they move (sharded accounts only).

With ``leader.shards`` above 1 every account belongs to one shard and each replica holds a share
of the shards (:mod:`taskwatch.leader.sharding`). Every replica exports every shard:
``taskwatch_shard_info{shard}`` is 1 for the shards it holds and 0 for the others, so ``sum by
(shard)`` over the replicas is 1 when all is well, 0 for a shard nobody holds (the alert
``TaskwatchShardUnheld``) and never more than 1 for long (a Lease gives "usually one"; the
journal fences the rest). ``taskwatch_shard_accounts{shard}`` is the configuration's assignment
(the same on every replica), ``taskwatch_shard_transitions_total{shard}`` counts gains and losses.

Not exported with ``shards: 1`` (``taskwatch_leader`` says it all). Shard numbers are bounded by
``leader.shards`` (at most 256), so the labels are too.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge


class ShardMetrics:
    """The shard metrics of :class:`~taskwatch.metrics.registry.Metrics` (a mixin: its
    ``__init__`` calls :meth:`_register_shards` once, with its registry)."""

    def _register_shards(self, r: CollectorRegistry) -> None:
        self.shard_info = Gauge(
            "taskwatch_shard_info",
            "1 for each shard of the accounts this replica holds, 0 for the others.",
            ["shard"],
            registry=r,
        )
        self.shard_accounts = Gauge(
            "taskwatch_shard_accounts",
            "Accounts assigned to each shard by the configuration.",
            ["shard"],
            registry=r,
        )
        self.shard_transitions = Counter(
            "taskwatch_shard_transitions",
            "Times this replica gained or lost a shard.",
            ["shard"],
            registry=r,
        )

    def shards_configured(self, accounts: Mapping[int, int]) -> None:
        """The assignment: shard → number of accounts; every shard exported (held 0 until
        gained, transitions at 0)."""
        for shard, count in accounts.items():
            label = str(shard)
            self.shard_accounts.labels(label).set(count)
            self.shard_info.labels(label)
            self.shard_transitions.labels(label)

    def shard_changed(self, shard: int, held: bool) -> None:
        """This replica gained (``held``) or lost ``shard``."""
        self.shard_info.labels(str(shard)).set(1 if held else 0)
        self.shard_transitions.labels(str(shard)).inc()
