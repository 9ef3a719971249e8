"""The estimated spend metrics of a daemon watching the emulator agree with the world they price.

The daemon (its runtime, watchers and the :class:`~taskwatch.cost.Pricer` of its configuration)
runs real cycles against the emulator on a manual clock. The expected figures are computed here,
independently of the estimator: from the emulator's own task list (which task runs, since when)
and the price table this test configures, never from :mod:`taskwatch.cost`.

The price table is set in full for what the test prices (time-priced types only, so each
figure is rate times time with no rounding question) and explicitly without prices for DLC
(``null``), so DLC's tasks are the unpriced ones whatever the shipped defaults hold. The waiting
transcodes' price is left to the shipped table: priced, they spend 0 while waiting; unpriced,
they are counted so.
"""

from __future__ import annotations

from typing import Any

import pytest

from taskwatch.cost import Estimate
from taskwatch.emulator.world import DLC_QUEUED, DLC_RUNNING, DlcTask, LiveTask, MpsTask, Plan
from taskwatch.supervisor import Supervisor
from taskwatch.web.statuspage import render
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.e2e.test_statuspage_daemon import snapshot, text_of
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, running_emulator

LIVE_PROCESS_PER_HOUR = 1.5
LIVE_PULL_PER_HOUR = 0.25
PRICES: dict[str, Any] = {
    "currency": "CNY",
    "mps": {"LiveStreamProcessTask": {"per_hour": LIVE_PROCESS_PER_HOUR}},
    "live": {"per_hour": LIVE_PULL_PER_HOUR},
    "dlc": {"per_gb_scanned": None, "per_cu_hour": None},
}
ACCOUNTS = ("main", "second")
"""Two accounts on the one emulator: each sees the whole world, so each gets the same figures
under its own ``account`` label."""
HOUR = 3600.0


def accounts(emu: Running) -> list[dict[str, Any]]:
    static = {"from": "static", "secret_id": SECRET_ID, "secret_key": SECRET_KEY}
    return [
        {"name": name, "credentials": static, "endpoint": emu.url, "regions": ["ap-guangzhou"]}
        for name in ACCOUNTS
    ]


def populate(emu: Running) -> None:
    """Running and waiting work of every product; some of it priced, DLC's not."""
    w, now = emu.world, emu.world.now()
    for started in (now - 2 * HOUR, now - 30 * 60, now - 9 * HOUR):  # running live processing
        w.add_mps(
            MpsTask(
                task_id=w.mps_id("LiveStreamProcessTask"),
                task_type="LiveStreamProcessTask",
                status="PROCESSING",
                created=started - 60,
                started=started,
                plan=Plan(wait=None, run=None),
            )
        )
    for _ in range(2):  # waiting transcodes: whatever their price, they spend nothing yet
        w.add_mps(
            MpsTask(
                task_id=w.mps_id("WorkflowTask"),
                task_type="WorkflowTask",
                status="WAITING",
                created=now - 600,
                plan=Plan(wait=None, run=None),
            )
        )
    for start, end, status in (
        (now - HOUR, now + 3 * HOUR, "enable"),  # running
        (now - 5 * HOUR, now + HOUR, "enable"),  # running
        (now + HOUR, now + 2 * HOUR, "enable"),  # waits for its StartTime
        (now - HOUR, now + HOUR, "pause"),  # paused: pending
        (now - 3 * HOUR, now - HOUR, "enable"),  # ended, still listed
    ):
        w.add_live(
            LiveTask(
                task_id=w.live_id(),
                created=start - 60,
                updated=start - 60,
                start_time=start,
                end_time=end,
                status=status,
            )
        )
    for state in (DLC_RUNNING, DLC_RUNNING, DLC_QUEUED):  # unpriced (no DLC price configured)
        w.add_dlc(
            DlcTask(
                task_id=w.dlc_id(),
                state=state,
                created=now - 900,
                updated=now - 900,
                started=now - 600 if state == DLC_RUNNING else None,
                plan=Plan(wait=None, run=None),
            )
        )


