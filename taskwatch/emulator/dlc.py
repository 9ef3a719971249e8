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

The server ticks the world before every call; the handlers read it as it stands.

Not guaranteed: values that a real engine measures (metrics, data amounts, progress of a running
task) are plausible stand-ins derived from the task's plan, not a simulation of Spark or Presto.
"""

from __future__ import annotations

import base64
import heapq
import re
import zlib
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any
from weakref import WeakKeyDictionary

from taskwatch.emulator.actions import Action, CallContext
from taskwatch.emulator.wire import EmulatedError, ParamSpec, invalid_value, type_error
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

BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_TIME_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
MAX_SPAN = 30 * 86400.0
MAX_LIMIT = 100
MAX_TASK_IDS = 50
MAX_OTHER_FILTERS = 5
FILTER_NAMES = frozenset(
    {"task-id", "task-state", "task-sql-keyword", "task-operator", "task-kind", "batch-id",
     "session-id"}
)  # fmt: skip
SORT_KEYS = ("create-time", "update-time", "data-amount", "used-time", "resource-usage")
_CLOCK_SORTS = frozenset({"used-time", "resource-usage"})
_RESULTS_KEPT = 64


def _err(code: str, en: str, zh: str) -> EmulatedError:
    return EmulatedError(code, en, zh)


# --- the query ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Query:
    """Validated filters: id and state sets use indexes, the rest are predicates."""

    task_ids: frozenset[str] | None = None
    states: frozenset[int] | None = None
    others: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def key(self) -> tuple[object, ...]:
        ids = None if self.task_ids is None else tuple(sorted(self.task_ids))
        states = None if self.states is None else tuple(sorted(self.states))
        return (ids, states, self.others)


def _parse_filters(raw: list[Any] | None) -> _Query:
    if raw is None:
        return _Query()
    others = [f for f in raw if not (isinstance(f, dict) and f.get("Name") == "task-id")]
    if not raw or len(others) > MAX_OTHER_FILTERS:
        raise _err(
            "InvalidParameter.InvalidFilterLength",
            f"The number of filters must be between 1 and {MAX_OTHER_FILTERS}.",
            f"过滤条件个数必须在1到{MAX_OTHER_FILTERS}之间。",
        )
    task_ids: frozenset[str] | None = None
    states: frozenset[int] | None = None
    preds: list[tuple[str, tuple[str, ...]]] = []
    for i, item in enumerate(raw):
        name, values = _filter_item(i, item)
        if name == "task-id":
            if len(values) > MAX_TASK_IDS:
                raise _err(
                    "InvalidParameter.FiltersValuesNumberOutOfLimit",
                    f"The filter `task-id` accepts at most {MAX_TASK_IDS} values.",
                    f"过滤条件`task-id`最多支持{MAX_TASK_IDS}个值。",
                )
            ids = frozenset(values)
            task_ids = ids if task_ids is None else task_ids & ids
        elif name == "task-state":
            parsed = frozenset(_state(v) for v in values)
            states = parsed if states is None else states & parsed
        else:
            preds.append((name, values))
    return _Query(task_ids, states, tuple(preds))


def _filter_item(i: int, item: Any) -> tuple[str, tuple[str, ...]]:
    if not isinstance(item, dict):
        raise type_error(f"Filters.{i}")
    for key in item:
        if key not in ("Name", "Values", "Operator"):
            raise EmulatedError(
                "UnknownParameter", f"The parameter `Filters.{i}.{key}` is not recognized."
            )
    name, values = item.get("Name"), item.get("Values")
    if not name or not values:
        missing = "Name" if not name else "Values"
        raise _err(
            "InvalidParameter.ParameterNotFoundOrBeNone",
            f"The parameter `Filters.{i}.{missing}` is missing or empty.",
            f"参数`Filters.{i}.{missing}`不存在或为空。",
        )
    if not isinstance(name, str):
        raise type_error(f"Filters.{i}.Name")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise type_error(f"Filters.{i}.Values")
    if name not in FILTER_NAMES:
        raise _err(
            "InvalidParameter.SQLTaskFiltersKeyTypeNotMath",
            f"The filter name `{name}` is not supported; use one of "
            f"{', '.join(sorted(FILTER_NAMES))}.",
            f"过滤条件`{name}`不支持，仅支持{', '.join(sorted(FILTER_NAMES))}。",
        )
    return name, tuple(values)


def _state(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise _err(
            "InvalidParameter.TaskStateTypeNotMath",
            f"The task state `{value}` is not an integer; use 0, 1, 2, 3, 4, -1 or -3.",
            f"任务状态`{value}`类型不匹配，仅支持0、1、2、3、4、-1、-3。",
        ) from None


def _matches(t: DlcTask, name: str, values: tuple[str, ...]) -> bool:
    if name == "task-sql-keyword":
        sql = t.sql.lower()
        return any(v.lower() in sql for v in values)
    if name == "task-operator":
        return t.operator in values
    if name == "task-kind":
        return t.sql_type in values or t.task_type in values
    if name == "batch-id":
        return t.batch_id in values
    if name == "DataEngineName":
        return t.engine in values
    if name == "ResourceGroupName":
        return t.resource_group in values
    return t.session_id in values  # session-id


def _parse_time(name: str, value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        if not _TIME_SHAPE.fullmatch(value):
            raise ValueError(value)
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=BEIJING).timestamp()
    except ValueError:
        raise _err(
            "InvalidParameter.InvalidTimeFormat",
            f"The parameter `{name}` must be formatted as yyyy-mm-dd HH:MM:SS.",
            f"参数`{name}`格式错误，应为yyyy-mm-dd HH:MM:SS。",
        ) from None


def _window(world: World, params: dict[str, Any], ctx: CallContext) -> tuple[float, float]:
    now = world.now()
    floor = now - ctx.options.dlc_query_window
    start = _parse_time("StartTime", params.get("StartTime"))
    end = _parse_time("EndTime", params.get("EndTime"))
    if start is not None and end is not None and not 0 < end - start <= MAX_SPAN:
        raise invalid_value("EndTime", "the time span must be more than 0 and at most 30 days")
    return max(floor, start if start is not None else floor), end if end is not None else now


# --- the index ------------------------------------------------------------------------------------


_created: Callable[[DlcTask], tuple[float, str]] = attrgetter("created", "task_id")
"""The listing order's key; ``attrgetter`` sorts 100,000 tasks about 3x faster than a lambda."""


