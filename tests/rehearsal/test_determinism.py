"""The same files and seeds rehearse the same way, and waiting takes no real time.

``config/emulator/chaos.yaml`` injects every fault kind (errors, 502s, resets, truncated bodies,
throttling), so the daemon's client retries with jitter; the rehearsal seeds that jitter too.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from taskwatch.cli.rehearsal.driver import Row, rehearse
from taskwatch.emulator.scenario import load_scenario, loads_scenario
from taskwatch.runtime import load_config
from taskwatch.settings import parse_settings
from tests.rehearsal.world import SCENARIO, config

ROOT = Path(__file__).parent.parent.parent
START = datetime(2026, 11, 23, 8, tzinfo=UTC)


def chaos(seed: int) -> list[Row]:
    settings, _ = load_config(ROOT / "config" / "demo.yaml")
    scenario = load_scenario(ROOT / "config" / "emulator" / "chaos.yaml")
    return rehearse(settings, scenario, seconds=600, start=START, seed=seed).rows


def test_a_rehearsal_of_a_world_with_faults_is_the_same_twice() -> None:
    first = chaos(3)
    assert {r.result for r in first} >= {"done", "failed"}, "faults make some actions fail"
    assert chaos(3) == first


def test_a_rate_limit_too_low_for_the_interval_shows_as_failed_cycles_in_virtual_time(
    tmp_path: Path,
) -> None:
    raw = config(endpoint="https://example.invalid", state=tmp_path / "state.db")
    raw["products"] = {"mps": {"interval": "15s"}, "dlc": {"enabled": False},
                       "live": {"enabled": False}}  # fmt: skip
    raw["policies"] = raw["policies"][:1]
    raw["api"] = {"budget": 0.5, "limits": {"mps.DescribeTasks": 0.05}}  # 1 call per 40 s
    settings = parse_settings(raw, source="slow-api.yaml")
    began = time.perf_counter()
    result = rehearse(settings, loads_scenario(json.dumps(SCENARIO)), seconds=1800, start=START)
    assert time.perf_counter() - began < 60, "30 minutes of waiting for tokens took no real time"
    assert result.api_calls <= 1800 * 0.05 * 0.5 + 2, "the daemon's limiter paced every call"
    assert 1800 / 90 <= result.cycles <= 1800 / 75 + 1, "each cycle ran to its 75 s timeout"
    assert result.failed_cycles == result.cycles, "two listings a cycle outlast the timeout"
