"""The tracker's pure diff and its memory of finished tasks, on hand-made MPS tasks.

The list records are the shape of the MPS documentation's examples (tests/data/seeds): the
PROCESSING listing shows ``taskId6`` while its detail says FINISH. No I/O, no clock: the tests pass
"now" as a number.
"""

from __future__ import annotations

from taskwatch.models import Phase, Result, SourceKey, Task
from taskwatch.products.mps import WINDOW, normalise, normalise_detail
from taskwatch.tracker import Diff, Tracker, diff

SOURCE = SourceKey("main", "mps", "global")
NOW = 1_772_323_200.0  # 2026-03-01T00:00:00Z
LISTED = {
    "TaskId": "taskId6",
    "TaskType": "WorkflowTask",
    "SubTaskTypes": ["action-trans"],
    "CreateTime": "2018-12-27T13:57:15Z",
    "BeginProcessTime": "2018-12-27T13:57:15Z",
    "FinishTime": "2018-12-27T13:57:15Z",
}
FINISHED = {
    "TaskType": "WorkflowTask",
    "Status": "FINISH",
    "CreateTime": "2019-07-16T06:21:27Z",
    "BeginProcessTime": "2019-07-16T06:21:28Z",
    "FinishTime": "2019-07-16T06:21:46Z",
    "WorkflowTask": {"TaskId": "taskId6", "Status": "FINISH", "ErrCode": 0},
}


def listed(task_id: str = "taskId6", **changes: str) -> Task:
    """The PROCESSING listing's record of ``task_id``."""
    return normalise({**LISTED, "TaskId": task_id, **changes}, status="PROCESSING", source=SOURCE)


def described(task: Task, **changes: str) -> Task:
    """``task`` as DescribeTaskDetail answers it (FINISH unless changed)."""
    return normalise_detail(task.id, {**FINISHED, **changes}, source=SOURCE, fields=task.fields)


def cycle(
    tracker: Tracker, scan: dict[str, Task], details: dict[str, Task]
) -> tuple[list[str], list[Task]]:
    """One watcher cycle over the active listing ``scan``, the API answering ``details`` (a task
    it does not know is left out): which ids were described, and which tasks observed."""
    d = diff(tracker.fingerprints(), scan, tracker.stale)
    asked = [*d.to_refresh, *d.gone]
    refreshed = [details[i] for i in asked if i in details]
    active = tracker.merge(scan, [t for t in refreshed if t.id in scan])
    ended = [t for t in refreshed if t.id in d.gone and t.phase is Phase.DONE]
    return asked, tracker.commit(active, ended, listed=scan)


# --- diff (pure) ----------------------------------------------------------------------------


def test_a_listed_task_whose_record_matches_its_finished_fingerprint_is_settled_not_refreshed() -> (
    None
):
    task = listed()
    d = diff({}, {task.id: task}, {task.id: task.fingerprint})
    assert (d.settled, d.new, d.changed, d.to_refresh) == (("taskId6",), (), (), ())


def test_a_settled_task_whose_list_record_changed_is_changed_and_refreshed() -> None:
    before, after = listed(), listed(BeginProcessTime="2018-12-27T13:58:00Z")
    d = diff({}, {after.id: after}, {before.id: before.fingerprint})
    assert (d.changed, d.settled, d.to_refresh) == (("taskId6",), (), ("taskId6",))


def test_without_settled_fingerprints_a_listed_task_unknown_to_the_active_map_is_new() -> None:
    task = listed()
    assert diff({}, {task.id: task}).new == ("taskId6",)
    assert diff({}, {task.id: task}, {"other": task.fingerprint}).new == ("taskId6",)


def test_an_active_task_is_compared_with_its_active_fingerprint_first() -> None:
    task = listed()
    d = diff({task.id: task.fingerprint}, {task.id: task}, {task.id: ("stale",)})
    assert (d.unchanged, d.settled) == (("taskId6",), ())


def test_a_task_the_listing_no_longer_shows_is_gone_and_not_in_to_refresh() -> None:
    kept, left = listed("kept"), listed("left")
    previous = {kept.id: kept.fingerprint, left.id: left.fingerprint}
    d = diff(previous, {kept.id: kept})
    assert (d.gone, d.unchanged, d.new, d.changed, d.to_refresh) == (
        ("left",),
        ("kept",),
        (),
        (),
        (),
    )


def test_an_active_task_whose_record_changed_is_changed_and_refreshed() -> None:
    before, after = listed(), listed(FinishTime="2018-12-27T14:00:00Z")
    d = diff({before.id: before.fingerprint}, {after.id: after})
    assert (d.changed, d.unchanged, d.to_refresh) == (("taskId6",), (), ("taskId6",))


