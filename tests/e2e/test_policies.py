"""Policies end to end against the emulator; the emulator's log is the witness of every action."""

from __future__ import annotations

import sqlite3
from typing import Any

from taskwatch.emulator.world import DlcTask, LiveTask, MpsTask, Plan, World
from taskwatch.supervisor import Supervisor
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.emulator.harness import Running, running_emulator

HOUR = 3600.0
ONLY_MPS = {"mps": {"interval": "5s"}, "dlc": {"enabled": False}, "live": {"enabled": False}}
LONG_LIVE: dict[str, Any] = {
    "name": "abort-long-live",
    "product": "mps",
    "filters": [
        {"type": "LiveStreamProcessTask"},
        {"status": "PROCESSING"},
        {"running_longer_than": "6h"},
        {"key": "detail.LiveStreamProcessTask.Url", "op": "regex", "value": "^rtmp://"},
    ],
    "exclude": [{"key": "SessionContext", "op": "contains", "value": "keep-alive"}],
    "action": "abort",
    "enforce": True,
}


def live(world: World, hours: float, *, url: str = "rtmp://a/live/s", ctx: str = "") -> str:
    now = world.now()
    task = world.add_mps(
        MpsTask(
            task_id=world.mps_id("LiveStreamProcessTask"),
            task_type="LiveStreamProcessTask",
            status="PROCESSING",
            created=now - hours * HOUR - 60,
            started=now - hours * HOUR,
            plan=Plan(wait=0, run=None),
            url=url,
            session_context=ctx,
        )
    )
    return task.task_id


def workflow(world: World, hours: float) -> str:
    now = world.now()
    task = world.add_mps(
        MpsTask(
            task_id=world.mps_id("WorkflowTask"),
            task_type="WorkflowTask",
            status="PROCESSING",
            created=now - hours * HOUR - 60,
            started=now - hours * HOUR,
            plan=Plan(wait=0, run=None),
        )
    )
    return task.task_id


def acted(emu: Running, action: str = "ManageTask") -> list[str]:
    return [
        e.params["TaskId"] for e in emu.emulator.log if e.action == action and e.code == "Success"
    ]


def sent(emu: Running, action: str = "ManageTask") -> list[str]:
    return [e.params["TaskId"] for e in emu.emulator.log if e.action == action]


def policy_daemon(emu: Running, *policies: dict[str, Any], **extra: Any) -> Supervisor:
    return daemon(emu, products=ONLY_MPS, policies=list(policies), **extra)


def results(d: Supervisor, policy: str, action: str = "abort") -> dict[str, float]:
    out = {}
    for result in ("done", "would", "already_done", "skipped_cap", "fenced", "failed", "unknown"):
        value = d.metrics.registry.get_sample_value(
            "taskwatch_policy_actions_total",
            {
                "account": "main",
                "product": "mps",
                "policy": policy,
                "action": action,
                "result": result,
            },
        )
        if value:
            out[result] = value
    return out


def journal_rows(d: Supervisor) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(d.settings.state.path) as db:
        return list(
            db.execute(
                "SELECT i.task_id, i.mode, o.result FROM intents i "
                "LEFT JOIN outcomes o ON o.intent_id = i.id ORDER BY i.id"
            )
        )


async def test_exactly_the_matching_tasks_are_aborted_and_no_other() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        targets = {live(emu.world, 7 + i) for i in range(5)}
        young = {live(emu.world, 2) for _ in range(5)}
        http = {live(emu.world, 9, url="http://a/live/s") for _ in range(3)}
        kept = {live(emu.world, 9, ctx="keep-alive: yes") for _ in range(2)}
        workflows = {workflow(emu.world, 9) for _ in range(5)}
        d = policy_daemon(emu, LONG_LIVE)
        reports = await d.run_once()
        again = await d.run_once()
    assert all(r.ok for r in reports + again)
    assert sorted(sent(emu)) == sorted(targets)
    assert all(emu.world.mps[t].status == "FINISH" for t in targets)
    untouched = young | http | kept | workflows
    assert all(emu.world.mps[t].status == "PROCESSING" for t in untouched)
    assert results(d, "abort-long-live") == {"done": 5}
    assert sorted(t for t, _, r in journal_rows(d) if r == "done") == sorted(targets)


