"""What a DLC query consumes as it runs: time, bytes scanned and compute units.

These are the ``TaskResponseInfo`` fields a cost estimate reads (``UsedTime``, ``DataAmount``,
``CommonMetrics.ProcessedBytes``, ``JobTimeSum``, the Spark sizes), computed from the task's
scenario keys (``data_amount`` or ``scan_rate``, ``cu``, ``driver_size``, ``executor_size``,
``executors``) and the clock. :mod:`taskwatch.emulator.dlc` renders them; the listing
(:mod:`taskwatch.emulator.dlc_query`) sorts by them.

[inferred] What the reference leaves open, the emulator decides here:

- bytes scanned grow linearly over the planned running time up to ``data_amount`` (all of it
  once succeeded; a failed or cancelled query keeps what it had scanned when it ended); with
  ``scan_rate`` they grow by that many bytes a second for as long as the query runs, which is
  how a query without a planned end (``duration: null``) keeps scanning. A queued query has
  scanned nothing. A query with neither a plan nor a rate shows ``data_amount`` as it is.
- ``JobTimeSum`` is core time in milliseconds: ``UsedTime`` times the CUs the query holds (1 CU =
  1 core). Those are ``cu`` when set, else for Spark the driver's and executors' sizes (small 1,
  medium 2, large 4, xlarge 8 CUs), else 1.

Not guaranteed: that a Spark job scales executors up and down (``ExecutorMaxNumbers`` equals
``ExecutorNums``), or that rows relate to bytes as in any real table (``ProcessedRows`` is bytes
/ 256).
"""

from __future__ import annotations

from taskwatch.emulator.world import (
    DLC_ACTIVE,
    DLC_INIT,
    DLC_QUEUED,
    DLC_SUCCEEDED,
    DlcTask,
)

__all__ = ["ROW_BYTES", "SIZES", "cu_of", "ended", "is_spark", "scanned", "used_ms"]

SIZES = {"small": 1, "medium": 2, "large": 4, "xlarge": 8}
"""CUs of each Spark driver or executor size [inferred from the DLC pricing page's CU sizes]."""
ROW_BYTES = 256


def ended(t: DlcTask, now: float) -> float:
    """When the query stopped running: now while it is active, else its UpdateTime."""
    return now if t.state in DLC_ACTIVE else t.updated


def used_ms(t: DlcTask, now: float) -> int:
    """Milliseconds the query has run (``UsedTime``)."""
    return 0 if t.started is None else max(0, int((ended(t, now) - t.started) * 1000))


def is_spark(t: DlcTask) -> bool:
    return t.engine_type.startswith("Spark")


def cu_of(t: DlcTask) -> int:
    """The CUs the query holds while it runs."""
    if t.cu is not None:
        return t.cu
    if is_spark(t):
        return SIZES.get(t.driver_size, 1) + t.executors * SIZES.get(t.executor_size, 1)
    return 1


def scanned(t: DlcTask, now: float) -> int:
    """Bytes the query has scanned by ``now``."""
    if t.state in (DLC_QUEUED, DLC_INIT):
        return 0
    seconds = used_ms(t, now) / 1000
    if t.scan_rate is not None:
        return int(t.scan_rate * seconds)
    run = t.plan.run
    if t.state == DLC_SUCCEEDED or not run:
        return t.data_amount
    return int(t.data_amount * min(1.0, seconds / run))
