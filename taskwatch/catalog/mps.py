"""MPS (``mps`` 2019-06-12, reference §5): media processing tasks, ids global per account.

``ManageTask OperationType=Abort`` aborts a ``LiveStreamProcessTask`` while WAITING or
PROCESSING, every other type only while WAITING; a FINISH task has nothing left to abort. The list
(``DescribeTasks``) spells the live type ``LiveProcessTask``, the detail ``LiveStreamProcessTask``:
``Task.type`` holds the detail's spelling.
"""

from __future__ import annotations

from taskwatch.catalog.spec import ApiAction, Phase, ProductSpec

LIVE_STREAM = "LiveStreamProcessTask"
"""The one MPS type that can be aborted while PROCESSING (the detail's spelling)."""

SPEC = ProductSpec(
    name="mps",
    title="MPS",
    version="2019-06-12",
    regional=False,
    window=7 * 86400.0,  # DescribeTasks lists tasks created in the last 7 days (168 h)
    max_page_size=100,
    actions=(
        ApiAction("DescribeTasks", 100.0),
        ApiAction("DescribeTaskDetail", 100.0),
        ApiAction("ManageTask", 20.0, destructive=True),
    ),
    verb="abort",
    call="ManageTask",
    call_title="ManageTask OperationType=Abort",
    phases={
        "WAITING": frozenset({Phase.PENDING}),
        "PROCESSING": frozenset({Phase.RUNNING}),
        "FINISH": frozenset({Phase.DONE}),
    },
    acts_on={"WAITING": None, "PROCESSING": frozenset({LIVE_STREAM})},
    types=(
        "WorkflowTask",
        "EditMediaTask",
        LIVE_STREAM,
        "ScheduleTask",
        "LiveScheduleTask",
        "ExtractBlindWatermarkTask",
    ),
    type_spellings={"LiveProcessTask": LIVE_STREAM},
)