async def test_dry_run_acts_on_nothing_and_records_every_would() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        targets = {live(emu.world, 8) for _ in range(4)}
        d = policy_daemon(emu, {**LONG_LIVE, "enforce": False})
        await d.run_once()
    assert sent(emu) == []
    rows = journal_rows(d)
    assert sorted(t for t, mode, r in rows if mode == "dry-run" and r == "would") == sorted(targets)
    assert results(d, "abort-long-live") == {"would": 4}


async def test_per_cycle_per_hour_percent_and_global_caps_hold() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        for i in range(10):
            live(emu.world, 7 + i / 10)
        rule = {**LONG_LIVE, "max_actions": {"per_cycle": 2, "per_hour": 3}}
        d = policy_daemon(emu, rule)
        await d.run_once()
        first = len(sent(emu))
        await d.run_once()
        second = len(sent(emu))
        emu.clock.advance(HOUR + 1)
        await d.run_once()
        third = len(sent(emu))
    assert (first, second, third) == (2, 3, 5)
    assert results(d, "abort-long-live")["skipped_cap"] > 0

    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        for _ in range(20):
            live(emu.world, 8)
        d = policy_daemon(emu, {**LONG_LIVE, "max_actions": {"percent": 20}})
        await d.run_once()
        assert len(sent(emu)) == 4  # 20 % of 20 active tasks

    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        for _ in range(12):
            live(emu.world, 8)
        d = policy_daemon(emu, LONG_LIVE, actions={"max_per_cycle": 5})
        await d.run_once()
        assert len(sent(emu)) == 5


async def test_the_oldest_offenders_are_acted_on_first_under_a_cap() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        ages = {live(emu.world, h): h for h in (7, 12, 9, 30, 8)}
        d = policy_daemon(emu, {**LONG_LIVE, "max_actions": {"per_cycle": 2}})
        await d.run_once()
    assert sorted(ages[t] for t in sent(emu)) == [12, 30]


async def test_grace_holds_a_task_back_until_it_has_matched_long_enough() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = live(emu.world, 7)
        d = policy_daemon(emu, {**LONG_LIVE, "grace": "5m"})
        await d.run_once()
        emu.clock.advance(240)
        await d.run_once()
        held = sent(emu)
        emu.clock.advance(61)
        await d.run_once()
    assert held == []
    assert sent(emu) == [target]


async def test_a_task_that_finishes_between_decision_and_action_is_not_acted_on() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = live(emu.world, 7)
        d = policy_daemon(emu, LONG_LIVE)
        source = d.sources[0]
        with d._journal_open():
            async with d.transport:
                report = await source.watcher.cycle()
                assert report.ok
                # The task ends on its own after the scan saw it, before the executor acts.
                emu.world.finish_mps(emu.world.mps[target], emu.world.now())
                actions = await d.executor.run(
                    source.watcher.adapter, source.watcher.tracker.active.values()
                )
    assert sent(emu) == []
    assert [a.result.value for a in actions] == ["already_done"]


async def test_a_task_that_stops_matching_before_the_action_is_fenced() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = live(emu.world, 7)
        d = policy_daemon(emu, LONG_LIVE)
        source = d.sources[0]
        with d._journal_open():
            async with d.transport:
                await source.watcher.cycle()
                emu.world.mps[target].url = "http://moved/live/s"  # re-describe sees the change
                actions = await d.executor.run(
                    source.watcher.adapter, source.watcher.tracker.active.values()
                )
    assert sent(emu) == []
    assert [a.result.value for a in actions] == ["fenced"]


