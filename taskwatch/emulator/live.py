"""Live (``live`` 2018-08-01): the pull-stream tasks and their run status.

``DescribeLivePullStreamTasks`` pages with ``PageNum``/``PageSize`` over the tasks ordered by
UpdateTime, newest first (ties: the shorter, then smaller TaskId first, so numeric ids keep their
order); the ordering is cached per ``world.version``. ``DescribeLivePullStreamTaskStatus`` derives
the run status from the task's window and its enable/pause status, which is all the world models.
``DeleteLivePullStreamTask`` removes the task, so it disappears from every later answer.

Decisions the reference leaves open ([inferred], reference §7):

- An unknown ``TaskId`` in DescribeLivePullStreamTasks is an empty list, not an error.
- ``SpecifyTaskId`` names a task created with a custom id. The emulator keeps a single id space,
  so when given it is the id looked up, in place of ``TaskId`` (Describe and Delete alike).
- ``RecentPullInfo`` is filled only when one task is asked for (``TaskId`` or ``SpecifyTaskId``);
  in a listing it is ``null``, as are ``CallbackInfo`` and ``ErrorInfo`` ("not returned for now").
- ``PageSize`` outside 1..20 and ``PageNum`` below 1 are ``InvalidParameterValue``; a page past
  the end is an empty list with the true ``TotalNum``/``TotalPage``.
- An unknown task in DescribeLivePullStreamTaskStatus is ``InvalidParameter.TaskNotExist``, the
  code DeleteLivePullStreamTask documents for the same situation.
- The run status is ``active`` iff the task is ``enable`` and StartTime <= now < EndTime. A VOD
  source is modelled as files of ``VOD_FILE_SECONDS`` each, played in order and looped, which
  gives FileUrl, NextFileUrl, OffsetTime, LoopedTimes and FileDuration; a live source has offset,
  loops and duration 0. An inactive task reports no file; ReportTime is its last heartbeat
  (``min(now, EndTime)``), or ``""`` when it never ran.

The server ticks the world before every call; the handlers read it as it stands.

A task with a ``CallbackUrl`` is sent the pull-stream callbacks of its ``CallbackEvents``
(``TaskStart`` at StartTime, ``TaskExit`` at EndTime, on pause and on deletion while active):
the world announces them, :mod:`taskwatch.emulator.notify` writes them.

Not guaranteed: VodLoopTimes does not end a task early; streams are not really pulled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from taskwatch import catalog
from taskwatch.emulator.actions import Action, CallContext
from taskwatch.emulator.wire import EmulatedError, ParamSpec, invalid_value
from taskwatch.emulator.world import LiveTask, World

MAX_PAGE_SIZE = catalog.get("live").max_page_size
VOD_FILE_SECONDS = 600
"""How long the emulator pretends each VOD source file plays."""


def iso(ts: float) -> str:
    """ISO 8601 UTC with ``Z`` and whole seconds, as Live writes every time."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def not_exist(task_id: str) -> EmulatedError:
    return EmulatedError(
        "InvalidParameter.TaskNotExist",
        f"The task `{task_id}` does not exist.",
        f"任务`{task_id}`不存在。",
    )


# --- run status -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunState:
    """Where a pull task is in its sources at ``now``."""

    active: bool
    file_url: str
    next_file_url: str
    offset: int
    looped: int
    file_duration: int
    report_time: str


