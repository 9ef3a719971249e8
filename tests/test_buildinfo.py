"""taskwatch.buildinfo: the commit a build bakes in and ``taskwatch --version`` prints.

Real git in a temporary checkout; the build's environment is passed in, never the process's.
The wheel and sdist themselves are built in tests/test_packaging.py.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import subprocess
from pathlib import Path

import pytest

import taskwatch
from taskwatch import buildinfo
from taskwatch.cli import main

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, env=GIT_ENV
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    git(root, "init", "-q")
    (root / "tracked.txt").write_text("one\n")
    git(root, "add", "tracked.txt")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_a_clean_checkout_bakes_in_its_head(checkout: Path) -> None:
    head = git(checkout, "rev-parse", "HEAD")
    assert buildinfo.build_commit(checkout, environ={}) == head
    (checkout / "untracked.txt").write_text("not part of the build's source\n")
    assert buildinfo.build_commit(checkout, environ={}) == head


def test_a_checkout_with_changed_tracked_files_is_marked_dirty(checkout: Path) -> None:
    head = git(checkout, "rev-parse", "HEAD")
    (checkout / "tracked.txt").write_text("two\n")
    assert buildinfo.build_commit(checkout, environ={}) == f"{head}-dirty"


def test_the_build_environment_names_the_commit_before_git_does(checkout: Path) -> None:
    given = "ABCDEF0123456789abcdef0123456789abcdef01"
    commit = buildinfo.build_commit(checkout, environ={buildinfo.COMMIT_ENV: given})
    assert commit == given.lower()


def test_a_malformed_commit_in_the_environment_stops_the_build_naming_the_variable(
    tmp_path: Path,
) -> None:
    with pytest.raises(buildinfo.BuildInfoError, match=buildinfo.COMMIT_ENV):
        buildinfo.build_commit(tmp_path, environ={buildinfo.COMMIT_ENV: "main; rm -rf /"})


def test_an_empty_environment_value_falls_back_to_git(checkout: Path) -> None:
    head = git(checkout, "rev-parse", "HEAD")
    assert buildinfo.build_commit(checkout, environ={buildinfo.COMMIT_ENV: " "}) == head


def test_an_unpacked_sdist_keeps_the_commit_it_was_made_with(tmp_path: Path) -> None:
    (tmp_path / "taskwatch").mkdir()
    baked = tmp_path / "taskwatch" / buildinfo.FILENAME
    baked.write_text(buildinfo.render("0123456789ab-dirty"))
    assert buildinfo.build_commit(tmp_path, environ={}) == "0123456789ab-dirty"


def test_no_checkout_no_environment_and_no_baked_file_is_unknown(tmp_path: Path) -> None:
    assert buildinfo.build_commit(tmp_path, environ={}) == buildinfo.UNKNOWN
    assert buildinfo.git_commit(tmp_path) is None


def test_the_rendered_module_defines_the_commit(tmp_path: Path) -> None:
    namespace: dict[str, object] = {}
    exec(buildinfo.render("0123456789abcdef"), namespace)  # our own generated text
    assert namespace["COMMIT"] == "0123456789abcdef"
    with pytest.raises(buildinfo.BuildInfoError):
        buildinfo.render('x"\nimport os')


def test_the_version_option_prints_version_and_commit_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="taskwatch")
    parser.add_argument("--version", action=buildinfo.VersionAction)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--version"])
    assert exited.value.code == 0
    out, err = capsys.readouterr()
    assert out == f"taskwatch {taskwatch.__version__} (commit {buildinfo.commit()})\n"
    assert not err


def test_the_command_reports_the_commit_of_the_checkout_it_runs_from(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = Path(taskwatch.__file__).resolve().parent.parent
    if importlib.util.find_spec(buildinfo.MODULE) is not None:  # an installed wheel: baked
        expected = importlib.import_module(buildinfo.MODULE).COMMIT
    else:  # an editable install, as make installs it: read from the checkout
        expected = buildinfo.git_commit(root) or buildinfo.UNKNOWN
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"taskwatch {taskwatch.__version__} (commit {expected})\n"
