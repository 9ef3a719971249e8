"""The daemon against the emulator, end to end: paging, change detection, metrics vs the world."""

from __future__ import annotations

import collections

from taskwatch.emulator.world import DlcTask, LiveTask, MpsTask, Plan, World
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.emulator.harness import running_emulator


def _mps_world(world: World, n: int) -> None:
    now = world.now()
    for i in range(n):
        status = "PROCESSING" if i % 3 else "WAITING"
        ttype = "LiveStreamProcessTask" if i % 50 == 0 else "WorkflowTask"
        world.add_mps(
            MpsTask(
                task_id=world.mps_id(ttype),
                task_type=ttype,
                status=status,
                created=now - 3600 - i,
                started=None if status == "WAITING" else now - 1800 - i,
                plan=Plan(
                    wait=7200 + i * 3, run=None if ttype.startswith("Live") else 5400 + i * 7
                ),
            )
        )


def _sample(d: object, name: str, **labels: str) -> float:
    value = d.metrics.registry.get_sample_value(name, labels)  # type: ignore[attr-defined]
    return 0.0 if value is None else float(value)


async def test_2500_mps_tasks_are_paged_completely_and_the_gauges_match_the_world() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        _mps_world(emu.world, 2500)
        d = daemon(
            emu,
            products={
                "mps": {"interval": "5s"},
                "dlc": {"enabled": False},
                "live": {"enabled": False},
            },
        )
        (report,) = await d.run_once()
        log = emu.log()
    assert report.ok, report.message
    assert report.active == 2500
    world_counts = collections.Counter(
        (t.task_type, t.status) for t in emu.world.mps.values() if t.status != "FINISH"
    )
    for (ttype, status), n in world_counts.items():
        got = _sample(
            d,
            "taskwatch_tasks",
            product="mps",
            account="main",
            region="global",
            type=ttype,
            status=status,
        )
        assert got == n, (ttype, status)
    lists = [e for e in log if e["action"] == "DescribeTasks"]
    pages = {
        s: sum(1 for e in lists if e["params"]["Status"] == s) for s in ("WAITING", "PROCESSING")
    }
    assert pages == {"WAITING": 9, "PROCESSING": 17}  # 834 and 1,666 tasks at 100 a page
    assert sum(1 for e in log if e["action"] == "DescribeTaskDetail") == 2500
    assert (
        _sample(d, "taskwatch_api_calls_per_cycle", account="main", product="mps", region="global")
        == report.total_calls
    )


async def test_over_five_cycles_with_churn_detail_calls_equal_the_new_and_changed_tasks() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        _mps_world(emu.world, 600)
        d = daemon(
            emu,
            products={
                "mps": {"interval": "5s", "finish_sweep": "100d"},
                "dlc": {"enabled": False},
                "live": {"enabled": False},
            },
        )
        watcher = d.sources[0].watcher
        async with d.transport:
            await watcher.cycle()
            rows = []
            for _ in range(5):
                emu.clock.advance(97)  # some tasks start, some finish
                for _ in range(4):  # and a few new ones arrive
                    emu.world.add_mps(
                        MpsTask(
                            task_id=emu.world.mps_id("WorkflowTask"),
                            task_type="WorkflowTask",
                            status="WAITING",
                            created=emu.world.now(),
                            plan=Plan(wait=30, run=60),
                        )
                    )
                seq = emu.emulator.log[-1].seq
                report = await watcher.cycle()
                details = sum(
                    1 for e in emu.emulator.log if e.seq > seq and e.action == "DescribeTaskDetail"
                )
                rows.append((report.new, report.changed, report.gone, details))
    assert all(new + changed + gone == details for new, changed, gone, details in rows), rows
    assert sum(r[1] + r[2] for r in rows) > 0, "the world moved"
    assert sum(r[0] for r in rows) == 20
    assert _sample(
        d, "taskwatch_tasks_finished_total", product="mps", type="WorkflowTask", result="success"
    ) == sum(r[2] for r in rows)


