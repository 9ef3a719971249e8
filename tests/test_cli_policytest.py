"""``taskwatch test FILE…``: policy unit tests in YAML, run in-process through
:func:`taskwatch.cli.main` (output read from capsys) on the shipped examples and on files written
here. The shipped examples run in ``make test`` through this module."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskwatch.cli import main
from taskwatch.models import Phase
from taskwatch.policy.fixtures import FixtureError, build_task

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "config" / "policy-tests").glob("*.yaml"))
DEMO = ROOT / "config" / "demo.yaml"
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
TASK = "{product: mps, type: WorkflowTask, status: WAITING}"


def run(capsys: pytest.CaptureFixture[str], *files: Path | str) -> tuple[int, str, str]:
    code = main(["test", *(str(f) for f in files)])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "cases.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def shipped_cases() -> int:
    return sum(len(yaml.safe_load(f.read_text())["cases"]) for f in SHIPPED)


def test_the_shipped_policy_tests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(SHIPPED) >= 2
    code, out, err = run(capsys, *SHIPPED)
    assert (code, err) == (0, "")
    passes = [line for line in out.splitlines() if line.startswith("PASS ")]
    assert len(passes) == shipped_cases() >= 20
    assert "FAIL" not in out
    assert out.splitlines()[-1] == f"{len(passes)} passed, 0 failed ({len(SHIPPED)} file(s))"


def _turned_around(expect: Any) -> Any:
    """The opposite of an expectation: every shipped case must fail with it."""
    if expect == "match":
        return "no-match"
    if expect == "no-match":
        return "match"
    if "config_error" in expect:
        return {"config_error": "a message no policy is refused with"}
    flipped = {}
    for key in ("match", "due"):
        if key in expect:
            flipped[key] = not expect[key] if isinstance(expect[key], bool) else False
    if not flipped:  # action only
        flipped["action"] = "abort" if expect["action"] != "abort" else "cancel"
    return flipped


def test_every_shipped_case_fails_when_its_expectation_is_turned_around(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = []
    for shipped in SHIPPED:
        data = yaml.safe_load(shipped.read_text())
        if "config" in data:
            data["config"] = str((shipped.parent / data["config"]).resolve())
        for case in data["cases"]:
            case["expect"] = _turned_around(case["expect"])
        files.append(write(tmp_path, yaml.safe_dump(data), shipped.name))
    code, out, _ = run(capsys, *files)
    assert code == 1
    assert "PASS" not in out
    assert out.count("\nFAIL ") == shipped_cases()


def test_a_wrong_expectation_fails_with_what_was_expected_what_came_and_why(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    wrong = write(
        tmp_path,
        f"""\
        config: {DEMO}
        cases:
          - name: a five-hour live stream is aborted
            task: {{product: mps, type: LiveStreamProcessTask, status: PROCESSING, created: -5h}}
            expect: {{match: abort-long-live-processing, action: abort}}
        """,
        "wrong.yaml",
    )
    code, out, err = run(capsys, wrong, good)
    assert (code, err) == (1, "")
    assert f"FAIL a five-hour live stream is aborted ({wrong}:3)" in out
    assert "  - expected match: abort-long-live-processing\n  + got      match: none\n" in out
    assert "  - expected action: abort\n  + got      action: none (no policy matched)\n" in out
    assert "rule 'abort-long-live-processing' does not match mps task 'case-0'" in out
    assert "no  running_longer_than: 6h (running_for is 5h)" in out
    assert "PASS a waiting workflow is aborted after an hour" in out  # the other file ran
    assert out.splitlines()[-1] == "1 passed, 1 failed (2 file(s))"


GOOD = """\
policies:
  - {name: abort-waiting, product: mps, filters: [{status: WAITING}, {waiting_longer_than: 1h}],
     action: abort, grace: 5m}
cases:
  - name: a waiting workflow is aborted after an hour
    task: {product: mps, type: WorkflowTask, status: WAITING, created: -2h}
    expect: {match: abort-waiting, action: abort}
"""


def test_a_task_seen_matching_for_its_grace_is_due_and_one_seen_too_late_is_not(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        GOOD
        + """\
  - name: seen matching five minutes ago, it is due
    task: {product: mps, type: WorkflowTask, status: WAITING, created: -2h}
    observed: [-5m]
    expect: {due: abort-waiting}
  - name: seen four minutes ago only, it is not due
    task: {product: mps, type: WorkflowTask, status: WAITING, created: -2h}
    observed: [-4m]
    expect: {due: abort-waiting}
  - name: seen before it matched, its grace starts when it matched
    task: {product: mps, type: WorkflowTask, status: WAITING, created: -62m}
    observed: [-10m, -5m]
    expect: {due: abort-waiting}
