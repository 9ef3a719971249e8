"""DLC (``dlc`` 2021-01-25): ``DescribeTasks`` and ``CancelTask`` on the world's DLC tasks.

Why it looks the way it does: DLC lists with ``Offset``/``Limit`` over a sorted view, so a sweep of
100,000 tasks takes 1,000 calls. The sorted index (by CreateTime, and per State) is built once per
``world.version`` and each filtered, ordered result is cached for that version, so paging through
an unchanged world costs a bisect and a slice per call, not a sort (under 1 ms for a page of 100
out of 100,000 tasks); the first call after a change pays one rebuild (30-100 ms at that size).

Decisions the reference leaves open ([inferred], reference §6):

- ``StartTime``/``EndTime`` are read as UTC+8 (Beijing time, the console's zone) and bound the
  *CreateTime*, both ends inclusive. The span check, (0, 30 days], applies only when both are
  given; a missing bound takes its default (now - 45 days, now). Whatever is asked, tasks created
  more than ``Options.dlc_query_window`` (45 days) ago are never listed. A span outside
  (0, 30 days] is ``InvalidParameterValue``.
- ``Sorting``: ``asc`` (default) is oldest first and ``desc`` newest first, although the doc's
  text literally says the reverse (desc 表示正序 "ascending", asc 表示反序 "descending").
  Ties break on the task id.
- ``SortBy`` accepts ``create-time`` (default) and ``update-time``, plus ``data-amount``,
  ``used-time`` and ``resource-usage``, which the real error text lists as valid; the emulator
  models no resource usage and orders ``resource-usage`` by used time.
- ``Filters: []`` is ``InvalidParameter.InvalidFilterLength`` (the count must be in 1..5); the
  limit of 5 counts the filters other than ``task-id``. Filters combine with AND, the values of
  one filter with OR; a filter without values is ``InvalidParameter.ParameterNotFoundOrBeNone``.
  ``Operator`` (a newer field of the shared ``Filter`` model) is ignored by this action.
- ``task-sql-keyword`` matches a case-insensitive substring of the decoded SQL; ``task-kind``
  matches the SQL type (``DQL``, ``DDL``, ...) or the task type (``SparkSQLTask``, ...).
- ``Limit`` outside 1..100 and a negative ``Offset`` are ``InvalidParameterValue``.
- ``TasksOverview`` counts the time window only, not the filters; ``TaskRunningCount`` includes
  state 3 (writing data).
- CancelTask on a task already cancelled (-3) is ``InvalidParameter.TaskAlreadyFinished``, as for
  a succeeded one: it has ended and cannot be cancelled.

The server ticks the world before every call; the handlers read it as it stands. The listing
itself (filters, window, the sorted index) is :mod:`taskwatch.emulator.dlc_query`'s.

Not guaranteed: values that a real engine measures (metrics, data amounts, progress of a running
task) are plausible stand-ins derived from the task's plan, not a simulation of Spark or Presto;
bytes scanned and compute units are :mod:`taskwatch.emulator.dlc_usage`'s.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import replace
from typing import Any

from taskwatch.emulator.actions import Action, CallContext
from taskwatch.emulator.dlc_query import (
    MAX_LIMIT,
    dlc_error,
    index_of,
    ordered,
    parse_filters,
    window,
)
from taskwatch.emulator.dlc_usage import ROW_BYTES, cu_of, ended, is_spark, scanned, used_ms
from taskwatch.emulator.wire import ParamSpec, invalid_value
from taskwatch.emulator.world import (
    DLC_ACTIVE,
    DLC_CANCELLED,
    DLC_FAILED,
    DLC_INIT,
    DLC_QUEUED,
    DLC_RUNNING,
    DLC_SUCCEEDED,
    DLC_WRITING,
    DlcTask,
    World,
)

# --- fields -------------------------------------------------------------------------------------


def _ms(ts: float) -> str:
    return str(round(ts * 1000))


def _percentage(t: DlcTask, now: float) -> int:
    if t.state in (DLC_RUNNING, DLC_WRITING) and t.started is not None and t.plan.run:
        return max(t.percentage, min(99, int(100 * (now - t.started) / t.plan.run)))
    return t.percentage


def task_info(world: World, t: DlcTask, now: float) -> dict[str, Any]:
    """One ``TaskResponseInfo``, every field of SDK 3.1.190 and nothing else."""
    used, amount = used_ms(t, now), scanned(t, now)
    done = t.state == DLC_SUCCEEDED
    spark = is_spark(t)
    batch = t.engine_type == "SparkBatch"
    began = t.started if t.started is not None else ended(t, now)
    queued_ms = float(int((began - t.created) * 1000))
    short = t.task_id.split("-", 1)[0]
    return {
        "DatabaseName": t.database,
        "DataAmount": amount,
        "Id": t.task_id,
        "UsedTime": used,
        "OutputPath": f"cosn://dlc-result-{world.appid}/{t.task_id}/" if done else "",
        "CreateTime": _ms(t.created),
        "State": t.state,
        "SQLType": t.sql_type,
        "SQL": base64.b64encode(t.sql.encode("utf-8")).decode("ascii"),
        "ResultExpired": False,
        "RowAffectInfo": "",
        "DataSet": "",
        "Error": "",
        "Percentage": _percentage(t, now),
        "OutputMessage": t.output_message,
        "TaskType": t.task_type,
        "ProgressDetail": "",
        "UpdateTime": _ms(t.updated),
        "DataEngineId": f"DataEngine-{zlib.crc32(t.engine.encode()):08x}",
        "OperateUin": t.operator,
        "DataEngineName": t.engine,
        "InputType": "",
        "InputConf": "",
        "DataNumber": 0,
        "CanDownload": done and t.sql_type == "DQL",
        "UserAlias": t.operator,
        "SparkJobName": f"job-{short}" if batch else "",
        "SparkJobId": f"batch_{short}" if batch else "",
        "SparkJobFile": f"cosn://dlc-jobs-{world.appid}/{short}/main.jar" if batch else "",
        "UiUrl": "",
        "TotalTime": max(0, int((ended(t, now) - t.created) * 1000)),
        "CmdArgs": "",
        "ImageVersion": "Standard-S 1.1" if spark else "Standard-P 1.0",
        "DriverSize": t.driver_size if spark else "",
        "ExecutorSize": t.executor_size if spark else "",
        "ExecutorNums": t.executors if spark else 0,
        "ExecutorMaxNumbers": t.executors if spark else 0,
        "CommonMetrics": {
            "CreateTaskTime": 0.0,
            "ProcessTime": 0.0,
            "QueueTime": max(0.0, queued_ms),
            "ExecutionTime": float(used),
            "IsResultCacheHit": False,
            "MatchedMVBytes": 0,
            "MatchedMVs": "",
            "AffectedBytes": "0",
            "AffectedRows": 0,
            "ProcessedBytes": amount,
            "ProcessedRows": amount // ROW_BYTES,
        },
        "SparkMonitorMetrics": (
            {"ShuffleWriteBytesCos": 0, "ShuffleWriteBytesTotal": amount // 10} if spark else None
        ),
        "PrestoMonitorMetrics": (
            None if spark else {"LocalCacheHitRate": 0.0, "FragmentCacheHitRate": 0.0}
        ),
        "ResultFormat": "csv",
        "EngineTypeDetail": t.engine_type,
        "ResourceGroupName": t.resource_group,
        "JobTimeSum": used * cu_of(t),
    }


# --- actions ------------------------------------------------------------------------------------


def describe_tasks(world: World, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    limit = params.get("Limit")
    limit = 10 if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_value("Limit", f"must be between 1 and {MAX_LIMIT}")
    offset = params.get("Offset") or 0
    if offset < 0:
        raise invalid_value("Offset", "must not be negative")
    q = parse_filters(params.get("Filters"))
    lo, hi = window(world, params, ctx)
    for name in ("DataEngineName", "ResourceGroupName"):
        if params.get(name):
            q = replace(q, others=(*q.others, (name, (params[name],))))
    rows = ordered(world, params, q, lo, hi)
    now = world.now()
    index = index_of(world)
    running = index.count(lo, hi, DLC_RUNNING) + index.count(lo, hi, DLC_WRITING)
    return {
        "TaskList": [task_info(world, t, now) for t in rows[offset : offset + limit]],
        "TotalCount": len(rows),
        "TasksOverview": {
            "TaskQueuedCount": index.count(lo, hi, DLC_QUEUED),
            "TaskInitCount": index.count(lo, hi, DLC_INIT),
            "TaskRunningCount": running,
            "TotalTaskCount": index.count(lo, hi),
        },
    }


def cancel_task(world: World, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    task_id: str = params["TaskId"]
    t = world.dlc.get(task_id)
    if t is None:
        raise dlc_error(
            "InvalidParameter.InvalidTaskId",
            f"The task id `{task_id}` is invalid.",
            f"无效的taskid：`{task_id}`。",
        )
    if t.state == DLC_FAILED:
        raise dlc_error(
            "ResourceNotFound.TaskAlreadyFailed", "The task has already failed.", "任务已经失败。"
        )
    if t.state not in DLC_ACTIVE:  # succeeded, or cancelled before
        raise dlc_error(
            "InvalidParameter.TaskAlreadyFinished",
            "The task has already finished and cannot be cancelled.",
            "任务已经结束，不能取消。",
        )
    t.state, t.updated = DLC_CANCELLED, world.now()
    world.version += 1
    return {}


ACTIONS: dict[str, Action] = {
    "DescribeTasks": Action(
        "DescribeTasks",
        ParamSpec(
            {
                "Limit": "int",
                "Offset": "int",
                "Filters": "list",
                "SortBy": "str",
                "Sorting": "str",
                "StartTime": "str",
                "EndTime": "str",
                "DataEngineName": "str",
                "ResourceGroupName": "str",
            }
        ),
        describe_tasks,
    ),
    "CancelTask": Action(
        "CancelTask", ParamSpec({"TaskId": "str"}, frozenset({"TaskId"})), cancel_task
    ),
}
