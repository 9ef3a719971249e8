"""Golden estimates: for a handful of tasks of each product, the estimate equals the figure worked
out by hand (in each test's comment) from the shipped price table, to the cent.

The shipped table (config/prices/tencent-cloud-cn.yaml, CNY): MPS standard transcoding per output
minute, H.264 SD 0.016 / HD 0.0325 / FHD 0.063 / 2K 0.136 / 4K 0.278, H.265 SD 0.08 / HD 0.156 /
FHD 0.3112 / 2K 0.6703 / 4K 1.3406, audio-only 0.0056; specs by short edge 480 / 720 / 1080 /
1440 / 2160. DLC 0.03 per GB scanned (public engine), 0.35 per CU-hour (private). Live pull-stream
0.12 per hour. Prices an operator adds are given where a test uses them.
"""

from __future__ import annotations

from typing import Any

import pytest

from taskwatch.cost import Estimate, Pricer
from taskwatch.models import Task
from taskwatch.settings.prices import Prices
from tests.cost.tasks import (
    HOUR,
    NOW,
    dlc_task,
    live_task,
    mps_task,
    running,
    seed_detail,
    transcode,
)

SHIPPED = Pricer(Prices())


def estimate(task: Task, pricer: Pricer = SHIPPED) -> Estimate:
    found = pricer.assess(task, NOW)
    assert isinstance(found, Estimate), found
    assert found.currency == "CNY"
    return found


