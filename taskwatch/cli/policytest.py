"""``taskwatch test FILE…``: policy unit tests in YAML, as ``opa test`` is for OPA policies.

Why: a filter that is wrong for a task that does not exist yet is found today only by the task
that one day arrives. A test file says, for made-up tasks, what the policies must decide; it runs
in milliseconds, in CI, beside the configuration it tests. It uses the daemon's own code: the
settings validation and the policy compiler (a policy refused here is refused at load), the
engine (:func:`~taskwatch.policy.engine.evaluate`) and the grace memory; nothing here matches.

A file (README "Policy tests" has the reference; ``config/policy-tests/`` the examples) names
its policies (``config:`` a configuration, relative to the file, or ``policies:`` inline), an
optional ``now`` and its ``cases``: each a ``name``, a ``task`` fixture and what to ``expect``.
Cost tests (``cost_over``, ``cost.*``) estimate the fixture's task with the configuration's
``prices`` (a file with inline ``policies`` may give its own ``prices:``, else the shipped table).
A case may carry its own ``policy`` (one) or ``policies`` (a list) instead of the file's, which is
how a ``config_error`` is expected; ``observed`` (offsets) are earlier sightings of the task, for
``due`` (grace). Task keys: :mod:`taskwatch.policy.fixtures`; expectations:
:mod:`taskwatch.policy.expectations`.

Output: ``PASS name`` or ``FAIL name`` per case, for a failure the expected and got lines and the
engine's explanation of each policy concerned, then a summary. Exit 0 when every case passed, 1
when one failed, 2 when a file is bad (one ``error: file: key: reason`` line; the other files
still run). Not guaranteed: what the daemon then *does* (caps, kill switch, dry-run, the fence):
that is ``taskwatch rehearse``'s. Never printed: the values of API fields (the explanation shows
only virtual keys), so a fixture's secrets stay in the file.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from taskwatch import logs
from taskwatch.cost import Pricer
from taskwatch.errors import ConfigError
from taskwatch.models import Task
from taskwatch.policy import Rule, compile_rules, explain
from taskwatch.policy.expectations import Expectation, Outcome, differences, outcome
from taskwatch.policy.expectations import parse_expectation as _parse_expectation
from taskwatch.policy.fixtures import FixtureError, build_task, instant
from taskwatch.settings import load_settings, parse_settings
from taskwatch.settings.reading import Loc, dotted, read_yaml

__all__ = ["add_parser", "run", "run_files"]

DEFAULT_NOW = 1_767_225_600.0
"""2026-01-01T00:00:00Z: the ``now`` of a file that names none."""
FILE_KEYS = ("config", "policies", "prices", "now", "cases")
CASE_KEYS = ("name", "task", "now", "observed", "policy", "policies", "expect")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(sub: Any) -> None:
    """The ``test`` subcommand, on the CLI's subparsers."""
    cmd = sub.add_parser(
        "test",
        help="run policy tests written in YAML; exit 1 if one fails",
        description="Policy unit tests: task fixtures and what the policies must decide.",
    )
    cmd.add_argument("files", nargs="+", metavar="FILE", help="policy test files (YAML)")


def run(args: argparse.Namespace) -> int:
    return run_files(args.files, out=sys.stdout, err=sys.stderr)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    where: str
    """``file:line``, for the FAIL line."""
    expect: Expectation
    rules: Sequence[Rule]
    error: str | None = None
    """Why the case's own policies were refused at load (then nothing is evaluated)."""
    task: Task | None = None
    now: float = DEFAULT_NOW
    observed: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Suite:
    path: str
    origin: str
    cases: tuple[Case, ...]


def run_files(paths: Sequence[str], *, out: TextIO, err: TextIO) -> int:
    """Run every file's cases; the exit code (see the module docstring)."""
    passed = failed = bad = 0
    for path in paths:
        try:
            suite = load_suite(path)
        except ConfigError as exc:
            print(f"error: {logs.scrub(str(exc))}", file=err)
            bad += 1
            continue
        print(f"# {suite.path}: {suite.origin}", file=out)
        for case in suite.cases:
            if _judge(case, out):
                passed += 1
            else:
                failed += 1
    files = f", {bad} bad file(s)" if bad else ""
    print(f"{passed} passed, {failed} failed{files} ({len(paths)} file(s))", file=out)
    return EXIT_USAGE if bad else EXIT_FAILED if failed else EXIT_OK