def run_state(t: LiveTask, now: float) -> RunState:
    active = t.status == "enable" and t.start_time <= now < t.end_time
    if now < t.start_time:
        return RunState(active, "", "", 0, 0, 0, "")
    played = min(now, t.end_time) - t.start_time
    vod = t.source_type == "PullVodPushLive" and bool(t.source_urls)
    looped = int(played // (VOD_FILE_SECONDS * len(t.source_urls))) if vod else 0
    report = iso(min(now, t.end_time))
    if not active:
        return RunState(False, "", "", 0, looped, 0, report)
    if not vod:
        return RunState(True, t.source_urls[0] if t.source_urls else "", "", 0, 0, 0, report)
    n = len(t.source_urls)
    index = int(played // VOD_FILE_SECONDS) % n
    return RunState(
        True,
        t.source_urls[index],
        t.source_urls[(index + 1) % n],
        int(played % VOD_FILE_SECONDS),
        looped,
        VOD_FILE_SECONDS,
        report,
    )


# --- listing --------------------------------------------------------------------------------------


def _order(t: LiveTask) -> tuple[float, int, str]:
    return (-t.updated, len(t.task_id), t.task_id)


@dataclass(frozen=True, slots=True)
class _Listing:
    version: int
    newest: LiveTask | None
    tasks: list[LiveTask]


_LISTINGS: WeakKeyDictionary[World, _Listing] = WeakKeyDictionary()


def _newest(tasks: dict[str, LiveTask]) -> LiveTask | None:
    return tasks[next(reversed(tasks))] if tasks else None


def _sorted(world: World) -> list[LiveTask]:
    """The listing order, rebuilt when the version moves, or when tasks were added or deleted
    straight in ``world.live`` (the count or the newest dict entry changed). Editing a task in
    place must bump ``world.version``, as the world's own methods do."""
    cached = _LISTINGS.get(world)
    if (
        cached is None
        or cached.version != world.version
        or len(cached.tasks) != len(world.live)
        or _newest(world.live) is not cached.newest
    ):
        tasks = sorted(world.live.values(), key=_order)
        cached = _LISTINGS[world] = _Listing(world.version, _newest(world.live), tasks)
    return cached.tasks


def task_info(t: LiveTask, now: float, *, single: bool) -> dict[str, Any]:
    """One ``PullStreamTaskInfo``, every field of SDK 3.1.195 and nothing else."""
    recent = None
    if single:
        state = run_state(t, now)
        recent = {
            "FileUrl": state.file_url,
            "OffsetTime": state.offset,
            "ReportTime": state.report_time,
            "LoopedTimes": state.looped,
        }
    return {
        "TaskId": t.task_id,
        "SourceType": t.source_type,
        "SourceUrls": list(t.source_urls),
        "DomainName": t.domain,
        "AppName": t.app,
        "StreamName": t.stream,
        "PushArgs": "",
        "StartTime": iso(t.start_time),
        "EndTime": iso(t.end_time),
        "Region": t.region,
        "VodLoopTimes": t.vod_loop_times,
        "VodRefreshType": "ImmediateNewSource",
        "CreateTime": iso(t.created),
        "UpdateTime": iso(t.updated),
        "CreateBy": t.created_by,
        "UpdateBy": t.created_by,
        "CallbackUrl": t.callback_url,
        "CallbackEvents": list(t.callback_events) if t.callback_url else [],
        "CallbackInfo": None,
        "ErrorInfo": None,
        "Status": t.status,
        "RecentPullInfo": recent,
        "Comment": t.comment,
        "BackupSourceType": "",
        "BackupSourceUrl": "",
        "WatermarkList": [],
        "VodLocalMode": 0,
        "RecordTemplateId": "",
        "BackupToUrl": "",
        "TranscodeTemplateName": "",
    }


# --- actions --------------------------------------------------------------------------------------


def describe_tasks(world: World, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    page_num = params.get("PageNum")
    page_num = 1 if page_num is None else page_num
    page_size = params.get("PageSize")
    page_size = 10 if page_size is None else page_size
    if page_num < 1:
        raise invalid_value("PageNum", "must be at least 1")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise invalid_value("PageSize", f"must be between 1 and {MAX_PAGE_SIZE}")
    wanted = params.get("SpecifyTaskId") or params.get("TaskId")
    if wanted:
        found = world.live.get(wanted)
        rows = [found] if found is not None else []
    else:
        rows = _sorted(world)
    start = (page_num - 1) * page_size
    now = world.now()
    return {
        "TaskInfos": [
            task_info(t, now, single=bool(wanted)) for t in rows[start : start + page_size]
        ],
        "PageNum": page_num,
        "PageSize": page_size,
        "TotalNum": len(rows),
        "TotalPage": math.ceil(len(rows) / page_size),
        "LimitTaskNum": ctx.options.live_limit_task_num,
    }


def describe_status(world: World, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    task_id: str = params["TaskId"]
    t = world.live.get(task_id)
    if t is None:
        raise not_exist(task_id)
    state = run_state(t, world.now())
    return {
        "TaskStatusInfo": {
            "FileUrl": state.file_url,
            "LoopedTimes": state.looped,
            "OffsetTime": state.offset,
            "ReportTime": state.report_time,
            "RunStatus": "active" if state.active else "inactive",
            "FileDuration": state.file_duration,
            "NextFileUrl": state.next_file_url,
        }
    }


def delete_task(world: World, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    task_id: str = params.get("SpecifyTaskId") or params["TaskId"]
    if not world.delete_live(task_id):
        raise not_exist(task_id)
    return {}


ACTIONS: dict[str, Action] = {
    "DescribeLivePullStreamTasks": Action(
        "DescribeLivePullStreamTasks",
        ParamSpec({"TaskId": "str", "PageNum": "int", "PageSize": "int", "SpecifyTaskId": "str"}),
        describe_tasks,
    ),
    "DescribeLivePullStreamTaskStatus": Action(
        "DescribeLivePullStreamTaskStatus",
        ParamSpec({"TaskId": "str"}, frozenset({"TaskId"})),
        describe_status,
    ),
    "DeleteLivePullStreamTask": Action(
        "DeleteLivePullStreamTask",
        ParamSpec(
            {"TaskId": "str", "Operator": "str", "SpecifyTaskId": "str"},
            frozenset({"TaskId", "Operator"}),
        ),
        delete_task,
    ),
}
