"""The scenario keys of what tasks consume (MPS ``media``/``outputs``, DLC scans and compute):
mistakes name the file and key path, the docs describe every key, and the demo world has costs."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from taskwatch.clock import ManualClock
from taskwatch.emulator import mps_detail
from taskwatch.emulator.media import Media, Output
from taskwatch.emulator.scenario import ScenarioError, load_scenario, loads_scenario
from taskwatch.emulator.scenario_usage import DLC_USAGE, MPS_USAGE
from taskwatch.emulator.world import DLC_RUNNING, DLC_WRITING

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "emulator-scenarios.md"
DEMO = ROOT / "config" / "emulator" / "demo.yaml"
KEYS = "credentials: [{secret_id: AKIDTEST000000000000000000000000001, secret_key: sk}]\n"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def parse(body: str) -> None:
    loads_scenario(KEYS + textwrap.dedent(body), source="t.yaml")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "mps: {tasks: [{type: LiveStreamProcessTask, status: PROCESSING, media: {}}]}",
            "t.yaml: mps.tasks[0].media: does not apply to a LiveStreamProcessTask",
        ),
        (
            "mps: {generators: [{type: LiveStreamProcessTask, every: 1m, outputs: [{}]}]}",
            "t.yaml: mps.generators[0].outputs: does not apply to a LiveStreamProcessTask",
        ),
        (
            "mps: {tasks: [{outputs: [{codec: H.264}]}]}",
            "t.yaml: mps.tasks[0].outputs[0].codec: 'H.264' is not one of h264, h265",
        ),
        ("mps: {tasks: [{outputs: []}]}", "t.yaml: mps.tasks[0].outputs: list at least one"),
        (
            "mps: {tasks: [{outputs: [{done_at: 0}]}]}",
            "t.yaml: mps.tasks[0].outputs[0].done_at: 0 is not a share within (0, 1]",
        ),
        (
            "mps: {tasks: [{type: EditMediaTask, outputs: [{}, {definition: 1}]}]}",
            "t.yaml: mps.tasks[0].outputs: an EditMediaTask writes one file",
        ),
        (
            "mps: {tasks: [{media: {duration: 0}}]}",
            "t.yaml: mps.tasks[0].media.duration: 0: must be longer than zero",
        ),
        (
            "mps: {tasks: [{media: {width: 8}}]}",
            "t.yaml: mps.tasks[0].media.width: 8 is outside [16, 8192]",
        ),
        (
            "mps: {tasks: [{media: {lenght: 1m}}]}",
            "t.yaml: mps.tasks[0].media.lenght: unknown key",
        ),
        (
            "dlc: {tasks: [{data_amount: 5, scan_rate: 1}]}",
            "t.yaml: dlc.tasks[0].scan_rate: give data_amount (bytes in all) or scan_rate",
        ),
        (
            "dlc: {tasks: [{engine_type: PrestoSQL, executors: 2}]}",
            "t.yaml: dlc.tasks[0].executors: applies to Spark engines only",
        ),
        (
            "dlc: {generators: [{every: 1m, driver_size: huge}]}",
            "t.yaml: dlc.generators[0].driver_size: 'huge' is not one of small, medium",
        ),
        ("dlc: {tasks: [{cu: 0}]}", "t.yaml: dlc.tasks[0].cu: 0 is outside [1, ]"),
        ("live: {tasks: [{outputs: [{}]}]}", "t.yaml: live.tasks[0].outputs: unknown key"),
    ],
)
def test_a_wrong_usage_key_names_the_file_the_key_path_and_the_reason(
    body: str, message: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse(body)
    assert str(caught.value).startswith(message), str(caught.value)


def test_the_keys_become_task_fields_of_every_copy() -> None:
    scenario = loads_scenario(
        KEYS
        + textwrap.dedent("""
        mps:
          tasks:
            - {status: PROCESSING, count: 2, duration: 1h, media: {duration: 1h30m, codec: av1},
               outputs: [{codec: h265, width: 3840, height: 2160, definition: 7, done_at: 0.8}]}
        dlc:
          tasks: [{status: running, scan_rate: 1000, cu: 64, executor_size: xlarge, executors: 9}]
    """),
        source="t.yaml",
    )
    world = scenario.build_world(ManualClock(wall=START))
    for task in world.mps.values():
        assert task.media == Media(duration=5400.0, codec="av1")
        assert task.outputs == (Output("h265", 3840, 2160, definition=7, done_at=0.8),)
    (query,) = world.dlc.values()
    assert (query.scan_rate, query.cu, query.executor_size, query.executors) == (
        1000, 64, "xlarge", 9,
    )  # fmt: skip


def test_the_docs_describe_every_usage_key_and_sub_key() -> None:
    text = DOCS.read_text()
    for key in (*MPS_USAGE, *DLC_USAGE, "done_at", "definition", "codec", "width", "height"):
        assert f"`{key}`" in text, key


def test_the_demo_world_has_tasks_that_cost_money_in_every_product() -> None:
    world = load_scenario(DEMO).build_world(ManualClock(wall=START))
    running = [t for t in world.mps.values() if t.status == "PROCESSING"]
    assert any(t.task_type == "LiveStreamProcessTask" for t in running)
    transcodes = [t for t in running if t.outputs is not None and len(t.outputs) >= 2]
    assert transcodes, "a running transcode with several outputs"
    assert {o.codec for t in transcodes for o in t.outputs or ()} >= {"h264", "h265"}
    queries = [d for d in world.dlc.values() if d.state in (DLC_RUNNING, DLC_WRITING)]
    public = [d for d in queries if d.engine == "public-engine"]
    private = [d for d in queries if d.engine != "public-engine"]
    assert any(d.data_amount > 0 for d in public)
    assert any(d.scan_rate for d in public)
    assert any(d.cu is not None or d.executors > 1 for d in private)
    now = START.timestamp()
    assert any(t.start_time <= now < t.end_time for t in world.live.values())


def test_outputs_sharing_a_template_are_written_to_paths_of_their_own() -> None:
    scenario = loads_scenario(
        KEYS + "mps: {tasks: [{status: FINISH, created: -1h, outputs: [{}, {}, {width: 1920}]}]}",
        source="t.yaml",
    )
    (task,) = scenario.build_world(ManualClock(wall=START)).mps.values()
    results = mps_detail.workflow(task, START.timestamp())["MediaProcessResultSet"]
    paths = [r["TranscodeTask"]["Output"]["Path"] for r in results]
    assert [r["TranscodeTask"]["Output"]["Definition"] for r in results] == [100030] * 3
    assert len(set(paths)) == 3
    assert paths[0].endswith("/transcode_100030_0.mp4")
