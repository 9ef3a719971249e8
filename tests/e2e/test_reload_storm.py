"""A storm of reloads on loop time (looptime): the daemon stays up, one notifier, scans keep time.

The whole daemon (:meth:`Supervisor.run`: HTTP server, loops, executor, notifier) runs against the
emulator, with a webhook receiver on 127.0.0.1; the reloads go through ``POST /-/reload``. Loop
time is virtual, so a minute of reloads costs the real time of the HTTP round trips only.

How notifiers are counted: each running notifier serves each target in a task named
``notify:<target>``; ``anyio.get_running_tasks()`` lists them, so two notifiers alive at once (the
old one never stopped, or a second one started beside it) show as two ``notify:hook`` tasks.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import aiohttp
import anyio
import pytest

from taskwatch.supervisor import Supervisor, load_config
from tests.e2e.daemon import EMULATOR_LIMITS, FollowClock
from tests.e2e.test_policies import live
from tests.emulator.harness import SECRET_ID, SECRET_KEY, Running, running_emulator
from tests.test_notify import Receiver

pytestmark = pytest.mark.looptime

INTERVAL = 10.0
CONFIG = """
accounts:
  - name: main
    credentials: {from: static, secret_id: %(sid)s, secret_key: %(key)s}
    endpoint: %(url)s
    regions: [ap-guangzhou]
products:
  mps: {interval: 10s, finish_sweep: 1h}
  dlc: {interval: 10s, finish_sweep: 1h}
  live: {enabled: false}
api: {budget: 1.0}
http: {listen: "127.0.0.1:0", lifecycle: true}
state: {path: %(state)s}
policies:
  - name: abort-long-live
    product: mps
    filters: [{type: LiveStreamProcessTask}, {status: PROCESSING}, {running_longer_than: 6h}]
    action: abort
    enforce: true
notifications:
  - name: hook
    url: %(hook)s
    flush_interval: 30s
    batch_size: %(batch)d
"""


def write(path: Path, emu: Running, hook: str, *, batch: int = 20) -> None:
    state = path.parent / "state.db"
    values = {"sid": SECRET_ID, "key": SECRET_KEY, "url": emu.url, "state": state}
    path.write_text(CONFIG % {**values, "hook": hook, "batch": batch})


def notifier_tasks() -> Counter[str]:
    """Running tasks by name, the notifiers' only (``notifications``, ``notifier``, ...)."""
    names = (t.name or "" for t in anyio.get_running_tasks())
    return Counter(n for n in names if n.startswith("notif"))


def cycles(d: Supervisor) -> dict[str, float]:
    """Scan cycles that ran (ok or failed) per source, from the exported counter."""
    out: Counter[str] = Counter()
    for metric in d.metrics.registry.collect():
        for s in metric.samples:
            if s.name == "taskwatch_scan_cycles_total" and s.labels["result"] != "skipped":
                out[f"{s.labels['product']}/{s.labels['region']}"] += s.value
    return dict(out)


def delivered(receiver: Receiver) -> list[str]:
    return [e["task_id"] for body in receiver.bodies() for e in body["events"]]


async def test_a_hundred_reloads_keep_the_daemon_up_with_one_notifier_and_scans_on_time(
    tmp_path: Path,
) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        async with running_emulator(limits=EMULATOR_LIMITS) as emu:
            first = live(emu.world, 8)
            config = tmp_path / "taskwatch.yaml"
            write(config, emu, receiver.url())
            settings, rules = load_config(config)
            clock = FollowClock(emu.clock)
            d = Supervisor(
                settings, rules=rules, config_path=config, clock=clock, rng=random.Random(8)
            )
            answers: list[tuple[int, object]] = []
            most_notifiers = 0
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: d.run(install_signal_handlers=False))
                await d.started.wait()
                assert d.http is not None
                t0 = clock.monotonic()
                second = ""
                on_time: list[str] = []
                async with aiohttp.ClientSession() as session:
                    for i in range(100):  # one every 0.6 s of loop time: 60 s in all
                        await anyio.sleep(0.6)
                        if i == 60:  # a second runaway task, found and aborted mid-storm
                            second = live(emu.world, 9)
                        write(config, emu, receiver.url(), batch=20 + i % 2)  # a new notifier
                        async with session.post(f"{d.http.url}/-/reload") as r:
                            answers.append((r.status, await r.json()))
                        most_notifiers = max(most_notifiers, notifier_tasks()["notify:hook"])
                        if i == 55:  # 33 s: the first event's 30 s, not put off by 55 swaps
                            on_time = delivered(receiver)
                elapsed = clock.monotonic() - t0
                await anyio.sleep(35)  # the last queued event's flush_interval, and then some
                running = notifier_tasks()
                ran = cycles(d)
                elapsed_all = clock.monotonic() - t0
                d.stop()
    finally:
        await receiver.close()
    assert answers == [(200, {"reloaded": True})] * 100
    assert not d.stopped or elapsed_all > elapsed  # it ran to the end and stopped when told
    assert running == Counter({"notifications": 1, "notifier": 1, "notify:hook": 1}), running
    assert most_notifiers <= 2  # at most the new one and the old one finishing its close
    assert on_time == [first]
    assert sorted(delivered(receiver)) == sorted([first, second])  # each once, none lost
    due = elapsed_all / INTERVAL
    assert set(ran) == {"mps/global", "dlc/ap-guangzhou"}
    for source, n in ran.items():  # a tick every 10 s, reloads or not: ~10 here, not 100+
        assert due - 1 <= n <= due + 2, (source, n, due)
