"""What the scenario format gained for snapshots: explicit task ids, an MPS task's ErrCode and
Message, exact times to the microsecond, and the DLC time solver's fallback when a clock moved."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from taskwatch.cli.snapshot_times import DlcRecord, dlc_times, offset, run_for_progress
from taskwatch.clock import ManualClock
from taskwatch.durations import parse_duration
from taskwatch.emulator.scenario import ScenarioError, parse_scenario
from taskwatch.emulator.scenario_values import LIVE_STATUSES

CRED = [{"secret_id": "AKIDTESTSCENARIO", "secret_key": "a-test-key-000000"}]
WALL = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def world(**sections: Any) -> Any:
    return parse_scenario({"credentials": CRED, "seed": 5, **sections}).build_world(
        ManualClock(wall=WALL)
    )


def test_an_entry_with_an_id_makes_a_task_with_that_id_in_every_product() -> None:
    w = world(
        mps={"tasks": [{"id": "1250000000-WorkflowTask-abct0", "status": "PROCESSING",
                        "created": "-10m"}]},
        dlc={"tasks": [{"id": "q-1", "status": "running", "created": "-1h", "duration": None}]},
        live={"tasks": [{"id": "77", "created": "-1h", "end": "2h"}]},
    )  # fmt: skip
    assert list(w.mps) == ["1250000000-WorkflowTask-abct0"]
    assert list(w.dlc) == ["q-1"]
    assert list(w.live) == ["77"]


def test_an_id_twice_in_a_product_or_with_a_count_is_an_error_naming_the_entry() -> None:
    with pytest.raises(
        ScenarioError, match=r"mps\.tasks\[1\]\.id: 'x' is the id of mps\.tasks\[0\]"
    ):
        world(mps={"tasks": [{"id": "x"}, {"id": "x"}]})
    with pytest.raises(ScenarioError, match=r"dlc\.tasks\[0\]\.count: an entry with an id is one"):
        world(dlc={"tasks": [{"id": "q", "count": 2}]})
    with pytest.raises(ScenarioError, match=r"live\.tasks\[0\]\.id: an id must not be empty"):
        world(live={"tasks": [{"id": " "}]})


def test_drawn_live_ids_skip_the_ids_entries_name_and_generators_do_too() -> None:
    w = world(live={
        "tasks": [{"count": 2, "created": "-1h"}, {"id": "10001", "created": "-1h"}],
        "generators": [{"every": "1m", "after": "-3m", "duration": "1h"}],
    })  # fmt: skip
    w.tick()
    assert len(w.live) == 6  # two drawn, one named, three generated: none overwritten
    assert all(t.status in LIVE_STATUSES for t in w.live.values())


def test_an_mps_entry_sets_err_code_and_message_over_the_failure_defaults() -> None:
    w = world(mps={"tasks": [
        {"id": "t1", "type": "EditMediaTask", "status": "FINISH", "created": "-1h",
         "finished": "-50m", "failure_ratio": 1, "err_code": 30010, "message": "input not found"},
        {"id": "t2", "status": "FINISH", "created": "-1h", "finished": "-50m", "aborted": True},
    ]})  # fmt: skip
    assert (w.mps["t1"].err_code, w.mps["t1"].message, w.mps["t1"].sub_task_failed) == (
        30010,
        "input not found",
        True,
    )
    assert (w.mps["t2"].err_code, w.mps["t2"].message) == (0, "aborted by ManageTask")
    with pytest.raises(ScenarioError, match=r"mps\.tasks\[0\]\.err_code: expected an integer"):
        world(mps={"tasks": [{"err_code": "x"}]})


@pytest.mark.parametrize("seconds", [0.0, -1.0, 59.5, -93784.000125, 172800.0, -0.000001, 3661.25])
def test_an_offset_reads_back_to_the_microsecond(seconds: float) -> None:
    assert parse_duration(offset(seconds), allow_negative=True) == pytest.approx(seconds, abs=1e-7)


@pytest.mark.parametrize("percent", [0, 1, 50, 98, 99])
def test_the_run_for_a_progress_shows_that_progress_and_ends_after_now(percent: int) -> None:
    for elapsed in (1.0, 61.0, 3600.0, 86400.0 * 3):
        run = run_for_progress(elapsed, percent)
        assert run is not None
        assert run > elapsed
        assert int(100 * elapsed / run) == percent
    assert run_for_progress(0.0, 0) is None


def test_dlc_times_reproduce_every_printed_number_when_they_agree() -> None:
    # created 1000.3 ms before the snapshot, started 600.7 ms before it, still running
    c, s = -1000.3, -600.7
    r = DlcRecord(created=round(c), updated=round(s), total=int(-c), used=int(-s),
                  queued=int(s - c), running=True, pending=False, cancelled=False)  # fmt: skip
    t = dlc_times(r)
    assert t.exact
    assert t.started is not None
    x, y = t.created * 1000, t.started * 1000
    assert (round(x), round(y), int(-x), int(-y), int(y - x)) == (
        r.created,
        r.updated,
        r.total,
        r.used,
        r.queued,
    )


def test_dlc_times_fall_back_to_the_printed_times_in_order_when_the_numbers_disagree() -> None:
    # printed at different moments (a clock that moved): no time satisfies them all
    r = DlcRecord(created=-5000, updated=-1000, total=9000, used=100, queued=10,
                  running=False, pending=False, cancelled=False)  # fmt: skip
    t = dlc_times(r)
    assert not t.exact
    assert t.started is not None
    assert t.finished is not None
    assert t.created <= t.started <= t.finished <= 0


def test_the_header_says_when_several_regions_are_served_as_one_account() -> None:
    from taskwatch.cli.snapshot import Snapshot, SourceCount

    one = {"main/mps/global": SourceCount(written=3), "main/dlc/ap-guangzhou": SourceCount()}
    two = {**one, "main/dlc/ap-shanghai": SourceCount(skipped={"state 'state9'": 1})}
    assert "served" not in Snapshot({}, 0.0, "c.yaml", one).header()
    header = Snapshot({}, 0.0, "c.yaml", two).header()
    assert "the emulator serves them as one account" in header
    assert "main/dlc/ap-shanghai: 0 (1 skipped: state 'state9')" in header