def _judge(case: Case, out: TextIO) -> bool:
    if case.error is not None:
        got = Outcome(error=case.error)
    elif case.task is None:
        got = Outcome()
    else:
        got = outcome(case.rules, case.task, now=case.now, observed=case.observed)
    found = differences(case.expect, got)
    if not found:
        print(f"PASS {case.name}", file=out)
        return True
    print(f"FAIL {case.name} ({case.where})", file=out)
    for key, expected, have in found:
        print(f"  - expected {key}: {logs.scrub(expected)}", file=out)
        print(f"  + got      {key}: {logs.scrub(have)}", file=out)
    if case.task is not None and case.error is None:
        concerned = case.expect.names() | set(got.matched) | set(got.due)
        rules = [r for r in case.rules if r.name in concerned] or [
            r for r in case.rules if r.product == case.task.product
        ]
        print("  why (the engine's explanation):", file=out)
        if not rules:
            print(f"    no policy is for {case.task.product} tasks", file=out)
        for rule in rules:
            print(
                *(f"    {line}" for line in explain(rule, case.task, now=case.now)),
                sep="\n",
                file=out,
            )
    return False


# --- reading a file ------------------------------------------------------------------------------


def load_suite(path: str) -> Suite:
    """The file at ``path``, its policies compiled and its cases built; a bad file is a
    :class:`ConfigError` naming the file and the key."""
    data, lines = read_yaml(Path(path), path)
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ConfigError(f"a policy test file is a mapping with cases, not {kind}", file=path)
    file = _File(path, lines, data.get("prices"))
    file.known(data, FILE_KEYS, ())
    if "config" in data and "policies" in data:
        raise file.bad("give config or policies, not both", ("policies",))
    if "config" in data and "prices" in data:
        raise file.bad("a config has its own prices: give prices with inline policies", ("prices",))
    origin, rules = "no policies of its own", None
    if "config" in data:
        rules, origin, file.pricer = _from_config(data["config"], path)
    elif "policies" in data:
        rules = _compile(data["policies"], path, "policies", prices=file.prices)
        origin = f"{len(rules)} inline policy(ies)"
    now = file.instant(data, "now", DEFAULT_NOW, (), offset=False)
    raw_cases = data.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise file.bad("a non-empty list of cases", ("cases",))
    names: dict[str, int] = {}
    cases = []
    for i, raw in enumerate(raw_cases):
        case = file.case(raw, i, rules, now)
        if case.name in names:
            raise file.bad(f"duplicate name (also cases[{names[case.name]}])", ("cases", i, "name"))
        names[case.name] = i
        cases.append(case)
    return Suite(path=path, origin=origin, cases=tuple(cases))


def _from_config(value: object, path: str) -> tuple[list[Rule], str, Pricer]:
    """The policies of the configuration ``value`` names, relative to the test file, and the
    pricer of its prices."""
    if not isinstance(value, str) or not value:
        raise ConfigError("the path of a taskwatch configuration", file=path, key="config")
    config = Path(os.path.normpath(Path(path).parent / value))
    try:
        settings = load_settings(config)
        pricer = Pricer(settings.prices)
        rules = compile_rules(settings.policies, source=str(config), pricer=pricer)
    except ConfigError as exc:
        raise ConfigError(str(exc), file=path, key="config") from exc
    return rules, f"{len(rules)} policy(ies) of {config}", pricer


def _compile(
    policies: object, path: str, key: str, *, prices: object = None, pricer: Pricer | None = None
) -> list[Rule]:
    """Inline policies, validated and compiled as a configuration's are; errors under ``key``.
    Their cost tests estimate with ``pricer`` (a configuration's), else with the file's
    ``prices`` (else the shipped table)."""
    data = {"accounts": [{"name": "test", "credentials": "env"}], "policies": policies}
    if prices is not None and pricer is None:
        data["prices"] = prices
    try:
        settings = parse_settings(data, source=path)
        pricer = pricer or Pricer(settings.prices)
        return compile_rules(settings.policies, source=path, pricer=pricer)
    except ConfigError as exc:
        raise ConfigError(exc.reason, file=path, key=_rebase(exc.key, key)) from exc


def _rebase(found: str | None, key: str) -> str:
    """``policies[0].filters`` of the synthetic configuration → the same place under ``key``."""
    if found is not None and found.startswith("prices"):
        return found  # the file's own prices: already where they were written
    rest = (found or "policies").removeprefix("policies")
    if key.endswith(".policy"):  # one policy, written as a mapping
        rest = rest.split("]", 1)[1] if rest.startswith("[") else rest
    return key + rest


@dataclass(slots=True)
class _File:
    """One test file being read: its errors name it, the key and the key's line."""

    path: str
    lines: Mapping[Loc, int]
    prices: object = None
    """The file's ``prices:`` (inline policies only)."""
    pricer: Pricer | None = None
    """Its configuration's pricer (``config:`` files), for the cases' own policies too."""

    def bad(self, reason: str, at: Loc) -> ConfigError:
        line = self.lines.get(at)
        where = f" (line {line})" if line else ""
        return ConfigError(reason + where, file=self.path, key=dotted(at) or None)

    def known(self, raw: Mapping[Any, Any], keys: Sequence[str], at: Loc) -> None:
        for key in raw:
            if key not in keys:
                raise self.bad(f"unknown key (keys here: {', '.join(keys)})", (*at, str(key)))

    def case(self, raw: object, i: int, rules: list[Rule] | None, now: float) -> Case:
        at: Loc = ("cases", i)
        if not isinstance(raw, Mapping):
            raise self.bad("a case is a mapping (name, task, expect, ...)", at)
        self.known(raw, CASE_KEYS, at)
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.bad("a sentence saying what the case shows", (*at, "name"))
        expect = self.expectation(raw.get("expect"), (*at, "expect"))
        if "policy" in raw and "policies" in raw:
            raise self.bad("give policy or policies, not both", (*at, "policies"))
        error = None
        if "policy" in raw or "policies" in raw:
            own = "policy" if "policy" in raw else "policies"
            written = [raw[own]] if own == "policy" else raw[own]
            try:
                rules = _compile(
                    written, self.path, dotted((*at, own)), prices=self.prices, pricer=self.pricer
                )
            except ConfigError as exc:
                rules, error = [], f"{exc.key}: {exc.reason}"
        elif expect.config_error is not None:
            reason = "a config_error is expected of the case's own policy or policies"
            raise self.bad(reason, (*at, "expect"))
        if rules is None:
            reason = "no policies to test: give config or policies at the top, or the case's policy"
            raise self.bad(reason, at)
        unknown = sorted(expect.names() - {r.name for r in rules})
        if unknown and error is None:
            known = ", ".join(r.name for r in rules)
            raise self.bad(
                f"no policy is named {unknown[0]!r} (policies: {known})", (*at, "expect")
            )
        now = self.instant(raw, "now", now, at, offset=False)
        where = f"{self.path}:{self.lines.get(at, '?')}"
        if expect.config_error is not None:
            return Case(name, where, expect, rules, error, now=now)
        if "task" not in raw:
            raise self.bad("missing: the task the policies are tested on", (*at, "task"))
        try:
            task = build_task(raw["task"], now=now, default_id=f"case-{i}")
        except FixtureError as exc:
            raise self.bad(exc.reason, (*at, "task", *([exc.key] if exc.key else []))) from exc
        return Case(name, where, expect, rules, error, task, now, self.observed(raw, at, now))

    def observed(self, raw: Mapping[str, Any], at: Loc, now: float) -> tuple[float, ...]:
        """The earlier sightings of a case's task: instants before ``now``."""
        written = raw.get("observed", [])
        if not isinstance(written, list):
            raise self.bad("a list of offsets (e.g. [-10m, -5m])", (*at, "observed"))
        seen = []
        for j in range(len(written)):
            instant = self.instant(written, j, now, (*at, "observed"))
            if instant >= now:
                raise self.bad("an earlier sighting comes before now", (*at, "observed", j))
            seen.append(instant)
        return tuple(seen)

    def expectation(self, raw: object, at: Loc) -> Expectation:
        if raw is None:
            reason = "missing: match, no-match, or a mapping (match, action, due, config_error)"
            raise self.bad(reason, at)
        try:
            return _parse_expectation(raw)
        except FixtureError as exc:
            raise self.bad(exc.reason, (*at, *([exc.key] if exc.key else []))) from exc

    def instant(
        self, raw: Any, key: str | int, default: float, at: Loc, *, offset: bool = True
    ) -> float:
        """The time at ``raw[key]``: an offset from ``default`` (when ``offset``), an ISO 8601
        timestamp, or (a ``now``) epoch seconds."""
        if isinstance(raw, Mapping) and key not in raw:
            return default
        value = raw[key]
        if not offset and isinstance(value, str) and not value[:4].isdigit():
            reason = "an ISO 8601 timestamp (e.g. 2026-01-01T00:00:00Z) or epoch seconds"
            raise self.bad(reason, (*at, key))
        try:
            return instant(value, now=default if offset else 0.0, key=str(key))
        except FixtureError as exc:
            raise self.bad(exc.reason, (*at, key)) from exc
