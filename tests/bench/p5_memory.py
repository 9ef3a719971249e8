"""P5: memory per tracked task, as the watcher keeps them.

Records come from the large scenario's world through the emulator's own handlers and a JSON round
trip (so every string is a fresh object, as off the wire): active tasks (``WAITING``,
``PROCESSING``) are kept as the watcher keeps them, a ``Task`` with its list record (``fields``)
and its ``DescribeTaskDetail`` answer (``detail``); finished ones as the tracker's compact record
(id → creation time). ``tracemalloc`` counts what the :class:`Tracker` holds once the inputs are
dropped. Reported for the realistic mix (12 % active, the large world) at 10,000 tasks and 100,000
tasks (the world ten times over, ids made unique), and for a tracker of active tasks only.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from typing import Any

from taskwatch.clock import ManualClock
from taskwatch.emulator.actions import CallContext
from taskwatch.emulator.mps import _simple, describe_task_detail
from taskwatch.emulator.scenario import loads_scenario
from taskwatch.models import SourceKey, Task
from taskwatch.products.mps import WINDOW, normalise, normalise_detail
from taskwatch.tracker import Tracker
from tests.bench.common import Row
from tests.bench.p2_calls import large_scenario

SOURCE = SourceKey("main", "mps", "global")


def _wire(scale_copies: int) -> tuple[bytes, bytes]:
    """(active records with details, finished records) as JSON bytes, ``copies`` times over."""
    scenario = loads_scenario(large_scenario(), source="large.yaml")
    world = scenario.build_world(ManualClock())
    ctx = CallContext(region=None, language="en-US", secret_id="x", options=scenario.options)
    active: list[dict[str, Any]] = []
    finished: list[dict[str, Any]] = []
    for t in world.mps.values():
        if t.status == "FINISH":
            finished.append(_simple(t))
        else:
            detail = describe_task_detail(world, {"TaskId": t.task_id}, ctx)
            active.append({"status": t.status, "record": _simple(t), "detail": detail})
    blob_a, blob_f = json.dumps(active), json.dumps(finished)
    prefix = f'"{scenario.appid}-'  # every task id starts with the appid
    out_a, out_f = [], []
    for k in range(scale_copies):
        copy = f'"{scenario.appid}{k:02d}-' if k else prefix
        out_a.append(blob_a.replace(prefix, copy))
        out_f.append(blob_f.replace(prefix, copy))
    return ("[" + ",".join(x[1:-1] for x in out_a) + "]").encode(), (
        "[" + ",".join(x[1:-1] for x in out_f) + "]"
    ).encode()


def _tasks(active_blob: bytes, finished_blob: bytes) -> tuple[dict[str, Task], list[Task]]:
    active: dict[str, Task] = {}
    for row in json.loads(active_blob):
        listed = normalise(row["record"], status=row["status"], source=SOURCE)
        task = normalise_detail(listed.id, row["detail"], source=SOURCE, fields=listed.fields)
        active[task.id] = task
    done = [normalise(r, status="FINISH", source=SOURCE) for r in json.loads(finished_blob)]
    return active, done


def _bytes_per_task(active_blob: bytes, finished_blob: bytes, *, with_finished: bool) -> float:
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracker = Tracker(window=WINDOW)
    active, done = _tasks(active_blob, finished_blob if with_finished else b"[]")
    tracker.commit(active, [])
    tracker.remember(done)
    count = len(tracker.active) + len(tracker.finished)
    del active, done
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert tracker.active
    return held / count


async def run(quick: bool) -> list[Row]:
    small_a, small_f = _wire(1)
    mixed_10k = _bytes_per_task(small_a, small_f, with_finished=True)
    active_only = _bytes_per_task(small_a, small_f, with_finished=False)
    if quick:
        mixed_100k = None
    else:
        big_a, big_f = _wire(10)
        mixed_100k = _bytes_per_task(big_a, big_f, with_finished=True)
    worst = max(v for v in (mixed_10k, mixed_100k) if v is not None)
    return [
        Row("P5", "bytes per tracked task, 12 % active (10k; 100k)", mixed_10k,
            {"100k tasks": mixed_100k, "active only": active_only}, None,
            "≤ 1 KiB (the realistic mix)", worst <= 1024,
            {"active_tasks_10k": small_a.count(b'"status"')})
    ]  # fmt: skip
