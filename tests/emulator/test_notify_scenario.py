"""The scenario keys of notifications: an MPS task's and generator's ``notify``, a Live task's
``callback_events``, the top-level ``notifications`` faults; errors that name the key; a
scenario posted to a running emulator that notifies.
"""

from __future__ import annotations

import textwrap

import aiohttp
import pytest

from taskwatch.clock import ManualClock
from taskwatch.emulator.notify_config import Notify, NotifyFaults
from taskwatch.emulator.scenario import ScenarioError, loads_scenario
from taskwatch.emulator.server import Emulator
from tests.emulator.harness import start_time
from tests.emulator.receiver import receiving, valid_sign

KEYS = "credentials: [{secret_id: AKIDTEST000000000000000000000000001, secret_key: sk}]\n"

FULL = """\
seed: 11
mps:
  tasks:
    - {type: WorkflowTask, status: WAITING, wait: 1m, duration: 5m,
       notify: {url: "http://127.0.0.1:9470/events/mps/prod", key: the-key, mode: Change}}
    - {type: LiveStreamProcessTask, status: PROCESSING, notify: {url: "https://h.example.com/"}}
  generators:
    - {every: 1m, notify: {url: "http://127.0.0.1:9470/g", type: URL}}
live:
  tasks:
    - {start: -1h, end: 2h, callback_url: "http://127.0.0.1:9470/events/live/prod/tok",
       callback_events: [TaskStart, TaskExit, TaskAlarm]}
notifications: {drop: 0.1, duplicate: 0.2, delay: [100ms, 2s], reorder: 0.3, forge: 0.4,
                replay_expired: 0.5}
"""


def test_a_scenario_with_every_notification_key_loads_and_builds() -> None:
    scenario = loads_scenario(KEYS + FULL)
    emulator = Emulator.from_scenario(scenario, ManualClock(wall=start_time()))
    assert emulator.notify_faults == NotifyFaults(
        drop=0.1, duplicate=0.2, delay=(0.1, 2.0), reorder=0.3, forge=0.4, replay_expired=0.5,
        seed=11,
    )  # fmt: skip
    workflow, live_stream = emulator.world.mps.values()
    assert workflow.notify == Notify("http://127.0.0.1:9470/events/mps/prod", "the-key", "Change")
    assert live_stream.notify == Notify("https://h.example.com/")
    assert emulator.world.generators[0].template["notify"] == Notify("http://127.0.0.1:9470/g")
    (pull,) = emulator.world.live.values()
    assert pull.callback_events == ["TaskStart", "TaskExit", "TaskAlarm"]
    assert emulator.notifier.needed()


def test_a_scenario_without_notification_keys_needs_no_pump() -> None:
    emulator = Emulator.from_scenario(
        loads_scenario(KEYS + "mps: {tasks: [{count: 3}]}\n"), ManualClock(wall=start_time())
    )
    assert emulator.notify_faults == NotifyFaults()
    assert not emulator.notifier.needed()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("notifications: {drop: 1.5}", "notifications.drop: 1.5 is not a ratio within [0, 1]"),
        ("notifications: {forge: yes}", "notifications.forge: expected a number"),
        ("notifications: {delay: [2s, 1s]}", "notifications.delay: range [2s, 1s] has its maxim"),
        ("notifications: {delay: null}", "notifications.delay: expected a duration or [min, max]"),
        ("notifications: {dorp: 0.1}", "notifications.dorp: unknown key (did you mean 'drop'?"),
        ("notifications: [drop]", "notifications: expected a mapping"),
        ("mps: {tasks: [{notify: {key: k}}]}", "mps.tasks[0].notify.url: required"),
        ("mps: {tasks: [{notify: {url: 'ftp://x/'}}]}", "mps.tasks[0].notify.url: expected an"),
        ("mps: {tasks: [{notify: {url: 'http://x/', mode: Sometimes}}]}",
         "mps.tasks[0].notify.mode: 'Sometimes' is not one of Finish, Change"),
        ("mps: {tasks: [{notify: {url: 'http://x/', type: TDMQ-CMQ}}]}",
         "mps.tasks[0].notify.type: 'TDMQ-CMQ' is not one of URL"),
        ("mps: {generators: [{every: 1m, notify: {url: 'http://x/', modus: Change}}]}",
         "mps.generators[0].notify.modus: unknown key"),
        ("dlc: {tasks: [{notify: {url: 'http://x/'}}]}", "dlc.tasks[0].notify: unknown key"),
        ("live: {tasks: [{callback_events: [TaskStart, Nope]}]}",
         "live.tasks[0].callback_events[1]: 'Nope' is not one of TaskStart"),
        ("live: {tasks: [{callback_events: [TaskExit, TaskExit]}]}",
         "live.tasks[0].callback_events: an event is listed twice"),
    ],
)  # fmt: skip
def test_a_bad_notification_key_is_refused_naming_it(body: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        loads_scenario(KEYS + textwrap.dedent(body) + "\n", source="n.yaml")
    assert str(caught.value).startswith(f"n.yaml: {message}"), str(caught.value)


def test_an_error_never_quotes_a_notify_key() -> None:
    with pytest.raises(ScenarioError) as caught:
        loads_scenario(KEYS + "mps: {tasks: [{notify: {url: 'http://x/', key: [s3cr3t]}}]}\n")
    assert "s3cr3t" not in str(caught.value)
    assert "notify.key: expected a string" in str(caught.value)


async def test_a_scenario_posted_to_a_running_emulator_notifies_from_its_world() -> None:
    clock = ManualClock(wall=start_time(), mono=1000.0)
    emulator = Emulator.from_scenario(loads_scenario(KEYS), clock)
    async with receiving() as rx, emulator.serve() as url, aiohttp.ClientSession() as http:
        assert not emulator.notifier.running
        posted = KEYS + textwrap.dedent(f"""\
            mps:
              tasks:
                - {{status: PROCESSING, duration: 30s, notify: {{url: "{rx.url}/mps", key: k}}}}
            """)  # fmt: skip
        async with http.post(f"{url}/_emulator/scenario", data=posted) as response:
            assert response.status == 200
        assert emulator.notifier.running
        clock.advance(30)
        await rx.wait_for(1)
    body = rx.bodies()[0]
    assert body["WorkflowTaskEvent"]["Status"] == "FINISH"
    assert valid_sign(body, "k")
