"""An answer without the fields that say what a task is and where it stands is broken, for every
product: a :class:`ProtocolError` naming the call and the field, never a task of status ``""``.

Found for real: an MPS ``DescribeTaskDetail`` answer without ``Status`` and ``TaskType`` was taken
as a task of status ``""`` and type ``""``, and the ``taskwatch_tasks`` gauge grew a series
``{status="",type=""}``. The fields required here are the ones every task has in the API's
reference and that taskwatch turns into labels and phases: MPS ``Status`` and ``TaskType`` (detail;
``TaskType`` in the list, whose status is the listing's), DLC ``State`` and ``TaskType``, Live
``Status`` and ``SourceType``, and Live's run status ``TaskStatusInfo.RunStatus``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from taskwatch.clock import ManualClock
from taskwatch.emulator.faults import Fault
from taskwatch.metrics.registry import Metrics
from taskwatch.products.base import CallCounter
from taskwatch.products.dlc import DlcAdapter
from taskwatch.products.live import LiveAdapter
from taskwatch.products.mps import MpsAdapter
from taskwatch.tencent.errors import ProtocolError
from taskwatch.watch import Watcher
from tests.e2e.test_policies import workflow
from tests.emulator.harness import fast_transport, running_emulator, taskwatch_client
from tests.products.fakes import ScriptedCaller

REGION = "ap-guangzhou"
UNSET = "0000-00-00T00:00:00Z"
MPS_DETAIL: dict[str, Any] = {
    "TaskType": "WorkflowTask",
    "Status": "PROCESSING",
    "CreateTime": "2026-03-01T12:00:00Z",
    "BeginProcessTime": "2026-03-01T12:00:01Z",
    "FinishTime": UNSET,
    "WorkflowTask": {"TaskId": "t-1", "Status": "PROCESSING", "ErrCode": 0},
}
MPS_ROW: dict[str, Any] = {
    "TaskId": "t-1",
    "TaskType": "WorkflowTask",
    "CreateTime": "2026-03-01T12:00:00Z",
    "BeginProcessTime": UNSET,
    "FinishTime": UNSET,
}
DLC_ROW: dict[str, Any] = {
    "Id": "4ad30ca9-8b0e-499f-b4e1-d6e43ba0e564",
    "State": 1,
    "TaskType": "SparkSQLTask",
    "CreateTime": "1772366400000",
    "UpdateTime": "1772366400000",
}
LIVE_ROW: dict[str, Any] = {
    "TaskId": "10054",
    "Status": "enable",
    "SourceType": "PullLivePushLive",
    "StartTime": "2026-03-01T12:00:00Z",
    "EndTime": "2026-03-02T12:00:00Z",
}
LIVE_STATUS: dict[str, Any] = {"RunStatus": "active", "FileUrl": "rtmp://a/live/s"}
ABSENT = object()


def without(record: Mapping[str, Any], field: str, value: object = ABSENT) -> dict[str, Any]:
    """``record`` with ``field`` removed, or set to ``value``."""
    out = {k: v for k, v in record.items() if k != field}
    if value is not ABSENT:
        out[field] = value
    return out


BROKEN = [
    pytest.param(ABSENT, id="absent"),
    pytest.param(None, id="null"),
    pytest.param("", id="empty"),
    pytest.param(7, id="number"),
    pytest.param(["PROCESSING"], id="list"),
]


def scripted(answers: Mapping[str, dict[str, Any]]) -> ScriptedCaller:
    return ScriptedCaller(lambda action, params: answers[action])


@pytest.mark.parametrize("field", ["Status", "TaskType"])
@pytest.mark.parametrize("value", BROKEN)
async def test_an_mps_detail_without_status_or_type_is_a_protocol_error_naming_it(
    field: str, value: object
) -> None:
    fake = scripted({"DescribeTaskDetail": without(MPS_DETAIL, field, value)})
    adapter = MpsAdapter(client=fake, account="main", clock=ManualClock())
    with pytest.raises(ProtocolError, match=rf"^mps\.DescribeTaskDetail: {field} is "):
        await adapter.describe("t-1", CallCounter())


async def test_an_mps_list_record_without_its_type_is_a_protocol_error_naming_it() -> None:
    page = {"TaskSet": [without(MPS_ROW, "TaskType")], "ScrollToken": ""}
    adapter = MpsAdapter(
        client=scripted({"DescribeTasks": page}), account="main", clock=ManualClock()
    )
    with pytest.raises(ProtocolError, match=r"^mps\.DescribeTasks: TaskSet\[0\]\.TaskType is "):
        await adapter.scan(sweep=False, calls=CallCounter())


@pytest.mark.parametrize("field", ["State", "TaskType"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(ABSENT, id="absent"),
        pytest.param(None, id="null"),
        pytest.param("", id="empty"),
        pytest.param(["1"], id="list"),
    ],
)
async def test_a_dlc_record_without_state_or_type_is_a_protocol_error_naming_it(
    field: str, value: object
) -> None:
    page = {"TaskList": [without(DLC_ROW, field, value)], "TotalCount": 1}
    adapter = DlcAdapter(
        client=scripted({"DescribeTasks": page}), account="main", region=REGION, clock=ManualClock()
    )
    with pytest.raises(
        ProtocolError, match=rf"^dlc\.DescribeTasks@{REGION}: TaskList\[0\]\.{field}"
    ):
        await adapter.describe(DLC_ROW["Id"], CallCounter())


async def test_a_dlc_state_that_is_not_a_code_is_a_protocol_error_naming_it() -> None:
    page = {"TaskList": [{**DLC_ROW, "State": "running"}], "TotalCount": 1}
    adapter = DlcAdapter(
        client=scripted({"DescribeTasks": page}), account="main", region=REGION, clock=ManualClock()
    )
    with pytest.raises(ProtocolError, match=r"TaskList\[0\]\.State is not a state code"):
        await adapter.scan(sweep=False, calls=CallCounter())


@pytest.mark.parametrize("field", ["Status", "SourceType"])
@pytest.mark.parametrize("value", BROKEN)
async def test_a_live_record_without_status_or_source_type_is_a_protocol_error_naming_it(
    field: str, value: object
) -> None:
    page = {"TaskInfos": [without(LIVE_ROW, field, value)], "TotalPage": 1}
    answers = {
        "DescribeLivePullStreamTasks": page,
        "DescribeLivePullStreamTaskStatus": {"TaskStatusInfo": LIVE_STATUS},
    }
    adapter = LiveAdapter(
        client=scripted(answers), account="main", region=REGION, clock=ManualClock()
    )
    pattern = rf"^live\.DescribeLivePullStreamTasks@{REGION}: TaskInfos\[0\]\.{field} is "
    with pytest.raises(ProtocolError, match=pattern):
        await adapter.scan(sweep=False, calls=CallCounter())


@pytest.mark.parametrize(
    "answer",
    [{}, {"TaskStatusInfo": None}, {"TaskStatusInfo": {}}, {"TaskStatusInfo": {"RunStatus": ""}}],
)
async def test_a_live_run_status_without_its_run_status_is_a_protocol_error_naming_it(
    answer: dict[str, Any],
) -> None:
    answers = {
        "DescribeLivePullStreamTasks": {"TaskInfos": [LIVE_ROW], "TotalPage": 1},
        "DescribeLivePullStreamTaskStatus": answer,
    }
    adapter = LiveAdapter(
        client=scripted(answers), account="main", region=REGION, clock=ManualClock()
    )
    pattern = rf"^live\.DescribeLivePullStreamTaskStatus@{REGION}: TaskStatusInfo\.RunStatus is "
    with pytest.raises(ProtocolError, match=pattern):
        await adapter.describe("10054", CallCounter())


async def test_complete_answers_still_read_as_tasks() -> None:
    answers = {
        "DescribeTaskDetail": MPS_DETAIL,
        "DescribeTasks": {"TaskList": [DLC_ROW], "TotalCount": 1},
    }
    mps = MpsAdapter(client=scripted(answers), account="main", clock=ManualClock())
    dlc = DlcAdapter(client=scripted(answers), account="main", region=REGION, clock=ManualClock())
    live_answers = {
        "DescribeLivePullStreamTasks": {"TaskInfos": [LIVE_ROW], "TotalPage": 1},
        "DescribeLivePullStreamTaskStatus": {"TaskStatusInfo": LIVE_STATUS},
    }
    live = LiveAdapter(
        client=scripted(live_answers), account="main", region=REGION, clock=ManualClock()
    )
    found = [
        await mps.describe("t-1", CallCounter()),
        await dlc.describe(DLC_ROW["Id"], CallCounter()),
        await live.describe("10054", CallCounter()),
    ]
    assert [(t.status, t.type) for t in found if t is not None] == [
        ("PROCESSING", "WorkflowTask"),
        ("running", "SparkSQLTask"),
        ("enable", "PullLivePushLive"),
    ]


async def test_a_detail_without_status_never_becomes_a_gauge_series_with_empty_labels() -> None:
    fault = Fault(kind="missing_field", action="DescribeTaskDetail", field="Status")
    async with running_emulator(faults=[fault]) as running, fast_transport() as transport:
        workflow(running.world, 1)
        metrics = Metrics(clock=running.clock)
        adapter = MpsAdapter(
            client=taskwatch_client(running, transport), account="main", clock=running.clock
        )
        watcher = Watcher(adapter=adapter, metrics=metrics, clock=running.clock)
        report = await watcher.cycle()
    series = [
        s.labels
        for family in metrics.registry.collect()
        if family.name == "taskwatch_tasks"
        for s in family.samples
    ]
    assert all(labels["status"] and labels["type"] for labels in series), series
    assert report.error == "ProtocolError"  # its only task's detail failed: nothing to show
    assert report.message is not None
    assert "Status is missing" in report.message
