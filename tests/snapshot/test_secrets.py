"""A snapshot is a file one hands to a colleague: no secret of the account or of its tasks may
reach it. Distinctive secrets are planted in every field a snapshot writes that can hold text
(URLs with ``user:password@`` and signed query parameters, ``NotifyKey``, ``S3SecretKey``, tokens,
keys, signatures, the account's own SecretKey); none may be in the file, and its credentials are
the emulator's placeholder, not the account's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from taskwatch.cli.snapshot import take_snapshot, write_atomically
from taskwatch.clock import ManualClock
from taskwatch.emulator.scenario import DEFAULT_CREDENTIAL, load_scenario
from taskwatch.emulator.world import DLC_RUNNING, DlcTask, LiveTask, MpsTask, Plan, World
from taskwatch.settings import parse_settings
from tests.e2e.daemon import FollowClock
from tests.emulator.harness import SECRET_ID, SECRET_KEY
from tests.snapshot.worlds import serving, snapshot_settings
from tests.tencent.fakeserver import FakeTencent, Ok

PLANTED = [f"PLANTED{i:02d}x7Qz" for i in range(20)]


def plant(world: World) -> None:
    now = world.now()
    s = PLANTED
    world.add_mps(MpsTask(
        "1250000000-procedure-live-0001", "LiveStreamProcessTask", "PROCESSING", now - 3600,
        started=now - 3600, plan=Plan(0, None),
        url=f"rtmp://relay:{s[0]}@live.example.com/live/cam?txSecret={s[1]}&txTime=6A1B2C3D",
        session_context=f'{{"NotifyKey": "{s[2]}", "channel": "news"}}',
        ext_info=f"S3SecretKey={s[3]};region=ap-guangzhou",
        session_id=f"access_token={s[4]}",
    ))  # fmt: skip
    world.add_mps(MpsTask(
        "1250000000-WorkflowTask-0002t0", "WorkflowTask", "PROCESSING", now - 600,
        started=now - 500, plan=Plan(0, 3600),
        input_url=f"https://in-125.cos.ap-guangzhou.myqcloud.com/a.mp4?q-signature={s[5]}&sign={s[6]}",
        ext_info=f'{{"SecretKey": "{s[7]}"}} and Authorization: Bearer {s[8]}',
    ))  # fmt: skip
    world.add_dlc(DlcTask(
        "4f0d6a3e-1111-4222-8333-944455556666", DLC_RUNNING, now - 900, now - 800,
        started=now - 800, plan=Plan(0, None),
        sql=f"SELECT * FROM s3a://AKIDPLANTED:{s[9]}@bucket/logs WHERE token={s[10]}",
        output_message=f"signature={s[11]}",
    ))  # fmt: skip
    world.add_live(LiveTask(
        "20001", now - 7200, now - 7200, now - 3600, now + 3600,
        source_urls=[f"rtmp://pull:{s[12]}@origin.example.com/live/a?txSecret={s[13]}"],
        callback_url=f"https://hooks.example.com/cb?key={s[14]}&sign={s[15]}",
        comment=f"password={s[16]}; the account key is {SECRET_KEY}",
    ))  # fmt: skip


async def test_no_planted_secret_and_not_the_account_key_reaches_the_snapshot_file(
    tmp_path: Path,
) -> None:
    scenario = load_scenario(Path(__file__).parents[2] / "config" / "emulator" / "demo.yaml")
    async with serving(scenario) as running:
        running.world.mps.clear()
        running.world.dlc.clear()
        running.world.live.clear()
        running.world.generators.clear()
        plant(running.world)
        snap = await take_snapshot(
            snapshot_settings(running),
            clock=FollowClock(running.clock),
            config_name=f"/etc/taskwatch/{SECRET_KEY}.yaml",
        )
    out = tmp_path / "world.yaml"
    write_atomically(out, snap.text())
    text = out.read_text()
    assert [s for s in PLANTED[:17] if s in text] == []
    assert SECRET_KEY not in text
    assert SECRET_ID not in text
    assert text.count("[redacted]") >= 15
    assert "hooks.example.com" not in text  # the emulator would call a snapshot's callback URL
    parsed = load_scenario(out)
    assert [c.secret_id for c in parsed.credentials] == [DEFAULT_CREDENTIAL.secret_id]
    assert sorted(t.task_id or "" for t in parsed.tasks) == sorted(
        ["1250000000-procedure-live-0001", "1250000000-WorkflowTask-0002t0",
         "4f0d6a3e-1111-4222-8333-944455556666", "20001"]
    )  # fmt: skip
    assert "a placeholder key pair the emulator accepts, NOT the account's keys" in text


async def test_structures_that_hold_keys_in_an_mps_detail_are_never_read_into_the_file(
    tmp_path: Path,
) -> None:
    """The emulator has no ``TaskNotifyConfig`` nor S3 input; a scripted endpoint answers with
    both, as the real API can: ``NotifyKey``, ``S3SecretKey`` and a signed notify URL."""
    unset = "0000-00-00T00:00:00Z"
    task_id = "1250000000-WorkflowTask-feedt0"
    listed = {"TaskId": task_id, "TaskType": "WorkflowTask", "CreateTime": "2026-11-23T07:00:00Z",
              "BeginProcessTime": "2026-11-23T07:01:00Z", "FinishTime": unset,
              "SubTaskTypes": ["Transcode"]}  # fmt: skip
    detail = {
        "TaskType": "WorkflowTask", "Status": "PROCESSING", "CreateTime": listed["CreateTime"],
        "BeginProcessTime": listed["BeginProcessTime"], "FinishTime": unset,
        "WorkflowTask": {
            "TaskId": task_id, "Status": "PROCESSING", "ErrCode": 0, "Message": "",
            "InputInfo": {"Type": "S3", "S3InputInfo": {
                "S3Bucket": "in", "S3Region": "us-east-1", "S3Object": "/a.mp4",
                "S3SecretId": PLANTED[17], "S3SecretKey": PLANTED[18]}},
            "MediaProcessResultSet": [],
        },
        "TaskNotifyConfig": {"NotifyType": "URL", "NotifyKey": PLANTED[19],
                             "NotifyUrl": f"https://hooks.example.com/mps?sign={PLANTED[0]}"},
        "TasksPriority": 0, "SessionId": "", "SessionContext": "", "ExtInfo": "",
    }  # fmt: skip
    empty = {"TaskSet": [], "ScrollToken": "", "TotalCount": 0}
    clock = ManualClock(wall=datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    async with FakeTencent(secret_key=SECRET_KEY) as fake:
        fake.script(
            Ok(empty),  # WAITING
            Ok({"TaskSet": [listed], "ScrollToken": "", "TotalCount": 1}),  # PROCESSING
            Ok(empty),  # FINISH
            Ok(detail),
        )
        settings = parse_settings(
            {
                "accounts": [{"name": "main", "endpoint": fake.url, "credentials": {
                    "from": "static", "secret_id": SECRET_ID, "secret_key": SECRET_KEY}}],
                "products": {"dlc": {"enabled": False}, "live": {"enabled": False}},
                "api": {"retry_attempts": 1},
            },
            source="test",
        )  # fmt: skip
        snap = await take_snapshot(settings, clock=FollowClock(clock), config_name="taskwatch.yaml")
        actions = [r.action for r in fake.requests]
    text = snap.text()
    assert actions == ["DescribeTasks"] * 3 + ["DescribeTaskDetail"]
    assert task_id in text
    assert [s for s in PLANTED if s in text] == []
