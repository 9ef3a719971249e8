"""The estimator's rules apart from the figures: spec selection at the bounds, what leaves a task
unpriced (and says why), ``enabled: false``, and odd API data never raising."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskwatch.cost import Estimate, Pricer
from taskwatch.cost.transcode import spec_of
from taskwatch.models import Phase, Task
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
SHIPPED_SPECS = Prices().specs


@pytest.mark.parametrize(
    ("width", "height", "spec"),
    [
        (480, 480, "SD"),
        (4000, 480, "SD"),  # MPS bounds the short edge only
        (640, 481, "HD"),
        (1280, 720, "HD"),
        (720, 1280, "HD"),  # portrait: the short edge is the width
        (1920, 1080, "FHD"),
        (1920, 1081, "2K"),
        (2560, 1440, "2K"),
        (3840, 2160, "4K"),
        (4096, 2161, None),  # above every shipped spec
    ],
)
def test_the_shipped_specs_by_short_edge(width: int, height: int, spec: str | None) -> None:
    assert spec_of(width, height, SHIPPED_SPECS) == spec


@pytest.mark.parametrize(
    ("width", "height", "spec"),
    [
        (854, 480, "SD"),
        (855, 480, "HD"),  # the long edge is past SD's
        (480, 854, "SD"),
        (1280, 720, "HD"),
        (1281, 720, "FHD"),
        (1920, 1080, "FHD"),
        (1921, 1080, None),
    ],
)
def test_configured_bounds_on_both_edges(width: int, height: int, spec: str | None) -> None:
    specs = {"FHD": (1920, 1080), "SD": (854, 480), "HD": (1280, 720)}  # in any order
    assert spec_of(width, height, specs) == spec


def output_task(**output: Any) -> Task:
    detail = running(seed_detail(), started=NOW - HOUR)
    item = transcode(codec="h264", width=1280, height=720, duration=600, progress=50)
    item["TranscodeTask"]["Output"].update(output)
    detail["WorkflowTask"]["MediaProcessResultSet"] = [item]
    return mps_task(detail)


def av1() -> Task:
    task = output_task()
    output = task.detail["WorkflowTask"]["MediaProcessResultSet"][0]["TranscodeTask"]["Output"]  # type: ignore[index]
    output["VideoStreamSet"][0]["Codec"] = "av1"
    return task


def no_duration() -> Task:
    detail = running(seed_detail(), started=NOW - HOUR)
    detail["WorkflowTask"]["MetaData"]["Duration"] = 0
    detail["WorkflowTask"]["MediaProcessResultSet"][0]["TranscodeTask"]["Output"] = None
    return mps_task(detail)


def only_snapshots() -> Task:
    detail = running(seed_detail(), started=NOW - HOUR)
    detail["WorkflowTask"]["MediaProcessResultSet"] = [
        {"Type": "SampleSnapshot", "SampleSnapshotTask": {}}
    ]
    return mps_task(detail)


def without_detail() -> Task:
    task = mps_task(running(seed_detail(), started=NOW - HOUR))
    return Task(
        **{
            f: getattr(task, f)
            for f in ("product", "account", "region", "id", "type", "status", "phase", "started")
        }
    )


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (av1, "output 1: no price for codec av1"),
        (lambda: output_task(Width=4096, Height=2304), "output 1: 4096x2304 is above every spec"),
        (no_duration, "output 1: no duration"),
        (only_snapshots, "no transcoding output in the detail"),
        (without_detail, "no detail yet"),
        (lambda: dlc_task(DataEngineName=""), "no DataEngineName"),
        (
            lambda: dlc_task(DataEngineName="private-x"),
            "private engine, and neither JobTimeSum nor Spark sizes",
        ),
        (
            lambda: dlc_task(
                DataEngineName="private-x", DriverSize="huge", ExecutorSize="small", ExecutorNums=2
            ),
            "Spark job with an unknown DriverSize",
        ),
        (
            lambda: dlc_task(DataAmount=None),
            "public engine, and neither CommonMetrics.ProcessedBytes nor DataAmount",
        ),
        (
            lambda: dlc_task(DataAmount=-5),
            "public engine, and neither CommonMetrics.ProcessedBytes nor DataAmount",
        ),
    ],
)
def test_what_leaves_a_task_unpriced_and_says_why(make: Any, why: str) -> None:
    task = make()
    assert SHIPPED.estimate(task, NOW) is None
    reason = SHIPPED.why_unpriced(task, NOW)
    assert reason is not None
    assert reason.startswith(why), reason


def test_an_absent_price_is_unpriced_never_zero() -> None:
    pricer = Pricer(
        Prices.model_validate(
            {
                "live": {"per_hour": None},
                "dlc": {"per_gb_scanned": None},
                "mps": {"WorkflowTask": None},
            }
        )
    )
    for task in (
        live_task(start=NOW - HOUR, end=NOW + HOUR),
        dlc_task(DataAmount=1),
        mps_task(seed_detail()),
    ):
        assert pricer.estimate(task, NOW) is None
        assert (pricer.why_unpriced(task, NOW) or "").startswith("no prices.")
    assert not pricer.covers("live")
    assert pricer.covers("dlc")
    assert pricer.covers("mps")


def test_waiting_tasks_of_a_priced_kind_have_spent_nothing() -> None:
    detail = seed_detail()
    detail.update(
        Status="WAITING", BeginProcessTime="0000-00-00T00:00:00Z", FinishTime="0000-00-00T00:00:00Z"
    )
    detail["WorkflowTask"].update(Status="WAITING", MediaProcessResultSet=[])
    queued = dlc_task(State=4, UsedTime=0)
    future = live_task(start=NOW + HOUR, end=NOW + 2 * HOUR)
    for task in (mps_task(detail), queued, future):
        assert task.phase is Phase.PENDING
        assert SHIPPED.estimate(task, NOW) == Estimate(0.0, 0.0, "CNY", "not started")


def test_enabled_false_estimates_nothing() -> None:
    tasks = [
        mps_task(seed_detail()),
        dlc_task(DataAmount=1),
        live_task(start=NOW - HOUR, end=NOW + HOUR),
    ]
    for pricer in (Pricer.off(), Pricer(Prices(enabled=False))):
        assert [pricer.estimate(t, NOW) for t in tasks] == [None, None, None]
        assert pricer.why_unpriced(tasks[0], NOW) == "prices are disabled (prices.enabled: false)"
        assert not any(pricer.covers(p) for p in ("mps", "dlc", "live"))
    assert all(SHIPPED.estimate(t, NOW) is not None for t in tasks)
    assert all(SHIPPED.covers(p) for p in ("mps", "dlc", "live"))


def test_the_estimate_moves_with_now() -> None:
    task = live_task(start=NOW - HOUR, end=NOW + 2 * HOUR)
    later = SHIPPED.estimate(task, NOW + HOUR)
    assert later is not None
    assert round(later.so_far, 2) == 0.24
    assert later.remaining_hours == 1.0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Output",
                    "Duration",
                    "Width",
                    "Height",
                    "Codec",
                    "VideoStreamSet",
                    "Progress",
                    "Status",
                    "TranscodeTask",
                    "Type",
                    "ActivityResItem",
                    "MetaData",
                    "ErrCode",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    sub=st.sampled_from(["WorkflowTask", "ScheduleTask", "EditMediaTask"]),
    body=st.dictionaries(
        st.sampled_from(
            [
                "MetaData",
                "MediaProcessResultSet",
                "ActivityResultSet",
                "Output",
                "Progress",
                "Status",
                "ErrCode",
            ]
        ),
        json_values,
        max_size=5,
    ),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "DataEngineName",
                "DataAmount",
                "CommonMetrics",
                "JobTimeSum",
                "UsedTime",
                "DriverSize",
                "ExecutorSize",
                "ExecutorNums",
                "EndTime",
                "UpdateTime",
            ]
        ),
        json_values | st.sampled_from(["public-engine", "small", "m.large"]),
        max_size=6,
    ),
)
def test_odd_api_data_never_raises(sub: str, body: dict[str, Any], fields: dict[str, Any]) -> None:
    pricer = Pricer(
        Prices.model_validate(
            {"mps": {"EditMediaTask": {"per_output_minute": {"h264": {"SD": 1}}}}}
        )
    )
    detail = running(seed_detail(), started=NOW - HOUR)
    detail["TaskType"] = sub
    detail[sub] = body
    tasks = [
        mps_task(detail),
        dlc_task(**fields),
        Task(
            "live",
            "main",
            "r",
            "t",
            "PullLivePushLive",
            "enable",
            Phase.RUNNING,
            started=NOW - HOUR,
            fields=fields,
        ),
        Task(
            "live",
            "main",
            "r",
            "t",
            "PullLivePushLive",
            "pause",
            Phase.PENDING,
            started=NOW - HOUR,
            fields=fields,
        ),
    ]
    for task in tasks:
        found = pricer.assess(task, NOW)
        if isinstance(found, Estimate):
            assert found.so_far >= 0
            assert found.per_hour >= 0


def test_a_failed_output_needs_nothing_readable() -> None:
    # The emulator's (and the API's) failed transcode: FAIL, Progress 0, no Output; here the input
    # has no MetaData either. It costs nothing; the other output is priced: 10 min x 50 % x
    # 0.0325 (H.264 HD) = 0.1625.
    detail = running(seed_detail(), started=NOW - HOUR)
    workflow = detail["WorkflowTask"]
    workflow["MetaData"] = None
    failed = transcode(codec="h264", width=1, height=1, duration=1, progress=0, status="FAIL")
    failed["TranscodeTask"]["Output"] = None
    good = transcode(codec="h264", width=1280, height=720, duration=600, progress=50)
    workflow["MediaProcessResultSet"] = [failed, good]
    found = SHIPPED.estimate(mps_task(detail), NOW)
    assert found is not None
    assert round(found.so_far, 4) == 0.1625
    assert found.basis == "failed output; h264 HD 5.00 min x 0.0325"