""",
    )
    code, out, _ = run(capsys, path)
    assert code == 1
    assert "PASS seen matching five minutes ago, it is due" in out
    assert "FAIL seen four minutes ago only, it is not due" in out
    assert "FAIL seen before it matched, its grace starts when it matched" in out
    assert out.count("  + got      due: none\n") == 2


def test_a_case_whose_own_policy_is_refused_passes_only_if_it_expects_that_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    refused = "{name: p, product: mps, filters: [{status: PROCESSING}], action: abort}"
    loads = "{name: p, product: mps, filters: [{status: WAITING}], action: abort}"
    path = write(
        tmp_path,
        f"""\
        cases:
          - name: the expected refusal
            policy: {refused}
            expect: {{config_error: "only if it is a LiveStreamProcessTask"}}
          - name: another refusal than expected
            policy: {refused}
            expect: {{config_error: "is not an action"}}
          - name: a refusal where a match was expected
            policy: {refused}
            task: {{product: mps, type: WorkflowTask, status: WAITING}}
            expect: match
          - name: a policy that loads where a refusal was expected
            policy: {loads}
            expect: {{config_error: "only if"}}
        """,
    )
    code, out, _ = run(capsys, path)
    assert code == 1
    assert "PASS the expected refusal" in out
    assert out.count("FAIL ") == 3
    assert "  - expected config_error: an error containing 'is not an action'" in out
    assert "  + got      config_error: refused: cases[1].policy.filters: rule 'p': MPS can" in out
    assert "  - expected load: match some policy\n  + got      load: refused: " in out
    assert "  + got      config_error: the policies loaded" in out


BAD_FILES = [
    ("cases: []", "cases.yaml: cases: a non-empty list of cases"),
    ("- a list", "cases.yaml: a policy test file is a mapping with cases, not a list"),
    ("cases: [\n", "cases.yaml: not valid YAML"),
    ("polices: []\ncases: [{}]", "cases.yaml: polices: unknown key (keys here: config,"),
    (f"config: {DEMO}\npolicies: []\ncases: [{{}}]", "cases.yaml: policies: give config or"),
    ("config: missing.yaml\ncases: [{}]", "cases.yaml: config: "),
    (f"config: {DEMO}\nnow: -5h\ncases: [{{}}]", "cases.yaml: now: an ISO 8601 timestamp"),
    (f"config: {DEMO}\ncases: [{{name: x, expect: match}}]", "cases[0].task: missing: the task"),
    (f"config: {DEMO}\ncases: [{{name: x, task: {{}}}}]", "cases[0].expect: missing: match,"),
    (
        f"config: {DEMO}\ncases: [{{name: x, expect: maybe}}]",
        "cases[0].expect: expect match, no-match, or a mapping",
    ),
    (
        f"config: {DEMO}\ncases: [{{name: x, expect: {{match: abort-all}}}}]",
        "cases[0].expect: no policy is named 'abort-all' (policies: abort-long-live-processing,",
    ),
    (
        f"config: {DEMO}\ncases: [{{name: x, expect: {{config_error: x}}}}]",
        "cases[0].expect: a config_error is expected of the case's own policy or policies",
    ),
    (
        "cases: [{name: x, task: {product: mps, type: T, status: WAITING}, expect: match}]",
        "cases[0]: no policies to test",
    ),
    (
        f"config: {DEMO}\ncases:\n- {{name: x, expect: match, task: {TASK}}}\n"
        f"- {{name: x, expect: match, task: {TASK}}}",
        "cases[1].name: duplicate name (also cases[0])",
    ),
    (
        f"config: {DEMO}\ncases:\n- name: x\n  expect: match\n  task: {{product: mps, type: T, "
        "status: RUNNING}",
        "cases[0].task.status: 'RUNNING' is not a MPS status (WAITING, PROCESSING, FINISH)"
        " (line 5)",
    ),
    (
        f"config: {DEMO}\ncases:\n- name: x\n  expect: match\n  task: {{product: mps, type: T, "
        "status: WAITING, created: 7 hours ago}",
        "cases[0].task.created: '7 hours ago' is not a duration",
    ),
    (
        f"config: {DEMO}\ncases:\n- name: x\n  expect: match\n  task: {{product: live, type: T, "
        "status: enable}",
        "cases[0].task.phase: a Live task in status 'enable' may be pending, running, done",
    ),
    (
        f"config: {DEMO}\ncases:\n- name: x\n  expect: match\n  task: {{product: mps, type: T, "
        "status: WAITING, stauts: x}",
        "cases[0].task.stauts: unknown key (task keys: product,",
    ),
    (
        f"config: {DEMO}\ncases:\n- name: x\n  expect: match\n  observed: -5m\n  task: "
        "{product: mps, type: T, status: WAITING}",
        "cases[0].observed: a list of offsets",
    ),
    (
        f"config: {DEMO}\ncases:\n- name: x\n  expect: match\n  observed: [-5m, 5m]\n"
        f"  task: {TASK}",
        "cases[0].observed[1]: an earlier sighting comes before now (line 5)",
    ),
    (
        f"config: {DEMO}\ncases:\n- name: x\n  expect: {{due: 3}}\n  task: {TASK}",
        "cases[0].expect.due: true, false, a policy name or a list of names",
    ),
]


@pytest.mark.parametrize(("text", "error"), BAD_FILES)
def test_a_bad_file_is_an_error_naming_the_file_and_key_and_the_other_files_still_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, error: str
) -> None:
    bad = write(tmp_path, text)
    good = write(tmp_path, GOOD, "good.yaml")
    code, out, err = run(capsys, bad, good)
    assert code == 2
    assert err.startswith(f"error: {bad}: "), err
    assert error.removeprefix("cases.yaml: ") in err
    assert len(err.splitlines()) == 1
    assert "PASS a waiting workflow is aborted after an hour" in out
    assert out.splitlines()[-1] == "1 passed, 0 failed, 1 bad file(s) (2 file(s))"


def test_a_missing_file_is_a_bad_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, tmp_path / "nowhere.yaml")
    assert code == 2
    assert err == f"error: {tmp_path}/nowhere.yaml: No such file or directory\n"


def test_the_values_of_api_fields_never_reach_the_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    secret = "sign=4f0c1d2e3b4a59687766554433221100"
    path = write(
        tmp_path,
        f"""\
        policies:
          - name: keep-signed
            product: mps
            filters: [{{type: LiveStreamProcessTask}}, {{key: Url, op: contains, value: x}}]
            action: abort
        cases:
          - name: a signed url is aborted
            task:
              product: mps
              type: LiveStreamProcessTask
              status: PROCESSING
              created: -1h
              fields: {{Url: "rtmp://a/b?{secret}"}}
            expect: match
        """,
    )
    code, out, err = run(capsys, path)
    assert code == 1
    assert "no  Url contains 'x'" in out
    assert secret not in out + err


def test_a_config_named_by_a_test_file_is_found_beside_the_file_whatever_the_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    demo = ROOT / "config" / "policy-tests" / "demo.yaml"
    code, out, _ = run(capsys, demo)
    assert code == 0
    assert f"{demo}: 3 policy(ies) of {DEMO}" in out


def test_a_fixture_is_the_task_an_adapter_would_build() -> None:
    raw = {
        "product": "mps",
        "type": "LiveProcessTask",
        "status": "PROCESSING",
        "created": "2025-12-31T17:00:00Z",
        "fields": {"SessionContext": "a"},
    }
    task = build_task(raw, now=NOW, default_id="case-1")
    assert task.type == "LiveStreamProcessTask"
    assert (task.phase, task.region, task.account, task.id) == (
        Phase.RUNNING,
        "global",
        "test",
        "case-1",
    )
    assert task.created == task.started == NOW - 7 * 3600
    assert task.running_for(NOW) == 7 * 3600
    assert (task.fields, task.detail) == ({"SessionContext": "a"}, None)
    dlc = build_task(
        {"product": "dlc", "type": "SparkSQLTask", "status": "queued", "created": -90},
        now=NOW,
        default_id="x",
    )
    assert (dlc.region, dlc.phase, dlc.started, dlc.waiting_for(NOW)) == (
        "ap-guangzhou",
        Phase.PENDING,
        None,
        90.0,
    )


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"product": "cvm", "type": "T", "status": "x"}, "unknown product 'cvm'"),
        ({"type": "T", "status": "x"}, "product: missing"),
        ({"product": "mps", "type": "T", "status": "FINISH", "phase": "running"}, "never running"),
        (
            {"product": "mps", "type": "T", "status": "WAITING", "created": "2026-01-01T00:00"},
            "zone",
        ),
        ({"product": "mps", "type": "T", "status": "WAITING", "detail": ["x"]}, "detail record"),
        ({"product": "mps", "type": ["T"], "status": "WAITING"}, "type: must be a string"),
    ],
)
def test_a_fixture_that_cannot_be_a_task_says_which_key_is_wrong(
    raw: dict[str, Any], error: str
) -> None:
    with pytest.raises(FixtureError, match=error):
        build_task(raw, now=NOW, default_id="x")


def test_the_readme_example_passes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    section = (ROOT / "README.md").read_text().split("### Policy tests", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert "config: ../demo.yaml" in example
    path = write(tmp_path, example.replace("../demo.yaml", str(DEMO)))
    code, out, err = run(capsys, path)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "3 passed, 0 failed (1 file(s))"
