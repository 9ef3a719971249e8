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

PRESUMED_FOR = 30 * 86400.0
"""How long an active task is presumed still active once the API shows it no more (it left the
7-day list window and the detail's 3 to 7 days): ``DescribeTasks`` lists by creation time, so a
live stream that runs longer than 7 days vanishes from every Describe call while it still runs
(and bills). taskwatch keeps it, in its last observed state, until an action settles it (the
abort lands, or ``ManageTask`` says it had ended) or for this long (no MPS document bounds a
task's life; a month keeps a weekly stream visible to its policies without keeping a task that
ended unseen on the gauges for ever)."""

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
    outlives=PRESUMED_FOR,
)
