"""A detail call that fails after every retry defers its chunk of tasks to the next cycle; it does
not fail the cycle. (Before: one unlucky task among 800 failed every cycle under 30 % faults, and
the daemon, alive, never saw or acted on anything — found by the long chaos form.)"""

from __future__ import annotations

from taskwatch.emulator.faults import Fault
from tests.e2e.daemon import EMULATOR_LIMITS, daemon
from tests.e2e.test_policies import workflow
from tests.emulator.harness import running_emulator

ONLY_MPS = {
    "mps": {"interval": "5s", "detail_concurrency": 1},  # the first task takes all four faults
    "dlc": {"enabled": False},
    "live": {"enabled": False},
}


async def test_one_failing_detail_defers_its_chunk_and_the_rest_of_the_cycle_succeeds() -> None:
    # Four attempts (the default retry budget) of the first detail call all fail.
    failing = Fault(kind="error", product="mps", action="DescribeTaskDetail", count=4, every=1)
    async with running_emulator(limits=EMULATOR_LIMITS, faults=[failing]) as emu:
        for _ in range(120):
            workflow(emu.world, 1)
        d = daemon(emu, products=ONLY_MPS, api={"budget": 1.0, "retry_deadline": "30s"})
        first = await d.run_once()
        second = await d.run_once()
    assert failing.fired == 4
    (one,) = first
    assert one.ok, one.message
    assert 120 - 50 <= one.active < 120  # one chunk (at most 50 tasks) waits for the next cycle
    (two,) = second
    assert two.ok
    assert two.active == 120
