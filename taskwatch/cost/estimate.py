"""The estimate of one task: :class:`Pricer` picks how the task is billed and asks its estimator.

How each product and type is estimated, and from which API fields: :mod:`taskwatch.cost.timed`
(MPS types priced per hour, Live pull-stream tasks), :mod:`taskwatch.cost.transcode` (MPS output
minutes) and :mod:`taskwatch.cost.dlc`.

Pure: no I/O and no clock of its own (``now`` is passed in, UTC epoch seconds), so policies,
metrics, the status page and the journal all get the same figure for the same task at the same
instant. It never raises on what an API returned: a field it cannot use makes the task unpriced
(:meth:`Pricer.why_unpriced` says why), and so does a figure that is not finite.

Not guaranteed: any figure is a bill. Unknown prices give ``None`` (no estimate), never 0.
"""

from __future__ import annotations

import math

from taskwatch.cost.dlc import dlc
from taskwatch.cost.figures import Estimate, Unpriced
from taskwatch.cost.timed import live_pull, mps_hourly
from taskwatch.cost.transcode import transcode
from taskwatch.models import Task
from taskwatch.settings.prices import Prices

__all__ = ["Estimate", "Pricer", "Unpriced"]

_ODD_DATA = (ArithmeticError, AttributeError, LookupError, TypeError, ValueError)


class Pricer:
    """Estimates from one price table (one per configuration; rebuilt on reload)."""

    def __init__(self, prices: Prices) -> None:
        self.prices = prices

    @classmethod
    def off(cls) -> Pricer:
        """A pricer that never estimates (``prices: {enabled: false}``)."""
        return cls(Prices(enabled=False))

    @property
    def currency(self) -> str:
        return self.prices.currency

    @property
    def enabled(self) -> bool:
        return self.prices.enabled

    def estimate(self, task: Task, now: float) -> Estimate | None:
        """The estimate of ``task`` at ``now``, or ``None`` when its price is unknown."""
        found = self.assess(task, now)
        return found if isinstance(found, Estimate) else None

    def why_unpriced(self, task: Task, now: float) -> str | None:
        """Why ``task`` has no estimate at ``now``; ``None`` when it has one."""
        found = self.assess(task, now)
        return found.why if isinstance(found, Unpriced) else None

    def assess(self, task: Task, now: float) -> Estimate | Unpriced:
        """The estimate of ``task`` at ``now``, or why there is none."""
        if not self.prices.enabled:
            return Unpriced("prices are disabled (prices.enabled: false)")
        try:
            found = self._assess(task, now)
        except _ODD_DATA as exc:  # a shape no reader foresaw: unpriced, never a failed scan
            return Unpriced(f"unreadable API data ({type(exc).__name__})")
        if isinstance(found, Estimate) and not (
            math.isfinite(found.so_far) and math.isfinite(found.per_hour)
        ):
            return Unpriced("the figures are not finite")
        return found

    def covers(self, product: str) -> bool:
        """Whether the table has any price for ``product`` (a cost rule on a product it does not
        cover can never match)."""
        if not self.prices.enabled:
            return False
        if product == "mps":
            return any(
                p.per_hour is not None
                or p.per_audio_minute is not None
                or any(p.per_output_minute or {})
                for p in self.prices.mps.values()
            )
        if product == "dlc":
            return (self.prices.dlc.per_gb_scanned, self.prices.dlc.per_cu_hour) != (None, None)
        if product == "live":
            return self.prices.live.per_hour is not None
        return False

    def _assess(self, task: Task, now: float) -> Estimate | Unpriced:
        currency = self.currency
        if task.product == "dlc":
            return dlc(task, now, self.prices.dlc, currency)
        if task.product == "live":
            rate = self.prices.live.per_hour
            if rate is None:
                return Unpriced("no prices.live.per_hour")
            return live_pull(task, now, rate, currency)
        if task.product != "mps":
            return Unpriced(f"no prices for product {task.product!r}")
        price = self.prices.mps.get(task.type)
        if price is None:
            return Unpriced(f"no prices.mps.{task.type or '(no type)'}")
        if price.per_hour is not None:
            return mps_hourly(task, now, price.per_hour, currency)
        if price.per_output_minute is None and price.per_audio_minute is None:
            return Unpriced(f"prices.mps.{task.type} has no price")
        return transcode(task, now, price, self.prices.specs, currency)