def test_diff_order_follows_the_listing_then_the_previous_map_new_before_changed() -> None:
    a, b, c = listed("a"), listed("b"), listed("c", BeginProcessTime="2018-12-27T13:58:00Z")
    previous = {"z": ("gone",), "c": listed("c").fingerprint, "y": ("gone",)}
    d = diff(previous, {"b": b, "c": c, "a": a})
    assert d.new == ("b", "a")
    assert d.gone == ("z", "y")
    assert d.to_refresh == ("b", "a", "c")


def test_nothing_before_and_nothing_now_is_an_empty_diff() -> None:
    assert diff({}, {}) == Diff()
    assert diff({}, {}, {"taskId6": ("x",)}).to_refresh == ()


# --- the tracker over cycles ----------------------------------------------------------------


def test_a_task_the_list_shows_running_and_the_detail_finished_is_described_and_observed_once() -> (
    None
):
    tracker = Tracker(window=WINDOW)
    task = listed()
    runs = [cycle(tracker, {task.id: task}, {task.id: described(task)}) for _ in range(6)]
    asked = [a for a, _ in runs]
    observed = [t for _, seen in runs for t in seen]
    assert asked == [["taskId6"]] + [[]] * 5
    (finished,) = observed
    assert (finished.duration(), finished.queue_wait(), finished.result) == (
        18.0,
        1.0,
        Result.SUCCESS,
    )
    assert tracker.active == {}
    assert tracker.stale == {"taskId6": task.fingerprint}


def test_a_changed_record_of_a_finished_task_is_described_once_more_and_not_observed_again() -> (
    None
):
    tracker = Tracker(window=WINDOW)
    task, moved = listed(), listed(BeginProcessTime="2018-12-27T13:58:00Z")
    first = cycle(tracker, {task.id: task}, {task.id: described(task)})
    second = cycle(tracker, {moved.id: moved}, {moved.id: described(moved)})
    third = cycle(tracker, {moved.id: moved}, {moved.id: described(moved)})
    assert [a for a, _ in (first, second, third)] == [["taskId6"], ["taskId6"], []]
    assert [len(seen) for _, seen in (first, second, third)] == [1, 0, 0]
    assert tracker.stale == {"taskId6": moved.fingerprint}


def test_a_finished_task_the_detail_no_longer_knows_stays_finished_and_is_not_asked_again() -> None:
    tracker = Tracker(window=WINDOW)
    task, moved = listed(), listed(FinishTime="0000-00-00T00:00:00Z")
    cycle(tracker, {task.id: task}, {task.id: described(task)})
    forgotten = [cycle(tracker, {moved.id: moved}, {}) for _ in range(3)]  # ResourceNotFound
    assert [a for a, _ in forgotten] == [["taskId6"], [], []]
    assert tracker.active == {}, "the list alone does not revive a finished task"


def test_a_finished_task_revived_by_its_detail_is_watched_and_its_end_not_observed_twice() -> None:
    tracker = Tracker(window=WINDOW)
    task, moved = listed(), listed(BeginProcessTime="2018-12-27T13:58:00Z")
    cycle(tracker, {task.id: task}, {task.id: described(task)})
    _, revived = cycle(
        tracker, {moved.id: moved}, {moved.id: described(moved, Status="PROCESSING")}
    )
    assert revived == []
    assert tracker.active["taskId6"].status == "PROCESSING"
    assert tracker.stale == {}
    asked, ended = cycle(tracker, {}, {"taskId6": described(moved)})  # gone: it ended again
    assert (asked, ended, tracker.active) == (["taskId6"], [], {})


def test_a_running_task_keeps_its_list_fingerprint_when_the_detail_disagrees() -> None:
    tracker = Tracker(window=WINDOW)
    task = listed()
    detail = described(task, Status="PROCESSING", FinishTime="0000-00-00T00:00:00Z")
    assert detail.fingerprint != task.fingerprint
    asked = [cycle(tracker, {task.id: task}, {task.id: detail})[0] for _ in range(4)]
    assert asked == [["taskId6"], [], [], []]
    assert tracker.active["taskId6"].detail == detail.detail  # carried over, not asked again


def test_stale_fingerprints_last_only_while_the_active_listing_shows_the_task() -> None:
    tracker = Tracker(window=WINDOW)
    task = listed()
    cycle(tracker, {task.id: task}, {task.id: described(task)})
    cycle(tracker, {}, {})
    assert tracker.stale == {}
    assert tracker.seen_finished("taskId6")


# --- eviction -------------------------------------------------------------------------------


def test_an_old_finished_task_is_remembered_while_a_complete_scan_still_lists_it() -> None:
    tracker = Tracker(window=WINDOW)
    task = listed()
    cycle(tracker, {task.id: task}, {task.id: described(task)})
    assert tracker.evict(NOW, listed=None) == 0, "no complete scan: nothing is forgotten"
    assert tracker.evict(NOW, listed={"taskId6", "taskId1"}) == 0
    assert tracker.seen_finished("taskId6")
    assert tracker.evict(NOW, listed={"taskId1"}) == 1
    assert not tracker.seen_finished("taskId6")
    assert tracker.stale == {}


