"""One task described between cycles (a hint), as the tracker merges it (pure, no I/O)."""

from __future__ import annotations

from dataclasses import replace

from taskwatch.models import Phase, Result, Task
from taskwatch.tracker import Tracker, diff

DAY = 86400.0
LISTED = ("PROCESSING", "list-record")


def running(task_id: str, *, fingerprint: object = LISTED) -> Task:
    return Task(
        product="mps",
        account="main",
        region="global",
        id=task_id,
        type="WorkflowTask",
        status="PROCESSING",
        phase=Phase.RUNNING,
        created=100.0,
        started=110.0,
        fingerprint=fingerprint,  # type: ignore[arg-type]
    )


def finished(task_id: str) -> Task:
    return replace(
        running(task_id, fingerprint=("FINISH", "detail")),
        status="FINISH",
        phase=Phase.DONE,
        finished=200.0,
        result=Result.SUCCESS,
    )


def test_an_ended_task_is_observed_once_and_leaves_the_active_map() -> None:
    tracker = Tracker(window=7 * DAY)
    tracker.commit({"a": running("a")}, [])
    assert [t.id for t in tracker.observe(finished("a"))] == ["a"]
    assert tracker.active == {}
    assert tracker.seen_finished("a")
    assert tracker.observe(finished("a")) == []  # a duplicate notification observes nothing
    # and the cycle that sees it gone (or finished) does not observe it again
    assert tracker.commit({}, [finished("a")]) == []


def test_a_listing_that_still_shows_the_old_record_costs_no_call() -> None:
    tracker = Tracker(window=7 * DAY)
    tracker.commit({"a": running("a")}, [])
    tracker.observe(finished("a"))
    d = diff(tracker.fingerprints(), {"a": running("a")}, tracker.stale)
    assert d.to_refresh == ()
    assert d.settled == ("a",)


def test_an_active_observation_keeps_the_list_fingerprint_the_next_cycle_compares() -> None:
    tracker = Tracker(window=7 * DAY)
    tracker.commit({"a": running("a")}, [])
    fresh = replace(running("a", fingerprint=("PROCESSING", "detail")), detail={"x": 1})
    assert tracker.observe(fresh) == []
    assert tracker.active["a"].fingerprint == LISTED
    assert tracker.active["a"].detail == {"x": 1}


def test_a_task_not_known_yet_is_watched_from_its_first_description() -> None:
    tracker = Tracker(window=7 * DAY)
    assert tracker.observe(running("new")) == []
    assert "new" in tracker.active
    assert [t.id for t in tracker.observe(finished("born-and-died"))] == ["born-and-died"]
    assert tracker.seen_finished("born-and-died")


def test_a_presumed_task_described_again_is_observed_and_no_longer_presumed() -> None:
    tracker = Tracker(window=7 * DAY)
    tracker.commit({"a": running("a"), "b": running("b")}, [])
    tracker.presume([tracker.active["a"], tracker.active["b"]], 8 * DAY)
    tracker.observe(running("a"))
    assert "a" in tracker.active
    assert "a" not in tracker.presumed
    assert [t.id for t in tracker.observe(finished("b"))] == ["b"]
    assert tracker.presumed == {}


def test_a_moved_status_takes_the_details_fingerprint_so_the_next_list_costs_no_call() -> None:
    tracker = Tracker(window=7 * DAY)
    waiting = replace(running("a", fingerprint=("WAITING", "", "")), status="WAITING",
                      phase=Phase.PENDING)  # fmt: skip
    tracker.commit({"a": waiting}, [])
    started = running("a", fingerprint=("PROCESSING", "110", ""))  # as the detail prints it
    tracker.observe(started)
    listed = running("a", fingerprint=("PROCESSING", "110", ""))  # the listing agrees
    assert diff(tracker.fingerprints(), {"a": listed}).to_refresh == ()