def expected_rates(emu: Running) -> dict[tuple[str, str, str], float]:
    """(account, product, type) → Σ rate of the world's running tasks, by the table above; every
    priced type present appears (0 when none of its tasks runs)."""
    now = emu.world.now()
    per_account: dict[tuple[str, str], float] = {}
    for t in emu.world.mps.values():
        if t.task_type == "LiveStreamProcessTask":
            running = t.status == "PROCESSING"
            key = ("mps", t.task_type)
            per_account[key] = per_account.get(key, 0.0) + (LIVE_PROCESS_PER_HOUR * running)
    for lt in emu.world.live.values():
        running = lt.status == "enable" and lt.start_time <= now < lt.end_time
        key = ("live", lt.source_type)
        per_account[key] = per_account.get(key, 0.0) + (LIVE_PULL_PER_HOUR * running)
    return {(a, p, ty): v for a in ACCOUNTS for (p, ty), v in per_account.items()}


def expected_unpriced(emu: Running) -> dict[tuple[str, str, str], int]:
    """(account, product, type) → tracked tasks without a price: every active DLC task."""
    counts: dict[str, int] = {}
    for t in emu.world.dlc.values():
        if t.state in (DLC_RUNNING, DLC_QUEUED):
            counts[t.task_type] = counts.get(t.task_type, 0) + 1
    return {(a, "dlc", ty): n for a in ACCOUNTS for ty, n in counts.items()}


