"""The large world (config/emulator/large.yaml: 10,000 MPS tasks, 100 live stream tasks running
for up to two days) under the demo policies (config/demo.yaml): the caps over time.

``abort-long-live-processing`` matches most of the 100 live stream tasks at once; its caps
(``per_cycle: 2``, ``per_hour: 20``, ``percent: 50``) let two through per cycle until twenty have
gone in the hour, then hold the rest back. The short form runs ten minutes of virtual time with
the default MPS interval (30 s); the long form, six hours with the demo configuration as it is
(a 5 s interval), and says how long it took (the README's figure).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from taskwatch.cli.rehearsal.driver import Rehearsal, rehearse
from taskwatch.emulator.scenario import load_scenario
from taskwatch.runtime import load_config
from taskwatch.settings import MpsSettings

ROOT = Path(__file__).parent.parent.parent
START = datetime(2026, 11, 23, 8, tzinfo=UTC)
POLICY = "abort-long-live-processing"


def large(seconds: float, *, interval: float | None) -> tuple[Rehearsal, float]:
    settings, _ = load_config(ROOT / "config" / "demo.yaml")
    if interval is not None:
        products = settings.products.model_copy(update={"mps": MpsSettings(interval=interval)})
        settings = settings.model_copy(update={"products": products})
    scenario = load_scenario(ROOT / "config" / "emulator" / "large.yaml")
    began = time.perf_counter()
    result = rehearse(settings, scenario, seconds=seconds, start=START, seed=1)
    return result, time.perf_counter() - began


def at_most_per_hour(times: list[float], cap: int) -> bool:
    return all(sum(1 for u in times if t <= u < t + 3600) <= cap for t in times)


def test_ten_minutes_of_the_large_world_let_twenty_aborts_through_and_hold_the_rest() -> None:
    result, _ = large(600, interval=30.0)
    done = [r for r in result.rows if r.policy == POLICY and r.result == "done"]
    held = [r for r in result.rows if r.policy == POLICY and r.result == "skipped_cap"]
    assert len(done) == 20, "per_hour: 20"
    assert len({r.task_id for r in done}) == 20
    assert {r.code for r in held} == {"per_cycle 2", "per_hour 20"}
    per_hour = [r for r in held if r.code == "per_hour 20"]
    assert len(per_hour) == len({r.task_id for r in per_hour}), "a hold is listed once"
    assert not {r.task_id for r in done} & {r.task_id for r in per_hour}
    assert all(r.product == "mps" and r.action == "abort" for r in done)


@pytest.mark.slow
def test_six_hours_of_the_large_world_keep_the_hourly_cap_and_take_minutes_at_most() -> None:
    result, wall = large(6 * 3600, interval=None)
    print(f"6 h of the large world: {wall:.1f} s wall, {result.cycles} cycles, "
          f"{result.api_calls} API calls, {len(result.rows)} decisions")  # fmt: skip
    done = [r.at for r in result.rows if r.policy == POLICY and r.result == "done"]
    assert len(done) > 20, "the cap lets more through hour after hour"
    assert at_most_per_hour(done, 20)
    assert wall < 900