def test_a_finished_task_inside_the_window_is_remembered_even_when_not_listed() -> None:
    tracker = Tracker(window=WINDOW)
    young = described(listed("young"), CreateTime="2026-02-27T00:00:00Z")
    old = described(listed("old"))
    tracker.commit({}, [young, old])
    assert tracker.evict(NOW, listed=set()) == 1
    assert (tracker.seen_finished("young"), tracker.seen_finished("old")) == (True, False)


def test_remembered_history_older_than_the_window_survives_sweeps_that_list_it() -> None:
    tracker = Tracker(window=WINDOW)
    history = [normalise({**LISTED, "TaskId": f"taskId{i}"}, status="FINISH", source=SOURCE)
               for i in (1, 2, 3)]  # fmt: skip
    tracker.remember(history)
    for _ in range(3):
        tracker.evict(NOW, listed={"taskId1", "taskId2", "taskId3", "taskId6"})
    assert all(tracker.seen_finished(t.id) for t in history)


def test_a_task_created_exactly_at_the_window_edge_is_still_remembered() -> None:
    tracker = Tracker(window=100.0)
    edge = described(listed("edge"))
    assert edge.created is not None
    tracker.commit({}, [edge])
    assert tracker.evict(edge.created + 100.0, listed=set()) == 0
    assert tracker.evict(edge.created + 100.5, listed=set()) == 1


# --- merge ----------------------------------------------------------------------------------


def test_merge_keeps_only_listed_tasks_even_when_a_detail_arrived_for_another() -> None:
    tracker = Tracker(window=WINDOW)
    task, elsewhere = listed(), listed("elsewhere")
    merged = tracker.merge({task.id: task}, [described(elsewhere, Status="PROCESSING")])
    assert list(merged) == ["taskId6"]
    assert merged["taskId6"] is task


def test_merge_carries_the_previous_detail_over_to_an_unchanged_task_without_a_fresh_one() -> None:
    tracker = Tracker(window=WINDOW)
    task = listed()
    running = described(task, Status="PROCESSING", FinishTime="0000-00-00T00:00:00Z")
    tracker.commit(tracker.merge({task.id: task}, [running]), [])
    merged = tracker.merge({task.id: task}, [])
    assert merged["taskId6"].detail == running.detail
    assert merged["taskId6"].fingerprint == task.fingerprint


def test_merge_prefers_a_fresh_detail_over_the_one_carried_from_the_last_cycle() -> None:
    tracker = Tracker(window=WINDOW)
    task = listed()
    first = described(task, Status="PROCESSING", FinishTime="0000-00-00T00:00:00Z", ExtInfo="1")
    tracker.commit(tracker.merge({task.id: task}, [first]), [])
    second = described(task, Status="PROCESSING", FinishTime="0000-00-00T00:00:00Z", ExtInfo="2")
    merged = tracker.merge({task.id: task}, [second])
    assert merged["taskId6"].detail == second.detail != first.detail


# --- commit and remember --------------------------------------------------------------------


def test_commit_moves_a_done_task_out_of_the_active_map_and_reports_it_once() -> None:
    tracker = Tracker(window=WINDOW)
    task = listed()
    done = described(task)
    assert done.phase is Phase.DONE
    first = tracker.commit({task.id: done}, [done])
    again = tracker.commit({task.id: done}, [done])
    assert ([t.id for t in first], again, tracker.active) == (["taskId6"], [], {})
    assert tracker.finished == {"taskId6": done.created}


def test_commit_without_a_listing_leaves_the_stale_fingerprints_as_they_were() -> None:
    tracker = Tracker(window=WINDOW)
    task = listed()
    cycle(tracker, {task.id: task}, {task.id: described(task)})
    tracker.commit({}, [], listed=None)
    assert tracker.stale == {"taskId6": task.fingerprint}


def test_a_finished_task_without_a_creation_time_is_remembered_from_epoch_zero() -> None:
    tracker = Tracker(window=WINDOW)
    task = normalise({"TaskId": "t-0"}, status="FINISH", source=SOURCE)
    assert task.created is None
    assert [t.id for t in tracker.commit({}, [task])] == ["t-0"]
    assert tracker.finished == {"t-0": 0.0}
    assert tracker.evict(NOW, listed=set()) == 1


def test_remembered_history_is_never_reported_as_a_new_finish() -> None:
    tracker = Tracker(window=WINDOW)
    old = described(listed())
    tracker.remember([old])
    assert tracker.commit({}, [old]) == []
    young = described(listed(), CreateTime="2026-02-27T00:00:00Z")
    tracker.remember([young])
    assert tracker.finished["taskId6"] == old.created, "remember keeps the first creation time"
