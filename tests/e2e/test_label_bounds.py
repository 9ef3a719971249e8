"""API-chosen label values against the emulator: a misbehaving product cannot blow up /metrics.

A DLC endpoint that gives every task its own ``TaskType`` once made one ``taskwatch_tasks`` series
per task (50,469 series, a 4.2 MB exposition in 40 s, never pruned), and an error code of 200 KB
became a 200 KB label value. These tests run the daemon's own watcher against the emulator with
such answers and count what the exposition holds.
"""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from taskwatch.emulator.faults import Fault
from taskwatch.emulator.world import DlcTask, Plan
from taskwatch.metrics.registry import Metrics
from taskwatch.metrics.vocabulary import BUDGETS, MAX_LABEL_LENGTH, OTHER
from tests.e2e.daemon import EMULATOR_LIMITS, LIFTED, daemon
from tests.emulator.harness import running_emulator

ONLY_DLC = {"mps": {"enabled": False}, "dlc": {"interval": "5s"}, "live": {"enabled": False}}
TASKS = 2000


def series(metrics: Metrics) -> dict[str, list[dict[str, str]]]:
    """Every sample of the exposition, by sample name: what Prometheus would store."""
    out: dict[str, list[dict[str, str]]] = {}
    text = generate_latest(metrics.registry).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(dict(sample.labels))
    return out


async def test_a_unique_dlc_task_type_for_each_of_thousands_of_tasks_keeps_series_bounded() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        now = emu.world.now()
        for i in range(TASKS):
            emu.world.add_dlc(
                DlcTask(
                    task_id=emu.world.dlc_id(),
                    state=1,
                    created=now - 600,
                    updated=now - 600,
                    started=now - 300,
                    task_type=f"GeneratedTask{i:05d}",
                    plan=Plan(wait=None, run=400 if i % 2 else None),
                )
            )
        d = daemon(emu, products=ONLY_DLC)
        watcher = d.sources[0].watcher
        async with d.transport:
            first = await watcher.cycle()
            emu.clock.advance(200)  # half of the tasks end: their types reach the histograms
            second = await watcher.cycle()
    assert first.ok, first.message
    assert second.ok, second.message
    assert second.finished == TASKS // 2

    found = series(d.metrics)
    budget = BUDGETS["type"] + 1  # the admitted newcomers, and `other`
    tasks = found["taskwatch_tasks"]
    assert len(tasks) <= budget, len(tasks)
    assert {s["type"] for s in tasks} >= {OTHER}
    assert len(found["taskwatch_task_oldest_age_seconds"]) <= budget
    assert len(found["taskwatch_tasks_finished_total"]) <= budget
    assert len(found["taskwatch_task_duration_seconds_count"]) <= budget
    # Nothing is lost by folding: the running tasks are all counted, under fewer types.
    registry = d.metrics.registry
    total = sum(registry.get_sample_value("taskwatch_tasks", labels) or 0.0 for labels in tasks)
    assert total == TASKS // 2
    folded = registry.get_sample_value("taskwatch_label_values_folded_total", {"label": "type"})
    assert folded is not None
    assert folded > 0
    size = len(generate_latest(registry))
    assert size < 100_000, size


async def test_a_200_kb_error_code_is_exported_cut_to_the_maximum_length() -> None:
    huge = "FailedOperation." + "X" * 200_000
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        emu.emulator.faults.faults.append(Fault(kind="error", code=huge, count=1))
        d = daemon(
            emu, products=ONLY_DLC, api={"budget": 1.0, "limits": LIFTED, "retry_attempts": 1}
        )
        watcher = d.sources[0].watcher
        async with d.transport:
            report = await watcher.cycle()
    assert not report.ok
    codes = [s["code"] for s in series(d.metrics)["taskwatch_api_requests_total"]]
    assert codes, "the failed attempt is counted"
    assert max(len(code) for code in codes) <= MAX_LABEL_LENGTH
    assert any(code.startswith("FailedOperation.XXX") for code in codes)
    assert len(generate_latest(d.metrics.registry)) < 20_000