@dataclass(slots=True)
class _Index:
    """One world version's tasks ordered by (CreateTime, Id), all and per State."""

    version: int
    newest: DlcTask | None
    tasks: list[DlcTask]
    keys: list[float]
    by_state: dict[int, tuple[list[DlcTask], list[float]]]
    results: OrderedDict[tuple[object, ...], list[DlcTask]] = field(default_factory=OrderedDict)

    @classmethod
    def build(cls, world: World) -> _Index:
        tasks = sorted(world.dlc.values(), key=_created)
        grouped: dict[int, list[DlcTask]] = {}
        for t in tasks:
            grouped.setdefault(t.state, []).append(t)
        by_state = {s: (ts, [t.created for t in ts]) for s, ts in grouped.items()}
        keys = [t.created for t in tasks]
        return cls(world.version, _newest(world.dlc), tasks, keys, by_state)

    def count(self, lo: float, hi: float, state: int | None = None) -> int:
        keys = self.keys if state is None else self.by_state.get(state, ([], []))[1]
        return bisect_right(keys, hi) - bisect_left(keys, lo)

    def window(self, lo: float, hi: float, state: int | None = None) -> list[DlcTask]:
        if state is None:
            tasks, keys = self.tasks, self.keys
        else:
            tasks, keys = self.by_state.get(state, ([], []))
        return tasks[bisect_left(keys, lo) : bisect_right(keys, hi)]


_INDEXES: WeakKeyDictionary[World, _Index] = WeakKeyDictionary()


def _index(world: World) -> _Index:
    """The index for the world as it stands.

    Besides the version, the number of tasks and the newest entry of ``world.dlc`` (a dict keeps
    insertion order, so any addition shows there) catch tasks added or deleted straight in the
    dict by tests or scenarios. Changing a task in place must bump ``world.version``, as the
    world's own methods do.
    """
    index = _INDEXES.get(world)
    if (
        index is None
        or index.version != world.version
        or len(index.tasks) != len(world.dlc)
        or _newest(world.dlc) is not index.newest
    ):
        index = _INDEXES[world] = _Index.build(world)
    return index


def _newest(tasks: dict[str, DlcTask]) -> DlcTask | None:
    return tasks[next(reversed(tasks))] if tasks else None


def _select(world: World, index: _Index, q: _Query, lo: float, hi: float) -> list[DlcTask]:
    """The tasks in the window that pass every filter, in (CreateTime, Id) order."""
    if q.task_ids is not None:
        found = (world.dlc.get(i) for i in q.task_ids)
        cands = sorted((t for t in found if t and lo <= t.created <= hi), key=_created)
        if q.states is not None:
            cands = [t for t in cands if t.state in q.states]
    elif q.states is not None:
        parts = [index.window(lo, hi, s) for s in sorted(q.states)]
        cands = list(heapq.merge(*parts, key=_created)) if len(parts) > 1 else parts[0]
    else:
        cands = index.window(lo, hi)
    for name, values in q.others:
        cands = [t for t in cands if _matches(t, name, values)]
    return cands


def _ordered(
    world: World, params: dict[str, Any], q: _Query, lo: float, hi: float
) -> list[DlcTask]:
    sort_by = params.get("SortBy") or "create-time"
    if sort_by not in SORT_KEYS:
        raise _err(
            "InvalidParameter.SQLTaskSortByTypeNotMatch",
            f"The sort field `{sort_by}` is not supported; use one of {', '.join(SORT_KEYS)}.",
            f"排序字段`{sort_by}`不支持，仅支持{', '.join(SORT_KEYS)}。",
        )
    sorting = params.get("Sorting") or "asc"
    if sorting not in ("asc", "desc"):
        raise invalid_value("Sorting", "use asc or desc")
    index = _index(world)
    now = world.now()
    bounds = (bisect_left(index.keys, lo), bisect_right(index.keys, hi))
    key = (bounds, q.key(), sort_by, sorting, now if sort_by in _CLOCK_SORTS else None)
    cached = index.results.get(key)
    if cached is not None:
        index.results.move_to_end(key)
        return cached
    rows = _select(world, index, q, lo, hi)
    by: dict[str, Callable[[DlcTask], float]] = {
        "update-time": attrgetter("updated"),
        "data-amount": attrgetter("data_amount"),
        "used-time": lambda t: _used_ms(t, now),
        "resource-usage": lambda t: _used_ms(t, now),
    }
    extra = by.get(sort_by)
    if extra is not None:  # stable: equal keys keep the (CreateTime, Id) order
        rows = sorted(rows, key=extra)
    if sorting == "desc":
        rows = rows[::-1]
    index.results[key] = rows
    if len(index.results) > _RESULTS_KEPT:
        index.results.popitem(last=False)
    return rows


# --- fields -------------------------------------------------------------------------------------


def _ms(ts: float) -> str:
    return str(round(ts * 1000))


def _ended(t: DlcTask, now: float) -> float:
    return now if t.state in DLC_ACTIVE else t.updated


def _used_ms(t: DlcTask, now: float) -> int:
    return 0 if t.started is None else max(0, int((_ended(t, now) - t.started) * 1000))


def _percentage(t: DlcTask, now: float) -> int:
    if t.state in (DLC_RUNNING, DLC_WRITING) and t.started is not None and t.plan.run:
        return max(t.percentage, min(99, int(100 * (now - t.started) / t.plan.run)))
    return t.percentage


def task_info(world: World, t: DlcTask, now: float) -> dict[str, Any]:
    """One ``TaskResponseInfo``, every field of SDK 3.1.190 and nothing else."""
    used = _used_ms(t, now)
    done = t.state == DLC_SUCCEEDED
    spark = t.engine_type.startswith("Spark")
    batch = t.engine_type == "SparkBatch"
    began = t.started if t.started is not None else _ended(t, now)
    queued_ms = float(int((began - t.created) * 1000))
    short = t.task_id.split("-", 1)[0]
    return {
        "DatabaseName": t.database,
        "DataAmount": t.data_amount,
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
        "TotalTime": max(0, int((_ended(t, now) - t.created) * 1000)),
        "CmdArgs": "",
        "ImageVersion": "Standard-S 1.1" if spark else "Standard-P 1.0",
        "DriverSize": "small" if spark else "",
        "ExecutorSize": "small" if spark else "",
        "ExecutorNums": 1 if spark else 0,
        "ExecutorMaxNumbers": 1 if spark else 0,
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
            "ProcessedBytes": t.data_amount,
            "ProcessedRows": 0,
        },
        "SparkMonitorMetrics": (
            {"ShuffleWriteBytesCos": 0, "ShuffleWriteBytesTotal": t.data_amount // 10}
            if spark
            else None
        ),
        "PrestoMonitorMetrics": (
            None if spark else {"LocalCacheHitRate": 0.0, "FragmentCacheHitRate": 0.0}
        ),
        "ResultFormat": "csv",
        "EngineTypeDetail": t.engine_type,
        "ResourceGroupName": t.resource_group,
        "JobTimeSum": used,
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
    q = _parse_filters(params.get("Filters"))
    lo, hi = _window(world, params, ctx)
    for name in ("DataEngineName", "ResourceGroupName"):
        if params.get(name):
            q = replace(q, others=(*q.others, (name, (params[name],))))
    rows = _ordered(world, params, q, lo, hi)
    now = world.now()
    index = _index(world)
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
        raise _err(
            "InvalidParameter.InvalidTaskId",
            f"The task id `{task_id}` is invalid.",
            f"无效的taskid：`{task_id}`。",
        )
    if t.state == DLC_FAILED:
        raise _err(
            "ResourceNotFound.TaskAlreadyFailed", "The task has already failed.", "任务已经失败。"
        )
    if t.state not in DLC_ACTIVE:  # succeeded, or cancelled before
        raise _err(
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