async def test_dlc_and_live_sources_report_their_tasks_per_region() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        now = emu.world.now()
        for i in range(30):
            emu.world.add_dlc(
                DlcTask(
                    task_id=emu.world.dlc_id(),
                    state=1 if i % 2 else 4,
                    created=now - 600,
                    updated=now - 600,
                    started=now - 300,
                    plan=Plan(wait=None, run=None),
                )
            )
        for _ in range(25):
            emu.world.add_live(
                LiveTask(
                    task_id=emu.world.live_id(),
                    created=now - 7200,
                    updated=now - 7200,
                    start_time=now - 3600,
                    end_time=now + 3600,
                )
            )
        d = daemon(emu)
        reports = await d.run_once()
    assert all(r.ok for r in reports), [r.message for r in reports]
    assert {str(r.source) for r in reports} == {
        "main/mps/global",
        "main/dlc/ap-guangzhou",
        "main/live/ap-guangzhou",
    }
    dlc = {r.source.product: r for r in reports}["dlc"]
    assert dlc.active == 30
    live = {r.source.product: r for r in reports}["live"]
    assert live.active == 25


async def test_a_failed_cycle_keeps_the_last_good_gauges_and_is_counted() -> None:
    from taskwatch.emulator.faults import Fault

    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        _mps_world(emu.world, 50)
        d = daemon(
            emu,
            products={
                "mps": {"interval": "5s"},
                "dlc": {"enabled": False},
                "live": {"enabled": False},
            },
            api={"budget": 1.0, "limits": {}, "retry_attempts": 1},
        )
        watcher = d.sources[0].watcher
        async with d.transport:
            ok = await watcher.cycle()
            emu.emulator.faults.faults.append(Fault(kind="error", code="InternalError"))
            failed = await watcher.cycle()
    assert ok.ok
    assert failed.error == "ServerError"
    total = sum(
        _sample(
            d, "taskwatch_tasks", product="mps", account="main", region="global", type=t, status=s
        )
        for t in ("WorkflowTask", "LiveStreamProcessTask")
        for s in ("WAITING", "PROCESSING")
    )
    assert total == 50
    assert (
        _sample(
            d,
            "taskwatch_scan_errors_total",
            account="main",
            product="mps",
            region="global",
            reason="ServerError",
        )
        == 1
    )
    ready, _ = d.readiness()
    assert ready


async def test_two_accounts_and_two_regions_run_in_one_process_with_a_limiter_each() -> None:
    from taskwatch.emulator.scenario import EmulatorCredential
    from tests.emulator.harness import SECRET_ID, SECRET_KEY

    other = EmulatorCredential("AKIDsecondaccount000000000000000001", "second-account-key-0001")
    async with running_emulator(
        limits=EMULATOR_LIMITS, credentials=[EmulatorCredential(SECRET_ID, SECRET_KEY), other]
    ) as emu:
        _mps_world(emu.world, 10)
        accounts = [
            {
                "name": name,
                "credentials": {"from": "static", "secret_id": sid, "secret_key": key},
                "endpoint": emu.url,
                "regions": ["ap-guangzhou", "ap-shanghai"],
            }
            for name, sid, key in (
                ("media", SECRET_ID, SECRET_KEY),
                ("analytics", other.secret_id, other.secret_key),
            )
        ]
        d = daemon(emu, accounts=accounts)
        reports = await d.run_once()
        clients = {e["secret_id"] for e in emu.log()}
    assert len(reports) == 2 * (1 + 2 + 2)
    assert all(r.ok for r in reports), [r.message for r in reports]
    assert set(d.limiters) == {"media", "analytics"}
    assert clients == {SECRET_ID, other.secret_id}
    assert {str(r.source) for r in reports if r.source.product == "dlc"} == {
        "media/dlc/ap-guangzhou",
        "media/dlc/ap-shanghai",
        "analytics/dlc/ap-guangzhou",
        "analytics/dlc/ap-shanghai",
    }
