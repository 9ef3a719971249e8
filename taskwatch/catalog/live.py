"""Live (``live`` 2018-08-01, reference §7): pull-stream tasks, per region.

A pull task has no terminal status: it stays listed (and billed as a resource) until deleted, even
past its EndTime, so ``DeleteLivePullStreamTask`` is always possible and the product is
*standing*. A pending task waits for its StartTime, not in a queue (*scheduled*). Its phase comes
from its time window, not its status alone: ``enable`` may be any phase, ``pause`` pending or
done.
"""

from __future__ import annotations

from taskwatch.catalog.spec import ANY_PHASE, ApiAction, Phase, ProductSpec

SPEC = ProductSpec(
    name="live",
    title="Live",
    version="2018-08-01",
    regional=True,
    window=14 * 86400.0,  # how long after creation a done task is still reported
    max_page_size=20,
    actions=(
        ApiAction("DescribeLivePullStreamTasks", 30.0),
        ApiAction("DescribeLivePullStreamTaskStatus"),
        ApiAction("DeleteLivePullStreamTask", 50.0, destructive=True),
    ),
    verb="delete",
    call="DeleteLivePullStreamTask",
    call_title="DeleteLivePullStreamTask",
    phases={"enable": ANY_PHASE, "pause": frozenset({Phase.PENDING, Phase.DONE})},
    acts_on={"enable": None, "pause": None},
    types=("PullLivePushLive", "PullVodPushLive", "PullPicPushLive"),
    standing=True,
    operator=True,
    scheduled=True,
)
