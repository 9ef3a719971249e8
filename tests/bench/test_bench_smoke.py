"""The benchmark harness works: its cheapest pieces run and produce well-formed rows.

Structure only, never performance: the machine running the tests may be anything.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench import p4_cpu, run
from tests.bench.common import Row, max_window, percentile
from tests.bench.table import render


def test_the_statistics_helpers() -> None:
    assert max_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_window([]) == 0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0


async def test_a_cheap_benchmark_measures_every_client() -> None:
    per_call = await p4_cpu.measure(10, rounds=1)
    assert {"taskwatch", "SDK sync", "SDK async"} <= set(per_call)
    assert all(v >= 0 for v in per_call.values())


def test_the_table_has_a_line_per_row() -> None:
    row = Row("P9", "a figure", 1.0, {"peer": 2.0}, 2.0, "≥ 1", True)
    assert "| P9 | a figure | 1 | peer 2 | 2 | ≥ 1 | yes |" in render([row])


def test_the_runner_writes_the_results_file(tmp_path: Path) -> None:
    out = tmp_path / "bench-results.json"
    assert run.main(["--quick", "--only", "P5", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text(encoding="utf-8"))
    assert set(row) >= {"id", "figure", "taskwatch", "peers", "ratio", "goal", "met"}
    assert row["id"] == "P5"
