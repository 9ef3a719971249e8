"""Scenarios: the example files build the worlds they describe, offsets become absolute times at the
world's clock, generators keep the world moving, one seed gives one world, and every mistake in a
file is reported with the file and the key path."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskwatch.clock import ManualClock
from taskwatch.emulator.actions import Options
from taskwatch.emulator.faults import FAULT_KINDS
from taskwatch.emulator.scenario import (
    DEFAULT_CREDENTIAL,
    DLC_FIELDS,
    LIVE_FIELDS,
    MPS_FIELDS,
    TOP_KEYS,
    EmulatorCredential,
    Scenario,
    ScenarioError,
    default_scenario,
    load_scenario,
    loads_scenario,
    parse_scenario,
)
from taskwatch.emulator.world import (
    DLC_CANCELLED,
    DLC_FAILED,
    DLC_QUEUED,
    DLC_RUNNING,
    DLC_SUCCEEDED,
    DLC_WRITING,
    World,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "config" / "emulator").glob("*.yaml"))
DOCS = ROOT / "docs" / "emulator-scenarios.md"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
HOUR, DAY = 3600.0, 86400.0
KEYS = "credentials: [{secret_id: AKIDTEST000000000000000000000000001, secret_key: sk}]\n"


def scenario(body: str, source: str = "test.yaml") -> Scenario:
    return loads_scenario(KEYS + textwrap.dedent(body), source=source)


def build(s: Scenario, *, start: datetime = START) -> tuple[World, ManualClock]:
    clock = ManualClock(wall=start)
    return s.build_world(clock), clock


def ago(world: World, ts: float | None) -> float:
    assert ts is not None
    return world.now() - ts


def snapshot(world: World) -> list[tuple[Any, ...]]:
    return [
        (product, *(v for k, v in sorted(_fields(t).items()) if k != "plan"))
        for product, t in world.iter_all()
    ]


def _fields(task: object) -> dict[str, Any]:
    return {f.name: getattr(task, f.name) for f in dataclasses.fields(task)}  # type: ignore[arg-type]


# --- the example files --------------------------------------------------------------------------


def test_there_are_demo_large_and_chaos_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"demo.yaml", "large.yaml", "chaos.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_starts_with_a_comment_loads_and_populates_its_world(path: Path) -> None:
    assert path.read_text().startswith("# ")
    s = load_scenario(path)
    world, clock = build(s)
    expected = Counter[str]()
    for spec in s.tasks:
        expected[spec.product] += spec.count
    assert {p: len(getattr(world, p)) for p in expected} == dict(expected)
    before = len(world.mps) + len(world.dlc) + len(world.live)
    clock.advance(HOUR)
    world.tick()
    assert len(world.mps) + len(world.dlc) + len(world.live) > before


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_builds_the_same_world_twice(path: Path) -> None:
    s = load_scenario(path)
    (one, c1), (two, c2) = build(s), build(s)
    c1.advance(600)
    c2.advance(600)
    one.tick()
    two.tick()
    assert snapshot(one) == snapshot(two)


def test_the_demo_has_live_streams_past_six_hours_a_runaway_query_and_stale_relays() -> None:
    world, _ = build(load_scenario(ROOT / "config/emulator/demo.yaml"))
    live = [
        t
        for t in world.mps.values()
        if t.task_type == "LiveStreamProcessTask" and t.status == "PROCESSING"
    ]
    over_6h = [t for t in live if ago(world, t.started) > 6 * HOUR]
    assert len(over_6h) >= 2
    assert any(ago(world, t.started) < 6 * HOUR for t in live)  # not everything is a target
    runaway = [d for d in world.dlc.values() if d.state == DLC_RUNNING and d.plan.run is None]
    assert runaway
    assert all(ago(world, d.started) > 24 * HOUR for d in runaway)
    assert sum(t.end_time < world.now() for t in world.live.values()) >= 2
    assert any(t.end_time > world.now() for t in world.live.values())
    assert any(t.status == "FINISH" and t.err_code for t in world.mps.values())
    assert {g.product for g in world.generators} == {"mps", "dlc", "live"}
    assert any(g.failure_ratio > 0 for g in world.generators if g.product == "mps")


def test_the_large_world_has_ten_thousand_mps_tasks_and_about_one_percent_churn_a_minute() -> None:
    world, clock = build(load_scenario(ROOT / "config/emulator/large.yaml"))
    assert len(world.mps) == 10_000
    previous = {k: t.status for k, t in world.mps.items()}
    rates = []
    for _ in range(30):
        clock.advance(60)
        world.tick()
        current = {k: t.status for k, t in world.mps.items()}
        changed = sum(previous.get(k) != v for k, v in current.items())
        rates.append(changed / len(previous))
        previous = current
    assert 0.007 <= sum(rates) / len(rates) <= 0.013
    assert all(0.004 <= r <= 0.02 for r in rates)


def test_the_chaos_scenario_has_every_fault_kind_low_limits_and_a_session_token() -> None:
    s = load_scenario(ROOT / "config/emulator/chaos.yaml")
    plan = s.fault_plan()
    assert {f.kind for f in plan.faults} == set(FAULT_KINDS)
    assert s.limits[("mps", "ManageTask")] == 5
    assert any(c.token for c in s.credentials)
    assert s.options.mps_detail_retention == 3 * DAY


# --- what a scenario builds ---------------------------------------------------------------------


def test_counts_types_and_statuses_follow_the_spec() -> None:
    world, _ = build(
        scenario("""
        mps:
          tasks:
            - {type: LiveStreamProcessTask, status: PROCESSING, count: 3, created: -10h}
            - {type: WorkflowTask, status: WAITING, count: 50, created: -2m, wait: 5m}
            - {type: EditMediaTask, status: FINISH, count: 20, created: -3d}
            - {type: ScheduleTask, status: PROCESSING, created: -1m}
        """)
    )
    assert Counter((t.task_type, t.status) for t in world.mps.values()) == {
        ("LiveStreamProcessTask", "PROCESSING"): 3,
        ("WorkflowTask", "WAITING"): 50,
        ("EditMediaTask", "FINISH"): 20,
        ("ScheduleTask", "PROCESSING"): 1,
    }


def test_offsets_become_absolute_times_at_the_worlds_clock() -> None:
    s = scenario("""
        start: "2026-11-23T08:00:00Z"
        mps:
          tasks:
            - {type: LiveStreamProcessTask, status: PROCESSING, created: -6h, started: -5h50m}
            - {type: WorkflowTask, status: FINISH, created: -3d, started: -2d23h, finished: -2d22h}
        """)
    assert s.start == START
    world, _ = build(s)
    live, done = sorted(world.mps.values(), key=lambda t: t.task_type)
    now = START.timestamp()
    assert (live.created, live.started, live.finished) == (
        now - 6 * HOUR,
        now - 5 * HOUR - 3000,
        None,
    )
    assert done.created == now - 3 * DAY
    assert done.started == now - 3 * DAY + HOUR
    assert done.finished == now - 3 * DAY + 2 * HOUR


def test_a_processing_task_without_started_started_when_it_was_created() -> None:
    world, _ = build(
        scenario("mps: {tasks: [{type: WorkflowTask, status: PROCESSING, created: -3m}]}")
    )
    (task,) = world.mps.values()
    assert task.started == task.created == world.now() - 180


def test_finished_tasks_have_plausible_times_and_exactly_the_failure_ratio_failed() -> None:
    world, _ = build(
        scenario("""
        mps: {tasks: [{type: WorkflowTask, status: FINISH, count: 200, created: -3d,
                       spread: 1d, duration: [1m, 30m], failure_ratio: 0.1}]}
        """)
    )
    tasks = list(world.mps.values())
    for t in tasks:
        assert t.started is not None
        assert t.finished is not None
        assert t.created <= t.started < t.finished <= world.now()
        assert 60 <= t.finished - t.started <= 1800
    assert sum(t.err_code != 0 for t in tasks) == 20
    assert all(t.sub_task_failed for t in tasks if t.err_code)


def test_an_aborted_finished_task_may_never_have_started() -> None:
    world, _ = build(
        scenario("mps: {tasks: [{status: FINISH, created: -1h, finished: -50m, aborted: true}]}")
    )
    (task,) = world.mps.values()
    assert (task.aborted, task.started, task.finished) == (True, None, world.now() - 3000)


def test_spread_moves_each_copys_whole_timeline_earlier_by_up_to_the_spread() -> None:
    world, _ = build(
        scenario("""
        mps: {tasks: [{type: LiveStreamProcessTask, status: PROCESSING, count: 40,
                       created: -7h, started: -6h, spread: 1h}]}
        """)
    )
    tasks = list(world.mps.values())
    created = {ago(world, t.created) for t in tasks}
    assert len(created) == 40
    assert all(7 * HOUR <= a <= 8 * HOUR for a in created)
    assert all(t.started is not None and t.started - t.created == HOUR for t in tasks)


def test_copies_without_spread_share_their_times_but_not_their_ids() -> None:
    world, _ = build(scenario("mps: {tasks: [{status: PROCESSING, count: 5, created: -1m}]}"))
    assert len(world.mps) == 5
    assert len({t.created for t in world.mps.values()}) == 1
    assert all(re.fullmatch(r"1250000000-WorkflowTask-[0-9a-f]{32}t0", k) for k in world.mps)


def test_n_in_a_product_field_numbers_the_copies() -> None:
    world, _ = build(
        scenario("""
        appid: 1300000001
        mps: {tasks: [{type: LiveStreamProcessTask, status: PROCESSING, count: 3,
                       url: "rtmp://x/live/cam{n}", session_context: "cam={n}"}]}
        live: {tasks: [{count: 2, stream: "s{n}", source_urls: ["rtmp://o/{n}"]}]}
        """)
    )
    assert sorted(t.url for t in world.mps.values()) == [f"rtmp://x/live/cam{i}" for i in (1, 2, 3)]
    assert sorted(t.session_context for t in world.mps.values()) == ["cam=1", "cam=2", "cam=3"]
    assert all(k.startswith("1300000001-procedure-live-") for k in world.mps)
    assert sorted((t.stream, t.source_urls[0]) for t in world.live.values()) == [
        ("s1", "rtmp://o/1"),
        ("s2", "rtmp://o/2"),
    ]


def test_dlc_states_are_named_or_numbered_and_times_follow_the_state() -> None:
    world, _ = build(
        scenario("""
        dlc:
          tasks:
            - {status: running, created: -26h, duration: null, sql: "SELECT 42", engine: big}
            - {status: 3, created: -10m, started: -9m, duration: 1h}
            - {status: queued, count: 2, created: -1m}
            - {status: succeeded, created: -1d, finished: -23h}
            - {status: -1, created: -1d, duration: 5m}
            - {status: cancelled, created: -1d, finished: -1d}
        """)
    )
    by_state = Counter(d.state for d in world.dlc.values())
    assert by_state == {
        DLC_RUNNING: 1, DLC_WRITING: 1, DLC_QUEUED: 2, DLC_SUCCEEDED: 1, DLC_FAILED: 1,
        DLC_CANCELLED: 1,
    }  # fmt: skip
    tasks = {d.state: d for d in world.dlc.values()}
    runaway = tasks[DLC_RUNNING]
    assert (runaway.sql, runaway.engine, runaway.plan.run) == ("SELECT 42", "big", None)
    assert ago(world, runaway.started) == 26 * HOUR
    assert ago(world, tasks[DLC_SUCCEEDED].updated) == 23 * HOUR
    assert tasks[DLC_SUCCEEDED].percentage == 100
    assert ago(world, tasks[DLC_FAILED].updated) == DAY - 300
    assert tasks[DLC_FAILED].output_message
    assert tasks[DLC_CANCELLED].started is None


def test_live_tasks_take_their_window_status_and_fields() -> None:
    world, _ = build(
        scenario("""
        live:
          tasks:
            - {count: 4, created: -8d, start: -7d, end: -1d, status: pause, region: ap-tokyo,
               source_urls: ["rtmp://a", "rtmp://b"], stream: old, vod_loop_times: 3}
            - {created: -1h}
        """)
    )
    old = [t for t in world.live.values() if t.stream == "old"]
    assert len(old) == 4
    assert len({t.task_id for t in old}) == 4
    for t in old:
        assert (ago(world, t.created), ago(world, t.start_time), ago(world, t.end_time)) == (
            8 * DAY, 7 * DAY, DAY,
        )  # fmt: skip
        assert (t.status, t.region, t.source_urls, t.vod_loop_times) == (
            "pause", "ap-tokyo", ["rtmp://a", "rtmp://b"], 3,
        )  # fmt: skip
    (fresh,) = [t for t in world.live.values() if t.stream != "old"]
    assert (fresh.start_time, fresh.end_time - fresh.start_time) == (fresh.created, DAY)


def test_a_waiting_task_starts_after_its_wait_and_finishes_after_its_duration() -> None:
    world, clock = build(
        scenario("mps: {tasks: [{status: WAITING, created: -2m, wait: 5m, duration: 20m}]}")
    )
    (task,) = world.mps.values()
    clock.advance(179)
    world.tick()
    assert task.status == "WAITING"
    clock.advance(1)
    world.tick()
    assert (task.status, task.started) == ("PROCESSING", world.now())
    clock.advance(20 * 60)
    world.tick()
    assert (task.status, task.finished) == ("FINISH", world.now())


def test_default_waits_start_within_a_minute_and_default_runs_end_within_ten() -> None:
    world, clock = build(
        scenario("""
        mps: {tasks: [{status: WAITING, count: 20, created: -1h},
                      {status: PROCESSING, count: 20, created: -2h}]}
        dlc: {tasks: [{status: init, count: 5, created: -1h}]}
        """)
    )
    start = world.now()
    clock.advance(60)
    world.tick()
    assert all(t.status != "WAITING" for t in world.mps.values())
    assert all(d.state == DLC_RUNNING for d in world.dlc.values())
    clock.advance(540)
    world.tick()
    running = [t for t in world.mps.values() if ago(world, t.created) == 2 * HOUR + 600]
    assert len(running) == 20
    assert all(t.finished is not None and start <= t.finished <= start + 600 for t in running)


def test_live_processing_and_null_durations_run_until_stopped() -> None:
    world, clock = build(
        scenario("""
        mps: {tasks: [{type: LiveStreamProcessTask, status: PROCESSING, created: -1d},
                      {type: WorkflowTask, status: WAITING, created: -1m, wait: null}]}
        """)
    )
    clock.advance(30 * DAY)
    world.tick()
    assert sorted(t.status for t in world.mps.values()) == ["PROCESSING", "WAITING"]


def test_generators_create_tasks_stamped_when_they_would_have_appeared() -> None:
    world, clock = build(
        scenario("""
        mps: {generators: [{type: WorkflowTask, every: 10s, wait: [5s, 30s],
                            duration: [1m, 10m], failure_ratio: 0.5, session_id: gen}]}
        dlc: {generators: [{every: 1m, sql: "SELECT 2"}]}
        live: {generators: [{every: 1h, stream: relay}]}
        """)
    )
    assert not world.mps
    assert not world.dlc
    assert not world.live
    start = world.now()
    clock.advance(HOUR)
    world.tick()
    assert 300 <= len(world.mps) <= 450
    assert 50 <= len(world.dlc) <= 70
    assert 1 <= len(world.live) <= 2
    created = sorted(t.created for t in world.mps.values())
    assert start < created[0] <= start + 12
    assert created[-1] <= world.now()
    assert all(t.session_id == "gen" for t in world.mps.values())
    assert all(d.sql == "SELECT 2" for d in world.dlc.values())
    done = [t for t in world.mps.values() if t.status == "FINISH"]
    assert 0.3 <= sum(t.err_code != 0 for t in done) / len(done) <= 0.7


def test_a_generator_waits_for_after_and_stops_at_its_limit() -> None:
    world, clock = build(scenario("mps: {generators: [{every: 1m, after: 10m, limit: 3}]}"))
    clock.advance(9 * 60)
    world.tick()
    assert not world.mps
    clock.advance(DAY)
    world.tick()
    assert len(world.mps) == 3


def test_the_same_seed_builds_the_same_world_and_another_seed_another() -> None:
    body = textwrap.dedent("""
        mps: {tasks: [{status: FINISH, count: 30, created: -2d, spread: 1d, failure_ratio: 0.3}],
              generators: [{every: 10s}]}
        dlc: {tasks: [{status: running, count: 5, created: -1h, spread: 1h}]}
        """)
    one, c1 = build(scenario("seed: 7\n" + body))
    two, c2 = build(scenario("seed: 7\n" + body))
    other, _ = build(scenario("seed: 8\n" + body))
    assert snapshot(one) == snapshot(two)
    assert snapshot(one) != snapshot(other)
    c1.advance(HOUR)
    c2.advance(HOUR)
    one.tick()
    two.tick()
    assert snapshot(one) == snapshot(two)


def test_clock_for_puts_the_clock_at_the_start_and_lets_it_run() -> None:
    s = scenario("start: 2026-11-23T08:00:00Z\n")
    base = ManualClock(wall=datetime(2030, 1, 1, tzinfo=UTC))
    clock = s.clock_for(base)
    assert clock.now() == START
    base.advance(90)
    assert clock.now() == START + timedelta(seconds=90)
    assert scenario("seed: 1\n").clock_for(base) is base


# --- options, limits, faults, credentials -------------------------------------------------------


def test_options_limits_and_faults_are_read_with_their_units() -> None:
    s = scenario("""
        options: {mps_detail_retention: 3d, mps_detail_missing_code: InvalidParameterValue,
                  live_limit_task_num: 5, live_regions: [ap-tokyo]}
        limits: {mps.DescribeTasks: 10, dlc.CancelTask: 0.5}
        faults:
          - {product: mps, action: DescribeTasks, kind: error, code: RequestLimitExceeded,
             probability: 0.1}
          - {kind: http, status: 502, every: 7}
          - {kind: latency, seconds: 1500ms, after: 1m, until: 2m}
        """)
    assert s.options == Options(
        mps_detail_retention=3 * DAY,
        mps_detail_missing_code="InvalidParameterValue",
        live_limit_task_num=5,
        live_regions=frozenset({"ap-tokyo"}),
    )
    assert s.limits == {("mps", "DescribeTasks"): 10.0, ("dlc", "CancelTask"): 0.5}
    error, http, latency = s.fault_plan().faults
    assert (error.kind, error.code, error.probability) == ("error", "RequestLimitExceeded", 0.1)
    assert (http.status, http.every, http.product) == (502, 7, None)
    assert (latency.seconds, latency.after, latency.until) == (1.5, 60.0, 120.0)


def test_each_fault_plan_is_fresh() -> None:
    s = scenario("faults: [{kind: reset, every: 2}]\n")
    one = s.fault_plan()
    one.faults[0].seen = 5
    assert s.fault_plan().faults[0].seen == 0
    assert s.fault_plan().faults[0] is not one.faults[0]


def test_credentials_keep_their_secrets_out_of_repr() -> None:
    s = scenario("seed: 0\n")
    assert s.credentials == (EmulatorCredential("AKIDTEST000000000000000000000000001", "sk"),)
    cred = EmulatorCredential("AKIDX", "very-secret", token="tok-secret")
    assert "very-secret" not in repr(cred)
    assert "tok-secret" not in repr(cred)


def test_the_default_scenario_accepts_one_fake_key_and_builds_a_small_mixed_world() -> None:
    s = default_scenario()
    assert s.credentials == (DEFAULT_CREDENTIAL,)
    assert DEFAULT_CREDENTIAL.secret_id.startswith("AKIDTASKWATCHEMULATOR")
    assert len(DEFAULT_CREDENTIAL.secret_id) == 36
    world, clock = build(s)
    assert world.mps
    assert world.dlc
    assert world.live
    assert 10 <= len(world.mps) + len(world.dlc) + len(world.live) <= 200
    assert s.fault_plan().faults == []
    clock.advance(HOUR)
    world.tick()
    assert any(t.created > clock.now().timestamp() - HOUR for t in world.mps.values())


def test_the_docs_describe_every_key_and_the_default_key_pair() -> None:
    text = DOCS.read_text()
    for key in [*TOP_KEYS, *MPS_FIELDS, *DLC_FIELDS, *LIVE_FIELDS]:
        assert f"`{key}`" in text, key
    for key in ("spread", "every", "after", "limit", "failure_ratio", "aborted", "{n}"):
        assert f"`{key}" in text, key
    assert DEFAULT_CREDENTIAL.secret_id in text


def test_the_yaml_examples_in_the_docs_are_valid_scenarios() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert len(blocks) >= 3
    for block in blocks:
        text = block if block.startswith("seed") else KEYS + block
        build(loads_scenario(text, source="docs"))


# --- errors name the file and the key path ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("sed: 7\n", "sed: unknown key (did you mean 'seed'?"),
        (
            "mps: {tasks: [{status: WAITING}, {status: WAITING}, {status: RUNNING}]}\n",
            "mps.tasks[2].status: 'RUNNING' is not one of WAITING, PROCESSING, FINISH",
        ),
        (
            "mps: {tasks: [{status: PROCESSING, stauts: x}]}\n",
            "mps.tasks[0].stauts: unknown key (did you mean 'status'?",
        ),
        ("mps: {tasks: [{type: LiveTask}]}\n", "mps.tasks[0].type: 'LiveTask' is not one of"),
        (
            "mps: {tasks: [{created: -2hours}]}\n",
            "mps.tasks[0].created: '-2hours' is not a duration",
        ),
        ("mps: {tasks: [{created: 1h}]}\n", "mps.tasks[0].created: is after the start"),
        (
            "mps: {tasks: [{status: PROCESSING, created: -1h, started: -2h}]}\n",
            "mps.tasks[0].started: '-2h' must lie between created and the start",
        ),
        (
            "mps: {tasks: [{status: PROCESSING, finished: -1m}]}\n",
            "mps.tasks[0].finished: does not apply to a PROCESSING task",
        ),
        (
            "mps: {tasks: [{status: WAITING, created: -1h, wait: 5m}]}\n",
            "mps.tasks[0].wait: every copy would have started before the start",
        ),
        (
            "mps: {tasks: [{status: PROCESSING, created: -1h, duration: 5m}]}\n",
            "mps.tasks[0].duration: every copy would have finished before the start",
        ),
        ("mps: {tasks: [{status: FINISH}]}\n", "mps.tasks[0].finished: required for a FINISH"),
        (
            "mps: {tasks: [{count: 2, failure_ratio: 1.5}]}\n",
            "mps.tasks[0].failure_ratio: 1.5 is not a ratio",
        ),
        ("mps: {tasks: [{count: many}]}\n", "mps.tasks[0].count: expected an integer, got str"),
        ("mps: {tasks: [{duration: [5m, 1m]}]}\n", "mps.tasks[0].duration: range [5m, 1m]"),
        ("mps: {generators: [{every: soon}]}\n", "mps.generators[0].every: 'soon' is not a"),
        ("mps: {generators: [{wait: 1m}]}\n", "mps.generators[0].every: required"),
        ("dlc: {tasks: [{status: 7}]}\n", "dlc.tasks[0].status: 7 is not one of queued (4)"),
        (
            "dlc: {tasks: [{status: failed, created: -1d, failure_ratio: 0.5}]}\n",
            "dlc.tasks[0].failure_ratio: a failed task has its outcome in its status",
        ),
        ("live: {tasks: [{start: -1d, end: -2d}]}\n", "live.tasks[0].end: must be after start"),
        ("live: {tasks: [{created: -9d, end: -1d}]}\n", "live.tasks[0].end: must be after start"),
        ("live: {tasks: [{region: mars-1}]}\n", "live.tasks[0].region: 'mars-1' is not one of"),
        (
            "live: {generators: [{every: 1h, failure_ratio: 0.1}]}\n",
            "live.generators[0].failure_ratio: unknown key",
        ),
        ("faults: [{kind: explode}]\n", "faults[0].kind: 'explode' is not one of error, http"),
        ("faults: [{probability: 0.5}]\n", "faults[0].kind: required"),
        (
            "faults: [{kind: error, product: dlc, action: ManageTask}]\n",
            "faults[0].action: 'ManageTask' is not one of DescribeTasks, CancelTask",
        ),
        ("limits: {mps.AbortTask: 3}\n", "limits.mps.AbortTask: unknown key"),
        ("limits: {mps.ManageTask: 0}\n", "limits.mps.ManageTask: 0 calls per second"),
        ("options: {mps_detail_retention: forever}\n", "options.mps_detail_retention: 'forever'"),
        ("start: 2026-11-23\n", "start: expected a time such as"),
    ],
)
def test_a_mistake_is_reported_with_the_file_and_the_key_path(body: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario(body, source="demo.yaml")
    assert str(caught.value).startswith(f"demo.yaml: {message}"), str(caught.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"seed": 1}, "credentials: required: at least one"),
        ({"credentials": []}, "credentials: required: at least one"),
        ({"credentials": [{"secret_id": "AKID1"}]}, "credentials[0].secret_key: required"),
        (
            {"credentials": [{"secret_id": "A", "secret_key": "k"}] * 2},
            "credentials[1].secret_id: 'A' is listed twice",
        ),
        ([1, 2], "(top level): expected a mapping, got list"),
    ],
)
def test_credentials_are_required_and_checked(document: object, message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(f"x.yaml: {message}")):
        parse_scenario(document, source="x.yaml")


def test_a_file_error_names_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(KEYS + "mps:\n  tasks:\n    - {status: RUNNING}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.source == str(path)
    assert caught.value.path == "mps.tasks[0].status"
    assert str(caught.value).startswith(f"{path}: mps.tasks[0].status: 'RUNNING' is not one of")
    assert isinstance(caught.value, ValueError)


def test_unreadable_files_and_broken_yaml_are_scenario_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=re.escape("missing.yaml: (top level): cannot read")):
        load_scenario(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("mps: {tasks: [\n")
    with pytest.raises(ScenarioError, match=re.escape("broken.yaml: (top level): not valid YAML")):
        load_scenario(broken)