def cents(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# --- MPS -------------------------------------------------------------------------------------


def test_the_documentation_s_workflow_task_as_it_is() -> None:
    # One finished H.264 output, 320x240 (short edge 240 <= 480: SD), 380.9580078125 s:
    # 380.958 / 60 = 6.3493 min x 0.016 = 0.1016 -> 0.10. Finished: 0 per hour, nothing left.
    found = estimate(mps_task(seed_detail()))
    assert (cents(found.so_far), found.per_hour, found.remaining_hours) == (0.10, 0.0, None)
    assert found.basis == "h264 SD 6.35 min x 0.016"


def test_a_running_workflow_with_two_outputs_half_done() -> None:
    # Began 1 h ago. Output 1: H.264 1920x1080 (FHD), 3600 s, 50 %: 60 x 0.5 = 30 min x 0.063
    # = 1.89. Output 2: H.265 1280x720 (HD), 3600 s, 30 %: 60 x 0.3 = 18 min x 0.156 = 2.808.
    # so_far = 4.698 -> 4.70; per hour = 4.698 / 1 h -> 4.70; mean progress 40 %: remaining
    # = 1 h x (100 - 40) / 40 = 1.5 h.
    detail = running(seed_detail(), started=NOW - HOUR)
    detail["WorkflowTask"]["MediaProcessResultSet"] = [
        transcode(codec="h264", width=1920, height=1080, duration=3600, progress=50),
        transcode(codec="h265", width=1280, height=720, duration=3600, progress=30),
    ]
    found = estimate(mps_task(detail))
    assert (cents(found.so_far), cents(found.per_hour), found.remaining_hours) == (4.70, 4.70, 1.5)


def test_a_running_output_not_yet_written_is_assumed_from_the_input() -> None:
    # Output null (the API fills it when the file exists): the input's MetaData stands in,
    # changed here to 1920x1080 and 7200 s, codec H.264 assumed: FHD, 120 min x 40 % = 48 min
    # x 0.063 = 3.024 -> 3.02. Began 2 h ago: 3.024 / 2 = 1.512 -> 1.51 per hour;
    # remaining 2 h x 60 / 40 = 3 h.
    detail = running(seed_detail(), started=NOW - 2 * HOUR)
    workflow = detail["WorkflowTask"]
    workflow["MetaData"].update(Width=1920, Height=1080, Duration=7200)
    item = workflow["MediaProcessResultSet"][0]["TranscodeTask"]
    item.update(Status="PROCESSING", Progress=40, Output=None)
    found = estimate(mps_task(detail))
    assert (cents(found.so_far), cents(found.per_hour), found.remaining_hours) == (3.02, 1.51, 3.0)
    assert "assumed" in found.basis


def test_a_schedule_task_s_transcode_activities() -> None:
    # ScheduleTask.ActivityResultSet[].ActivityResItem.TranscodeTask. A finished H.265 3840x2160
    # output (4K), 600 s: 10 min x 1.3406 = 13.406; a failed H.264 output costs nothing.
    # so_far 13.406 -> 13.41.
    detail = seed_detail()
    workflow = detail.pop("WorkflowTask")
    detail["TaskType"] = "ScheduleTask"
    good = transcode(
        codec="h265", width=3840, height=2160, duration=600, progress=100, status="SUCCESS"
    )
    bad = transcode(codec="h264", width=1280, height=720, duration=600, progress=20, status="FAIL")
    detail["ScheduleTask"] = {
        "TaskId": "task-1",
        "Status": "FINISH",
        "MetaData": workflow["MetaData"],
        "ActivityResultSet": [
            {
                "ActivityType": "Transcode",
                "ActivityResItem": {"TranscodeTask": good["TranscodeTask"]},
            },
            {
                "ActivityType": "Transcode",
                "ActivityResItem": {"TranscodeTask": bad["TranscodeTask"]},
            },
        ],
    }
    found = estimate(mps_task(detail))
    assert (cents(found.so_far), found.per_hour) == (13.41, 0.0)
    assert "failed" in found.basis


def test_an_audio_only_output() -> None:
    # No video stream and no size: audio-only, 1800 s: 30 min x 0.0056 = 0.168 -> 0.17.
    detail = seed_detail()
    output = detail["WorkflowTask"]["MediaProcessResultSet"][0]["TranscodeTask"]["Output"]
    output.update(Width=0, Height=0, VideoStreamSet=[], Duration=1800)
    assert cents(estimate(mps_task(detail)).so_far) == 0.17


def test_an_edit_media_task_at_an_operator_s_price() -> None:
    # Not in the shipped table. At H.264 FHD 0.05 per minute: EditMediaTask.Output.MetaData
    # 1920x1080, 900 s, finished: 15 min x 0.05 = 0.75.
    pricer = Pricer(
        Prices.model_validate(
            {"mps": {"EditMediaTask": {"per_output_minute": {"H.264": {"FHD": 0.05}}}}}
        )
    )
    detail = seed_detail()
    meta = {
        **detail.pop("WorkflowTask")["MetaData"],
        "Width": 1920,
        "Height": 1080,
        "Duration": 900,
    }
    meta["VideoStreamSet"] = [{**meta["VideoStreamSet"][0], "Width": 1920, "Height": 1080}]
    detail["TaskType"] = "EditMediaTask"
    detail["EditMediaTask"] = {
        "TaskId": "task-1",
        "Status": "FINISH",
        "ErrCode": 0,
        "Output": {"Path": "/out.mp4", "MetaData": meta},
    }
    assert SHIPPED.estimate(mps_task(detail), NOW) is None
    assert cents(estimate(mps_task(detail), pricer).so_far) == 0.75


def test_a_live_stream_processing_task_at_an_operator_s_price() -> None:
    # 1.2 per hour (not shipped), began 2.5 h ago, running: 2.5 x 1.2 = 3.00; 1.20 per hour.
    pricer = Pricer(Prices.model_validate({"mps": {"LiveStreamProcessTask": {"per_hour": 1.2}}}))
    detail = running(seed_detail(), started=NOW - 2.5 * HOUR)
    detail["TaskType"] = "LiveStreamProcessTask"
    detail["LiveStreamProcessTask"] = {
        "TaskId": "task-1",
        "Status": "PROCESSING",
        "ErrCode": 0,
        "Url": "rtmp://x/y",
    }
    found = estimate(mps_task(detail), pricer)
    assert (cents(found.so_far), found.per_hour, found.remaining_hours) == (3.00, 1.2, None)
    assert SHIPPED.estimate(mps_task(detail), NOW) is None  # no shipped price: unpriced


# --- DLC -------------------------------------------------------------------------------------

GIB = 1024**3


@pytest.mark.parametrize(
    ("fields", "so_far", "per_hour"),
    [
        # Public engine, succeeded, CommonMetrics.ProcessedBytes 50 GiB: 50 x 0.03 = 1.50.
        ({"State": 2, "CommonMetrics": {"ProcessedBytes": 50 * GIB}, "DataAmount": 1}, 1.50, 0.0),
        # Public, running 30 min (UsedTime), no CommonMetrics, DataAmount 10 GiB: 10 x 0.03
        # = 0.30; per hour 0.30 / 0.5 h = 0.60.
        ({"DataAmount": 10 * GIB, "UsedTime": 1_800_000}, 0.30, 0.60),
        # Public, failed after scanning 80 GiB: failed queries are not billed: 0.00.
        ({"State": -1, "CommonMetrics": {"ProcessedBytes": 80 * GIB}}, 0.0, 0.0),
        # Private engine, JobTimeSum 16 core-hours (57,600,000 ms): 16 CU-h x 0.35 = 5.60;
        # running 1 h (UsedTime): 5.60 per hour.
        ({"DataEngineName": "etl-engine", "JobTimeSum": 57_600_000}, 5.60, 5.60),
        # Private Spark job, no JobTimeSum: driver medium (2 CU) + 3 x executor large (4 CU)
        # = 14 CU, 1.5 h (UsedTime 5,400,000 ms): 21 CU-h x 0.35 = 7.35; 14 x 0.35 = 4.90/h.
        (
            {
                "DataEngineName": "spark-engine",
                "DriverSize": "medium",
                "ExecutorSize": "large",
                "ExecutorNums": 3,
                "UsedTime": 5_400_000,
            },
            7.35,
            4.90,
        ),
    ],
)
def test_dlc_tasks(fields: dict[str, Any], so_far: float, per_hour: float) -> None:
    found = estimate(dlc_task(**fields))
    assert (cents(found.so_far), cents(found.per_hour), found.remaining_hours) == (
        so_far,
        per_hour,
        None,
    )


# --- Live ------------------------------------------------------------------------------------


def test_a_running_pull_stream_task() -> None:
    # Started 3 h ago, ends in 2 h: 3 x 0.12 = 0.36; 0.12 per hour; 2 h remaining.
    found = estimate(live_task(start=NOW - 3 * HOUR, end=NOW + 2 * HOUR))
    assert (cents(found.so_far), found.per_hour, found.remaining_hours) == (0.36, 0.12, 2.0)


def test_an_expired_pull_stream_task_ran_its_whole_window() -> None:
    # A 7-day window (168 h) that ended an hour ago: 168 x 0.12 = 20.16; nothing per hour.
    found = estimate(live_task(start=NOW - 169 * HOUR, end=NOW - HOUR))
    assert (cents(found.so_far), found.per_hour, found.remaining_hours) == (20.16, 0.0, None)


def test_a_paused_pull_stream_task_counts_until_it_was_paused() -> None:
    # Started 10 h ago, paused (UpdateTime) 4 h after: 4 x 0.12 = 0.48; paused: 0 per hour.
    task = live_task(
        start=NOW - 10 * HOUR, end=NOW + 10 * HOUR, status="pause", updated=NOW - 6 * HOUR
    )
    found = estimate(task)
    assert (cents(found.so_far), found.per_hour) == (0.48, 0.0)