async def test_the_files_kill_switch_stops_every_action_and_a_shared_resume_does_not_undo_it() -> (
    None
):
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        live(emu.world, 8)
        d = policy_daemon(emu, LONG_LIVE, actions={"paused": True})
        await d.run_once()
        d.resume(actor="ops")  # the journal's switch: the file's still holds
        await d.run_once()
        paused = sent(emu)
        d.executor.resume()  # what a reload with actions.paused: false does
        await d.run_once()
    assert paused == []
    assert len(sent(emu)) == 1


async def test_the_journals_kill_switch_holds_across_a_restart_until_resumed() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        live(emu.world, 8)
        d = policy_daemon(emu, LONG_LIVE)
        assert d.pause(actor="ops", reason="INC-7")["actions_paused"] is True
        await d.run_once()
        restarted = policy_daemon(emu, LONG_LIVE, state={"path": str(d.settings.state.path)})
        await restarted.run_once()
        paused = sent(emu)
        assert restarted.executor.switch.reason == "INC-7"
        restarted.resume(actor="ops")
        await restarted.run_once()
    assert paused == []
    assert len(sent(emu)) == 1


async def test_a_second_abort_is_never_sent_for_a_task_already_aborted() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        target = live(emu.world, 8)
        d = policy_daemon(emu, LONG_LIVE)
        await d.run_once()
        # The listing lags: the task shows as PROCESSING again (as if the abort had not landed).
        task = emu.world.mps[target]
        task.status, task.finished = "PROCESSING", None
        emu.world.version += 1
        await d.run_once()
    assert sent(emu) == [target]


async def test_dlc_cancel_and_live_delete_act_on_their_targets_only() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        now = emu.world.now()
        slow = [
            emu.world.add_dlc(
                DlcTask(
                    task_id=emu.world.dlc_id(),
                    state=1,
                    created=now - 30 * HOUR,
                    updated=now - 30 * HOUR,
                    started=now - 29 * HOUR,
                    plan=Plan(run=None),
                )
            ).task_id
            for _ in range(3)
        ]
        quick = emu.world.add_dlc(
            DlcTask(
                task_id=emu.world.dlc_id(),
                state=1,
                created=now - 600,
                updated=now - 600,
                started=now - 500,
                plan=Plan(run=None),
            )
        ).task_id
        stale = emu.world.add_live(
            LiveTask(
                task_id=emu.world.live_id(),
                created=now - 50 * HOUR,
                updated=now - 50 * HOUR,
                start_time=now - 48 * HOUR,
                end_time=now - HOUR,
            )
        ).task_id
        fresh = emu.world.add_live(
            LiveTask(
                task_id=emu.world.live_id(),
                created=now - HOUR,
                updated=now - HOUR,
                start_time=now - HOUR,
                end_time=now + HOUR,
            )
        ).task_id
        policies = [
            {
                "name": "cancel-day-long-sql",
                "product": "dlc",
                "action": "cancel",
                "enforce": True,
                "filters": [{"status": "running"}, {"age": "24h"}],
            },
            {
                "name": "delete-stale-pull",
                "product": "live",
                "action": "delete",
                "enforce": True,
                "operator": "taskwatch-test",
                "filters": [{"key": "phase", "op": "eq", "value": "done"}],
            },
        ]
        d = daemon(emu, policies=policies)
        await d.run_once()
    assert sorted(sent(emu, "CancelTask")) == sorted(slow)
    assert quick not in sent(emu, "CancelTask")
    assert emu.world.dlc[slow[0]].state == -3
    assert sent(emu, "DeleteLivePullStreamTask") == [stale]
    assert stale not in emu.world.live
    assert fresh in emu.world.live
    deletes = [e for e in emu.emulator.log if e.action == "DeleteLivePullStreamTask"]
    assert deletes[0].params["Operator"] == "taskwatch-test"
