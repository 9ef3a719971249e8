"""``taskwatch snapshot`` as a command: the file it writes, and its errors, one line each with the
exit code of the README's Commands table (2: nothing could be read or written where asked;
1: a call failed), never a traceback, and an existing file left as it was."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from taskwatch.cli.main import main
from taskwatch.emulator.scenario import load_scenario
from tests.e2e.daemon import EMULATOR_LIMITS
from tests.emulator.harness import SECRET_ID, SECRET_KEY, running_emulator
from tests.processes import spawn
from tests.snapshot.worlds import DEMO, from_file

CONFIG = """
accounts:
  - name: main
    credentials: {from: static, secret_id: %s, secret_key: %s}
    endpoint: %s
    regions: [ap-guangzhou]
api: {budget: 1.0, timeout: 2s, connect_timeout: 1s, retry_attempts: 1}
state: {path: %s}
"""


def config(tmp_path: Path, endpoint: str) -> Path:
    path = tmp_path / "taskwatch.yaml"
    path.write_text(CONFIG % (SECRET_ID, SECRET_KEY, endpoint, tmp_path / "state.db"))
    return path


async def test_the_command_writes_a_scenario_the_emulator_loads_with_every_task(
    tmp_path: Path,
) -> None:
    async with from_file(DEMO) as a:
        cfg, out = config(tmp_path, a.url), tmp_path / "world.yaml"
        proc = await spawn("snapshot", "-c", str(cfg), "-o", str(out), stdout=PIPE, stderr=PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        expected = {"mps": len(a.world.mps), "dlc": len(a.world.dlc), "live": len(a.world.live)}
    assert proc.returncode == 0, err.decode()
    scenario = load_scenario(out)
    got = {p: sum(1 for t in scenario.tasks if t.product == p) for p in expected}
    assert got == expected
    assert f"{sum(expected.values())} task(s) from 3 source(s)" in err.decode()
    assert out.read_text().startswith(f"# taskwatch snapshot of {cfg}, taken at ")


@pytest.mark.parametrize("where", ["missing/world.yaml", ".", "file/world.yaml"])
def test_a_bad_output_path_is_one_line_and_exit_2_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    (tmp_path / "file").write_text("a file, not a directory")
    cfg = config(tmp_path, "http://127.0.0.1:9")  # nothing listens: a call would fail (exit 1)
    code = main(["snapshot", "-c", str(cfg), "-o", str(tmp_path / where)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: "), err
    assert len(err.strip().splitlines()) == 1, err
    assert str(tmp_path / where).rstrip("/.") in err or str(tmp_path) in err


def test_an_unreachable_api_is_one_line_exit_1_and_leaves_the_old_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, out = config(tmp_path, "http://127.0.0.1:9"), tmp_path / "world.yaml"
    out.write_text("the previous snapshot\n")
    code = main(["snapshot", "-c", str(cfg), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("error: "), err
    assert "Traceback" not in err, err
    assert SECRET_KEY not in err
    assert out.read_text() == "the previous snapshot\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".world")] == []


def test_a_bad_config_is_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("accounts:\n  - name: main\n    credentials: {from: env}\n    regionz: [x]\n")
    assert main(["snapshot", "-c", str(cfg), "-o", str(tmp_path / "w.yaml")]) == 2
    err = capsys.readouterr().err
    assert "regionz" in err
    assert str(cfg) in err
    assert not (tmp_path / "w.yaml").exists()


async def test_an_api_error_is_its_code_and_exit_1(tmp_path: Path) -> None:
    async with running_emulator(limits=EMULATOR_LIMITS) as running:
        cfg = tmp_path / "taskwatch.yaml"
        cfg.write_text(CONFIG % (SECRET_ID, "a-wrong-secret-key-0000", running.url, tmp_path / "s"))
        out = tmp_path / "w.yaml"
        proc = await spawn("snapshot", "-c", str(cfg), "-o", str(out), stdout=PIPE, stderr=PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 1, err.decode()
    assert "AuthFailure" in err.decode()
    assert not (tmp_path / "w.yaml").exists()
