"""``taskwatch test`` with cost tests: a fixture's task is estimated with the prices of the
configuration the file names (or the file's own ``prices:`` beside inline policies), run through
:func:`taskwatch.cli.main` as an operator runs it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from taskwatch.cli import main

CONFIG = """
accounts:
  - name: main
    credentials: env
prices:
  shipped: false
  mps: {LiveStreamProcessTask: {per_hour: 10}}
policies:
  - name: live-over-200
    product: mps
    action: abort
    filters: [{type: LiveStreamProcessTask}, {status: PROCESSING}, {cost_over: 200}]
"""
CASES = """
config: config.yaml
cases:
  - name: 21 hours at 10 per hour is over 200
    task: {product: mps, type: LiveStreamProcessTask, status: PROCESSING, started: -21h}
    expect: {match: [live-over-200]}
  - name: 19 hours is not
    task: {product: mps, type: LiveStreamProcessTask, status: PROCESSING, started: -19h}
    expect: no-match
"""
INLINE = """
prices: {shipped: false, mps: {LiveStreamProcessTask: {per_hour: %s}}}
policies:
  - name: live-over-200
    product: mps
    action: abort
    filters: [{type: LiveStreamProcessTask}, {status: PROCESSING}, {cost_over: 200}]
cases:
  - name: 21 hours
    task: {product: mps, type: LiveStreamProcessTask, status: PROCESSING, started: -21h}
    expect: {match: [live-over-200]}
  - name: a case's own cost policy on an unpriced product is refused
    policy:
      name: dlc-over-1
      product: dlc
      action: cancel
      filters: [{status: running}, {cost_over: 1}]
    expect: {config_error: "no price of DLC tasks is known"}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    code = main(["test", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cost_over_is_judged_with_the_configurations_prices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "config.yaml", CONFIG)
    code, out, err = run(capsys, write(tmp_path, "cases.yaml", CASES))
    assert (code, err) == (0, ""), out
    assert "2 passed, 0 failed" in out
    write(tmp_path, "config.yaml", CONFIG.replace("per_hour: 10", "per_hour: 9"))
    code, out, _ = run(capsys, tmp_path / "cases.yaml")
    assert code == 1
    assert "FAIL 21 hours at 10 per hour is over 200" in out
    assert "cost_over: 200 (cost.so_far is 189.00 CNY)" in out


def test_inline_policies_take_the_files_prices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, write(tmp_path, "inline.yaml", INLINE % 10))
    assert (code, err) == (0, ""), out
    code, out, _ = run(capsys, write(tmp_path, "inline.yaml", INLINE % 5))
    assert code == 1
    assert "FAIL 21 hours" in out


def test_prices_beside_a_config_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "config.yaml", CONFIG)
    path = write(tmp_path, "cases.yaml", "prices: {}\n" + CASES)
    code, _, err = run(capsys, path)
    assert code == 2
    assert "prices: a config has its own prices" in err