def series(d: Supervisor, name: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for family in d.metrics.registry.collect():
        for s in family.samples:
            if s.name == name:
                labels = s.labels
                names = ("account", "product", "type", "currency")
                out[tuple(labels[n] for n in names if n in labels)] = s.value
    return out


async def test_the_spend_rate_is_the_sum_of_the_running_tasks_rates_per_account_product_type() -> (
    None
):
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        populate(emu)
        d = daemon(emu, accounts=accounts(emu), prices=PRICES)
        reports = await d.run_once()
        assert all(r.ok for r in reports), [r.message for r in reports]
        rates = series(d, "taskwatch_tasks_cost_per_hour")
        unpriced = series(d, "taskwatch_tasks_unpriced")
        want = expected_rates(emu)
        want_unpriced = expected_unpriced(emu)

    by_type = {k[:3]: v for k, v in rates.items() if k[:3] in want}
    assert by_type == pytest.approx(want)
    assert {k[3] for k in rates} == {"CNY"}
    assert want[("main", "mps", "LiveStreamProcessTask")] == 3 * LIVE_PROCESS_PER_HOUR
    assert want[("main", "live", "PullLivePushLive")] == 2 * LIVE_PULL_PER_HOUR
    # whatever else has a price (the shipped defaults') runs nothing in this world: rate 0
    assert all(v == 0 for k, v in rates.items() if k[:3] not in want), rates
    # the unpriced tasks are counted; each priced type reports 0 unpriced
    assert {k: v for k, v in unpriced.items() if v and k[2] != "WorkflowTask"} == want_unpriced
    for account in ACCOUNTS:  # the waiting transcodes: priced at 0 now, or counted unpriced
        workflow = (account, "mps", "WorkflowTask")
        priced = rates.get((*workflow, "CNY"))
        assert (priced, unpriced[workflow]) in {(0.0, 0), (None, 2)}
    assert want_unpriced == {
        ("main", "dlc", "SparkSQLTask"): 3,
        ("second", "dlc", "SparkSQLTask"): 3,
    }
    for key in want:
        assert unpriced[key] == 0


async def test_a_task_seen_to_end_adds_its_whole_spend_once_and_leaves_the_rate() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        w, now = emu.world, emu.world.now()
        ending = w.add_live(
            LiveTask(
                task_id=w.live_id(),
                created=now - 3 * HOUR,
                updated=now - 3 * HOUR,
                start_time=now - 2 * HOUR,
                end_time=now + 30 * 60,
            )
        )
        d = daemon(
            emu,
            accounts=accounts(emu)[:1],
            prices=PRICES,
            products={"mps": {"enabled": False}, "dlc": {"enabled": False}, "live": {}},
        )
        await d.run_once()
        key = ("main", "live", ending.source_type, "CNY")
        before = series(d, "taskwatch_tasks_cost_per_hour")[key]
        emu.clock.advance(HOUR)  # past its EndTime
        await d.run_once()
        after = series(d, "taskwatch_tasks_cost_per_hour").get(key, 0.0)
        total = series(d, "taskwatch_tasks_cost_total")
        await d.run_once()  # seen ended again: not counted twice
        again = series(d, "taskwatch_tasks_cost_total")

    assert before == LIVE_PULL_PER_HOUR
    assert after == 0
    spent = (ending.end_time - ending.start_time) / HOUR * LIVE_PULL_PER_HOUR  # 2.5 h
    assert total == again == {key: pytest.approx(spent)}
    assert round(spent, 2) == 0.62


async def test_the_status_page_s_top_spenders_are_the_tasks_behind_the_spend_rate_metric() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        populate(emu)
        d = daemon(emu, accounts=accounts(emu)[:1], prices=PRICES)
        await d.run_once()
        snap = snapshot(d)
        rates = series(d, "taskwatch_tasks_cost_per_hour")

    assert snap.pricing
    assert len(snap.top_spenders) == 5  # 3 live processing tasks, 2 running pull tasks
    assert sum(t.per_hour for t in snap.top_spenders) == pytest.approx(sum(rates.values()))
    assert [t.per_hour for t in snap.top_spenders] == [LIVE_PROCESS_PER_HOUR] * 3 + [
        LIVE_PULL_PER_HOUR
    ] * 2
    # highest rate first, then highest spend: the live processing task running for 9 h leads
    assert snap.top_spenders[0].so_far == pytest.approx(9 * LIVE_PROCESS_PER_HOUR)
    assert snap.unpriced_running == 2  # the two running DLC queries
    text = text_of(render(snap))
    assert "Top spenders now" in text
    assert "13.50 CNY" in text  # 9 h at 1.5/h


async def test_the_page_reads_what_enforced_actions_saved_from_the_journal() -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as emu:
        d = daemon(emu, accounts=accounts(emu)[:1], prices=PRICES)
        journal = d.journal
        where = {"product": "live", "account": "main", "region": "ap-guangzhou", "params": {}}
        journal.open()
        try:
            planned = Estimate(3.0, 1.5, "CNY", "by hand", remaining_hours=2.0)
            done = journal.intent(
                policy="stop-pulls", task_id="1", action="delete", estimate=planned, **where
            )
            journal.outcome(done, result="done", saved=3.0)  # 2 h left at 1.5/h
            open_ended = Estimate(1.0, 0.5, "CNY", "by hand")
            done = journal.intent(
                policy="stop-pulls", task_id="2", action="delete", estimate=open_ended, **where
            )
            journal.outcome(done, result="done")  # no end known: 0.5/h stopped
            failed = journal.intent(
                policy="stop-pulls", task_id="3", action="delete", estimate=planned, **where
            )
            journal.outcome(failed, result="failed")  # saved nothing
            journal.would(
                policy="watch-pulls", task_id="4", action="delete", estimate=planned, **where
            )  # dry-run: saved nothing
            snap = d.status_snapshot()
        finally:
            journal.close()
        d.metrics.action_saved("stop-pulls", "CNY", 7.0, 1.0)  # this process's own count
        unreadable = d.status_snapshot()  # the journal is closed now: it cannot be read

    assert snap.saved_from == "journal"
    got = [(r.policy, r.currency, r.saved, r.per_hour, r.actions) for r in snap.saved]
    assert got == [("stop-pulls", "CNY", 3.0, 0.5, 2)]
    assert "from the journal" in text_of(render(snap))
    assert unreadable.saved_from == "process"
    assert [(r.policy, r.saved, r.actions) for r in unreadable.saved] == [("stop-pulls", 7.0, 1)]
    assert "from this process" in text_of(render(unreadable))
