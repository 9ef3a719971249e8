"""DLC estimates, from the task's list record (``TaskResponseInfo``, ``Task.fields``).

- A task on a public (shared) engine (``DataEngineName`` in ``prices.dlc.public_engines``) costs
  ``per_gb_scanned`` x GB scanned: ``CommonMetrics.ProcessedBytes`` when present, else
  ``DataAmount``, in GB of 1024³ bytes [inferred]. A failed query costs nothing (the billing
  page says so).
- A task on a private engine costs ``per_cu_hour`` x its CU-hours: ``JobTimeSum`` (core
  milliseconds [inferred]; 1 CU = 1 core) / 3.6e6 when above 0; else, for a Spark job, (driver CU
  + ``ExecutorNums`` x executor CU) x hours run, sizes from ``prices.dlc.cu_per_size``; a
  ``JobTimeSum`` of 0 without Spark sizes is 0.
- Hours run: ``UsedTime`` (ms) when present, else since ``Task.started``. While running,
  ``per_hour`` is the rate accrued (``so_far`` / hours run). No remaining time.

Not guaranteed: a private engine is billed for its cluster, not per task; a task's CU time is its
share only when the engine runs nothing else. The 34 MB minimum per public-engine query is left
out. The record is as of the last scan, not ``now``.
"""

from __future__ import annotations

from taskwatch.cost.figures import HOUR, Estimate, Unpriced
from taskwatch.cost.readings import at, number
from taskwatch.models import Phase, Result, Task
from taskwatch.settings.prices import DlcPrices

__all__ = ["dlc"]

GIB = 1024.0**3
MS_PER_HOUR = HOUR * 1000.0


def dlc(task: Task, now: float, prices: DlcPrices, currency: str) -> Estimate | Unpriced:
    """The estimate of one DLC task."""
    engine = task.fields.get("DataEngineName")
    if not isinstance(engine, str) or not engine:
        return Unpriced("no DataEngineName")
    public = engine in prices.public_engines
    rate = prices.per_gb_scanned if public else prices.per_cu_hour
    if rate is None:
        kind = "per_gb_scanned (public engine)" if public else "per_cu_hour (private engine)"
        return Unpriced(f"no prices.dlc.{kind}")
    if task.phase is Phase.PENDING:
        return Estimate(0.0, 0.0, currency, "not started")
    hours = _hours(task, now)
    spent = _public(task, rate) if public else _private(task, rate, hours, prices)
    if isinstance(spent, Unpriced):
        return spent
    so_far, basis = spent
    running = task.phase is Phase.RUNNING and hours > 0
    return Estimate(so_far, so_far / hours if running else 0.0, currency, basis)


def _hours(task: Task, now: float) -> float:
    used = number(task.fields.get("UsedTime"))
    if used is not None:
        return used / MS_PER_HOUR
    if task.started is None:
        return 0.0
    end = task.finished if task.finished is not None else now
    return max(0.0, end - task.started) / HOUR


def _public(task: Task, rate: float) -> tuple[float, str] | Unpriced:
    scanned = number(at(task.fields, "CommonMetrics", "ProcessedBytes"))
    name = "ProcessedBytes"
    if scanned is None:
        scanned, name = number(task.fields.get("DataAmount")), "DataAmount"
    if scanned is None:
        return Unpriced("public engine, and neither CommonMetrics.ProcessedBytes nor DataAmount")
    gb = scanned / GIB
    if task.result is Result.FAILED:
        return 0.0, f"{gb:.3f} GB scanned; failed queries are not billed"
    return gb * rate, f"{gb:.3f} GB scanned ({name}) x {rate:g}/GB"


def _private(
    task: Task, rate: float, hours: float, prices: DlcPrices
) -> tuple[float, str] | Unpriced:
    core_ms = number(task.fields.get("JobTimeSum"))
    if core_ms:
        cu_hours = core_ms / MS_PER_HOUR
        return cu_hours * rate, f"{cu_hours:.3f} CU-h (JobTimeSum) x {rate:g}/CU-h"
    sizes = [task.fields.get(k) for k in ("DriverSize", "ExecutorSize", "ExecutorNums")]
    if any(s not in (None, "") for s in sizes):
        driver, executor = (_cu(s, prices) for s in sizes[:2])
        count = number(sizes[2])
        if driver is None or executor is None or count is None:
            return Unpriced("Spark job with an unknown DriverSize, ExecutorSize or ExecutorNums")
        cu = driver + count * executor
        return cu * hours * rate, f"{cu:g} CU x {hours:.3f} h x {rate:g}/CU-h"
    if core_ms == 0.0:
        return 0.0, "JobTimeSum 0"
    return Unpriced("private engine, and neither JobTimeSum nor Spark sizes")


def _cu(size: object, prices: DlcPrices) -> float | None:
    if not isinstance(size, str):
        return None
    name = size.strip().lower()
    found = prices.cu_per_size.get(name)
    if found is None and name.startswith("m."):
        found = prices.cu_per_size.get(name[2:])
    return found
