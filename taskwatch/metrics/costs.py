"""The estimated spend gauges: what the tracked tasks cost per hour now, and which have no price.

``taskwatch_tasks_cost_per_hour{account,product,type,currency}`` is the sum of the spend rates
(:attr:`Estimate.per_hour <taskwatch.cost.Estimate.per_hour>`) of the tasks a source's last good
scan holds, the very tasks ``taskwatch_tasks`` counts (:func:`~taskwatch.metrics.collectors.
counted`): running ones add their rate, waiting and ended ones 0 (so a type whose tasks are all
priced but none running shows 0, not nothing). ``taskwatch_tasks_unpriced{account,product,type}``
counts the same tasks that have no estimate (a type without a price, or fields the estimate could
not read), for every type with a counted task, so ``sum(unpriced) / sum(tasks)`` is the share of
the picture the spend rate leaves out.

Like the task gauges these are computed from what each scan published (:meth:`Metrics.publish
<taskwatch.metrics.registry.Metrics.publish>`), kept per source, and summed over the sources
(regions) of an account and product at scrape time; a failed scan keeps the last good figures, a
source that leaves the configuration drops its share. With prices off (``prices: {enabled:
false}``) neither gauge is exported: nothing is estimated, so nothing is "unpriced".

An estimate that raises (the estimator promises it never does) is logged and counted as unpriced
(:func:`estimate_of`): a cost figure never stops a scan.

Not guaranteed: any figure is a bill. Rates are estimates from list prices, as of the scan (a
transcode's accrual rate moves between scans; the gauge moves at the next one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric

from taskwatch.cost import Estimate, Pricer
from taskwatch.metrics.collectors import counted
from taskwatch.models import SourceKey, Task

__all__ = ["CostCollector", "CostSummary", "estimate_of", "summarise_costs"]

log = structlog.get_logger(__name__)


def estimate_of(pricer: Pricer, task: Task, now: float) -> Estimate | None:
    """``pricer``'s estimate of ``task`` at ``now``; ``None`` (unpriced) if it raises, logged
    with the task's type and the error's class only (no field values)."""
    try:
        return pricer.estimate(task, now)
    except Exception as exc:  # a cost figure must never stop a scan
        log.warning(
            "cost.estimate_failed",
            product=task.product,
            type=task.type,
            task=task.id,
            error=type(exc).__name__,
            note="counted as unpriced",
        )
        return None


@dataclass(frozen=True, slots=True)
class CostSummary:
    """One source's tracked tasks priced: rate sums by (type, currency), unpriced counts by type.

    Every counted type appears in ``unpriced`` (0 when all its tasks are priced)."""

    per_hour: Mapping[tuple[str, str], float] = field(default_factory=dict)
    unpriced: Mapping[str, int] = field(default_factory=dict)

    def relabelled(self, label: Callable[[str], str]) -> CostSummary:
        """The summary under the type labels ``label`` gives (folded types are added up)."""
        rates: dict[tuple[str, str], float] = {}
        for (type_, currency), rate in self.per_hour.items():
            key = (label(type_), currency)
            rates[key] = rates.get(key, 0.0) + rate
        unpriced: dict[str, int] = {}
        for type_, n in self.unpriced.items():
            new = label(type_)
            unpriced[new] = unpriced.get(new, 0) + n
        return CostSummary(rates, unpriced)


def summarise_costs(tasks: Iterable[Task], pricer: Pricer, now: float) -> CostSummary | None:
    """Price one source's tasks at ``now`` (UTC epoch seconds); ``None`` with prices off."""
    if not pricer.prices.enabled:
        return None
    rates: dict[tuple[str, str], float] = {}
    unpriced: dict[str, int] = {}
    for task in tasks:
        if not counted(task):
            continue
        unpriced.setdefault(task.type, 0)
        estimate = estimate_of(pricer, task, now)
        if estimate is None:
            unpriced[task.type] += 1
            continue
        key = (task.type, estimate.currency)
        rates[key] = rates.get(key, 0.0) + estimate.per_hour
    return CostSummary(rates, unpriced)


class CostCollector:
    """``taskwatch_tasks_cost_per_hour`` and ``taskwatch_tasks_unpriced`` from each source's
    latest :class:`CostSummary`, summed over the regions of an (account, product)."""

    def __init__(self) -> None:
        self.summaries: dict[SourceKey, CostSummary] = {}

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "taskwatch_tasks_cost_per_hour",
                "Estimated spend per hour of the tracked tasks (running ones; others add 0), "
                "from list prices: an estimate, never a bill.",
                labels=["account", "product", "type", "currency"],
            ),
            GaugeMetricFamily(
                "taskwatch_tasks_unpriced",
                "Tracked tasks with no cost estimate (no price for their type, or fields the "
                "estimate could not read).",
                labels=["account", "product", "type"],
            ),
        )

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        rates_family, unpriced_family = self._families()
        rates: dict[tuple[str, str, str, str], float] = {}
        unpriced: dict[tuple[str, str, str], int] = {}
        for source, summary in list(self.summaries.items()):
            for (type_, currency), rate in summary.per_hour.items():
                key = (source.account, source.product, type_, currency)
                rates[key] = rates.get(key, 0.0) + rate
            for type_, n in summary.unpriced.items():
                ukey = (source.account, source.product, type_)
                unpriced[ukey] = unpriced.get(ukey, 0) + n
        for labels, rate in sorted(rates.items()):
            rates_family.add_metric(list(labels), rate)
        for ulabels, n in sorted(unpriced.items()):
            unpriced_family.add_metric(list(ulabels), n)
        yield rates_family
        yield unpriced_family
