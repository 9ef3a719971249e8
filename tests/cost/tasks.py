"""Tasks as the adapters make them from API answers, for the cost tests.

MPS tasks start from the documentation's own ``DescribeTaskDetail`` example
(``tests/data/seeds/mps_describe_task_detail_example1.json``: a FINISH WorkflowTask with one
H.264 320x240 output of 380.958 s, from a 480x360 input of 380.947 s), changed where a test says
so; DLC and Live tasks are ``TaskResponseInfo`` and ``PullStreamTaskInfo`` records with the
documented fields. Each goes through its adapter's own ``normalise``, so phase, times and fields
are what the daemon would see.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskwatch.models import SourceKey, Task
from taskwatch.products import dlc, live, mps

SEED = (
    Path(__file__).resolve().parent.parent
    / "data"
    / "seeds"
    / "mps_describe_task_detail_example1.json"
)
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC).timestamp()
"""The instant every estimate is taken at."""
HOUR = 3600.0


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_detail() -> dict[str, Any]:
    """The documentation's DescribeTaskDetail answer (without ``RequestId``)."""
    body: dict[str, Any] = json.loads(SEED.read_text())["Response"]
    return copy.deepcopy(body)


def mps_task(detail: dict[str, Any]) -> Task:
    return mps.normalise_detail("task-1", detail, source=SourceKey("main", "mps", "global"))


def running(detail: dict[str, Any], *, started: float, sub: str = "WorkflowTask") -> dict[str, Any]:
    """``detail`` as a PROCESSING task that began at ``started``."""
    detail.update(
        Status="PROCESSING", BeginProcessTime=iso(started), FinishTime="0000-00-00T00:00:00Z"
    )
    if isinstance(detail.get(sub), dict):
        detail[sub]["Status"] = "PROCESSING"
    return detail


def transcode(
    *,
    codec: str,
    width: int,
    height: int,
    duration: float,
    progress: float,
    status: str = "PROCESSING",
) -> dict[str, Any]:
    """A ``MediaProcessResultSet`` item of type Transcode, shaped as the seed's."""
    item: dict[str, Any] = copy.deepcopy(seed_detail()["WorkflowTask"]["MediaProcessResultSet"][0])
    task = item["TranscodeTask"]
    task.update(Status=status, Progress=progress)
    task["Output"].update(Width=width, Height=height, Duration=duration)
    task["Output"]["VideoStreamSet"][0].update(Codec=codec, Width=width, Height=height)
    return item


def dlc_task(**fields: Any) -> Task:
    """A DLC task from a ``TaskResponseInfo`` with ``fields`` (State 1, running, by default)."""
    record: dict[str, Any] = {
        "Id": "e386471f-139a-4e59-877f-50ece8135b99",
        "State": 1,
        "TaskType": "SparkSQLTask",
        "CreateTime": str(int((NOW - 2 * HOUR) * 1000)),
        "UpdateTime": str(int(NOW * 1000)),
        "TotalTime": int(2 * HOUR * 1000),
        "UsedTime": int(HOUR * 1000),
        "DataEngineName": "public-engine",
        "DataAmount": 0,
        **fields,
    }
    return dlc.normalise(record, source=SourceKey("main", "dlc", "ap-guangzhou"))


def live_task(
    *, start: float, end: float, status: str = "enable", updated: float | None = None
) -> Task:
    """A pull-stream task (``PullStreamTaskInfo``) as it stands at :data:`NOW`."""
    record = {
        "TaskId": "63229997",
        "SourceType": "PullLivePushLive",
        "SourceUrls": ["rtmp://origin.example/live/a"],
        "Status": status,
        "StartTime": iso(start),
        "EndTime": iso(end),
        "CreateTime": iso(start - HOUR),
        "UpdateTime": iso(updated if updated is not None else start - HOUR),
    }
    return live.normalise(record, source=SourceKey("main", "live", "ap-guangzhou"), now=NOW)
