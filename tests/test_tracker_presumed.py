"""Tasks presumed active past the API's windows, as the tracker keeps them (pure, no I/O)."""

from __future__ import annotations

from taskwatch.models import Outcome, Phase, Result, Task
from taskwatch.tracker import Tracker

DAY = 86400.0


def running(task_id: str, *, created: float = 0.0) -> Task:
    return Task(
        product="mps",
        account="main",
        region="global",
        id=task_id,
        type="LiveStreamProcessTask",
        status="PROCESSING",
        phase=Phase.RUNNING,
        created=created,
        started=created + 10,
        fingerprint=("PROCESSING", "s", "f"),
    )


def tracker_presuming(*ids: str, now: float = 8 * DAY) -> Tracker:
    tracker = Tracker(window=7 * DAY)
    tracker.commit({i: running(i) for i in ids}, [])
    tracker.presume([tracker.active[i] for i in ids], now)
    return tracker


def test_a_presumed_task_leaves_the_active_map_and_keeps_its_last_observation() -> None:
    tracker = tracker_presuming("a")
    assert tracker.active == {}
    assert tracker.presumed["a"].status == "PROCESSING"
    assert tracker.presumed["a"].unobserved_since == 8 * DAY
    tracker.presume([tracker.presumed["a"]], 9 * DAY)
    assert tracker.presumed["a"].unobserved_since == 8 * DAY  # since it was first presumed


def test_only_a_done_or_already_done_action_settles_a_presumed_task() -> None:
    tracker = tracker_presuming("a", "b", "c")
    outcomes = [
        ("a", Outcome.DONE),
        ("b", Outcome.UNKNOWN),
        ("c", Outcome.FAILED),
        ("c", Outcome.FENCED),
        ("x", Outcome.DONE),
    ]
    settled, first = tracker.settle(outcomes, 9 * DAY, "FINISH")
    assert settled == ["a"]
    assert [(t.id, t.status, t.phase, t.result, t.finished) for t in first] == [
        ("a", "FINISH", Phase.DONE, Result.ABORTED, 9 * DAY)
    ]
    assert set(tracker.presumed) == {"b", "c"}
    assert tracker.seen_finished("a")
    settled, first = tracker.settle([("b", Outcome.ALREADY_DONE)], 9 * DAY, "FINISH")
    assert [(t.id, t.result, t.finished) for t in first] == [("b", Result.UNKNOWN, None)]


def test_a_presumed_task_listed_again_is_active_and_no_longer_presumed() -> None:
    tracker = tracker_presuming("a")
    tracker.commit({"a": running("a")}, [])
    assert set(tracker.active) == {"a"}
    assert tracker.presumed == {}


def test_presumed_tasks_are_forgotten_after_the_bound_unrecorded() -> None:
    tracker = tracker_presuming("a", now=8 * DAY)
    assert tracker.expire(38 * DAY, 30 * DAY) == []
    (gone,) = tracker.expire(38 * DAY + 1, 30 * DAY)
    assert gone.id == "a"
    assert tracker.presumed == {}
    assert not tracker.seen_finished("a")
