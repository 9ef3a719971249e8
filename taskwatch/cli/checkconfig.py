"""``taskwatch check-config`` and ``taskwatch schema``: the configuration checked, and its shape.

Why: a configuration is checked before it is deployed (CI, a pre-commit hook, an init
container), with the same loader the daemon uses, so what passes here loads there.

Not guaranteed: that the API accepts the credentials; nothing here calls it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from taskwatch.cli.common import EXIT_OK, load_settings
from taskwatch.settings import json_schema

__all__ = ["add_parsers", "run", "run_schema"]


def add_parsers(sub: Any) -> None:
    """The ``check-config`` and ``schema`` subcommands, on the CLI's subparsers."""
    check = sub.add_parser("check-config", help="validate a configuration file and exit")
    check.add_argument("--config", "-c", required=True, help="taskwatch YAML configuration")
    sub.add_parser("schema", help="print the configuration's JSON Schema (for editors)")


def run(args: argparse.Namespace) -> int:
    """Exit 0 with a one-line summary, or 2 with the error (the file and the key)."""
    settings = load_settings(args.config)
    regions = sum(len(a.regions) for a in settings.accounts)
    enforcing = sum(1 for p in settings.policies if p.enforce)
    print(
        f"{args.config}: ok ({len(settings.accounts)} account(s), {regions} region(s), "
        f"{len(settings.policies)} policy(ies), {enforcing} enforcing)"
    )
    return EXIT_OK


def run_schema(_args: argparse.Namespace) -> int:
    """The JSON Schema on stdout, for editors' completion and validation."""
    json.dump(json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK
