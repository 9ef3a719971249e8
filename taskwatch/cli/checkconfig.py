"""``taskwatch check-config`` and ``taskwatch schema``: the configuration checked, and its shape.

Why: a configuration is checked before it is deployed (CI, a pre-commit hook, an init
container), with the same loader the daemon uses, so what passes here loads there. ``--all``
lists every problem of the file (the loader's ``ConfigError.problems``, then each policy the
compiler refuses), one per line, where the daemon tells only the first.

A valid file then has each account's credentials resolved where they are, without calling any
API (:mod:`taskwatch.tencent.credentials_check`): one line per account, the masked SecretId when
they were read, a warning on stderr when the daemon could not read them here. Warnings leave the
exit status 0 unless ``--strict``.

Exit codes: 0 valid (warnings allowed); 2 invalid, or a warning under ``--strict``.

Not guaranteed: that the API accepts the credentials, that a role may be assumed or that the
metadata service answers (nothing here calls them); ``${...}`` in the file is expanded from this
process's environment, which may not be the daemon's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from taskwatch import logs
from taskwatch.cli.common import EXIT_OK, EXIT_USAGE, UsageError
from taskwatch.cost import Pricer
from taskwatch.errors import ConfigError
from taskwatch.policy import compile_rule, compile_rules
from taskwatch.policy.patterns import Patterns
from taskwatch.settings import Settings, json_schema, load_settings
from taskwatch.settings.loading import key_lines
from taskwatch.supervisor import load_config
from taskwatch.tencent import catalog
from taskwatch.tencent.credentials_check import CredentialCheck, check_credentials

__all__ = ["add_parsers", "check", "every_problem", "run", "run_schema"]


def add_parsers(sub: Any) -> None:
    """The ``check-config`` and ``schema`` subcommands, on the CLI's subparsers."""
    check = sub.add_parser(
        "check-config",
        help="validate a configuration file and its credentials, and exit",
        description=(
            "Validates the file as the daemon loads it, then reads each account's credentials "
            "where they are (no API is called). Exit 0 valid, 2 invalid (or a warning with "
            "--strict)."
        ),
    )
    check.add_argument("--config", "-c", required=True, help="taskwatch YAML configuration")
    check.add_argument(
        "--all", action="store_true", dest="every", help="list every error, one per line"
    )
    check.add_argument(
        "--strict", action="store_true", help="exit 2 on a warning (credentials not readable)"
    )
    sub.add_parser("schema", help="print the configuration's JSON Schema (for editors)")


def run(args: argparse.Namespace) -> int:
    """``check-config`` in this process's environment, on stdout and stderr."""
    return check(
        args.config,
        every=args.every,
        strict=args.strict,
        environ=os.environ,
        out=sys.stdout,
        err=sys.stderr,
    )


def check(
    path: str,
    *,
    every: bool,
    strict: bool,
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO,
) -> int:
    """The file checked, then its credentials; ``environ`` stands for the daemon's environment.

    Invalid: the first error raised as a :class:`UsageError` (``main`` prints it and exits 2),
    or with ``every`` each error on a line of ``err`` and 2."""
    try:
        settings, _rules = load_config(path)
    except ConfigError as exc:
        problems = every_problem(path, exc)
        if not every:
            more = len(problems) - 1
            hint = f" (and {more} more; check-config --all lists them)" if more else ""
            raise UsageError(str(problems[0]) + hint) from None
        for problem in problems:
            print(f"error: {logs.scrub(str(problem))}", file=err)
        return EXIT_USAGE
    regions = sum(len(a.regions) for a in settings.accounts)
    enforcing = sum(1 for p in settings.policies if p.enforce)
    print(
        f"{path}: ok ({len(settings.accounts)} account(s), {regions} region(s), "
        f"{len(settings.policies)} policy(ies), {enforcing} enforcing)",
        file=out,
    )
    warnings = 0
    for name, found in asyncio.run(_credentials(settings, environ)):
        line = f"account {name!r}: credentials from {found.source}: {found.detail}"
        if found.status == "warning":
            warnings += 1
            print(f"warning: {logs.scrub(line)}", file=err)
        else:
            print(logs.scrub(line), file=out)
    return EXIT_USAGE if strict and warnings else EXIT_OK


async def _credentials(
    settings: Settings, environ: Mapping[str, str]
) -> list[tuple[str, CredentialCheck]]:
    return [
        (a.name, await check_credentials(a.credentials.to_spec(), environ=environ))
        for a in settings.accounts
    ]


def every_problem(path: str, exc: ConfigError) -> tuple[ConfigError, ...]:
    """Every problem of the file whose loading raised ``exc``: the loader's, or, when the
    settings are valid, every policy the compiler refuses (it stops at the first one)."""
    if len(exc.problems) > 1:
        return exc.problems
    try:
        settings = load_settings(path, actions=catalog.action_names())
    except ConfigError:
        return exc.problems
    found: list[ConfigError] = []
    patterns = Patterns()  # one budget for every regex of the file, as compile_rules shares
    pricer = Pricer(settings.prices)  # cost rules are checked against the file's own prices
    for i, spec in enumerate(settings.policies):
        try:
            compile_rule(spec, index=i, source=path, patterns=patterns, pricer=pricer)
        except ConfigError as problem:
            found.append(problem)
    try:  # what only the whole list can show: a duplicate name
        compile_rules(settings.policies, source=path, pricer=pricer)
    except ConfigError as problem:
        if all(str(p) != str(problem) for p in found):
            found.append(problem)
    if not found or all(str(p) != str(exc) for p in found):
        return exc.problems  # not a policy's problem (the web config): the loader's alone
    lines = key_lines(path)
    ordered = sorted(found, key=lambda p: str(p) != str(exc))  # the daemon's first, first
    return tuple(_with_line(p, lines) for p in ordered)


_LAST_PART = re.compile(r"(?:\.[^.\[]+|\[\d+\])$")


def _with_line(problem: ConfigError, lines: Mapping[str, int]) -> ConfigError:
    """``problem`` with the line of its key (or of the nearest enclosing one that has a line)."""
    key = problem.key or ""
    while key and key not in lines:
        key = _LAST_PART.sub("", key)
    if not key or "(line " in problem.reason:
        return problem
    reason = f"{problem.reason} (line {lines[key]})"
    return ConfigError(reason, file=problem.file, key=problem.key)


def run_schema(_args: argparse.Namespace) -> int:
    """The JSON Schema on stdout, for editors' completion and validation."""
    json.dump(json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK
