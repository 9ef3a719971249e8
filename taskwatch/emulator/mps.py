"""MPS (2019-06-12): DescribeTasks, DescribeTaskDetail and ManageTask on the emulated world.

The daemon's whole MPS view comes through these three calls, so they copy what the reference
(§5, §9 items 8-10) records of the real service, and decide, marked [inferred], what it leaves open:

- **Listing order**: CreateTime descending (whole seconds, as displayed), then TaskId ascending.
- **ScrollToken** is the TaskId of the first row of the next page; the next call starts at, and
  includes, that row; ``""`` once nothing follows. [inferred] A token is resolved by where its
  task's sort key falls in the list being asked for, not by looking the task up in that list: a
  token whose task still matches starts at that task; one whose task has meanwhile moved to
  another status continues at the place it held (no row is repeated or skipped among the tasks
  that stayed); one whose task has aged out of the window ends the listing (everything after it
  is older). A token naming no task the world knows gives ``InvalidParameterValue``.
- [inferred] The 7-day window is applied at CreateTime's one-second precision: a task is listed
  while its CreateTime is not before the window's start truncated to the second.
  ``StartTime``/``EndTime`` bound CreateTime, both inclusive; a naive time is UTC; a start after
  the end gives an empty list, not an error.
- [inferred] ``""`` as ScrollToken means "from the start", as an absent one.
- **DescribeTaskDetail** answers for tasks created within ``Options.mps_detail_retention``, else
  ``Options.mps_detail_missing_code``. [inferred] A failed workflow or schedule reports the
  failure where the real API does (reference §5.2): on its Transcode result (``FAIL``,
  ``ErrCode``/``ErrCodeExt``/``Message``), the task-level ``ErrCode`` staying 0 (non-zero is
  for source errors only). EditMedia and live tasks have no sub-results: their own ``ErrCode`` and
  ``Message`` carry it. ``MetaData`` is ``null`` until the input has been probed (processing began).
- **ManageTask**: [inferred] the windows bound what the Describe calls show, not what runs: a task
  still WAITING or PROCESSING is reached by its id however old it is (a live stream can run for
  weeks and must stay stoppable), and the world keeps it (:meth:`World.purge` forgets finished
  tasks only). A finished task past the detail retention is as unknown as one never seen
  (``InvalidParameterValue.TaskId``); anything else not abortable, including a finished task
  within it (so a second Abort), gives ``InvalidParameterValue.NotProcessingTask``.

Speed: benchmarks page 100,000 tasks at 100 calls a second while the world changes under them.
Each world gets an :class:`_Index`: the listing keys sorted per (Status, SubTaskHasFailed), kept
current from the world's change notices (``World.mps_listeners``) by re-filing only the tasks that
changed. The window, ``StartTime``/``EndTime`` and the token then cut a sorted list by bisection,
so a page costs O(log n + Limit) plus O(log n) per task changed since the previous call.

``TaskNotifyConfig`` echoes the task's notify configuration (:func:`mps_detail.notify_config`).

Not modelled: AI and other non-transcode sub-results (always ``[]``/``null``),
``LiveScheduleTask`` and ``ExtractBlindWatermarkTask`` tasks.
"""

from __future__ import annotations

import math
import time
import weakref
from bisect import bisect_left, insort
from datetime import UTC, datetime
from typing import Any

from taskwatch import catalog
from taskwatch.emulator import mps_detail
from taskwatch.emulator.actions import Action, CallContext
from taskwatch.emulator.wire import EmulatedError, ParamSpec, invalid_value
from taskwatch.emulator.world import MPS_LIST_TYPE, MpsTask, World

SENTINEL = "0000-00-00T00:00:00Z"
"""What MPS prints for a BeginProcessTime or FinishTime that has not happened."""
STATUSES = catalog.get("mps").statuses
LIVE = "LiveStreamProcessTask"
DEFAULT_LIMIT, MAX_LIMIT = 10, catalog.get("mps").max_page_size
SUB_OBJECTS = (
    "EditMediaTask", "WorkflowTask", "LiveStreamProcessTask", "ScheduleTask",
    "LiveScheduleTask", "ExtractBlindWatermarkTask",
)  # fmt: skip

Key = tuple[int, str]
"""The listing sort key: (−CreateTime in whole seconds, TaskId); ascending keys = listing order."""


def iso(ts: float | None) -> str:
    """``YYYY-MM-DDThh:mm:ssZ``, or the sentinel for a moment that has not come."""
    if ts is None:
        return SENTINEL
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.floor(ts)))


def sort_key(task: MpsTask) -> Key:
    return (-math.floor(task.created), task.task_id)


# --- the listing index ----------------------------------------------------------------------


ViewName = tuple[str, bool | None]
"""(Status, SubTaskHasFailed or ``None`` for either)."""


class _Index:
    """The listing keys of one world's MPS tasks, sorted, per (Status, SubTaskHasFailed).

    Kept up to date incrementally: the world tells :attr:`pending` the id of every task it adds,
    moves or forgets (``World.mps_listeners``), and the next list call re-files just those, each
    by a bisection and a list insert or delete. A burst of changes larger than a tenth of the
    world, or a task count that disagrees with the world's (a task added or dropped behind the
    world's methods), rebuilds everything by one sort instead; so does a page that finds one of
    its rows out of date. Not noticed: a status assigned behind the world's methods to a task no
    page shows (``TotalCount`` may be off by it until the next rebuild).
    """

    __slots__ = ("filed", "lists", "pending")

    def __init__(self) -> None:
        self.pending: set[str] = set()
        self.filed: dict[str, tuple[str, bool, Key]] = {}
        self.lists: dict[ViewName, list[Key]] = {}

    def keys(self, world: World, name: ViewName) -> list[Key]:
        """The sorted keys of a view, current with the world."""
        if len(self.pending) > max(1000, len(self.filed) // 10):
            self.rebuild(world)
        elif self.pending:
            for task_id in self.pending:
                self._refile(task_id, world.mps.get(task_id))
            self.pending.clear()
        if len(self.filed) != len(world.mps):
            self.rebuild(world)
        return self.lists.setdefault(name, [])

    def _refile(self, task_id: str, task: MpsTask | None) -> None:
        was = self.filed.pop(task_id, None)
        if was is not None:
            status, failed, key = was
            for name in ((status, None), (status, failed)):
                keys = self.lists[name]
                at = bisect_left(keys, key)
                if at < len(keys) and keys[at] == key:
                    del keys[at]
        if task is not None:
            key = sort_key(task)
            self.filed[task_id] = (task.status, task.sub_task_failed, key)
            for name in ((task.status, None), (task.status, task.sub_task_failed)):
                insort(self.lists.setdefault(name, []), key)

    def rebuild(self, world: World) -> None:
        self.pending.clear()
        self.filed, self.lists = {}, {}
        for task in sorted(world.mps.values(), key=sort_key):
            key = sort_key(task)
            self.filed[task.task_id] = (task.status, task.sub_task_failed, key)
            self.lists.setdefault((task.status, None), []).append(key)
            self.lists.setdefault((task.status, task.sub_task_failed), []).append(key)


_INDEXES: weakref.WeakKeyDictionary[World, _Index] = weakref.WeakKeyDictionary()


def _index(world: World) -> _Index:
    """The world's index; the first call builds it and subscribes it to the world's changes."""
    found = _INDEXES.get(world)
    if found is None:
        found = _INDEXES[world] = _Index()
        world.mps_listeners.append(found.pending.add)
        found.rebuild(world)
    return found


# --- DescribeTasks --------------------------------------------------------------------------


def describe_tasks(world: World, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    status = params["Status"]
    if status not in STATUSES:
        raise invalid_value("Status", "must be one of WAITING, PROCESSING, FINISH.")
    limit = params.get("Limit")
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_value(
            "Limit", f"must be between 1 and {MAX_LIMIT}.", code="InvalidParameterValue.Limit"
        )
    oldest = math.floor(world.now() - ctx.options.mps_list_window)
    start, end = params.get("StartTime"), params.get("EndTime")
    if start is not None:
        oldest = max(oldest, math.ceil(_parse_time("StartTime", start)))
    newest = None if end is None else math.floor(_parse_time("EndTime", end))

    anchor: Key | None = None
    if token := params.get("ScrollToken"):
        task = world.mps.get(token)
        if task is None:
            raise invalid_value("ScrollToken", f"no task `{token}` to continue from.")
        anchor = sort_key(task)
    name: ViewName = (status, params.get("SubTaskHasFailed"))
    index = _index(world)
    answer = _page(world, index.keys(world, name), name, limit, oldest, newest, anchor)
    if answer is None:  # the world was edited behind its methods: file everything afresh
        index.rebuild(world)
        answer = _page(world, index.keys(world, name), name, limit, oldest, newest, anchor)
    if answer is None:
        raise EmulatedError("InternalError", "An internal error has occurred.")
    return answer


def _page(
    world: World,
    keys: list[Key],
    name: ViewName,
    limit: int,
    oldest: int,
    newest: int | None,
    anchor: Key | None,
) -> dict[str, Any] | None:
    """One page cut from the sorted keys by bisection; ``None`` if a row on it is out of date."""
    lo = 0 if newest is None else bisect_left(keys, (-newest,))
    hi = max(lo, bisect_left(keys, (-oldest + 1,)))
    at = lo if anchor is None else min(max(bisect_left(keys, anchor), lo), hi)
    stop = min(at + limit, hi)
    status, failed = name
    rows: list[dict[str, Any]] = []
    for key in keys[at:stop]:
        task = world.mps.get(key[1])
        if task is None or task.status != status or failed not in (None, task.sub_task_failed):
            return None
        rows.append(_simple(task))
    return {
        "TaskSet": rows,
        "ScrollToken": keys[stop][1] if stop < hi else "",
        "TotalCount": hi - lo,
    }


def _parse_time(name: str, value: str) -> float:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid_value(name, "expected ISO 8601, such as 2021-02-03T04:05:06Z.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _simple(t: MpsTask) -> dict[str, Any]:
    return {
        "TaskId": t.task_id,
        "TaskType": MPS_LIST_TYPE.get(t.task_type, t.task_type),
        "CreateTime": iso(t.created),
        "BeginProcessTime": iso(t.started),
        "FinishTime": iso(t.finished),
        "SubTaskTypes": list(t.sub_task_types),
    }


# --- DescribeTaskDetail ---------------------------------------------------------------------


def _find(world: World, task_id: str, retention: float) -> MpsTask | None:
    task = world.mps.get(task_id)
    if task is None or task.created < world.now() - retention:
        return None
    return task


def describe_task_detail(world: World, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    task_id = params["TaskId"]
    task = _find(world, task_id, ctx.options.mps_detail_retention)
    if task is None:
        raise EmulatedError(
            ctx.options.mps_detail_missing_code,
            f"The task `{task_id}` does not exist or is older than the query window.",
            f"任务`{task_id}`不存在或已超出可查询的时间范围。",
        )
    answer: dict[str, Any] = {
        "TaskType": task.task_type,
        "Status": task.status,
        "CreateTime": iso(task.created),
        "BeginProcessTime": iso(task.started),
        "FinishTime": iso(task.finished),
    }
    answer.update(dict.fromkeys(SUB_OBJECTS))
    render = _RENDER.get(task.task_type)
    if render is not None:
        answer[task.task_type] = render(task, world.now())
    answer.update(
        TaskNotifyConfig=mps_detail.notify_config(task),
        TasksPriority=task.priority,
        SessionId=task.session_id,
        SessionContext=task.session_context,
        ExtInfo=task.ext_info,
    )
    return answer


_RENDER = {
    "WorkflowTask": mps_detail.workflow,
    "ScheduleTask": mps_detail.schedule,
    "EditMediaTask": mps_detail.edit,
    LIVE: mps_detail.live,
}


# --- ManageTask ------------------------------------------------------------------------------


def manage_task(world: World, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    if params["OperationType"] != "Abort":
        raise EmulatedError(
            "InvalidParameterValue.InvalidOperationType",
            "Invalid operation type: only `Abort` is supported.",
            "无效的操作类型。",
        )
    task = world.mps.get(params["TaskId"])
    if task is not None and task.status == "FINISH":  # its record lasts as long as its detail
        task = _find(world, task.task_id, ctx.options.mps_detail_retention)
    if task is None:
        raise EmulatedError(
            "InvalidParameterValue.TaskId", "The task ID does not exist.", "任务 ID 不存在。"
        )
    abortable = ("WAITING", "PROCESSING") if task.task_type == LIVE else ("WAITING",)
    if task.status not in abortable:
        raise EmulatedError(
            "InvalidParameterValue.NotProcessingTask",
            "The operation is not supported for a task in this status.",
            "不支持状态不为处理中的任务。",
        )
    world.finish_mps(task, world.now(), aborted=True)
    return {}


ACTIONS: dict[str, Action] = {
    "DescribeTasks": Action(
        "DescribeTasks",
        ParamSpec(
            types={
                "Status": "str",
                "SubTaskHasFailed": "bool",
                "Limit": "int",
                "ScrollToken": "str",
                "StartTime": "str",
                "EndTime": "str",
            },
            required=frozenset({"Status"}),
        ),
        describe_tasks,
    ),
    "DescribeTaskDetail": Action(
        "DescribeTaskDetail",
        ParamSpec(types={"TaskId": "str"}, required=frozenset({"TaskId"})),
        describe_task_detail,
    ),
    "ManageTask": Action(
        "ManageTask",
        ParamSpec(
            types={"OperationType": "str", "TaskId": "str"},
            required=frozenset({"OperationType", "TaskId"}),
        ),
        manage_task,
    ),
}
